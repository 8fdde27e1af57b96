"""Hosts and catalogs (``docs/hosts.md``): SSH key references, bootstrap jobs run by a
worker thread, the health monitor of the hosts' agents, the model catalog."""

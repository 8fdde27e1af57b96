"""Hosts of the platform: bootstrap a GPU host with Ansible (the playbook in
``deploy/ansible/``, driven by ``ansible_runner``) and read what it gathered.

The contract (``models``): ``HostTarget`` (where and how to connect; an SSH key is a path
on the controller, never its content), ``BootstrapOptions``, ``JobEvent`` (one Ansible
event as the UI shows it, scrubbed), ``HostFacts`` and ``BootstrapResult``. The one entry
point is ``vlmhb.hosts.bootstrap.run_bootstrap``.
"""

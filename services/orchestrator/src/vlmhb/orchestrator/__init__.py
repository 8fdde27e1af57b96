"""VLMHyperBench host orchestrator: runs submitted experiments on this host and publishes
their events over Redis (``vlmhb orchestrator``); ``vlmhb serve`` embeds its runner.

Depends on ``vlmhb-core``, Redis and an HTTP server only — no database or UI stack.
"""

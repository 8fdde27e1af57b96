"""VLMHyperBench host agent: the one process on a GPU host that talks to the Docker engine.

An HTTP API (token on every call but ``/health``; 127.0.0.1 unless configured) to run stage
tasks in containers, stop and list them, stream their logs, manage images, and report the
host's GPUs and disk (``vlmhb agent``). Workers of the job queue drive it.
"""

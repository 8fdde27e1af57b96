"""VLMHyperBench job queue: the ``celery`` executor sends stage tasks to queues; ``vlmhb
worker`` processes (Celery) take them and run each through a host agent, holding a lease in
the queue database (attempt number as fencing token).
"""

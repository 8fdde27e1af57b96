"""The ``docker`` env kind: each stage in its own container (``DockerEnvManager``)."""

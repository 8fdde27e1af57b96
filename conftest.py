"""Repository-wide pytest plugins: the container fixtures (``docker_client``, built images)."""

pytest_plugins = ["vlmhb.containers.testing"]

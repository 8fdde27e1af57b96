"""The project's stage images, built locally from ``deploy/images/`` (no registry)."""

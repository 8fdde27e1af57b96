"""The ``vlmhb`` command line."""

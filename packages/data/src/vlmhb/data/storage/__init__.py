"""Datasets and run folders behind storage URIs (``s3://bucket/prefix``,
``file:///abs/path``), synced to each node's content-addressed cache.

``store`` implements the core's ``DataStore`` (``vlmhb.core.storage``) for both schemes on
top of a ``StorageProvider`` (``provider``; ``s3``, ``local``); ``sync`` brings a dataset
into the ``cache``; ``transfer`` moves files and folders; ``cli`` is ``vlmhb data``.
"""

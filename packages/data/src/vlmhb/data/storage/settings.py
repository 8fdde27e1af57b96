"""Storage settings from the environment (``VLMHB_S3_*``, ``VLMHB_TRANSFER_*``,
``VLMHB_DATA_CACHE_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from vlmhb.core.settings import Settings


class StorageSettings(Settings):
    """``s3_endpoint_url``/``s3_region``: the S3 endpoint (None: boto3's own,
    ``AWS_ENDPOINT_URL`` / ``AWS_REGION``); ``s3_access_key_id``/``s3_secret_access_key``/
    ``s3_session_token`` or ``s3_profile``: credentials (unset: boto3's chain, ``AWS_*``
    variables, ``AWS_PROFILE``, instance roles); never printed. ``s3_checksum``: when
    boto3 computes and checks CRC checksums (``when_required``: only where the API demands
    them; some S3-compatible servers refuse boto3 ≥ 1.36's default ``when_supported``).
    ``transfer_workers``: parallel transfers; ``transfer_retries``: tries after the first
    of each request and each file, waiting ``transfer_backoff_s`` × 2^n (jittered).
    ``data_cache_max_bytes``: the cache's size limit (None: none), kept after each sync
    by evicting the least recently used datasets not in use."""

    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_session_token: SecretStr | None = None
    s3_profile: str | None = None
    s3_checksum: Literal["when_required", "when_supported"] = "when_required"
    transfer_workers: int = Field(16, ge=1)
    transfer_retries: int = Field(5, ge=0)
    transfer_backoff_s: float = Field(0.5, ge=0)
    data_cache_max_bytes: int | None = Field(None, ge=0)

"""``S3Provider``: objects under ``s3://bucket/prefix`` through one shared boto3 client;
botocore's errors become ``StorageError``s that say what to check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    ResponseStreamingError,
)
from pydantic import SecretStr
from urllib3.exceptions import HTTPError as Urllib3Error

from vlmhb.core.storage import StorageError
from vlmhb.data.storage.manifest import CHUNK
from vlmhb.data.storage.provider import ObjectInfo, OnBytes, TransientError
from vlmhb.data.storage.settings import StorageSettings
from vlmhb.data.storage.uri import S3Location

MULTIPART_BYTES = 8 << 20
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
STREAM_ERRORS = (
    ResponseStreamingError,
    IncompleteReadError,
    ReadTimeoutError,
    ConnectionClosedError,
    Urllib3Error,
    ConnectionError,
)
CREDENTIALS_HINT = (
    "check VLMHB_S3_ACCESS_KEY_ID / VLMHB_S3_SECRET_ACCESS_KEY, or the AWS credentials "
    "boto3 finds (AWS_ACCESS_KEY_ID, AWS_PROFILE)"
)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def make_s3_client(settings: StorageSettings) -> Any:
    """A boto3 S3 client from the settings (unset ones: boto3's own chain); safe to share
    between threads."""
    try:
        session = boto3.session.Session(
            aws_access_key_id=_secret(settings.s3_access_key_id),
            aws_secret_access_key=_secret(settings.s3_secret_access_key),
            aws_session_token=_secret(settings.s3_session_token),
            profile_name=settings.s3_profile,
            region_name=settings.s3_region,
        )
        config = Config(
            request_checksum_calculation=settings.s3_checksum,
            response_checksum_validation=settings.s3_checksum,
            retries={"mode": "standard", "total_max_attempts": settings.transfer_retries + 1},
            max_pool_connections=settings.transfer_workers + 4,
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
        )
        return session.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)
    except ProfileNotFound:
        raise StorageError(
            f"AWS profile {settings.s3_profile!r} not found (VLMHB_S3_PROFILE)"
        ) from None
    except BotoCoreError as exc:
        raise StorageError(f"cannot set up the S3 client: {exc}") from None


def storage_error(exc: Exception, uri: str, endpoint: str) -> StorageError:
    """``exc`` from botocore as a ``StorageError`` naming ``uri`` and what to check."""
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
        exc = exc.__context__
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "InvalidAccessKeyId":
            return StorageError(
                f"{uri}: the access key id is not known to {endpoint} "
                f"(InvalidAccessKeyId): {CREDENTIALS_HINT}"
            )
        if code == "SignatureDoesNotMatch":
            return StorageError(
                f"{uri}: the secret key does not match the access key "
                f"(SignatureDoesNotMatch): {CREDENTIALS_HINT}"
            )
        if code in ("AccessDenied", "403") or status == 403:
            return StorageError(
                f"{uri}: access denied ({code or 403}): the credentials in "
                f"use may not access this bucket; {CREDENTIALS_HINT}"
            )
        if code == "NoSuchBucket":
            bucket = uri[len("s3://") :].split("/", 1)[0]
            return StorageError(
                f"{uri}: bucket {bucket!r} does not exist at {endpoint} "
                "(NoSuchBucket): check the URI and VLMHB_S3_ENDPOINT_URL"
            )
        message = error.get("Message") or exc
        return StorageError(f"{uri}: S3 error {code or status} from {endpoint}: {message}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StorageError(f"{uri}: no usable S3 credentials ({exc}): {CREDENTIALS_HINT}")
    if isinstance(exc, EndpointConnectionError):
        return StorageError(
            f"{uri}: cannot reach the S3 endpoint {endpoint}: check "
            "VLMHB_S3_ENDPOINT_URL (or AWS_ENDPOINT_URL) and the network"
        )
    return StorageError(f"{uri}: S3 request to {endpoint} failed: {exc}")


def _is_missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("NoSuchKey", "404", "NotFound")


class S3Provider:
    """Objects under ``location`` (bucket and prefix) through ``client``."""

    def __init__(self, location: S3Location, client: Any) -> None:
        self.location = location
        self.client = client
        self.endpoint = str(client.meta.endpoint_url)

    @property
    def uri(self) -> str:
        return self.location.uri

    def _key(self, key: str) -> str:
        return f"{self.location.prefix}/{key}" if self.location.prefix else key

    def _error(self, exc: Exception, key: str | None = None) -> StorageError:
        uri = f"{self.uri}/{key}" if key else self.uri
        return storage_error(exc, uri, self.endpoint)

    def list(self) -> Iterator[ObjectInfo]:
        prefix = f"{self.location.prefix}/" if self.location.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = str(item["Key"])[len(prefix) :]
                    if key and not key.endswith("/"):
                        etag = str(item.get("ETag", "")).strip('"') or None
                        yield ObjectInfo(key=key, size=int(item["Size"]), etag=etag)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from None

    def head(self, key: str) -> ObjectInfo | None:
        try:
            found = self.client.head_object(Bucket=self.location.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise self._error(exc, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None
        return ObjectInfo(
            key=key,
            size=int(found["ContentLength"]),
            etag=str(found.get("ETag", "")).strip('"') or None,
            sha256=found.get("Metadata", {}).get("sha256"),
        )

    def download(
        self, key: str, out: BinaryIO, offset: int = 0, on_bytes: OnBytes | None = None
    ) -> None:
        request = {"Bucket": self.location.bucket, "Key": self._key(key)}
        try:
            try:
                found = self.client.get_object(**request, **self._range(offset))
            except ClientError as exc:
                if offset == 0 or exc.response.get("Error", {}).get("Code") != "InvalidRange":
                    raise
                offset = 0  # the object is shorter than the partial file: start over
                found = self.client.get_object(**request)
        except ClientError as exc:
            if _is_missing(exc):
                raise StorageError(
                    f"{self.uri}/{key}: no such object (the dataset's "
                    "manifest names it): push the dataset again"
                ) from None
            raise self._error(exc, key) from None
        except STREAM_ERRORS as exc:
            raise TransientError(f"GET {key}: {exc}") from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None
        if offset and found["ResponseMetadata"]["HTTPStatusCode"] != 206:
            out.truncate(0)  # the range was ignored: the body is the whole object
        body = found["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        except STREAM_ERRORS as exc:
            raise TransientError(f"GET {key}: {exc}") from None
        finally:
            body.close()

    @staticmethod
    def _range(offset: int) -> dict[str, str]:
        return {"Range": f"bytes={offset}-"} if offset else {}

    def upload(self, key: str, path: Path, sha256: str, on_bytes: OnBytes | None = None) -> None:
        config = TransferConfig(
            use_threads=False,
            multipart_threshold=MULTIPART_BYTES,
            multipart_chunksize=MULTIPART_BYTES,
        )
        try:
            self.client.upload_file(
                str(path),
                self.location.bucket,
                self._key(key),
                ExtraArgs={"Metadata": {"sha256": sha256}},
                Callback=on_bytes,
                Config=config,
            )
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise self._error(exc, key) from None

    def get_bytes(self, key: str) -> bytes | None:
        try:
            found = self.client.get_object(Bucket=self.location.bucket, Key=self._key(key))
            data: bytes = found["Body"].read()
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise self._error(exc, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None
        return data

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self._key(key),
                Body=data,
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from None

"""The local S3 server as a pytest fixture, for this package's tests and other packages'
(``from vlmhb.data.testing.fixtures import s3_server`` in a ``conftest.py``).

One server subprocess per test session (per xdist worker), on a free port of 127.0.0.1;
tests share it, so each makes its own bucket (``make_bucket()``) and calls ``reset()``
before counting requests.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

START_TIMEOUT_S = 60
REGION = "us-east-1"


@dataclass
class S3Server:
    """A running test server: its endpoint, a valid key pair and its control routes."""

    endpoint: str
    access_key: str
    secret_key: str
    pid: int

    def env(self) -> dict[str, str]:
        """The ``VLMHB_S3_*`` variables that point a process at this server."""
        return {
            "VLMHB_S3_ENDPOINT_URL": self.endpoint,
            "VLMHB_S3_REGION": REGION,
            "VLMHB_S3_ACCESS_KEY_ID": self.access_key,
            "VLMHB_S3_SECRET_ACCESS_KEY": self.secret_key,
        }

    def client(self) -> Any:
        """A boto3 S3 client with the valid keys (checksums only when required)."""
        return boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
        ).client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a unique name when none is given); its name."""
        bucket = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def requests(self) -> list[dict[str, Any]]:
        """Requests recorded since the last ``reset``: method, path (``/bucket/key``),
        query, range, status, headers (lower-case names, no ``Authorization``)."""
        found: list[dict[str, Any]] = self._control("GET", "requests")
        return found

    def object_requests(self, bucket: str, method: str = "GET") -> list[dict[str, Any]]:
        """Recorded ``method`` requests on objects of ``bucket`` (not on the bucket
        itself, like listings), each with its ``key`` added."""
        prefix = f"/{bucket}/"
        return [
            {**request, "key": request["path"][len(prefix) :]}
            for request in self.requests()
            if request["method"] == method
            and request["path"].startswith(prefix)
            and len(request["path"]) > len(prefix)
        ]

    def reset(self) -> None:
        """Forget recorded requests and pending faults; stop throttling."""
        self._control("POST", "requests/reset")
        self._control("POST", "faults/reset")
        self.throttle(None)

    def fault(
        self,
        method: str | None = None,
        path_contains: str = "",
        status: int | None = 503,
        count: int = 1,
        cut_after_bytes: int | None = None,
    ) -> None:
        """The next ``count`` matching requests fail with ``status``, or (with
        ``cut_after_bytes``) lose their connection after that many body bytes."""
        if cut_after_bytes is not None:
            status = None
        self._control(
            "POST",
            "faults",
            {
                "method": method,
                "path_contains": path_contains,
                "status": status,
                "count": count,
                "cut_after_bytes": cut_after_bytes,
            },
        )

    def throttle(self, bps: float | None) -> None:
        """Send GET bodies at about ``bps`` bytes a second (None: full speed)."""
        self._control("POST", "throttle", {"bps": bps})

    def _control(self, method: str, route: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}/_vlmhb/{route}", data=data, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """Start ``python -m vlmhb.data.testing.s3server`` on a free port; stop it after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vlmhb.data.testing.s3server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
        line = process.stdout.readline() if ready else ""  # printed once it listens
        if not line:
            raise RuntimeError(f"the test S3 server exited (code {process.wait(5)})")
        info = json.loads(line)
        yield S3Server(
            endpoint=info["endpoint"],
            access_key=info["access_key"],
            secret_key=info["secret_key"],
            pid=process.pid,
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """The session's local S3 server (moto, signatures checked)."""
    with running_s3_server() as server:
        yield server

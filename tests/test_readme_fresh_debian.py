"""README's first command (``bash scripts/quickstart.sh``) on a stock Debian bookworm root:
the project's debootstrapped rootfs image (minbase, python3) without ``python3-venv``,
curl, git, Tesseract or Node, as root, with the host network so apt, PyPI and npm are
reachable. It must end with the dashboard answering on 127.0.0.1 with the quickstart
experiment registered as completed and the built UI served.

Downloads are cached between runs in ``~/.cache/vlmhb/fresh-debian`` (uv, npm and apt's
archives), so a warm run takes a few minutes; a cold one (CI) downloads everything once."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from docker.models.containers import Container

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
ROOTFS = "vlmhb/rootfs:bookworm"
CACHE = Path.home() / ".cache" / "vlmhb" / "fresh-debian"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# how this network's machines are told to trust its TLS proxy, passed on as they are set
CA_VARIABLES = ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "CURL_CA_BUNDLE")
SETUP_BUDGET_S = 1500
# a stock Debian has neither python3-venv (ensurepip) nor curl: setup.sh must add them
STOCK = "apt-get purge -y -q python3-venv python3.11-venv curl >/dev/null 2>&1 || true"


def checkout_tar() -> bytes:
    """This checkout as a fresh clone sees it: tracked files plus untracked, not ignored."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in filter(None, names):
            path = ROOT / name.decode()
            if path.is_file():
                tar.add(path, arcname=name.decode())
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fresh_debian(docker_client: docker.DockerClient, base_cpu_image: str) -> Iterator[Container]:
    """The quickstart running in a new bookworm container (the rootfs comes with the
    project's images); removed afterwards."""
    del base_cpu_image  # built first: it imports the rootfs image this test starts
    for sub in ("uv", "npm", "apt"):
        (CACHE / sub / "partial").mkdir(parents=True, exist_ok=True)
    port = free_port()
    container = docker_client.containers.create(
        ROOTFS,
        [
            "bash",
            "-c",
            f"{STOCK}; mkdir /root/vlmhb && cd /root/vlmhb && tar -xf /tmp/src.tar "
            "&& exec bash scripts/quickstart.sh",
        ],
        name=f"vlmhb-fresh-debian-{uuid.uuid4().hex[:8]}",
        network_mode="host",
        environment={
            "VLMHB_PORT": str(port),
            "UV_LINK_MODE": "copy",
            **{name: os.environ[name] for name in CA_VARIABLES if name in os.environ},
        },
        volumes={
            str(CACHE / "uv"): {"bind": "/root/.cache/uv", "mode": "rw"},
            str(CACHE / "npm"): {"bind": "/root/.npm", "mode": "rw"},
            str(CACHE / "apt"): {"bind": "/var/cache/apt/archives", "mode": "rw"},
            # the network's CA bundle (as on any machine of this network)
            str(HOST_CA_BUNDLE): {"bind": str(HOST_CA_BUNDLE), "mode": "ro"},
        },
        labels={"org.vlmhb.test": "fresh-debian"},
    )
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        data = checkout_tar()
        info = tarfile.TarInfo("src.tar")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    container.put_archive("/tmp", archive.getvalue())
    container.start()
    container.port = port  # type: ignore[attr-defined]
    try:
        yield container
    finally:
        container.remove(force=True)


def wait_for_dashboard(container: Container) -> str:
    """The login URL quickstart prints once the experiment is registered."""
    deadline = time.monotonic() + SETUP_BUDGET_S
    while time.monotonic() < deadline:
        container.reload()
        logs = container.logs().decode(errors="replace")
        found = re.search(r"Dashboard \(logs you in\): (http://127\.0\.0\.1:\d+/\?token=\S+)", logs)
        if found:
            return found.group(1)
        if container.status == "exited":
            break
        time.sleep(5)
    tail = "\n".join(container.logs().decode(errors="replace").splitlines()[-60:])
    pytest.fail(f"quickstart did not reach the dashboard ({container.status}):\n{tail}")


def test_quickstart_on_stock_debian_bookworm(fresh_debian: Container) -> None:
    url = wait_for_dashboard(fresh_debian)
    port = fresh_debian.port  # type: ignore[attr-defined]
    token = url.split("token=", 1)[1]
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/api/v1/health").status_code == 200
        page = client.get("/")
        assert page.status_code == 200 and '<div id="root">' in page.text  # the built UI
        script = re.search(r'src="(/assets/[^"]+\.js)"', page.text)
        assert script and client.get(script.group(1)).status_code == 200
        deadline = time.monotonic() + 120
        while True:
            items = client.get("/api/v1/experiments").json()["items"]
            if (items and items[0]["status"] == "COMPLETED") or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert [(e["name"], e["status"]) for e in items] == [("quickstart", "COMPLETED")]
        detail = client.get(f"/api/v1/experiments/{items[0]['id']}").json()
        assert detail["message"].startswith("imported from runs/quickstart/")
        assert len(detail["runs"]) == 3 and detail["samples_done"] == 3 * 78
    logs = fresh_debian.logs().decode(errors="replace")
    assert "installing uv" in logs  # into its private venv, never the system interpreter
    assert "externally-managed-environment" not in logs

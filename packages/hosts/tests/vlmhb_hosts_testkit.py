"""What the bootstrap tests share: the agent token, and a container standing in for a
GPU host (``community.docker.docker`` connection, network none)."""

from __future__ import annotations

import io
import secrets
import tarfile

import docker
from docker.models.containers import Container

# A GPU cannot exist here: the host's nvidia-smi is a script printing what a real one
# prints for `--query-gpu=index,name,memory.total,driver_version,uuid --format=csv,...`.
FAKE_NVIDIA_SMI = (
    "#!/bin/sh\n"
    "echo '0, NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-0b5c1a2e'\n"
    "echo '1, NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-7f3d9c41'\n"
)
TOKEN = "agent-token-" + secrets.token_hex(16)


def start_host(client: docker.DockerClient, image: str, gpus: bool) -> Container:
    """A container as a host: root, network none, kept alive by ``sleep``."""
    name = f"vlmhb-test-host-{secrets.token_hex(4)}"
    container = client.containers.run(
        image,
        ["sleep", "infinity"],
        name=name,
        user="root",
        network_mode="none",
        detach=True,
        labels={"vlmhb.test": "hosts"},
    )
    if gpus:
        data = FAKE_NVIDIA_SMI.encode()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo("nvidia-smi")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        container.put_archive("/usr/local/bin", archive.getvalue())
    return container

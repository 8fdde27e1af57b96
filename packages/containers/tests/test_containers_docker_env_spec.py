"""What a stage container is made of, read back from the engine: hardening (non-root, no
capabilities, no-new-privileges, never privileged, no Docker socket), limits, GPUs by
``DeviceRequest`` and the network (``none``/``host`` only, a bridge refused).

There is no GPU runtime on this machine, so a GPU container cannot start here: the GPU
test creates the container (the engine accepts the request) and inspects its HostConfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from pydantic import ValidationError

from vlmhb.containers.docker_env.spec import ContainerSpec
from vlmhb.containers.docker_env.user import ContainerUser
from vlmhb.core.contracts import EnvSpec, ResourceSpec
from vlmhb.core.envs.policy import ContainerPolicyError, StageMount

ROOTFS = "vlmhb/rootfs:bookworm"  # the plain Debian image (no vlmhb): enough to create
TEST_LABEL = "vlmhb.test"


@pytest.fixture
def created(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Ids of the containers a test created; removed afterwards."""
    ids: list[str] = []
    yield ids
    for container_id in ids:
        docker_client.containers.get(container_id).remove(force=True)


def create(client: docker.DockerClient, spec: ContainerSpec, ids: list[str]) -> dict:  # type: ignore[type-arg]
    container = client.containers.create(**spec.create_options())
    ids.append(str(container.id))
    return dict(client.api.inspect_container(container.id))


def spec(tmp_path: Path, **changes: object) -> ContainerSpec:
    fields: dict[str, object] = {
        "image": ROOTFS,
        "command": ["python3", "-c", "pass"],
        "user": ContainerUser(1000, 1000),
        "network": "none",
        "labels": {TEST_LABEL: "docker-env-spec"},
        "mounts": [StageMount(tmp_path / "run", False), StageMount(tmp_path / "data", True)],
    }
    (tmp_path / "run").mkdir(exist_ok=True)
    (tmp_path / "data").mkdir(exist_ok=True)
    fields.update(changes)
    return ContainerSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.docker
def test_a_stage_container_is_hardened_and_limited(
    docker_client: docker.DockerClient, created: list[str], tmp_path: Path
) -> None:
    info = create(
        docker_client,
        spec(tmp_path, resources=ResourceSpec(memory="64m", cpus=0.5)),
        created,
    )
    host = info["HostConfig"]
    assert info["Config"]["User"] == "1000:1000"
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Init"] is True and host["AutoRemove"] is False
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == 64 * 1024**2 and host["MemorySwap"] == 64 * 1024**2
    assert host["NanoCpus"] == 500_000_000
    mounts = {m["Target"]: m for m in host["Mounts"]}
    assert mounts[str(tmp_path / "run")]["Source"] == str(tmp_path / "run")
    assert not mounts[str(tmp_path / "run")].get("ReadOnly")
    assert mounts[str(tmp_path / "data")]["ReadOnly"] is True
    assert not any("docker.sock" in m["Source"] for m in host["Mounts"])
    assert not host.get("Binds") and not host.get("DeviceRequests")
    assert "CUDA_VISIBLE_DEVICES=" in info["Config"]["Env"]


@pytest.mark.docker
def test_gpus_are_a_device_request_and_renumbered_inside(
    docker_client: docker.DockerClient, created: list[str], tmp_path: Path
) -> None:
    # no GPU (nor NVIDIA runtime) exists here: created, never started
    info = create(
        docker_client,
        spec(tmp_path, gpu_ids=[3, "GPU-8c1b6a7e-0000-4000-8000-000000000001"]),
        created,
    )
    (request,) = info["HostConfig"]["DeviceRequests"]
    assert request["DeviceIDs"] == ["3", "GPU-8c1b6a7e-0000-4000-8000-000000000001"]
    assert request["Capabilities"] == [["gpu"]]
    assert "CUDA_VISIBLE_DEVICES=0,1" in info["Config"]["Env"]


@pytest.mark.docker
def test_host_network_for_a_stage_that_reaches_a_server(
    docker_client: docker.DockerClient, created: list[str], tmp_path: Path
) -> None:
    info = create(docker_client, spec(tmp_path, network="host"), created)
    assert info["HostConfig"]["NetworkMode"] == "host"


@pytest.mark.parametrize("network", ["bridge", "default", "container:x", "", "vlmhb-net"])
def test_any_other_network_is_refused(tmp_path: Path, network: str) -> None:
    with pytest.raises(ContainerPolicyError, match="never a bridge"):
        spec(tmp_path, network=network).create_options()


@pytest.mark.parametrize("network", ["bridge", "default", "host:x"])
def test_a_config_cannot_ask_for_a_bridge(network: str) -> None:
    with pytest.raises(ValidationError):
        EnvSpec(kind="docker", network=network)

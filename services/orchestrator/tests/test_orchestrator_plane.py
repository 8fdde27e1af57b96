"""``vlmhb up`` / ``vlmhb down`` with the real engine and the real compose: the plane
(PostgreSQL, Redis, backend, web) under a unique project with free ports, health-waited,
used through the backend and the web front door, an experiment run by the host
orchestrator, data kept by ``down``, containers as non-root, a broken service reported
by name with its log tail. One plane per module; images are built once (reused)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest
from websockets.sync.client import connect

from vlmhb.orchestrator.plane.settings import CHECKOUT

# the first bring-up builds the images: more than the suite's default timeout
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

COMPOSE_FILE = CHECKOUT / "deploy" / "docker-compose.yaml"
SERVICES = ("postgres", "redis", "backend", "web")
# the first `vlmhb up` of a machine builds the plane's images (minutes on 2 cores)
START_DEADLINE_S = 900
TEST_PAGE = "<!doctype html><title>VLMHyperBench</title><p>plane test UI</p>"
TEST_ASSET = "app-plane.js"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def vlmhb(*args: str) -> list[str]:
    return [sys.executable, "-m", "vlmhb.core.cli.main", *args]


def compose_command() -> list[str]:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
    return [found]


@dataclass
class PlaneRun:
    """A plane project: its folder, environment, ports and the running `vlmhb up`."""

    project: str
    folder: Path
    env: dict[str, str]
    orchestrator_port: int
    backend_port: int
    web_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "up.log"

    @property
    def token(self) -> str:
        return (self.folder / ".vlmhb" / "auth_token").read_text(encoding="utf-8").strip()

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        """``vlmhb up`` in the background; returns when the orchestrator answers."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                vlmhb("up", "--port", str(self.orchestrator_port)),
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_DEADLINE_S
        url = f"http://127.0.0.1:{self.orchestrator_port}/health"
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"vlmhb up exited:\n{self.log.read_text()[-6000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"vlmhb up not serving:\n{self.log.read_text()[-6000:]}")
            time.sleep(0.5)

    def stop_orchestrator(self) -> None:
        """Ctrl+C of `vlmhb up` (by its pid): the orchestrator ends, the plane stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            vlmhb(*args),
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def remove(self) -> None:
        """Everything of this project, volumes included (``vlmhb down --volumes``)."""
        self.stop_orchestrator()
        removed = self.cli("down", "--volumes")
        assert removed.returncode == 0, removed.stderr


def placeholder_paths(folder: Path) -> dict[str, str]:
    return {
        "VLMHB_PLANE_DATA_DIR": str(folder / ".vlmhb"),
        "VLMHB_PLANE_RUNS_DIR": str(folder / "runs"),
        "VLMHB_PLANE_DATA_ROOT": str(folder),
        "VLMHB_PLANE_WEB_DIST": str(folder / "web"),
    }


def new_plane(folder: Path, **extra: str) -> PlaneRun:
    folder.mkdir(parents=True, exist_ok=True)
    project = f"vlmhbtest{secrets.token_hex(4)}"
    ports = {
        "VLMHB_PLANE_PG_PORT": free_port(),
        "VLMHB_PLANE_REDIS_PORT": free_port(),
        "VLMHB_PLANE_BACKEND_PORT": free_port(),
        "VLMHB_PLANE_WEB_PORT": free_port(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLMHB_")}
    env.update({k: str(v) for k, v in ports.items()})
    web = folder / "web"  # a built UI stand-in: the mount and the serving are what is tested
    (web / "assets").mkdir(parents=True, exist_ok=True)
    (web / "index.html").write_text(TEST_PAGE, encoding="utf-8")
    (web / "assets" / TEST_ASSET).write_text("console.log('plane')\n", encoding="utf-8")
    env.update(
        {
            "VLMHB_PLANE_PROJECT": project,
            "VLMHB_DATA_ROOT": str(folder),
            "VLMHB_PLANE_WEB_DIST": str(web),
            **extra,
        }
    )
    return PlaneRun(
        project=project,
        folder=folder,
        env=env,
        orchestrator_port=free_port(),
        backend_port=ports["VLMHB_PLANE_BACKEND_PORT"],
        web_port=ports["VLMHB_PLANE_WEB_PORT"],
    )


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder the plane's user (uid 1000 when the tests run as root) can enter: pytest's
    own temporary folders are closed to other users."""
    with shared_folder() as folder:
        yield folder


@contextmanager
def shared_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="vlmhb-plane-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def plane(docker_client: docker.DockerClient) -> Iterator[PlaneRun]:
    compose_command()
    with shared_folder() as folder:
        run = new_plane(folder / "plane")
        try:
            run.start()
            yield run
        finally:
            run.remove()


def containers(
    client: docker.DockerClient, project: str
) -> dict[str, docker.models.containers.Container]:
    found = client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"}
    )
    return {c.labels["com.docker.compose.service"]: c for c in found}


def experiment_yaml(dataset: Path, name: str) -> str:
    return (
        f"name: {name}\nmodels:\n  - name: echo\n    backend: scripted\n"
        "    params: {rule: echo}\n"
        f"datasets:\n  - {{name: synth, format: vqa_csv, path: {dataset}}}\n"
        "tasks:\n  - name: vqa\n    dataset: synth\n    kind: vqa\n    metrics: [cer]\n"
    )


def wait_terminal(client: httpx.Client, experiment_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 300  # a safety deadline only
    while True:
        body: dict[str, object] = client.get(f"/api/v1/experiments/{experiment_id}").json()
        if body["status"] in {"COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"}:
            return body
        assert time.monotonic() < deadline, f"experiment stuck: {body}"
        time.sleep(0.3)


def test_compose_file_validates(tmp_path: Path) -> None:
    env = {**os.environ, **placeholder_paths(tmp_path)}
    ok = subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    env.pop("VLMHB_PLANE_DATA_DIR")
    missing = subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode != 0 and "VLMHB_PLANE_DATA_DIR" in missing.stderr


def test_plane_is_healthy_and_answers_through_backend_and_web(
    plane: PlaneRun, docker_client: docker.DockerClient
) -> None:
    found = containers(docker_client, plane.project)
    assert set(found) == set(SERVICES)
    for service, container in found.items():
        container.reload()
        assert container.attrs["State"]["Health"]["Status"] == "healthy", service
        assert container.attrs["HostConfig"]["NetworkMode"] == "host", service
        assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    for port in (plane.backend_port, plane.web_port):
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/api/v1/health", timeout=10).json()
        assert health == health | {
            "status": "ok",
            "database": "ok",
            "bus": "redis",
            "mode": "split",
        }
        assert httpx.get(f"{base}/api/v1/experiments", timeout=10).status_code == 401
        listed = httpx.get(f"{base}/api/v1/experiments", headers=plane.auth(), timeout=10)
        assert listed.status_code == 200 and "items" in listed.json()
        # the backend asks the host orchestrator (ORCHESTRATOR_URL, the shared token)
        resources = httpx.get(f"{base}/api/v1/resources", headers=plane.auth(), timeout=10)
        assert resources.status_code == 200 and resources.json()["cpu_slots"] >= 1, resources.text
        page = httpx.get(f"{base}/", timeout=10)  # the backend's page, with the CSRF cookie
        assert page.status_code == 200 and page.text == TEST_PAGE
        assert "vlmhb_csrf" in page.headers.get("set-cookie", "")
        asset = httpx.get(f"{base}/assets/{TEST_ASSET}", timeout=10)
        assert asset.status_code == 200 and "plane" in asset.text
    # hashed assets come from nginx itself, cached as immutable
    web_asset = httpx.get(f"http://127.0.0.1:{plane.web_port}/assets/{TEST_ASSET}", timeout=10)
    assert "immutable" in web_asset.headers.get("cache-control", "")


def test_plane_containers_run_as_non_root(
    plane: PlaneRun, docker_client: docker.DockerClient
) -> None:
    for service, container in containers(docker_client, plane.project).items():
        user = container.attrs["Config"]["User"]
        assert user and user.split(":")[0] not in ("", "0", "root"), (service, user)
        code, out = container.exec_run(["id", "-u"])
        assert code == 0 and out.decode().strip() != "0", (service, out)
        assert container.attrs["HostConfig"]["Privileged"] is False
        assert not any(
            "docker.sock" in (m.get("Source") or "") for m in container.attrs["Mounts"]
        ), service


def test_experiment_runs_and_plane_data_survive_down_and_up(
    plane: PlaneRun, docker_client: docker.DockerClient
) -> None:
    from vlmhb.data.synth.generate import generate_dataset

    dataset = plane.folder / "data" / "synth"
    generate_dataset(dataset, n=1, seed=1, formats=("vqa_csv",))
    web = f"http://127.0.0.1:{plane.web_port}"
    with httpx.Client(base_url=web, headers=plane.auth(), timeout=30) as client:
        created = client.post(
            "/api/v1/experiments",
            content=experiment_yaml(dataset, "plane-e2e").encode(),
            headers={"content-type": "application/yaml"},
        )
        assert created.status_code == 202, created.text
        experiment_id = created.json()["id"]
        done = wait_terminal(client, experiment_id)
    assert done["status"] == "COMPLETED", done
    ws_url = f"ws://127.0.0.1:{plane.web_port}/api/v1/ws/{experiment_id}?access_token={plane.token}"
    with connect(ws_url, open_timeout=30) as ws:  # WebSocket through nginx
        snapshot = json.loads(ws.recv(timeout=30))
    assert snapshot["type"] == "snapshot" and snapshot["experiment"]["status"] == "COMPLETED"
    assert list((plane.folder / "runs" / "plane-e2e").glob("*/metrics_by_id.csv"))
    token = plane.token

    plane.stop_orchestrator()
    stopped = plane.cli("down")
    assert stopped.returncode == 0, stopped.stderr
    assert containers(docker_client, plane.project) == {}
    volumes = {
        v.name
        for v in docker_client.volumes.list(
            filters={"label": f"com.docker.compose.project={plane.project}"}
        )
    }
    assert {f"{plane.project}_pgdata", f"{plane.project}_redisdata"} <= volumes

    plane.start()
    assert plane.token == token
    with httpx.Client(base_url=web, headers=plane.auth(), timeout=30) as client:
        again = client.get(f"/api/v1/experiments/{experiment_id}")
        assert again.status_code == 200 and again.json()["status"] == "COMPLETED"


def test_broken_service_is_named_with_its_log_tail(
    docker_client: docker.DockerClient, open_folder: Path
) -> None:
    compose_command()
    with socket.socket() as taken:  # PostgreSQL's port is already in use: it cannot start
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = new_plane(open_folder / "broken", VLMHB_PLANE_PG_PORT=str(port))
        try:
            failed = run.cli("up", "--port", str(run.orchestrator_port), timeout=START_DEADLINE_S)
            found = containers(docker_client, run.project)
        finally:
            run.remove()
    left = docker_client.volumes.list(
        filters={"label": f"com.docker.compose.project={run.project}"}
    )
    assert left == []  # vlmhb down --volumes deleted them
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "plane service 'postgres' failed" in output
    assert "last lines of the postgres log" in output and "Address already in use" in output
    # the failed service is stopped for inspection; nothing after it was started
    assert found["postgres"].status == "exited" and "backend" not in found

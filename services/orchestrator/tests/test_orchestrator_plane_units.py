"""The plane's pieces that need no engine: the start order compose gives, the container
states that end the health wait, the folder-reach check, the compose variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from vlmhb.orchestrator.plane.compose import Compose
from vlmhb.orchestrator.plane.errors import PlaneError
from vlmhb.orchestrator.plane.health import container_problem
from vlmhb.orchestrator.plane.plane import first_unreachable
from vlmhb.orchestrator.plane.settings import CHECKOUT, PlaneFolders, PlaneSettings, compose_env


def folders(root: Path) -> PlaneFolders:
    return PlaneFolders(root / "data", root / "runs", root, root / "web")


def compose(root: Path, file: Path = CHECKOUT / "deploy" / "docker-compose.yaml") -> Compose:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
    return Compose("vlmhbunits", file, compose_env(PlaneSettings(), folders(root), 8001))


def test_services_start_in_dependency_levels(tmp_path: Path) -> None:
    assert compose(tmp_path).start_order() == [["postgres", "redis"], ["backend"], ["web"]]


def test_a_dependency_cycle_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "cycle.yaml"
    file.write_text(
        'version: "2.4"\nservices:\n'
        "  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
        encoding="utf-8",
    )
    with pytest.raises(PlaneError, match="compose config"):
        compose(tmp_path, file).start_order()


def test_compose_variables_name_every_folder_and_port(tmp_path: Path) -> None:
    settings = PlaneSettings(pg_port=25432, web_port=28080)
    env = compose_env(settings, folders(tmp_path), 9001)
    assert env["VLMHB_PLANE_PG_PORT"] == "25432" and env["VLMHB_PLANE_WEB_PORT"] == "28080"
    assert env["VLMHB_PLANE_ORCHESTRATOR_URL"] == "http://127.0.0.1:9001"
    assert env["VLMHB_PLANE_DATA_DIR"] == str(tmp_path / "data")
    assert int(env["VLMHB_PLANE_UID"]) != 0
    bridged = PlaneSettings(orchestrator_url="http://host.docker.internal:8001")
    assert (
        compose_env(bridged, folders(tmp_path), 8001)["VLMHB_PLANE_ORCHESTRATOR_URL"]
        == "http://host.docker.internal:8001"
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"Status": "running", "Health": {"Status": "starting"}}, None),
        ({"Status": "exited", "ExitCode": 3}, "exited with code 3"),
        ({"Status": "restarting", "ExitCode": 1, "Restarting": True}, "keeps restarting"),
        (
            {"Status": "running", "Health": {"Status": "unhealthy", "Log": [{"Output": "no"}]}},
            "health check failed: no",
        ),
    ],
)
def test_states_that_end_the_wait(state: dict[str, object], expected: str | None) -> None:
    problem = container_problem(state)
    assert problem is None if expected is None else expected in (problem or "")


def test_a_closed_parent_folder_is_found() -> None:
    base = Path(tempfile.mkdtemp(prefix="vlmhb-plane-units-"))  # pytest's are closed to others
    base.chmod(0o755)
    closed = base / "closed"
    inner = closed / "inner"
    inner.mkdir(parents=True)
    closed.chmod(0o700)
    owner, group = closed.stat().st_uid, closed.stat().st_gid
    stranger = 54321 if owner != 54321 else 54322
    try:
        assert first_unreachable(inner, stranger, stranger) == closed
        assert first_unreachable(inner, owner, group) is None
        closed.chmod(0o711)
        assert first_unreachable(inner, stranger, stranger) is None
    finally:
        shutil.rmtree(base)


def test_up_without_an_engine_is_one_clear_line(tmp_path: Path) -> None:
    compose(tmp_path)  # skips without docker-compose
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLMHB_")}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    done = subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", "up", "--project", "vlmhbunits"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "no Docker engine answers" in done.stderr and "Traceback" not in done.stderr

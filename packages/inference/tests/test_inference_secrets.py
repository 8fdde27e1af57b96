"""Secrets through a real ``vlmhb run``: a key written in the config reaches the model
server (a stand-in for a remote OpenAI-compatible API, which tests cannot reach), yet is
in no file of the run folder (``run.json``, ``manifest.json``, ``.tasks/``, logs) and on
no process's command line while the run is going; nested secret keys are masked too."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from PIL import Image

from vlmhb.core.contracts import ModelSpec
from vlmhb.inference.launcher import ServerProcess

SECRET = "sk-literal-0123456789abcdef"
NESTED = "hf_nested_secret_value_42"
ENV_SECRET = "env-secret-value-77"


def write_dataset(root: Path, count: int = 6) -> Path:
    (root / "images").mkdir(parents=True)
    lines = ["data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox"]
    for index in range(count):
        Image.new("RGB", (32, 16), "white").save(root / "images" / f"{index}.png")
        lines.append(f"{index};test;images/{index}.png;q{index};a{index};doc;field;")
    (root / "annotation.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


class CommandLineWatch:
    """Samples every process's command line while a run goes (``/proc/*/cmdline``);
    ``of(pid)`` gives those of ``pid`` and its descendants (other tests run beside)."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[int, str]] = {}  # pid → (parent pid, command line)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        raw = (entry / "cmdline").read_bytes()
                        parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    except (OSError, ValueError, IndexError):
                        continue
                    line = raw.replace(b"\0", b" ").decode("utf-8", "replace")
                    if line:  # a zombie's is empty: keep what it ran
                        self.seen[int(entry.name)] = (parent, line)
            self._stop.wait(0.01)

    def of(self, root: int) -> list[str]:
        family, grew = {root}, True
        while grew:
            more = {pid for pid, (parent, _) in self.seen.items() if parent in family}
            grew = not more <= family
            family |= more
        return [self.seen[pid][1] for pid in family if pid in self.seen]

    def __enter__(self) -> CommandLineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def upstream(openai_standin: ModuleType) -> Iterator[tuple[str, Any]]:
    state = openai_standin.StandinState(model="remote-vlm", api_key=SECRET)
    with openai_standin.serve_in_thread(openai_standin.create_standin_app(state)) as url:
        yield url + "/v1", state


@pytest.mark.parametrize("through_wrapper", [True, False], ids=["wrapper", "direct"])
def test_a_key_in_the_config_is_used_and_never_written(
    tmp_path: Path, upstream: tuple[str, Any], through_wrapper: bool
) -> None:
    base_url, state = upstream
    write_dataset(tmp_path / "data")
    params: dict[str, Any] = {
        "api_key": SECRET,
        "extra_body": {"hf_token": NESTED, "note": {"env": {"HF_TOKEN": ENV_SECRET}}},
    }  # declared params only
    if through_wrapper:
        params["requests_per_s"] = 1000  # client-side limits: the wrapper sits in between
    config = {
        "name": "secrets",
        "output_dir": str(tmp_path / "runs"),
        "models": [
            {
                "name": "remote",
                "backend": "openai",
                "base_url": base_url,
                "model": "remote-vlm",
                "params": params,
                "concurrency": 2,
            }
        ],
        "datasets": [{"name": "d", "format": "vqa_csv", "path": "data"}],
        "tasks": [{"name": "t", "dataset": "d", "metrics": ["cer"]}],
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with CommandLineWatch() as watch:
        run = subprocess.Popen(
            [sys.executable, "-m", "vlmhb.core.cli.main", "run", str(path)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        stdout, stderr = run.communicate(timeout=300)
    proc = subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)
    commands = watch.of(run.pid)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(state.bodies) >= 6  # the stand-in accepted the key: no 401 answers
    (run_dir,) = [
        p for p in (tmp_path / "runs" / "secrets").iterdir() if (p / "answers.csv").exists()
    ]
    with (run_dir / "answers.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert len(rows) == 6 and all(not row["error"] for row in rows)

    for secret in (SECRET, NESTED, ENV_SECRET):
        assert secret not in proc.stdout + proc.stderr
        leaking = [
            str(p)
            for p in (tmp_path / "runs").rglob("*")
            if p.is_file() and secret.encode() in p.read_bytes()
        ]
        assert leaking == [], f"{secret} written to {leaking}"
        assert not [c for c in commands if secret in c], "a secret on a command line"
    if through_wrapper:
        assert any("vlmhb.inference.cli serve" in c for c in commands)  # it was sampled
    task_files = {
        Path(c.split(" stage run ")[1].split()[0]) for c in commands if " stage run " in c
    }
    assert task_files, f"the stage processes were not sampled: {commands}"
    for task_file in task_files:  # private copies with the secrets, gone after the stage
        assert task_file.parent.name.startswith("vlmhb-task-")
        assert not task_file.exists()
    public_task = json.loads((run_dir / ".tasks" / "inference.json").read_text("utf-8"))
    assert public_task["run"]["model"]["params"]["api_key"] == "**********"
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    masked = manifest["spec"]["model"]["params"]
    assert masked["api_key"] == "**********"
    assert masked["extra_body"]["hf_token"] == "**********"
    assert masked["extra_body"]["note"]["env"]["HF_TOKEN"] == "**********"
    assert masked["requests_per_s" if through_wrapper else "extra_body"]  # the rest stays


def test_the_model_spec_file_is_private_and_removed(tmp_path: Path) -> None:
    """The wrapper gets its spec from a 0600 file in a 0700 folder, gone once it started."""
    spec = ModelSpec(
        name="m",
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        params={"api_key": SECRET, "check_on_load": False},
    )  # starts offline
    server = ServerProcess(spec, tmp_path)
    spec_file = server._write_spec()
    try:
        assert stat.S_IMODE(spec_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(spec_file.parent.stat().st_mode) == 0o700
        assert json.loads(spec_file.read_text(encoding="utf-8"))["params"]["api_key"] == SECRET
        assert SECRET not in " ".join(server.command(spec_file))
    finally:
        server.stop()
    assert not spec_file.exists()
    with server:  # a real start: healthy, then the file is removed
        assert server._private is None

"""Env kinds are names in the env registry (entry-point group ``vlmhb.envs``, built-in
``process``): validate refuses a kind that is not installed, with did-you-mean; an
installed plugin env (kind ``recording``) is accepted, the orchestrator starts the stages
through it and calls its ``cleanup`` when the experiment ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmhb.core.config import load_experiment
from vlmhb.core.errors import ConfigError

VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]

EXPERIMENT = """\
name: envs
models:
  - name: echo
    backend: scripted
    params: {{rule: echo}}
    env: {{kind: {kind}}}
datasets:
  - {{name: mini, format: vqa_csv, path: {data}}}
tasks:
  - {{name: fields, dataset: mini, kind: vqa}}
"""

PLUGIN = '''\
"""A test env: the process env that records each stage it starts."""
import os
from pathlib import Path

from vlmhb.core.envs.process import ProcessEnvManager


class RecordingEnvManager(ProcessEnvManager):
    async def execute(self, task, emit):
        with Path(os.environ["RECORD_FILE"]).open("a", encoding="utf-8") as handle:
            handle.write(f"{task.stage.value} {task.env.kind}\\n")
        return await super().execute(task, emit)

    def cleanup(self):
        with Path(os.environ["RECORD_FILE"]).open("a", encoding="utf-8") as handle:
            handle.write("cleanup\\n")
        super().cleanup()
'''


def write_config(tmp_path: Path, data: Path, kind: str) -> Path:
    config = tmp_path / "exp.yaml"
    config.write_text(EXPERIMENT.format(kind=kind, data=data), encoding="utf-8")
    return config


def install_plugin(root: Path) -> Path:
    """An installed distribution (a dist-info on the path) registering env ``recording``."""
    info = root / "recording_env-0.1.dist-info"
    info.mkdir(parents=True)
    (root / "recording_env.py").write_text(PLUGIN, encoding="utf-8")
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: recording-env\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[vlmhb.envs]\nrecording = recording_env:RecordingEnvManager\n", encoding="utf-8"
    )
    return root


def vlmhb(*args: str, cwd: Path, plugin: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")])
    env = {
        **os.environ,
        "COLUMNS": "200",
        "PYTHONPATH": path,
        "RECORD_FILE": str(cwd / "record.txt"),
    }
    return subprocess.run(
        [*VLMHB, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def test_validate_refuses_an_env_kind_that_is_not_installed(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    config = write_config(tmp_path, vqa_dataset, "recording")
    with pytest.raises(ConfigError) as caught:
        load_experiment(config)
    message = str(caught.value)
    assert message.startswith(f"{config}:6")
    assert "field 'models.0.env.kind'" in message and "unknown env 'recording'" in message
    assert "Known envs: " in message and "process" in message


@pytest.mark.slow
def test_an_installed_plugin_env_is_accepted_and_runs_the_stages(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    plugin = install_plugin(tmp_path / "site")
    typo = vlmhb(
        "validate",
        str(write_config(tmp_path, vqa_dataset, "recordin")),
        cwd=tmp_path,
        plugin=plugin,
    )
    assert typo.returncode != 0 and "Did you mean 'recording'?" in typo.stdout + typo.stderr
    config = write_config(tmp_path, vqa_dataset, "recording")
    assert vlmhb("validate", str(config), cwd=tmp_path, plugin=plugin).returncode == 0
    proc = vlmhb("run", str(config), cwd=tmp_path, plugin=plugin)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = (tmp_path / "record.txt").read_text(encoding="utf-8").splitlines()
    # the other stages run in the default env; the manager is cleaned up at the end
    assert record == ["inference recording", "cleanup"]
    run = next(p for p in (tmp_path / "runs" / "envs").iterdir() if (p / "run.json").is_file())
    assert (
        json.loads((run / "run.json").read_text(encoding="utf-8"))["model"]["env"]["kind"]
        == "recording"
    )

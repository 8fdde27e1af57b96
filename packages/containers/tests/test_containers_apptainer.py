"""The ``apptainer`` env: the ``apptainer exec`` command line of each stage, and real
stages completing through it.

Apptainer is not installable on this machine (no package in Debian bookworm, no network
for its releases), so these tests put a stand-in ``apptainer`` program first on PATH: it
records its argv and environment, checks that every bind source exists (as Apptainer
does), then runs the stage command that follows the image on the host (its ``python`` is
this interpreter), in ``--pwd`` and with only the ``--env`` variables under
``--cleanenv``. The stand-in proves the command line and that a stage completes through
it; it isolates nothing (what ``--containall`` and the binds give is Apptainer's)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from vlmhb.containers.apptainer_env import ApptainerEnvManager, sif_name
from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import EnvSpec, Event, StageName, StageTask, TaskState
from vlmhb.core.envs.policy import ContainerPolicyError
from vlmhb.core.envs.stage_io import StageFiles
from vlmhb.core.errors import VlmhbError
from vlmhb.core.orchestration.graph import plan_experiment

from .docker_env_helpers import write_dataset

SECRET = "sk-apptainer-" + "5e1c0d9a"
STAND_IN = """\
#!{python}
# stand-in for apptainer (not installable here): record, check binds, run the stage
import json, os, sys

argv = sys.argv
with open(os.environ["APPTAINER_STAND_IN_RECORD"], "a", encoding="utf-8") as out:
    out.write(json.dumps({{"argv": argv, "env": sorted(os.environ)}}) + "\\n")
if os.environ.get("APPTAINER_STAND_IN_FAIL"):
    print("FATAL: could not open image", file=sys.stderr)
    sys.exit(255)
assert argv[1] == "exec", argv
flags = {{"--nv", "--containall", "--cleanenv", "--net"}}
valued = {{"--network", "--pwd", "--env", "--bind"}}
options, i = [], 2
while argv[i] in flags or argv[i] in valued:
    if argv[i] in valued:
        options.append((argv[i], argv[i + 1]))
        i += 2
    else:
        options.append((argv[i], None))
        i += 1
image, command = argv[i], argv[i + 1:]
env = {{"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}}
for name, value in options:
    if name == "--bind":
        source = value.split(":")[0]
        if not os.path.exists(source):
            print(f"FATAL: bind source {{source}} does not exist", file=sys.stderr)
            sys.exit(255)
    if name == "--env":
        key, _, val = value.partition("=")
        env[key] = val
    if name == "--pwd":
        os.chdir(value)
if command[0] == "python":
    command[0] = {python!r}
os.execve(command[0], command, env)
"""


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in ``apptainer`` first on PATH; returns the file it records calls in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "apptainer"
    program.write_text(STAND_IN.format(python=sys.executable), encoding="utf-8")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "apptainer-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("APPTAINER_STAND_IN_RECORD", str(record))
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(tmp_path / "data"))
    return record


def calls(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]


def plan(tmp_path: Path, model_extra: str = "") -> dict[StageName, StageTask]:
    data = write_dataset(tmp_path / "data" / "mini")
    config = tmp_path / "data" / "exp.yaml"
    config.write_text(
        "name: boxed\n"
        f"output_dir: {tmp_path / 'runs'}\n"
        "models:\n"
        "  - {name: echo, backend: scripted, params: {rule: echo}, "
        f"env: {{kind: apptainer, image: vlmhb/base-cpu}}{model_extra}}}\n"
        f"datasets:\n  - {{name: mini, format: vqa_csv, path: {data}}}\n"
        "tasks:\n  - {name: vqa, dataset: mini, kind: vqa, metrics: [cer]}\n"
        "stages:\n  evaluation: {env: {kind: apptainer, image: vlmhb/base-cpu}}\n",
        encoding="utf-8",
    )
    return {task.stage: task for task in plan_experiment(load_experiment(config))}


def option_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]


def with_secret(task: StageTask) -> StageTask:
    """``task`` whose model holds a secret param (sealed, as the loader seals it)."""
    assert task.run is not None
    model = task.run.model.model_copy(
        update={"params": {**task.run.model.params, "api_key": SecretStr(SECRET)}}
    )
    return task.model_copy(update={"run": task.run.model_copy(update={"model": model})})


def test_stages_complete_through_apptainer_exec_with_the_policys_binds(
    tmp_path: Path, stand_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPTAINERENV_LEAK", "1")  # Apptainer would pass it in: dropped
    tasks = plan(tmp_path)
    manager = ApptainerEnvManager(tmp_path / "envs")
    events: list[Event] = []
    inference = tasks[StageName.INFERENCE]
    result = asyncio.run(manager.execute(inference, events.append))
    assert result.status == TaskState.COMPLETED, result.message
    # the evaluation stage ignores model params: its task may hold a secret one
    evaluation = with_secret(tasks[StageName.EVALUATION]).model_copy(update={"gpu_ids": [0]})
    result = asyncio.run(manager.execute(evaluation, events.append))
    assert result.status == TaskState.COMPLETED, result.message
    assert (evaluation.run_dir / "metrics_by_id.csv").is_file()
    assert any(e.type == "progress" for e in events)

    first, second = calls(stand_in)
    argv = first["argv"]
    assert Path(argv[0]).name == "apptainer" and argv[1] == "exec"
    assert "--nv" not in argv  # no GPU for inference
    assert "--nv" in second["argv"] and "CUDA_VISIBLE_DEVICES=0" in second["argv"]
    assert {"--containall", "--cleanenv"} <= set(argv)
    assert argv[argv.index("--net") : argv.index("--net") + 3] == ["--net", "--network", "none"]
    binds = option_values(argv, "--bind")
    run_dir, data = inference.run_dir, tmp_path / "data" / "mini"
    assert f"{run_dir}:{run_dir}" in binds  # read-write
    assert f"{data}:{data}:ro" in binds
    image = argv.index("docker://vlmhb/base-cpu")  # no SIF cached: from the registry
    assert argv[image + 1 : image + 6] == ["python", "-m", "vlmhb.core.cli.main", "stage", "run"]
    private_task = Path(argv[image + 6])
    assert f"{private_task.parent}:{private_task.parent}" in binds
    assert not private_task.exists()  # consumed by the stage, its folder gone
    assert option_values(argv, "--pwd") == [str(run_dir)]
    for call in (first, second):
        assert SECRET not in " ".join(call["argv"])  # only the private task's path
        assert "APPTAINERENV_LEAK" not in call["env"]
    masked = (run_dir / ".tasks" / "evaluation.json").read_text(encoding="utf-8")
    assert SECRET not in masked


def test_a_model_that_reaches_a_server_gets_the_hosts_network(
    tmp_path: Path, stand_in: Path
) -> None:
    tasks = plan(tmp_path, model_extra=", base_url: 'http://127.0.0.1:9/v1'")
    manager = ApptainerEnvManager(tmp_path / "envs")
    inference, report = tasks[StageName.INFERENCE], tasks[StageName.REPORT]
    files = StageFiles.write(inference)
    prepared = manager.prepare(inference.env)
    argv = manager.stage_argv(inference, prepared, tmp_path / "private" / "task.json", files)
    assert "--net" not in argv  # Apptainer's default: the host's network
    argv = manager.stage_argv(report, prepared, tmp_path / "private" / "task.json", files)
    assert argv[argv.index("--net") : argv.index("--net") + 3] == ["--net", "--network", "none"]


def test_a_cached_sif_is_run_instead_of_the_registry_image(tmp_path: Path, stand_in: Path) -> None:
    manager = ApptainerEnvManager(tmp_path / "envs")
    sif = tmp_path / "envs" / "apptainer" / sif_name("vlmhb/base-cpu:1.0")
    assert sif.name == "vlmhb_base-cpu_1.0.sif"
    sif.parent.mkdir(parents=True)
    sif.write_bytes(b"SIF")
    prepared = manager.prepare(EnvSpec(kind="apptainer", image="vlmhb/base-cpu:1.0"))
    assert prepared.info["image"] == str(sif) and prepared.cache_hit


@pytest.mark.parametrize("image", ["evil/x", "vlmhb/../x", "docker.io/vlmhb/x"])
def test_an_image_outside_the_allow_list_is_refused(tmp_path: Path, image: str) -> None:
    with pytest.raises(ContainerPolicyError):
        ApptainerEnvManager(tmp_path).prepare(EnvSpec(kind="apptainer", image=image))


def test_packages_are_refused_images_run_as_built(tmp_path: Path) -> None:
    with pytest.raises(VlmhbError, match=r"env\.packages is not supported"):
        ApptainerEnvManager(tmp_path).prepare(EnvSpec(kind="apptainer", packages=["rich"]))


def test_apptainers_own_failure_is_an_infrastructure_failure(
    tmp_path: Path, stand_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPTAINER_STAND_IN_FAIL", "1")
    task = plan(tmp_path)[StageName.INFERENCE]
    result = asyncio.run(ApptainerEnvManager(tmp_path / "envs").execute(task, lambda e: None))
    assert result.status == TaskState.FAILED and result.failure == "infrastructure"
    assert "could not open image" in result.message and "code 255" in result.message

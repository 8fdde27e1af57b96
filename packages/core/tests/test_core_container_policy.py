"""The container policy (``vlmhb.core.envs.policy``): which images a container stage may
run and which host paths it mounts. Each test tries to break one rule: image name tricks,
paths outside the mount roots (``..``, symlinks, relative paths, the Docker socket), run
folders outside the experiment folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import StageName, StageTask
from vlmhb.core.envs.policy import (
    ContainerPolicy,
    ContainerPolicyError,
    StageMount,
    container_policy,
    fold_mounts,
    stage_mounts,
)
from vlmhb.core.orchestration.graph import plan_experiment
from vlmhb.core.settings import Settings

POLICY = ContainerPolicy(image_prefixes=("vlmhb/",), mount_roots=(Path("/data"),))


@pytest.mark.parametrize(
    "image",
    ["vlmhb/base-cpu", "vlmhb/base-cpu:latest", "vlmhb/team/ocr:1.0-rc1", "vlmhb/a__b-c.d"],
)
def test_an_image_under_an_allowed_prefix_is_accepted(image: str) -> None:
    POLICY.check_image(image)


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("evil/x", "not allowed"),
        ("vlmhb", "not allowed"),  # the prefix is a namespace: its repositories, not itself
        ("vlmhbx/y", "not allowed"),
        ("vlmhb.evil.com/x", "not allowed"),  # a registry host that starts like the prefix
        ("evil.com/vlmhb/x", "not allowed"),  # the prefix behind another registry
        ("localhost:5000/vlmhb/x", "not allowed"),
        ("docker.io/vlmhb/x", "not allowed"),
        ("vlmhb/../x", "not a valid image name"),
        ("vlmhb/x/..", "not a valid image name"),
        ("vlmhb/x..y", "not a valid image name"),
        ("vlmhb//x", "not a valid image name"),
        ("VLMHB/x", "not a valid image name"),
        ("vlmhb/X", "not a valid image name"),
        (" vlmhb/x", "not a valid image name"),
        ("vlmhb/x ", "not a valid image name"),
        ("vlmhb/x\n", "not a valid image name"),
        ("vlmhb/x:", "not a valid image name"),
        ("vlmhb/x:tag:more", "not a valid image name"),
        ("vlmhb/x@sha256:" + "a" * 64, "digests are not accepted"),
        ("evil@sha256:" + "a" * 64, "digests are not accepted"),
        ("sha256:" + "a" * 64, "not allowed"),  # an image id
        ("", "1 to 255 characters"),
        ("vlmhb/" + "x" * 300, "1 to 255 characters"),
    ],
)
def test_image_name_tricks_are_refused(image: str, why: str) -> None:
    with pytest.raises(ContainerPolicyError, match=why):
        POLICY.check_image(image)


def test_a_prefix_without_a_slash_names_one_repository_and_what_is_below() -> None:
    policy = ContainerPolicy(image_prefixes=("vlmhb/base-cpu",), mount_roots=())
    policy.check_image("vlmhb/base-cpu:1.0")
    policy.check_image("vlmhb/base-cpu/extra")
    with pytest.raises(ContainerPolicyError):
        policy.check_image("vlmhb/base-cpu-evil")


def test_prefixes_and_roots_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMHB_IMAGE_PREFIXES", '["team/", "vlmhb/base-cpu"]')
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("VLMHB_MODEL_ROOTS", f'["{tmp_path / "weights"}"]')
    policy = container_policy()
    assert policy.image_prefixes == ("team/", "vlmhb/base-cpu")
    monkeypatch.setenv("VLMHB_DATA_CACHE_DIR", str(tmp_path / "cache"))
    policy = container_policy()
    assert policy.mount_roots == (
        (tmp_path / "data").resolve(),
        (tmp_path / "weights").resolve(),
        (tmp_path / "cache").resolve(),  # datasets synced from storage URIs, mounted read-only
    )
    monkeypatch.delenv("VLMHB_DATA_ROOT")
    monkeypatch.delenv("VLMHB_IMAGE_PREFIXES")
    assert container_policy().mount_roots[0] == Path.cwd().resolve()  # default: the cwd
    assert container_policy().image_prefixes == ("vlmhb/",)


@pytest.mark.parametrize("prefixes", ['[""]', '["  "]', '[" vlmhb/"]'])
def test_a_blank_prefix_that_would_allow_every_image_is_refused(
    prefixes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMHB_IMAGE_PREFIXES", prefixes)
    with pytest.raises(ValueError, match="blank or has whitespace"):
        Settings()


def test_nested_mounts_of_the_same_mode_fold_into_their_parent() -> None:
    mounts = fold_mounts(
        [
            StageMount(Path("/data/ds/images"), read_only=True),
            StageMount(Path("/data/ds"), read_only=True),
            StageMount(Path("/data/ds"), read_only=True),
            StageMount(Path("/out/exp/run"), read_only=False),
            StageMount(Path("/out/exp/run/sub"), read_only=True),  # narrows: stays
            StageMount(Path("/data/ro-then-rw"), read_only=True),
            StageMount(Path("/data/ro-then-rw"), read_only=False),  # rw wins
        ]
    )
    assert mounts == [
        StageMount(Path("/data/ds"), read_only=True),
        StageMount(Path("/data/ro-then-rw"), read_only=False),
        StageMount(Path("/out/exp/run"), read_only=False),
        StageMount(Path("/out/exp/run/sub"), read_only=True),  # after its parent
    ]


# ----------------------------------------------------------------- stage mounts of a plan

CONFIG = """\
name: exp
output_dir: {output_dir}
registry_dirs: [{registry}]
models:
  - name: m
    backend: scripted
    model_path: {model_path}
    params: {{answers_file: {answers}, request_log: {request_log}}}
datasets:
  - {{name: mini, format: vqa_csv, path: {data}}}
tasks:
  - {{name: vqa, dataset: mini, kind: vqa, metrics: [cer], prompts: [{prompts}]}}
"""


@pytest.fixture
def root(tmp_path: Path, vqa_dataset: Path) -> Path:
    """A data root holding the dataset, an answers file, a prompt file, a registry."""
    data = vqa_dataset.parent  # tmp_path/data
    (data / "answers.csv").write_text("id;model_answer\n0;x\n", encoding="utf-8")
    (data / "weights").mkdir()
    (data / "prompts.yaml").write_text(
        "default: {system: '', user: '{{question}}'}\n", encoding="utf-8"
    )
    (data / "registry").mkdir()
    return data


def planned(tmp_path: Path, root: Path, **fields: str) -> dict[StageName, StageTask]:
    values = {
        "registry": str(root / "registry"),
        "model_path": str(root / "weights"),
        "answers": str(root / "answers.csv"),
        "request_log": "logs/requests.log",
        "data": str(root / "mini"),
        "prompts": str(root / "prompts.yaml"),
        "output_dir": str(tmp_path / "runs"),
        **fields,
    }
    config = tmp_path / "exp.yaml"
    config.write_text(CONFIG.format(**values), encoding="utf-8")
    spec = load_experiment(config, check=False)
    return {task.stage: task for task in plan_experiment(spec)}


def policy_for(*roots: Path) -> ContainerPolicy:
    return ContainerPolicy(("vlmhb/",), tuple(r.resolve() for r in roots))


def test_an_inference_stage_mounts_its_run_folder_rw_and_every_input_ro(
    tmp_path: Path, root: Path
) -> None:
    tasks = planned(tmp_path, root)
    inference = tasks[StageName.INFERENCE]
    mounts = stage_mounts(inference, policy_for(root))
    experiment = tmp_path / "runs" / "exp"
    assert set(mounts) == {
        StageMount(inference.run_dir, read_only=False),
        StageMount(experiment / "logs", read_only=False),  # request_log's folder
        StageMount(root / "mini", read_only=True),
        StageMount(root / "prompts.yaml", read_only=True),
        StageMount(root / "weights", read_only=True),  # model_path: a path
        StageMount(root / "answers.csv", read_only=True),  # backend param with PathRole.INPUT
        StageMount(root / "registry", read_only=True),
    }
    evaluation = tasks[StageName.EVALUATION]
    assert set(stage_mounts(evaluation, policy_for(root))) == {  # no model inputs
        StageMount(evaluation.run_dir, read_only=False),
        StageMount(root / "mini", read_only=True),
        StageMount(root / "prompts.yaml", read_only=True),
        StageMount(root / "registry", read_only=True),
    }


def test_a_run_report_writes_the_experiment_folders_shared_assets(
    tmp_path: Path, root: Path
) -> None:
    report = planned(tmp_path, root)[StageName.REPORT]
    mounts = stage_mounts(report, policy_for(root))
    experiment = tmp_path / "runs" / "exp"
    assert StageMount(report.run_dir, read_only=False) in mounts
    assert StageMount(experiment / "assets", read_only=False) in mounts  # plotly.js, once
    assert StageMount(experiment, read_only=False) not in mounts  # not the other runs


def test_the_experiment_report_reads_run_folders_inside_its_experiment_folder(
    tmp_path: Path, root: Path
) -> None:
    report = planned(tmp_path, root)[StageName.EXPERIMENT_REPORT]
    mounts = stage_mounts(report, policy_for(root))
    assert StageMount(tmp_path / "runs" / "exp", read_only=False) in mounts
    assert StageMount(report.run_dirs[0], read_only=True) in mounts
    outside = report.model_copy(update={"run_dirs": [tmp_path / "elsewhere" / "run"]})
    with pytest.raises(ContainerPolicyError, match=r"run_dirs\[0\] .* experiment folder"):
        stage_mounts(outside, policy_for(root))


def test_a_hub_name_as_model_path_mounts_nothing(tmp_path: Path, root: Path) -> None:
    inference = planned(tmp_path, root, model_path="org/some-model")[StageName.INFERENCE]
    assert inference.run is not None and inference.run.model.model_path == "org/some-model"
    sources = {m.source for m in stage_mounts(inference, policy_for(root))}
    assert not any("some-model" in str(s) for s in sources)


def test_an_input_outside_the_mount_roots_is_refused(tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "answers.csv").write_text("id;model_answer\n", encoding="utf-8")
    inference = planned(tmp_path, root, answers=str(outside / "answers.csv"))[StageName.INFERENCE]
    with pytest.raises(ContainerPolicyError) as caught:
        stage_mounts(inference, policy_for(root))
    message = str(caught.value)
    assert "run.model.params.answers_file" in message and str(outside) in message
    assert str(root.resolve()) in message  # names the roots


def test_a_symlink_inside_a_root_pointing_outside_is_refused(tmp_path: Path, root: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (root / "innocent").symlink_to(secret, target_is_directory=True)
    task = planned(tmp_path, root)[StageName.INFERENCE]
    assert task.run is not None
    task.run.model.model_path = str(root / "innocent")  # as a task file may name it
    with pytest.raises(ContainerPolicyError, match=r"run.model.model_path .* mount roots"):
        stage_mounts(task, policy_for(root))


def test_a_symlink_to_inside_a_root_is_mounted_by_the_name_the_task_uses(
    tmp_path: Path, root: Path
) -> None:
    (root / "alias").symlink_to(root / "weights", target_is_directory=True)
    task = planned(tmp_path, root)[StageName.INFERENCE]
    assert task.run is not None
    task.run.model.model_path = str(root / "alias")
    assert StageMount(root / "alias", read_only=True) in stage_mounts(task, policy_for(root))


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("{root}/mini/../../outside", "may not contain '..'"),
        ("{root}/mini/..", "may not contain '..'"),
        ("relative/weights", "is relative"),
    ],
)
def test_traversal_and_relative_paths_in_a_task_are_refused(
    tmp_path: Path, root: Path, path: str, why: str
) -> None:
    task = planned(tmp_path, root)[StageName.INFERENCE]
    assert task.run is not None
    task.run.dataset.path = Path(path.format(root=root))
    with pytest.raises(ContainerPolicyError, match=why):
        stage_mounts(task, policy_for(root))


def test_a_relative_run_folder_is_refused(tmp_path: Path, root: Path) -> None:
    task = planned(tmp_path, root)[StageName.REPORT]
    with pytest.raises(ContainerPolicyError, match=r"run_dir .* is relative"):
        stage_mounts(task.model_copy(update={"run_dir": Path("runs/exp/r")}), policy_for(root))


def test_an_output_param_outside_the_experiment_folder_is_refused(
    tmp_path: Path, root: Path
) -> None:
    task = planned(tmp_path, root)[StageName.INFERENCE]
    assert task.run is not None
    task.run.model.params["request_log"] = str(tmp_path / "elsewhere.log")
    with pytest.raises(ContainerPolicyError, match=r"request_log .* experiment folder"):
        stage_mounts(task, policy_for(root))


@pytest.mark.skipif(
    not any(Path(p).exists() for p in ("/var/run/docker.sock", "/run/docker.sock")),
    reason="no Docker socket on this machine",
)
def test_the_docker_socket_is_never_mounted_even_under_a_root_of_slash(
    tmp_path: Path, root: Path
) -> None:
    task = planned(tmp_path, root)[StageName.INFERENCE]
    assert task.run is not None
    for path in ("/var/run", "/run", "/var/run/docker.sock", "/"):
        task.run.model.model_path = path
        with pytest.raises(ContainerPolicyError, match="Docker socket"):
            stage_mounts(task, policy_for(Path("/")))


def test_docker_host_names_the_socket_too(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket_dir = root / "engine"
    socket_dir.mkdir()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_dir / 'docker.sock'}")
    task = planned(tmp_path, root)[StageName.INFERENCE]
    assert task.run is not None
    task.run.model.model_path = str(socket_dir)
    with pytest.raises(ContainerPolicyError, match="Docker socket"):
        stage_mounts(task, policy_for(root))
    assert os.environ["DOCKER_HOST"].startswith("unix://")

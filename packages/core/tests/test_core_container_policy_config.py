"""``vlmhb validate`` (and so ``run``, and the API's loader) applies the container policy
to models whose env is a container kind: an image outside the allow-list, or an input path
outside the mount roots (``VLMHB_DATA_ROOT``, ``VLMHB_MODEL_ROOTS``), is one error naming
the file:line and the field. The same config with the ``process`` env keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vlmhb.core.config import load_experiment
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.errors import ConfigError

from .core_cli_helpers import run_vlmhb

DOCKER = {"kind": "docker", "image": "vlmhb/base-cpu"}


def write_config(
    folder: Path,
    dataset: Path,
    env: dict[str, str] | None = None,
    *,
    model: dict[str, object] | None = None,
) -> Path:
    """Two models (the second in ``env``) on one dataset."""
    second: dict[str, object] = {"name": "boxed", "backend": "scripted", **(model or {})}
    if env is not None:
        second["env"] = env
    data = {
        "name": "exp",
        "models": [{"name": "plain", "backend": "scripted"}, second],
        "datasets": [{"name": "mini", "format": "vqa_csv", "path": str(dataset)}],
        "tasks": [{"name": "vqa", "dataset": "mini", "kind": "vqa", "metrics": ["cer"]}],
    }
    config = folder / "exp.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def validate(config: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """``vlmhb validate`` in a child process: (exit code, output on one line)."""
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(data_root))
    proc = run_vlmhb("validate", config.name, cwd=config.parent)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    return proc.returncode, " ".join(output.split())


def load(config: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The loader ``validate`` and ``run`` call, in this process (faster): (0 or 2, error)."""
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(data_root))
    try:
        load_experiment(config)
    except ConfigError as exc:
        assert exc.location.startswith(f"{config}:"), exc.location  # file:line
        return 2, f"exp.yaml: {exc}"
    return 0, "OK"


def test_a_container_image_outside_the_allow_list_is_refused_at_validate(
    vqa_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = vqa_dataset.parent
    config = write_config(root, vqa_dataset, {"kind": "docker", "image": "evil.com/vlmhb/x"})
    code, output = validate(config, root, monkeypatch)
    assert code == 2, output
    assert "exp.yaml:" in output and "field 'models.1.env.image'" in output, output
    assert "'vlmhb/'" in output  # names what is allowed


def test_an_apptainer_image_is_checked_the_same_way(
    vqa_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = vqa_dataset.parent
    config = write_config(root, vqa_dataset, {"kind": "apptainer", "image": "vlmhb/../evil"})
    code, output = load(config, root, monkeypatch)
    assert code == 2 and "field 'models.1.env.image'" in output, output


def test_a_dataset_outside_the_mount_roots_is_refused_for_a_container_model(
    vqa_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "root"
    elsewhere.mkdir()
    config = write_config(elsewhere, vqa_dataset, DOCKER)
    code, output = load(config, elsewhere, monkeypatch)
    assert code == 2, output
    assert "exp.yaml:" in output and "field 'datasets.0.path'" in output, output
    assert "mount roots" in output and str(elsewhere.resolve()) in output


def test_the_same_config_with_the_process_env_keeps_working(
    vqa_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "root"
    elsewhere.mkdir()
    config = write_config(elsewhere, vqa_dataset, {"kind": "process"})
    code, output = validate(config, elsewhere, monkeypatch)
    assert code == 0 and "OK" in output, output


def test_a_container_config_inside_the_roots_passes(
    vqa_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv("VLMHB_MODEL_ROOTS", f'["{weights}"]')
    config = write_config(
        vqa_dataset.parent, vqa_dataset, DOCKER, model={"model_path": str(weights)}
    )
    code, output = load(config, vqa_dataset.parent, monkeypatch)
    assert code == 0 and "OK" in output, output


def test_a_symlinked_dataset_pointing_outside_the_roots_is_refused(
    vqa_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "mini").symlink_to(vqa_dataset, target_is_directory=True)
    config = write_config(root, Path("mini"), DOCKER)  # relative: resolves in the root
    code, output = load(config, root, monkeypatch)
    assert code == 2 and "field 'datasets.0.path'" in output, output


def test_a_relative_path_that_climbs_out_of_the_root_is_refused(
    vqa_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = vqa_dataset.parent / "configs"
    root.mkdir()
    (vqa_dataset.parent / "answers.csv").write_text("id;model_answer\n", encoding="utf-8")
    config = write_config(
        root, vqa_dataset, DOCKER, model={"params": {"answers_file": "../answers.csv"}}
    )
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(root))
    code, output = load(config, root, monkeypatch)
    assert code == 2 and "field 'models.1.params.answers_file'" in output, output


def test_a_submitted_preset_with_a_foreign_image_is_refused(
    vqa_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submitted config cannot set ``env`` (operator-only); what an operator's preset sets
    is still held to the allow-list, as the API loads it."""
    monkeypatch.delenv("VLMHB_IMAGE_PREFIXES", raising=False)
    registry = tmp_path / "operator-registry"
    registry.mkdir()
    preset = {"kind": "model", "name": "boxed", "backend": "scripted", "env": DOCKER}
    (registry / "models.yaml").write_text(
        yaml.safe_dump([preset, {**preset, "name": "foreign", "env": {**DOCKER, "image": "x/y"}}]),
        encoding="utf-8",
    )
    root = vqa_dataset.parent
    policy = SubmissionPolicy(
        data_roots=(root,), output_root=tmp_path / "runs", registry_dirs=(registry,)
    )
    config = root / "submitted.yaml"
    body = {
        "name": "exp",
        "models": [{"preset": "boxed"}, {"preset": "foreign"}],
        "datasets": [{"name": "mini", "format": "vqa_csv", "path": "mini"}],
        "tasks": [{"name": "t", "dataset": "mini", "metrics": ["cer"]}],
    }
    config.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_experiment(config, policy=policy)
    assert "field 'models.1.env.image'" in str(caught.value)
    assert caught.value.location.startswith(f"{config}:")


def test_a_container_stage_in_stages_is_held_to_the_same_rules(
    vqa_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stages:`` (evaluation/report env) with a foreign image, then with a dataset (read
    by every run) outside the roots, though every model runs as a process."""
    root = vqa_dataset.parent
    config = write_config(root, vqa_dataset, {"kind": "process"})
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["stages"] = {"report": {"env": {"kind": "docker", "image": "evil/x"}}}
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    code, output = load(config, root, monkeypatch)
    assert code == 2 and "field 'stages.report.env.image'" in output, output
    data["stages"]["report"]["env"]["image"] = "vlmhb/base-cpu"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert load(config, root, monkeypatch) == (0, "OK")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, output = load(config, elsewhere, monkeypatch)
    assert code == 2 and "field 'datasets.0.path'" in output, output


def test_the_default_image_is_held_to_the_allow_list_too(
    vqa_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = vqa_dataset.parent
    config = write_config(root, vqa_dataset, {"kind": "docker"})  # no image: the default
    assert load(config, root, monkeypatch) == (0, "OK")
    monkeypatch.setenv("VLMHB_IMAGE_PREFIXES", '["team/"]')
    code, output = load(config, root, monkeypatch)
    assert code == 2 and "field 'models.1.env.image'" in output and "default image" in output

"""Experiment config loading: YAML, JSON and legacy CSV give the same spec; bad input
gets errors naming file, line and field, with suggestions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vlmhb.core.config import load_experiment
from vlmhb.core.errors import ConfigError
from vlmhb.core.orchestration.graph import plan_experiment

EXPERIMENT = """\
name: mini
models:
  - name: oracle
    backend: scripted
    params: {rule: echo}
  - name: ocr
    backend: tesseract
    params: {lang: rus}
datasets:
  - {name: mini, format: vqa_csv, path: data/mini}
tasks:
  - name: mini_vqa
    dataset: mini
    kind: vqa
    prompts: [prompts/p.csv]
    metrics: [cer, wer]
    filters: {doc_class: [passport]}
"""

PROMPTS = (
    "prompt;doc_class_question_type\n{{ question }}?;passport Фамилия\n"
    "{{ question }}!;passport Имя\n"
)


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def experiment_dir(tmp_path: Path, vqa_dataset: Path) -> Path:
    write(tmp_path, "prompts/p.csv", PROMPTS)
    return tmp_path


def test_yaml_loads_and_resolves_paths(experiment_dir: Path) -> None:
    spec = load_experiment(write(experiment_dir, "exp.yaml", EXPERIMENT))
    assert [m.name for m in spec.models] == ["oracle", "ocr"]
    assert spec.datasets[0].path == (experiment_dir / "data/mini").resolve()
    assert spec.tasks[0].prompts == [str((experiment_dir / "prompts/p.csv").resolve())]
    assert spec.tasks[0].filters.doc_class == ["passport"]


def test_json_gives_the_same_plan_as_yaml(experiment_dir: Path) -> None:
    from_yaml = load_experiment(write(experiment_dir, "exp.yaml", EXPERIMENT))
    from_json = load_experiment(
        write(experiment_dir, "exp.json", json.dumps(yaml.safe_load(EXPERIMENT)))
    )
    assert [t.id for t in plan_experiment(from_yaml)] == [t.id for t in plan_experiment(from_json)]


def test_malformed_yaml_names_the_line(experiment_dir: Path) -> None:
    broken = EXPERIMENT.replace("    params: {lang: rus}", "    params: {lang: rus")
    with pytest.raises(ConfigError) as info:
        load_experiment(write(experiment_dir, "exp.yaml", broken))
    assert "exp.yaml:" in str(info.value)
    assert "invalid YAML" in str(info.value)
    line = int(str(info.value).split("exp.yaml:")[1].split(":")[0])
    assert 8 <= line <= 10


def test_malformed_json_names_line_and_column(experiment_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"exp\.json:2:\d+: invalid JSON"):
        load_experiment(write(experiment_dir, "exp.json", '{"name": "x",\n "models": [,]}'))


def test_unknown_field_names_file_line_and_field(experiment_dir: Path) -> None:
    bad = EXPERIMENT.replace("    kind: vqa", "    kind: vqa\n    metricz: [cer]")
    with pytest.raises(ConfigError) as info:
        load_experiment(write(experiment_dir, "exp.yaml", bad))
    message = str(info.value)
    assert "exp.yaml:15" in message and "tasks.0.metricz" in message


def test_unknown_backend_suggests_closest(experiment_dir: Path) -> None:
    bad = EXPERIMENT.replace("backend: tesseract", "backend: tesseract-ocr")
    with pytest.raises(ConfigError) as info:
        load_experiment(write(experiment_dir, "exp.yaml", bad))
    message = str(info.value)
    assert "exp.yaml:7" in message and "models.1.backend" in message
    assert "Did you mean 'tesseract'" in message


def test_unknown_metric_suggests_closest(experiment_dir: Path) -> None:
    bad = EXPERIMENT.replace("metrics: [cer, wer]", "metrics: [cer, wre]")
    with pytest.raises(ConfigError) as info:
        load_experiment(write(experiment_dir, "exp.yaml", bad))
    message = str(info.value)
    assert "exp.yaml:16" in message and "tasks.0.metrics.1" in message
    assert "'wer'" in message


def test_unknown_dataset_reference_and_missing_prompt_file(experiment_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"tasks\.0\.dataset.*Did you mean 'mini'"):
        load_experiment(
            write(experiment_dir, "a.yaml", EXPERIMENT.replace("dataset: mini", "dataset: mimi"))
        )
    with pytest.raises(ConfigError, match=r"tasks\.0\.prompts\.0.*not found"):
        load_experiment(
            write(
                experiment_dir, "b.yaml", EXPERIMENT.replace("prompts/p.csv", "prompts/missing.csv")
            )
        )


def test_duplicate_model_names_rejected(experiment_dir: Path) -> None:
    bad = EXPERIMENT.replace("name: ocr", "name: oracle")
    with pytest.raises(ConfigError, match=r"models\.1\.name.*duplicate"):
        load_experiment(write(experiment_dir, "exp.yaml", bad))


USER_CONFIG = (
    "dataset;task;framework;model_name;system_prompt;prompt_collection;metrics;"
    "only_evaluate_metrics;metrics_aggregators;filter_doc_class;filter_question_type\n"
    "data/mini;VQA;scripted;oracle;;prompts/p.csv;['CER', 'WER'];False;"
    "['by_id', 'by_doc_question', 'by_doc_type', 'general'];['passport'];\n"
    "data/mini;VQA;tesseract;ocr;;prompts/p.csv;['CER', 'WER'];False;"
    "['by_id', 'by_doc_question', 'by_doc_type', 'general'];['passport'];\n"
)
VLM_BASE = (
    "framework;model_family;model_name;docker_image;git_python_package;python_package;module;"
    "class_name;params\n"
    'scripted;scripted;oracle;;;;;;{"rule": "echo"}\n'
    'tesseract;tesseract;ocr;;;;;;{"lang": "rus"}\n'
)


@pytest.mark.parametrize("bom", [False, True])
def test_legacy_csv_pair_gives_the_same_plan_as_yaml(experiment_dir: Path, bom: bool) -> None:
    prefix = "\ufeff" if bom else ""
    write(experiment_dir, "user_config.csv", prefix + USER_CONFIG)
    write(experiment_dir, "vlm_base.csv", prefix + VLM_BASE)
    legacy = load_experiment(experiment_dir)
    modern = load_experiment(write(experiment_dir, "exp.yaml", EXPERIMENT))
    assert legacy.tasks[0].name == "mini_vqa"
    assert legacy.tasks[0].metrics == ["cer", "wer"]
    assert [t.id for t in plan_experiment(legacy)] == [t.id for t in plan_experiment(modern)]


def test_legacy_filters_each_work_alone(experiment_dir: Path) -> None:
    only_type = USER_CONFIG.replace(";['passport'];\n", ";;['Имя']\n")
    write(experiment_dir, "user_config.csv", only_type)
    write(experiment_dir, "vlm_base.csv", VLM_BASE)
    spec = load_experiment(experiment_dir / "user_config.csv")
    assert spec.tasks[0].filters.doc_class == []
    assert spec.tasks[0].filters.question_type == ["Имя"]
    only_class = USER_CONFIG.replace(";['passport'];\n", ";passport;\n")
    write(experiment_dir, "user_config.csv", only_class)
    spec = load_experiment(experiment_dir / "user_config.csv")
    assert spec.tasks[0].filters.doc_class == ["passport"]
    assert spec.tasks[0].filters.question_type == []


def test_legacy_errors_name_file_row_and_column(experiment_dir: Path) -> None:
    write(experiment_dir, "vlm_base.csv", VLM_BASE)
    write(
        experiment_dir,
        "user_config.csv",
        USER_CONFIG.replace("['CER', 'WER'];False", "['CER', 'WRE'];False", 1),
    )
    with pytest.raises(ConfigError) as info:
        load_experiment(experiment_dir)
    assert "user_config.csv:2" in str(info.value) and "'wer'" in str(info.value)
    write(
        experiment_dir,
        "user_config.csv",
        USER_CONFIG.replace("['CER', 'WER'];False", "['CER', 'WER';False", 1),
    )
    with pytest.raises(ConfigError, match=r"user_config\.csv:2 \[metrics\]: cannot read"):
        load_experiment(experiment_dir)
    write(experiment_dir, "user_config.csv", USER_CONFIG.replace(";oracle;", ";oracel;", 1))
    with pytest.raises(ConfigError, match=r"user_config\.csv:2 \[model_name\].*'oracle'"):
        load_experiment(experiment_dir)
    write(experiment_dir, "user_config.csv", USER_CONFIG.replace("metrics;", "metricks;", 1))
    with pytest.raises(ConfigError, match=r"user_config\.csv:1: missing column 'metrics'"):
        load_experiment(experiment_dir)

"""A VLMHyperBench v0.1 folder runs as it is: ``user_config*.csv`` + ``vlm_base.csv`` +
``data_dirs/Datasets/<TASK>/<name>/`` + ``data_dirs/PromptCollections/<TASK>/...``, with
v0.1 task, framework and metric names; a real ``vlmhb run DIR`` end to end."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmhb.core.config.legacy_v01 import task_kind
from vlmhb.core.config.loader import load_experiment
from vlmhb.core.errors import ConfigError

VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]
USER_HEADER = (
    "dataset;task;framework;model_name;system_prompt;prompt_collection;metrics;"
    "only_evaluate_metrics;metrics_aggregators;filter_doc_class;filter_question_type"
)
BASE_HEADER = (
    "framework;model_family;model_name;docker_image;git_python_package;"
    "python_package;module;class_name"
)
AGGREGATORS = '"[""by_id"", ""by_doc_question"", ""by_doc_type"", ""general""]"'


def vlmhb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*VLMHB, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"vlmhb {' '.join(args)}: {proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def write_v01_folder(
    root: Path,
    base_rows: list[str],
    user_rows: list[str],
    user_config: str = "user_config_model_eval.csv",
    base_header: str = BASE_HEADER,
) -> Path:
    """A v0.1 folder around a synthetic dataset ``demo_mini`` and its prompt collection."""
    root.mkdir(parents=True, exist_ok=True)
    dataset = root / "data_dirs" / "Datasets" / "VQA" / "demo_mini"
    if not dataset.exists():
        vlmhb(
            "datasets",
            "synth",
            "--out",
            str(dataset),
            "--n",
            "1",
            "--seed",
            "3",
            "--format",
            "vqa_csv",
            cwd=root,
        )
        with (dataset / "annotation.csv").open(encoding="utf-8", newline="") as handle:
            keys = sorted(
                {
                    f"{r['doc_class']} {r['question_type']}"
                    for r in csv.DictReader(handle, delimiter=";")
                }
            )
        prompts = root / "data_dirs" / "PromptCollections" / "VQA" / "demo_mini"
        prompts.mkdir(parents=True)
        lines = [
            "prompt;doc_class_question_type;cer",
            *[f"Напиши {k.split(' ', 1)[1]}.;{k};0.0" for k in keys],
        ]
        (prompts / "demo_prompts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        # a prompts-only folder of the same name is not the dataset
        (root / "data" / "demo_mini").mkdir(parents=True)
        (root / "data" / "demo_mini" / "demo_prompts.csv").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )
    (root / "vlm_base.csv").write_text(
        "\n".join([base_header, *base_rows]) + "\n", encoding="utf-8"
    )
    (root / user_config).write_text("\n".join([USER_HEADER, *user_rows]) + "\n", encoding="utf-8")
    return root


ORACLE = (
    "scripted;oracle;oracle;;;;;;"
    '{"answers_file": "data_dirs/Datasets/VQA/demo_mini/annotation.csv", '
    '"answer_column": "answer"}'
)
ORACLE_ROW = (
    f"demo_mini;VQA;scripted;oracle;;demo_mini/demo_prompts.csv;['CER', 'BLEU'];"
    f"False;{AGGREGATORS};;"
)


@pytest.mark.slow
def test_a_v01_folder_runs_as_it_is(tmp_path: Path) -> None:
    folder = write_v01_folder(
        tmp_path / "v01", [ORACLE], [ORACLE_ROW], base_header=BASE_HEADER + ";params"
    )
    spec = load_experiment(folder)
    assert spec.datasets[0].name == "demo_mini"
    assert spec.datasets[0].path.parts[-4:] == ("data_dirs", "Datasets", "VQA", "demo_mini")
    assert spec.tasks[0].kind == "vqa" and spec.tasks[0].metrics == ["cer", "bleu"]
    assert "PromptCollections" in str(spec.tasks[0].prompts[0])
    vlmhb("run", str(folder), "--output-dir", str(tmp_path / "runs"), cwd=tmp_path)
    runs = [p for p in (tmp_path / "runs" / "v01").iterdir() if (p / "run.json").is_file()]
    assert len(runs) == 1
    with (runs[0] / "metrics_general.csv").open(encoding="utf-8", newline="") as handle:
        general = list(csv.DictReader(handle, delimiter=";"))
    by_metric = {row["metric"]: row for row in general}
    assert {"cer", "bleu"} <= set(by_metric), by_metric
    assert float(by_metric["cer"]["micro"]) == 0.0
    with (runs[0] / "answers.csv").open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle, delimiter=";"))) == 26


def test_v01_task_names_map_to_kinds() -> None:
    assert task_kind("VQA") == "vqa"
    assert task_kind("RPOClassification") == "classification"
    assert task_kind("RPOSorting") == "ordering"


def test_several_user_configs_need_a_name(tmp_path: Path) -> None:
    folder = tmp_path / "v01"
    folder.mkdir()
    for name in ("user_config_a.csv", "user_config_b.csv"):
        (folder / name).write_text(USER_HEADER + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="several user configs"):
        load_experiment(folder)


def test_a_hugging_face_row_maps_to_transformers(tmp_path: Path) -> None:
    """``Hugging Face`` without a v0.1 package: the transformers backend, the hub id, a GPU;
    the ``model_path`` column overrides the id (plan only: no hub, no GPU here)."""
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "data" / "mini").mkdir(parents=True)
    (folder / "data" / "mini" / "annotation.csv").write_text(
        "data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox\n",
        encoding="utf-8",
    )
    (folder / "vlm_base.csv").write_text(
        f"{BASE_HEADER};model_path\n"
        "Hugging Face;Qwen2.5-VL;Qwen2.5-VL-3B-Instruct;;;;;;\n"
        "Hugging Face;Qwen2-VL;Qwen2-VL-2B-Instruct;;;;;;/models/qwen2-vl-2b\n",
        encoding="utf-8",
    )
    rows = [
        f"mini;VQA;Hugging Face;{m};;;['CER'];False;;;"
        for m in ("Qwen2.5-VL-3B-Instruct", "Qwen2-VL-2B-Instruct")
    ]
    (folder / "user_config.csv").write_text(
        "\n".join([USER_HEADER, *rows]) + "\n", encoding="utf-8"
    )
    spec = load_experiment(folder, check=False)
    first, second = spec.models
    assert first.backend == second.backend == "transformers"
    assert first.model_path == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert second.model_path == "/models/qwen2-vl-2b"
    assert first.resources.gpus == second.resources.gpus == 1


def test_v01_metric_names_are_ours(tmp_path: Path) -> None:
    """``['CER']``, ``['WER']``, ``['BLEU']`` cells (and v0.1's output column names such as
    ``cer_error``) name our metrics; an unknown one is an error with did-you-mean."""
    folder = tmp_path / "m"
    (folder / "data" / "mini").mkdir(parents=True)
    (folder / "data" / "mini" / "annotation.csv").write_text(
        "data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox\n",
        encoding="utf-8",
    )
    (folder / "vlm_base.csv").write_text(f"{BASE_HEADER}\nscripted;s;m;;;;;\n", encoding="utf-8")
    user = folder / "user_config.csv"
    user.write_text(
        f"{USER_HEADER}\nmini;VQA;scripted;m;;;['WER', 'CER', 'BLEU', "
        "'cer_error', 'EM'];False;;;\n",
        encoding="utf-8",
    )
    assert load_experiment(folder, check=False).tasks[0].metrics == [
        "wer",
        "cer",
        "bleu",
        "cer",
        "exact_match",
    ]
    user.write_text(f"{USER_HEADER}\nmini;VQA;scripted;m;;;['CERR'];False;;;\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown metric 'cerr'\. Did you mean 'cer'"):
        load_experiment(folder)


def test_the_folder_given_as_dot_names_the_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_v01_folder(
        tmp_path / "v01dot", [ORACLE], [ORACLE_ROW], base_header=BASE_HEADER + ";params"
    )
    monkeypatch.chdir(folder)
    assert load_experiment(Path(".")).name == "v01dot"


@pytest.mark.slow
def test_a_submitted_v01_pair_finds_data_dirs_in_the_data_root(tmp_path: Path) -> None:
    """The server stores a submitted pair beside a ``datasets`` link to its data root; a
    data root laid out as a v0.1 folder serves dataset and prompt names."""
    from vlmhb.core.config.policy import SubmissionPolicy

    root = write_v01_folder(tmp_path / "root", [], [])
    stored = tmp_path / "stored"
    stored.mkdir()
    (stored / "datasets").symlink_to(root, target_is_directory=True)
    (stored / "vlm_base.csv").write_text(f"{BASE_HEADER}\nscripted;s;m;;;;;\n", encoding="utf-8")
    (stored / "user_config.csv").write_text(
        f"{USER_HEADER}\ndemo_mini;VQA;scripted;m;;demo_mini/demo_prompts.csv;['CER'];False;;;\n",
        encoding="utf-8",
    )
    policy = SubmissionPolicy(data_roots=(root,), output_root=tmp_path / "runs")
    spec = load_experiment(stored, policy=policy)
    assert spec.datasets[0].path == (root / "data_dirs/Datasets/VQA/demo_mini").resolve()
    assert "PromptCollections" in str(spec.tasks[0].prompts[0])

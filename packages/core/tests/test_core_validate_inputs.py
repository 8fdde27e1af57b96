"""``vlmhb validate`` runs the dataset checks ``vlmhb run`` runs (bug 5 of issue 8): each
case here used to pass validate and fail at run. Errors name the file relative to the
config (``data/mini/annotation.csv:1``) in one line, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .core_cli_helpers import run_vlmhb

ANNOTATION = "data/mini/annotation.csv"
# Runs the CLI in a child and prints its exit code and peak RSS (KiB, VmHWM: this
# program's own, not the forking parent's as ru_maxrss would be) on the last line.
PEAK_RSS = """\
import re, sys
from vlmhb.core.cli.main import main
sys.argv = ["vlmhb", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
status = open("/proc/self/status").read()
print("rc-rss", code, re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
"""


def _config(root: Path, *, params: str = "{rule: echo}", task: str = "") -> Path:
    config = root / "exp.yaml"
    config.write_text(
        "name: inputs\n"
        f"models:\n  - {{name: echo, backend: scripted, params: {params}}}\n"
        "datasets:\n  - {name: mini, format: vqa_csv, path: data/mini}\n"
        f"tasks:\n  - {{name: vqa, dataset: mini, kind: vqa, metrics: [cer]{task}}}\n",
        encoding="utf-8",
    )
    return config


def _refused(root: Path, command: str = "validate") -> str:
    """The one-line error of ``vlmhb <command>`` on ``root/exp.yaml`` (exit 2)."""
    proc = run_vlmhb(command, "exp.yaml", cwd=root)
    output = proc.stdout + proc.stderr
    assert proc.returncode in (1, 2) if command == "run" else proc.returncode == 2, output
    assert "Traceback" not in output
    return " ".join(output.split())  # rich wraps long lines


def _passes(root: Path) -> str:
    proc = run_vlmhb("validate", "exp.yaml", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return " ".join((proc.stdout + proc.stderr).split())


def test_a_folder_without_dataset_files_fails_validate(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    (vqa_dataset / "annotation.csv").unlink()
    _config(root)
    message = _refused(root)
    assert f"{ANNOTATION}: file not found" in message


def test_a_folder_without_dataset_files_fails_run_with_the_same_error(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    (vqa_dataset / "annotation.csv").unlink()
    _config(root)
    message = _refused(root, "run")
    assert f"{vqa_dataset / 'annotation.csv'}: file not found" in message


def test_an_empty_annotation_file_fails_validate(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    (vqa_dataset / "annotation.csv").write_text("", encoding="utf-8")
    _config(root)
    assert f"{ANNOTATION}: empty file" in _refused(root)


def test_a_comma_separated_annotation_fails_validate(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    annotation = vqa_dataset / "annotation.csv"
    annotation.write_text(annotation.read_text(encoding="utf-8").replace(";", ","), "utf-8")
    _config(root)
    message = _refused(root)
    assert f"{ANNOTATION}:1: header lacks column(s)" in message
    assert "is the separator ';'?" in message


def test_a_100_mb_line_is_refused_with_bounded_memory(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    annotation = vqa_dataset / "annotation.csv"
    with annotation.open("a", encoding="utf-8") as handle:
        handle.write("9;test;images/0.png;Напиши;")
        for _ in range(100):  # 100 MB written a MB at a time
            handle.write("x" * 1_000_000)
        handle.write(";passport;Имя;\n")
    _config(root)
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, "validate", "exp.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=300,
    )
    code, rss_kib = proc.stdout.split("rc-rss")[-1].split()
    message = " ".join(proc.stderr.split())
    assert code == "2", proc.stdout + proc.stderr
    assert f"{ANNOTATION}:6: line longer than" in message and "Traceback" not in message
    assert int(rss_kib) < 250 * 1024, f"peak RSS {int(rss_kib) // 1024} MiB"


def test_a_prompt_csv_with_a_wrong_header_fails_validate(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    (root / "prompts").mkdir()
    (root / "prompts" / "p.csv").write_text("text;key\nНапиши;passport Имя\n", "utf-8")
    _config(root, task=", prompts: [prompts/p.csv]")
    assert "prompts/p.csv:1: header must be 'prompt;doc_class_question_type'" in _refused(root)


def test_filters_that_select_nothing_fail_validate(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    _config(root, task=", filters: {doc_class: [pasport]}")
    message = _refused(root)
    assert "filters select no sample" in message and "doc_class 'pasport'" in message
    assert "Did you mean 'passport'?" in message
    assert "doc classes in the dataset: invoice, passport, snils" in message


def test_missing_prompt_keys_for_a_doc_class_are_reported(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    (root / "prompts").mkdir()
    (root / "prompts" / "p.csv").write_text(
        "prompt;doc_class_question_type\nНапиши {{ question_type }};passport Фамилия\n"
        "Напиши;passport Имя\n",
        "utf-8",
    )
    _config(root, task=", prompts: [prompts/p.csv]")
    message = _passes(root)
    assert "warning: run vqa · p: 2 of 4 samples are skipped" in message
    assert "no prompt for key 'snils Номер'" in message
    assert "no prompt for key 'invoice Итого'" in message


def test_missing_and_unreadable_images_are_counted(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    (vqa_dataset / "images" / "1.png").unlink()
    (vqa_dataset / "images" / "2.png").write_bytes(b"not a png")
    _config(root)
    message = _passes(root)
    assert "warning: run vqa · default: 2 of 4 samples are skipped" in message
    assert "image_path: 2" in message
    assert f"{ANNOTATION}:3 [image_path]: image file not found" in message
    assert f"{ANNOTATION}:4 [image_path]: unreadable image 2.png" in message


def test_no_readable_image_at_all_fails_validate(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    for image in (vqa_dataset / "images").iterdir():
        image.unlink()
    _config(root)
    message = _refused(root)
    assert "gives no sample to run" in message and "4 problem(s)" in message
    assert "image file not found" in message


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ("{latency_ms: fast}", "field 'models.0.params.latency_ms'"),
        ("{noise: 3}", "less than or equal to 1"),
        ("{answers_file: data/nope.csv}", "data/nope.csv does not exist"),
    ],
    ids=["latency_ms-fast", "noise-3", "missing-answers_file"],
)
def test_bad_scripted_params_fail_validate(vqa_dataset: Path, params: str, words: str) -> None:
    root = vqa_dataset.parent.parent
    _config(root, params=params)
    message = _refused(root)
    assert "exp.yaml:3" in message and words in message


def test_a_clean_dataset_passes_without_warnings(vqa_dataset: Path) -> None:
    root = vqa_dataset.parent.parent
    _config(root)
    message = _passes(root)
    assert "OK exp.yaml" in message and "warning" not in message

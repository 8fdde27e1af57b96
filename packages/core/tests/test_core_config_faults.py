"""Config faults the CLI reports in one clear line (no traceback): a non-UTF-8 experiment
file and an ``output_dir`` that cannot be written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]


def _experiment(dataset: Path, output_dir: str | None = None) -> str:
    return (
        "name: faults\n"
        + (f"output_dir: {output_dir}\n" if output_dir else "")
        + "models:\n  - {name: echo, backend: scripted, params: {rule: echo}}\n"
        f"datasets:\n  - {{name: mini, format: vqa_csv, path: {dataset}}}\n"
        "tasks:\n  - {name: vqa, dataset: mini, kind: vqa, metrics: [cer]}\n"
    )


def _vlmhb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VLMHB, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )


@pytest.mark.parametrize("command", ["validate", "run"])
def test_non_utf8_yaml_is_a_clear_error(tmp_path: Path, vqa_dataset: Path, command: str) -> None:
    config = tmp_path / "exp.yaml"
    text = _experiment(vqa_dataset).replace("name: faults", "name: faults # \u00e9t\u00e9")
    config.write_bytes(text.encode("cp1251", errors="replace").replace(b"?", b"\xe9"))
    proc = _vlmhb(command, str(config), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "not UTF-8" in proc.stderr and "exp.yaml" in proc.stderr


def test_unwritable_output_dir_is_caught_by_validate(tmp_path: Path, vqa_dataset: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    config = tmp_path / "exp.yaml"
    config.write_text(_experiment(vqa_dataset, str(blocker / "runs")), encoding="utf-8")
    proc = _vlmhb("validate", str(config), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "output_dir" in proc.stderr and "a-file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_read_only_output_dir_is_caught_by_validate(tmp_path: Path, vqa_dataset: Path) -> None:
    """``/proc/self`` is a folder nobody may create files in, root included (CI runs as
    root, which a 0555 folder would not stop)."""
    config = tmp_path / "exp.yaml"
    config.write_text(_experiment(vqa_dataset, "/proc/self/runs"), encoding="utf-8")
    proc = _vlmhb("validate", str(config), cwd=tmp_path)
    assert proc.returncode == 2 and "not writable" in proc.stderr, proc.stderr


def test_writable_output_dir_passes(tmp_path: Path, vqa_dataset: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(_experiment(vqa_dataset, str(tmp_path / "new" / "runs")), encoding="utf-8")
    proc = _vlmhb("validate", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_bad_rows_are_announced_with_count_and_file(tmp_path: Path, vqa_dataset: Path) -> None:
    annotation = vqa_dataset / "annotation.csv"
    with annotation.open("a", encoding="utf-8") as handle:
        handle.write("10;test;images/missing.png;Напиши Имя;ПЁТР;passport;Имя;[5, 5, 150, 90]\n")
        handle.write("11;test;images/0.png;Напиши Имя;ПЁТР;passport;Имя;[oops]\n")
        handle.write("0;test;images/1.png;Напиши Имя;ПЁТР;passport;Имя;[5, 5, 150, 90]\n")
    config = tmp_path / "exp.yaml"
    config.write_text(_experiment(vqa_dataset, str(tmp_path / "runs")), encoding="utf-8")
    proc = _vlmhb("run", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    problems = list((tmp_path / "runs" / "faults").glob("*/problems.csv"))
    assert len(problems) == 1
    rows = problems[0].read_text(encoding="utf-8").strip().splitlines()[1:]
    assert len(rows) >= 2
    output = " ".join(proc.stdout.split())  # rich may wrap long lines
    assert f"warning: {len(rows)} dataset row(s)" in output, proc.stdout
    assert "problems.csv" in output

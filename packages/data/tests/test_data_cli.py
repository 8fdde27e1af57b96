"""``vlmhb datasets synth`` and ``vlmhb datasets check``."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

from typer.testing import CliRunner

from vlmhb.data.cli import app

runner = CliRunner()


def test_entry_points_are_installed() -> None:
    datasets = {ep.name: ep.value for ep in entry_points(group="vlmhb.datasets")}
    assert datasets["vqa_csv"] == "vlmhb.data.readers.vqa_csv:VqaCsvReader"
    assert datasets["json_extraction"] == "vlmhb.data.readers.json_extraction:JsonExtractionReader"
    [cli] = [ep for ep in entry_points(group="vlmhb.cli") if ep.name == "datasets"]
    assert cli.load() is app


def test_synth_then_check(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = runner.invoke(
        app,
        [
            "synth",
            "--out",
            str(out),
            "--kind",
            "snils",
            "--n",
            "2",
            "--seed",
            "3",
            "--degrade",
            "blur,gray",
            "--strength",
            "0.3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 documents (snils: 2)" in result.output
    info = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert (info["subset"], info["strength"], info["seed"]) == ("gray-blur", 0.3, 3)

    checked = runner.invoke(app, ["check", str(out)])
    assert checked.exit_code == 0, checked.output
    assert "16 samples, 0 problems" in checked.output
    checked = runner.invoke(app, ["check", str(out), "--format", "json_extraction"])
    assert "2 samples, 0 problems" in checked.output


def test_synth_single_format(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = runner.invoke(
        app,
        [
            "synth",
            "--out",
            str(out),
            "--kind",
            "invoice,passport",
            "--n",
            "1",
            "--format",
            "json_extraction",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "jsons").iterdir()) == ["0.json", "1.json"]
    assert not (out / "annotation.csv").exists()


def test_errors_exit_with_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--degrade", "fog"])
    assert result.exit_code == 2
    assert "unknown degradation" in result.output
    result = runner.invoke(app, ["check", str(tmp_path), "--format", "vqa_cvs"])
    assert result.exit_code == 2
    assert "vqa_csv" in result.output


def test_check_lists_problems(tmp_path: Path) -> None:
    (tmp_path / "annotation.csv").write_text(
        "image_path;question;answer\nnope.jpg;q;a\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "0 samples, 1 problems" in result.output
    assert "annotation.csv:2 [image_path]" in result.output

"""Extraction end to end on the real SNILS fixtures (shared folder): one request per
document with the fixture's JSON prompt, JSON answers scored per field."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "snils"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not SHARED.is_dir(),
        reason=f"shared fixtures not found at {SHARED} "
        "(they exist beside the repository in CI, not in a user's clone)",
    ),
]

EXPERIMENT = """\
name: snils
models:
  - name: almost-right          # answers the ground truth with one field wrong per document
    backend: scripted
    params: {{answers_file: {answers}, latency_ms: 5}}
datasets:
  - {{name: snils, format: json_extraction, path: {data}, options: {{doc_class: snils}}}}
tasks:
  - name: snils_fields
    dataset: snils
    kind: extraction
    prompts: [{prompt}]
    metrics: [json_valid, field_precision, field_recall, field_f1, cer]
"""


def test_extraction_run_scores_fields(tmp_path: Path) -> None:
    answers = tmp_path / "answers.csv"
    with answers.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["id", "model_answer"])
        for truth_file in sorted((SHARED / "jsons").glob("*.json")):
            fields = {
                k: v["value"]
                for k, v in json.loads(truth_file.read_text(encoding="utf-8"))["fields"].items()
            }
            fields["Пол"] = "неизвестно"
            answer = "```json\n" + json.dumps({"fields": fields}, ensure_ascii=False) + "\n```"
            writer.writerow([f"clean/{truth_file.stem}", answer])
    config = tmp_path / "snils.yaml"
    config.write_text(
        EXPERIMENT.format(
            answers=answers, data=SHARED, prompt=SHARED / "prompt_snils_extraction.json"
        ),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "vlmhb.core.cli.main", "run", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = next(p for p in (tmp_path / "runs" / "snils").iterdir() if (p / "run.json").exists())
    samples = [json.loads(line) for line in (run / "samples.jsonl").open(encoding="utf-8")]
    assert [s["id"] for s in samples] == ["clean/0", "clean/1"]
    assert "СНИЛС" in samples[0]["system_prompt"] and "JSON" in samples[0]["user_prompt"]
    with (run / "metrics_general.csv").open(encoding="utf-8") as handle:
        general = {r["metric"]: float(r["macro"]) for r in csv.DictReader(handle, delimiter=";")}
    assert general["json_valid"] == 1.0
    assert general["field_precision"] == pytest.approx(5 / 6)
    assert general["field_recall"] == pytest.approx(5 / 6)
    assert general["field_f1"] == pytest.approx(5 / 6)
    with (run / "metrics_by_doc_question.csv").open(encoding="utf-8") as handle:
        per_field = {r["question_type"]: r for r in csv.DictReader(handle, delimiter=";")}
    assert float(per_field["Пол"]["cer"]) > 0.5
    assert float(per_field["Номер СНИЛС"]["cer"]) == 0.0
    assert (run / "report.html").is_file()

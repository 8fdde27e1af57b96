"""The tables ``vlmhb run`` ends with: every metric of each task, or the ones that fit the
width and where the rest are; run names (``model · prompt``) readable at 80 columns."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from vlmhb.core.cli.results_table import results_tables
from vlmhb.core.config import load_experiment
from vlmhb.core.contracts import StageName, StageResult, TaskState
from vlmhb.core.files import COMPARISON_FILE
from vlmhb.core.metric_info import MetricInfo, MetricsSchema, write_metrics_schema
from vlmhb.core.orchestration.graph import plan_experiment
from vlmhb.core.orchestration.orchestrator import ExperimentOutcome

from .core_cli_helpers import run_vlmhb

LONG_MODEL = "qwen2.5-vl-7b-instruct-oracle"
METRICS = ["cer", "wer", "anls", "exact_match", "exact_match_norm", "bleu"]
# the runs' metric metadata; exact_match_norm and bleu left undescribed (no arrow, never bold)
HIGHER = {"cer": False, "wer": False, "anls": True, "exact_match": True}
CONFIG = """\
name: wide
output_dir: runs
models:
  - {{name: {long}, backend: scripted,
     params: {{answers_file: data/mini/annotation.csv, answer_column: answer}}}}
  - {{name: noisy, backend: scripted,
     params: {{answers_file: data/mini/annotation.csv, answer_column: answer, noise: 0.3}}}}
  - {{name: echo, backend: scripted, params: {{rule: echo}}}}
datasets:
  - {{name: mini, format: vqa_csv, path: data/mini}}
tasks:
  - {{name: fields, dataset: mini, kind: vqa, prompts: [prompts/fields.json],
     metrics: [{metrics}]}}
  - {{name: other, dataset: mini, kind: vqa, metrics: [cer]}}
generation: {{max_tokens: 16}}
"""


def _config(tmp_path: Path, vqa_dataset: Path) -> Path:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "fields.json").write_text(
        '{"prompt_config": {"user_prompt": "{{ question }}"}}', encoding="utf-8"
    )
    config = tmp_path / "wide.yaml"
    config.write_text(CONFIG.format(long=LONG_MODEL, metrics=", ".join(METRICS)), encoding="utf-8")
    return config


def _outcome(tmp_path: Path, vqa_dataset: Path) -> ExperimentOutcome:
    """The plan of the config and the results its stages would end with: the long-named
    model best everywhere, ``echo``'s evaluation failed."""
    graph = plan_experiment(load_experiment(_config(tmp_path, vqa_dataset)))
    values = {LONG_MODEL: 0.0, "noisy": 0.25}
    results: dict[str, StageResult] = {}
    for task in graph:
        model = task.run.model.name if task.run else None
        status = TaskState.COMPLETED
        summary: dict[str, float | None] = {}
        if task.stage is StageName.EVALUATION and task.run is not None:
            if model == "echo":
                status = TaskState.FAILED
            else:
                base = values[str(model)]
                summary = {
                    m: (base if not HIGHER.get(m, True) else 1 - base)
                    for m in task.run.task.metrics or []
                }
                if "bleu" in summary:
                    summary["bleu"] = None  # NaN in the run: shown as a dash
                write_metrics_schema(
                    task.run_dir,
                    MetricsSchema.of(
                        MetricInfo(name=m, kind="quality", higher_is_better=h)
                        for m, h in HIGHER.items()
                    ),
                )
        results[task.id] = StageResult(
            task_id=task.id, stage=task.stage, status=status, summary=summary
        )
    return ExperimentOutcome(graph, results)


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in ``tmp_path``: the table names paths relative to the working directory."""
    monkeypatch.chdir(tmp_path)


def _render(outcome: ExperimentOutcome, width: int) -> list[str]:
    console = Console(width=width, record=True, force_terminal=False)
    for table in results_tables(outcome, console.width):
        console.print(table)
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_at_80_columns_the_table_fits_and_says_where_the_other_metrics_are(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    outcome = _outcome(tmp_path, vqa_dataset)
    (outcome.graph.experiment_dir / COMPARISON_FILE).write_text("run\n", encoding="utf-8")
    lines = _render(outcome, 80)
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    fields = lines[: lines.index("other (macro averages)")]
    other = lines[lines.index("other (macro averages)") :]
    assert fields[0] == "fields (macro averages)"
    assert _header(fields) == ["run", "cer ↓", "wer ↓", "anls ↑", "exact_match ↑"]
    assert fields[-1] == "2 more metrics in runs/wide/comparison.csv: exact_match_norm, bleu"
    # run names: model · prompt, folded at the space, the model's name whole
    assert _run_cell(fields, 0) == [f"{LONG_MODEL} ·", "fields"]
    assert _run_cell(fields, 1) == ["noisy · fields"]
    assert _run_cell(fields, 2) == ["echo · fields", "evaluation FAILED"]
    assert _values(fields, 0) == ["0.000", "0.000", "1.000", "1.000"]
    assert _values(fields, 2) == ["—"] * 4
    # the other task: its own table with its one metric (all shown: no note)
    assert _header(other) == ["run", "cer ↓"]
    assert _run_cell(other, 0) == [f"{LONG_MODEL} · default"]
    assert not any("more metric" in line for line in other)


def _header(lines: list[str]) -> list[str]:
    row = next(line for line in lines if line.startswith("┃ run"))
    return [cell.strip() for cell in row.strip("┃").split("┃")]


def _rows(lines: list[str]) -> list[list[list[str]]]:
    """Each body row of a table as its lines' cells: a line with empty value cells
    continues the row above (its run cell folded)."""
    rows: list[list[list[str]]] = []
    for line in lines:
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if any(cells[1:]) or not rows:
            rows.append([cells])
        else:
            rows[-1].append(cells)
    return rows


def _run_cell(lines: list[str], index: int) -> list[str]:
    return [cells[0] for cells in _rows(lines)[index] if cells[0]]


def _values(lines: list[str], index: int) -> list[str]:
    return _rows(lines)[index][0][1:]


def test_a_wide_console_shows_every_metric_with_the_best_in_bold(
    tmp_path: Path, vqa_dataset: Path
) -> None:
    outcome = _outcome(tmp_path, vqa_dataset)
    console = Console(width=200, record=True, force_terminal=True, color_system="standard")
    for table in results_tables(outcome, console.width):
        console.print(table)
    styled = console.export_text(styles=True, clear=False)
    plain = console.export_text()
    assert _header(plain.splitlines())[1:] == [
        "cer ↓",
        "wer ↓",
        "anls ↑",
        "exact_match ↑",
        "exact_match_norm",  # no direction in the runs' metric metadata: no arrow, no bold
        "bleu",
    ]
    assert "more metric" not in plain
    long_row = next(line for line in styled.splitlines() if LONG_MODEL in line)
    assert re.search(r"\x1b\[1m *0\.000\x1b\[0m", long_row)  # cer 0.000 is the lowest: bold
    assert re.search(r"\x1b\[1m *1\.000\x1b\[0m", long_row)  # anls 1.000 is the highest
    noisy = next(line for line in styled.splitlines() if "noisy · fields" in line)
    assert "\x1b[1m" not in noisy.split("│", 2)[2]


def test_runs_that_would_share_a_label_get_their_run_id(tmp_path: Path, vqa_dataset: Path) -> None:
    config = _config(tmp_path, vqa_dataset)
    (tmp_path / "more").mkdir()
    shutil.copy(tmp_path / "prompts" / "fields.json", tmp_path / "more" / "fields.json")
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[prompts/fields.json]", "[prompts/fields.json, more/fields.json]")
    )
    graph = plan_experiment(load_experiment(config))
    fields = [graph.run_dir(r).name for r in graph.runs if r.task.name == "fields"]
    assert len(fields) == 6  # three models, two prompt collections named "fields"
    rows = _rows(_render(ExperimentOutcome(graph, {}), 120))
    labels = {" ".join(cell[0] for cell in row[:-1]) for row in rows}  # the last: its state
    assert labels >= {
        f"noisy · fields · {name.rsplit('__', 1)[1]}" for name in fields if name.startswith("noisy")
    }
    assert "noisy · default" in labels  # the other task's one prompt: no clash


@pytest.mark.slow
def test_vlmhb_run_ends_with_the_table_at_80_columns(tmp_path: Path, vqa_dataset: Path) -> None:
    config = _config(tmp_path, vqa_dataset)
    kept = [  # two models, one task: enough for the real summaries, quick to run
        line
        for line in config.read_text(encoding="utf-8").splitlines()
        if "name: echo" not in line and "name: other" not in line
    ]
    config.write_text("\n".join(kept) + "\n", encoding="utf-8")
    proc = run_vlmhb("run", config.name, cwd=tmp_path, env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line.rstrip() for line in proc.stdout.splitlines()]
    table = lines[lines.index("fields (macro averages)") :]
    table = table[: next(i for i, line in enumerate(table) if line.startswith("experiment report"))]
    assert all(len(line) <= 80 for line in table), "\n".join(table)
    assert _header(table) == ["run", "cer ↓", "wer ↓", "anls ↑", "exact_match ↑"]
    assert _run_cell(table, 0) == [f"{LONG_MODEL} ·", "fields"]
    assert _values(table, 0) == ["0.000", "0.000", "1.000", "1.000"]  # the oracle
    assert _run_cell(table, 1) == ["noisy · fields"]
    assert table[-1] == "2 more metrics in runs/wide/comparison.csv: exact_match_norm, bleu"

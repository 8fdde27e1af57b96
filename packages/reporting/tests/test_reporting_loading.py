"""Report inputs read through ``vlmhb.core.rundir``: answers and problems as the metrics
see them."""

from __future__ import annotations

from typing import Any

from vlmhb.core.files import ANSWER_COLUMNS
from vlmhb.reporting.loading import load_run


def test_a_repeated_answer_id_counts_once(three_runs: dict[str, Any]) -> None:
    """The evaluation scores the first row of an id; the report's request-timing figure
    counted every row (its own pandas reader)."""
    run_dir = three_runs["qwen7b"].run_dir
    answers = run_dir / "answers.csv"
    with answers.open("a", encoding="utf-8") as handle:
        handle.write("1;again;;1;99999;5;812;9;1\n")
    data = load_run(run_dir)
    assert data.answers is not None and list(data.answers.columns) == ANSWER_COLUMNS
    assert len(data.answers) == 5 and 99999.0 not in set(data.answers["latency_ms"])
    assert data.notes == []


def test_problems_and_an_unreadable_answers_file(three_runs: dict[str, Any]) -> None:
    run_dir = three_runs["tesseract"].run_dir
    (run_dir / "answers.csv").write_text("id;answer\n1;x\n", encoding="utf-8")
    data = load_run(run_dir)
    assert data.answers is None
    assert data.notes[0].startswith("answers.csv: unreadable, left out (")
    assert data.problems is not None
    assert data.problems.to_dict("records")[0] == {
        "source": "annotation.csv:7",
        "field": "answer_bbox",
        "sample_id": "6",
        "message": "box [10, 20, 5, 8] is inverted",
    }

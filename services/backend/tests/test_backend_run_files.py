"""The samples API's rows (``vlmhb.backend.run_files``) are read through
``vlmhb.core.rundir``: where its own parser disagreed with the evaluation stage's, the
page now shows what the metrics scored."""

from __future__ import annotations

from pathlib import Path

from vlmhb.backend.run_files import RunFileCache, count_answers
from vlmhb.core.contracts import PreparedSample
from vlmhb.core.files import ANSWER_COLUMNS
from vlmhb.core.rundir import RunDir

HEADER = ";".join(ANSWER_COLUMNS) + "\n"


def _samples(folder: RunDir, *samples: PreparedSample, bom: bool = False) -> None:
    text = "".join(s.model_dump_json() + "\n" for s in samples)
    folder.samples_path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")


def test_a_repeated_id_shows_its_first_rows(tmp_path: Path) -> None:
    """The evaluation scores the first answer and the first sample of an id; the backend
    showed the last ones."""
    folder = RunDir(tmp_path)
    _samples(
        folder,
        PreparedSample(id="1", question="q1", answer="first truth"),
        PreparedSample(id="1", question="q1", answer="second truth"),
    )
    folder.answers_path.write_text(
        HEADER + "1;scored;;;10;;;;1;;;;\n1;ignored;;;99;;;;1;;;;\n", encoding="utf-8"
    )
    data = RunFileCache().get(tmp_path)
    row = data.row("1")
    assert (row["answer"], row["ground_truth"]) == ("scored", "first truth")
    assert row["timings"]["latency_ms"] == 10.0
    assert data.order == ["1"] and count_answers(tmp_path) == 1


def test_timings_hold_every_numeric_answer_column(tmp_path: Path) -> None:
    """The backend's timing columns lacked queue_ms and itl_ms_* (the metrics' lacked
    attempts): both now use core's one TIMING_COLUMNS."""
    folder = RunDir(tmp_path)
    _samples(folder, PreparedSample(id="a", question="q"))
    folder.answers_path.write_text(HEADER + "a;x;;5;20;2;3;4;2;7.5;1.25;2.5;\n", encoding="utf-8")
    timings = RunFileCache().get(tmp_path).row("a")["timings"]
    assert timings == {
        "ttft_ms": 5.0,
        "latency_ms": 20.0,
        "tpot_ms": 2.0,
        "prompt_tokens": 3.0,
        "completion_tokens": 4.0,
        "attempts": 2.0,
        "queue_ms": 7.5,
        "itl_ms_mean": 1.25,
        "itl_ms_max": 2.5,
    }


def test_a_byte_order_mark_keeps_the_first_sample(tmp_path: Path) -> None:
    """samples.jsonl with a BOM: the evaluation read its first line, the backend skipped
    it as bad JSON."""
    folder = RunDir(tmp_path)
    _samples(
        folder, PreparedSample(id="a", answer="A"), PreparedSample(id="b", answer="B"), bom=True
    )
    data = RunFileCache().get(tmp_path)
    assert data.order == ["a", "b"] and data.row("a")["ground_truth"] == "A"


def test_missing_or_broken_files_give_empty_rows(tmp_path: Path) -> None:
    folder = RunDir(tmp_path)
    assert RunFileCache().get(tmp_path).order == [] and count_answers(tmp_path) is None
    folder.answers_path.write_text("id;answer\n1;x\n", encoding="utf-8")
    folder.run_spec_path.write_text("{", encoding="utf-8")
    data = RunFileCache().get(tmp_path)
    assert data.answers == {} and data.dataset_path is None


def test_error_ids_are_the_error_rows_in_order(tmp_path: Path) -> None:
    """``errors_only`` pages come from ``error_ids``, found once per load (scanning every
    row per page took 150 ms at 100k samples): the same ids, in the same order, as
    filtering the rows, an answer without a sample included."""
    folder = RunDir(tmp_path)
    _samples(folder, *(PreparedSample(id=str(i), answer="t") for i in range(6)))
    folder.answers_path.write_text(
        HEADER
        + "0;ok;;;;;;;;;;;\n1;;HTTP 503;;;;;;;;;;http_5xx\n2;ok;;;;;;;;;;;\n"
        + "4;;timeout;;;;;;;;;;timeout\nextra;;HTTP 500;;;;;;;;;;http_5xx\n",
        encoding="utf-8",
    )
    data = RunFileCache().get(tmp_path)
    scanned = [i for i in data.order if (data.answers.get(i) or {}).get("error")]
    assert data.error_ids == scanned == ["1", "4", "extra"]

"""``paused_gc``: the run-file readers hold the cyclic collector off while they build
their rows (``benchmarks/scale.py``: reading 100k samples grew 14x for 10x the rows with
it running), give the same rows as with it running, and leave it as they found it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vlmhb.core.contracts import PreparedSample
from vlmhb.core.gcpause import paused_gc
from vlmhb.core.rundir import AnswerRow, AnswersFile, RunDir


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_off_inside_and_back_after_an_error() -> None:
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off() -> None:
    gc.disable()
    with paused_gc():
        pass
    assert not gc.isenabled()


def test_nested_and_threaded_readers_bring_it_back_when_the_last_leaves() -> None:
    inside, release = threading.Event(), threading.Event()

    def other_reader() -> None:
        with paused_gc():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other_reader)
    with paused_gc():
        thread.start()
        assert inside.wait(10)
        with paused_gc():
            pass
        assert not gc.isenabled()  # the inner block left, two readers still in
    assert not gc.isenabled()  # the other thread still reads
    release.set()
    thread.join(10)
    assert gc.isenabled()


def _run(tmp_path: Path) -> RunDir:
    folder = RunDir(tmp_path)
    folder.write_samples(
        [PreparedSample(id=str(i), question=f"q{i}", answer=f"a{i}") for i in range(300)]
        + [PreparedSample(id="7", answer="repeated")]
    )
    with folder.answers_file() as answers:
        for i in range(200):
            answers.append(AnswerRow(id=str(i), model_answer=f"m{i}", latency_ms=i + 0.5))
        answers.append(AnswerRow(id="3", model_answer="repeated"))
    with folder.answers_path.open("a", encoding="utf-8") as handle:
        handle.write("200;half-writ")  # a killed run's last row
    return folder


def _read(folder: RunDir) -> tuple[Any, ...]:
    samples, sample_problems = folder.read_samples()
    answers, answer_problems = folder.read_answers()
    recovered = AnswersFile(folder.answers_path).recover()
    return samples, sample_problems, answers, answer_problems, recovered


def _plain(value: Any, folder: Path) -> str:
    return repr(value).replace(str(folder), "<run>")


def test_readers_give_the_same_rows_with_the_collector_running_or_not(tmp_path: Path) -> None:
    running = _read(_run(tmp_path / "a"))
    assert gc.isenabled()
    samples, sample_problems, answers, _, recovered = running
    assert len(samples) == 300 and [p.sample_id for p in sample_problems] == ["7"]
    assert answers["3"].model_answer == "m3" and answers["199"].latency_ms == 199.5
    assert recovered == [*map(str, range(200)), "3"]  # the half-written row is cut off
    gc.disable()
    off = _read(_run(tmp_path / "b"))
    assert not gc.isenabled()
    assert _plain(running, tmp_path / "a") == _plain(off, tmp_path / "b")

"""answers.csv recovery after a crash and fsynced appends (``vlmhb.core.rundir.AnswersFile``)."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vlmhb.core.errors import VlmhbError
from vlmhb.core.files import ANSWER_COLUMNS
from vlmhb.core.rundir import AnswerRow, AnswersFile

HEADER = ";".join(ANSWER_COLUMNS) + "\n"


def test_rows_are_appended_after_one_header(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    with AnswersFile(path) as answers:
        answers.append(
            AnswerRow(
                id="1",
                model_answer="a;b\nc",
                ttft_ms=1.5,
                latency_ms=3.25,
                completion_tokens=2,
                attempts=1,
            )
        )
    with AnswersFile(path) as answers:
        assert answers.recover() == ["1"]
        answers.append(AnswerRow(id="2", error="HTTP 500: boom", attempts=4))
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == HEADER.strip()
    assert lines[1:] == [
        '1;"a;b',
        'c";;1.500;3.250;;;2;1;;;;',
        "2;;HTTP 500: boom;;;;;;4;;;;",
        "",
    ]
    assert AnswersFile(path).recover() == ["1", "2"]


@pytest.mark.parametrize(
    "tail", ["3;partial ans", '3;"multi\nline unfinished', "3;x;;1;2;3;4;5;1;0;1;2;t"]
)
def test_partial_last_row_is_cut_off(tmp_path: Path, tail: str) -> None:
    path = tmp_path / "answers.csv"
    good = HEADER + "1;a;;;;;;;1;;;;\n" + '2;"x\ny";;;;;;;1;;;;\n'
    path.write_text(good + tail, encoding="utf-8")
    assert AnswersFile(path).recover() == ["1", "2"]
    assert path.read_text(encoding="utf-8") == good


def test_partial_header_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("id;model_ans", encoding="utf-8")
    answers = AnswersFile(path)
    assert answers.recover() == []
    answers.append(AnswerRow(id="1", attempts=1))
    answers.close()
    assert path.read_text(encoding="utf-8") == HEADER + "1;;;;;;;;1;;;;\n"


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("id;answer\n1;x\n", encoding="utf-8")
    with pytest.raises(VlmhbError, match="header"):
        AnswersFile(path).recover()
    path.write_text(";".join("abcdefghi") + "\n", encoding="utf-8")
    with pytest.raises(VlmhbError, match="header"):
        AnswersFile(path).recover()
    assert path.read_text(encoding="utf-8") == "a;b;c;d;e;f;g;h;i\n"


def test_a_lone_carriage_return_is_quoted_and_later_rows_survive(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    with AnswersFile(path) as answers:
        answers.append(AnswerRow(id="1", model_answer="a\rb", attempts=1))
        answers.append(AnswerRow(id="2", model_answer='say "hi"', attempts=1))
    assert path.read_bytes().split(b"\n")[1:] == [
        b'1;"a\rb";;;;;;;1;;;;',
        b'2;"say ""hi""";;;;;;;1;;;;',
        b"",
    ]
    assert AnswersFile(path).recover() == ["1", "2"]
    with path.open(encoding="utf-8", newline="") as handle:
        assert [row[1] for row in csv.reader(handle, delimiter=";")][1:] == ["a\rb", 'say "hi"']


@pytest.mark.parametrize("damaged", ["1;a\rb;;;;;;;1;;;;\n", '1;"a"b;;;;;;;1;;;;\n'])
def test_damage_before_the_last_row_is_an_error_not_a_cut(tmp_path: Path, damaged: str) -> None:
    path = tmp_path / "answers.csv"
    data = (HEADER + damaged + "2;ok;;;;;;;1;;;;\n").encode()
    path.write_bytes(data)
    with pytest.raises(VlmhbError, match=r"row 2 .*not a half-written last row"):
        AnswersFile(path).recover()
    assert path.read_bytes() == data


def test_every_appended_row_survives_a_kill_9_without_close(tmp_path: Path) -> None:
    """Rows are flushed as they are written (fsync is grouped), so a process killed
    before closing the file, or any fsync, loses none of them."""
    path = tmp_path / "answers.csv"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from vlmhb.core.rundir import AnswerRow\n"
        "from vlmhb.core.rundir.answers_file import AnswersFile\n"
        "answers = AnswersFile(Path(sys.argv[1]))\n"
        "for i in range(500):\n"
        "    answers.append(AnswerRow(id=str(i), model_answer=f'answer {i}'))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert AnswersFile(path).recover() == [str(i) for i in range(500)]

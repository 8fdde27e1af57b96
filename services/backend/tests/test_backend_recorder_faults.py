"""The recorder under faults: counts come from the run files after a cancel (progress
events lag the rows on disk), and skipped bad dataset rows become a log event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.migrate import upgrade
from vlmhb.backend.db.models import Experiment, Run, StageTaskRow
from vlmhb.backend.events.hub import Hub
from vlmhb.backend.events.recorder import Recorder
from vlmhb.core.contracts import Event, EventType, StageName, TaskState

RUN = "echo__vqa__default__abc123"


def _setup(make_settings: Any) -> tuple[Database, Recorder, Path]:
    settings = make_settings().resolved()
    upgrade(settings.url)
    db = Database(settings.url)
    with db.session() as session:
        session.add(
            Experiment(
                id="e1",
                name="exp",
                status="RUNNING",
                message="",
                config_format="yaml",
                config_path="x",
                models="",
            )
        )
    run_dir = settings.runs_dir / "exp" / RUN
    run_dir.mkdir(parents=True)
    return db, Recorder(db, Hub(), settings.runs_dir), run_dir


def _stage(state: TaskState, **extra: Any) -> Event:
    return Event(
        type=EventType.STATE,
        topic="e1",
        task_id="inf",
        run=RUN,
        stage=StageName.INFERENCE,
        state=state,
        **extra,
    )


def test_counts_after_cancel_come_from_answers_csv(make_settings: Any) -> None:
    db, recorder, run_dir = _setup(make_settings)
    rows = "".join(f"s{i};answer\n" for i in range(119))
    (run_dir / "answers.csv").write_text("id;model_answer\n" + rows, encoding="utf-8")
    recorder.persist(
        [
            _stage(TaskState.RUNNING),
            Event(
                type=EventType.PROGRESS,
                topic="e1",
                task_id="inf",
                run=RUN,
                stage=StageName.INFERENCE,
                done=115,
                total=200,
            ),
            Event(type=EventType.STATE, topic="e1", state=TaskState.CANCELLED),
        ]
    )
    with db.session() as session:
        run = session.scalars(select(Run)).one()
        stage = session.scalars(select(StageTaskRow)).one()
        assert (run.done, run.total) == (119, 200)
        assert (stage.done, stage.state) == (119, "CANCELLED")
    db.dispose()


def test_bad_rows_become_a_log_event(make_settings: Any) -> None:
    db, recorder, run_dir = _setup(make_settings)
    (run_dir / "answers.csv").write_text("id;model_answer\ns1;a\n", encoding="utf-8")
    (run_dir / "problems.csv").write_text(
        "source;field;sample_id;message\na.csv:3;image_path;7;missing\n"
        "a.csv:4;answer_bbox;8;bad bbox\n",
        encoding="utf-8",
    )
    messages = recorder.persist([_stage(TaskState.RUNNING), _stage(TaskState.COMPLETED)])
    bodies = [json.loads(m.text)["event"] for _, m in messages]
    logs = [b for b in bodies if b["type"] == "log"]
    assert len(logs) == 1 and "2 dataset row(s)" in logs[0]["message"]
    assert f"exp/{RUN}/problems.csv" in logs[0]["message"]
    assert [b["type"] for b in bodies] == ["state", "state", "log"]
    db.dispose()

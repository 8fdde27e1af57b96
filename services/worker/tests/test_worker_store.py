"""The lease store on SQLite files and the real PostgreSQL: a new attempt supersedes the
old, a claim is taken once, a heartbeat of a superseded or ended lease is fenced, a
zombie's commit is refused, cancel before a claim makes the attempt unclaimable."""

from __future__ import annotations

import time

from vlmhb.core.contracts import Event, EventType, StageName, StageResult, TaskState
from vlmhb.worker.store import AttemptState, LeaseStore, LeaseWord


def result(status: TaskState = TaskState.COMPLETED, message: str = "") -> StageResult:
    return StageResult(task_id="s1", stage=StageName.INFERENCE, status=status, message=message)


def test_a_zombie_attempt_cannot_commit(store_url: str) -> None:
    store = LeaseStore(store_url)
    first = store.create("s1", 0, "exp", "cpu")
    assert store.claim(first, "w1")
    assert store.heartbeat(first, "w1") == LeaseWord.OK
    assert store.mark_lost(first, "worker w1 lost: no heartbeat for 16 s")
    second = store.create("s1", 1, "exp", "cpu")
    assert store.claim(second, "w2")

    assert store.heartbeat(first, "w1") == LeaseWord.FENCED, "the zombie learns it is fenced"
    assert not store.commit(first, "w1", result(message="zombie")), "the zombie's write refused"
    assert not store.commit(second, "w1", result()), "only the holder commits"
    assert store.commit(second, "w2", result())
    assert not store.commit(second, "w2", result()), "committed once"

    history = store.history("s1")
    assert [(a.attempt, a.state) for a in history] == [
        (0, AttemptState.LOST),
        (1, AttemptState.FINISHED),
    ]
    assert "no heartbeat" in history[0].reason
    assert history[1].result is not None and history[1].result.message == ""
    store.close()


def test_a_claim_is_taken_once_and_a_superseded_one_never(store_url: str) -> None:
    store = LeaseStore(store_url)
    old = store.create("s2", 0, "exp", "gpu")
    new = store.create("s2", 1, "exp", "gpu")
    assert store.get(old).state == AttemptState.LOST  # type: ignore[union-attr]
    assert not store.claim(old, "w1"), "superseded"
    assert store.claim(new, "w1")
    assert not store.claim(new, "w2"), "held by a live owner (a redelivered message)"
    attempt = store.get(new)
    assert attempt is not None and (attempt.claims, attempt.refused) == (1, 1)
    assert store.place(new, "w1", "host-a", ["0"])
    assert store.get(new).gpu_ids == ["0"]  # type: ignore[union-attr]
    assert store.unclaim(new, "w1") and store.claim(new, "w2"), "given back, taken again"
    store.close()


def test_cancel_flags_the_holder_and_fences_an_unclaimed_attempt(store_url: str) -> None:
    store = LeaseStore(store_url)
    held = store.create("s3", 0, "exp", "cpu")
    assert store.claim(held, "w1")
    store.request_cancel(held)
    assert store.heartbeat(held, "w1") == LeaseWord.CANCEL
    assert not store.cancel_unclaimed(held, result(TaskState.CANCELLED)), "a worker holds it"

    queued = store.create("s4", 0, "exp", "cpu")
    store.request_cancel(queued)
    assert store.cancel_unclaimed(queued, result(TaskState.CANCELLED, "cancelled"))
    assert not store.claim(queued, "w1"), "a later claim is refused"
    store.close()


def test_stale_leases_and_relayed_events(store_url: str) -> None:
    store = LeaseStore(store_url)
    lease = store.create("s5", 0, "exp", "cpu")
    store.claim(lease, "w1")
    time.sleep(0.3)
    assert [a.lease for a in store.stale(0.2) if a.stage_id == "s5"] == [lease]
    store.heartbeat(lease, "w1")
    assert all(a.lease != lease for a in store.stale(5))
    events = [Event(type=EventType.PROGRESS, topic="exp", done=i, total=3) for i in range(3)]
    store.add_events(lease, events)
    relayed = store.events_after(lease, 0)
    assert [e.done for _, e in relayed] == [0, 1, 2]
    assert [e.done for _, e in store.events_after(lease, relayed[0][0])] == [1, 2]
    store.close()


def test_migrations_are_idempotent_and_keep_their_own_version_table(store_url: str) -> None:
    from sqlalchemy import inspect

    LeaseStore(store_url).close()
    store = LeaseStore(store_url)  # a second start: nothing to do
    tables = set(inspect(store.engine).get_table_names())
    assert {"worker_attempts", "worker_events", "vlmhb_worker_alembic_version"} <= tables
    assert "alembic_version" not in tables, "the backend's version table is left alone"
    store.close()

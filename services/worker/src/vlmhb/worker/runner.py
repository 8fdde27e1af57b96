"""One stage attempt as a worker drives it: claim the lease, stop what an earlier attempt
left on its agent, place the stage, start it, then relay its events and renew the lease
until the agent reports its result, which is committed (fenced by the lease)."""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum

from vlmhb.agent.client import AgentClient, AgentError, AgentRefused, AgentUnavailable
from vlmhb.core.contracts import Event, EventType, StageResult, StageTask, TaskState
from vlmhb.worker.agents import AgentDirectory
from vlmhb.worker.placement import place
from vlmhb.worker.store import AttemptState, LeaseStore, LeaseWord

TASK_LABEL = "vlmhb.task"  # the docker env's label holding the stage task id
STOP_WAIT_S = 30.0  # how long an earlier attempt's stage may take to stop
log = logging.getLogger("vlmhb.worker")


class Outcome(StrEnum):
    DONE = "done"  # a result is committed
    DROPPED = "dropped"  # not ours (duplicate, superseded, fenced): nothing committed
    RETRY = "retry"  # no agent has room now: given back, try again later


class Beat(threading.Thread):
    """Renews the lease every ``interval_s`` in the background, so slow agent calls never
    let it go stale; ``word`` is the last answer."""

    def __init__(self, store: LeaseStore, lease: int, worker: str, interval_s: float) -> None:
        super().__init__(name=f"lease-{lease}", daemon=True)
        self.store, self.lease, self.worker, self.interval_s = store, lease, worker, interval_s
        self.word = LeaseWord.OK
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.word = self.store.heartbeat(self.lease, self.worker)
            except Exception as exc:  # the store is away: the executor may call us lost
                log.warning("lease %s: heartbeat failed: %s", self.lease, exc)
            if self.word == LeaseWord.FENCED:
                return

    def stop(self) -> None:
        self._stop.set()


class StageRun:
    def __init__(
        self,
        store: LeaseStore,
        agents: AgentDirectory,
        worker: str,
        task: StageTask,
        lease: int,
    ) -> None:
        self.store, self.agents, self.worker = store, agents, worker
        self.task, self.lease = task, lease
        self.settings = agents.settings

    def run(self) -> Outcome:
        if not self.store.claim(self.lease, self.worker):
            log.info(
                "lease %s of %s: not claimable (duplicate or superseded), dropped",
                self.lease,
                self.task.id,
            )
            return Outcome.DROPPED
        beat = Beat(self.store, self.lease, self.worker, self.settings.heartbeat_s)
        beat.start()
        try:
            return self._run(beat)
        finally:
            beat.stop()

    def _run(self, beat: Beat) -> Outcome:
        avoid = self._stop_earlier_attempts()
        current = self.store.get(self.lease)
        if current is not None and current.cancel:
            return self._commit(self._ended(TaskState.CANCELLED, "cancelled before it started"))
        placement = place(self.task.resources.gpus, self.agents.survey(), avoid)
        if placement.agent is None:
            if placement.never:
                return self._commit(self._failed(placement.reason, "stage"))
            log.info("lease %s: %s; trying again later", self.lease, placement.reason)
            return self._give_back()
        name = placement.agent.name
        client = self.agents.client(name)
        if not self.store.place(self.lease, self.worker, name, []):
            return Outcome.DROPPED
        try:
            started = client.start_stage(self.task, self.task.resources.gpus)
        except AgentRefused as exc:
            if exc.status_code == 409:  # its GPUs were taken meanwhile, or still stopping
                return self._give_back()
            return self._commit(
                self._failed(f"agent {name} refused the stage: {exc.detail}", "stage")
            )
        except AgentUnavailable as exc:
            return self._commit(self._failed(f"agent {name} unreachable at start: {exc}"))
        self.store.place(self.lease, self.worker, name, started.gpu_ids)
        self._announce(name, started.gpu_ids)
        return self._follow(client, name, beat)

    def _follow(self, client: AgentClient, name: str, beat: Beat) -> Outcome:
        """Relay events until the agent reports the stage ended; honour cancel and fence."""
        after, stopping = 0, False
        reachable_at = time.monotonic()
        wait_s = min(1.0, self.settings.heartbeat_s)
        while True:
            if beat.word == LeaseWord.FENCED:
                log.warning("lease %s fenced: stopping %s on %s", self.lease, self.task.id, name)
                self._stop_quietly(client)
                return Outcome.DROPPED
            if beat.word == LeaseWord.CANCEL and not stopping:
                self._stop_quietly(client)
                stopping = True
            try:
                page = client.events(self.task.id, after=after, wait_s=wait_s)
                reachable_at = time.monotonic()
                self.store.add_events(self.lease, [e.event for e in page.events])
                if page.events:
                    after = page.events[-1].seq
                if page.finished:
                    result = client.stage(self.task.id).result
                    if result is None:
                        continue
                    return self._commit(result)
            except AgentRefused as exc:
                if exc.status_code == 404:
                    return self._commit(self._failed(f"agent {name} lost the stage (restarted?)"))
                return self._commit(self._failed(f"agent {name} refused: {exc.detail}"))
            except AgentUnavailable as exc:
                gone_s = time.monotonic() - reachable_at
                if gone_s > self.settings.agent_grace_s:
                    return self._commit(
                        self._failed(f"agent {name} unreachable for {gone_s:.0f} s: {exc}")
                    )
                time.sleep(wait_s)

    def _stop_earlier_attempts(self) -> set[str]:
        """Stop this stage wherever an earlier attempt placed it (a stage runs at most once
        at a time) and wait until it is gone; the agents of earlier failed attempts."""
        avoid: set[str] = set()
        for earlier in self.store.history(self.task.id):
            if earlier.lease >= self.lease or earlier.agent is None:
                continue
            failed = earlier.result is None or earlier.result.failure == "infrastructure"
            if earlier.state == AttemptState.LOST or failed:
                avoid.add(earlier.agent)
            try:
                self._stop_on(earlier.agent)
            except (AgentError, KeyError) as exc:
                log.warning("could not stop %s on %s: %s", self.task.id, earlier.agent, exc)
        return avoid

    def _stop_on(self, agent: str) -> None:
        client = self.agents.client(agent)
        client.stop_stage(self.task.id)
        if self.task.env.kind == "docker":
            client.stop_containers({TASK_LABEL: self.task.id})
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline:
            try:
                if client.stage(self.task.id).state == "finished":
                    return
            except AgentRefused:  # unknown there: nothing runs
                return
            time.sleep(0.2)

    def _stop_quietly(self, client: AgentClient) -> None:
        try:
            client.stop_stage(self.task.id)
        except AgentError as exc:
            log.warning("could not stop %s: %s", self.task.id, exc)

    def _announce(self, agent: str, gpu_ids: list[str]) -> None:
        """A RUNNING state event naming where this attempt runs (for the views)."""
        gpus = f" on GPU {','.join(gpu_ids)}" if gpu_ids else ""
        event = Event(
            type=EventType.STATE,
            topic=self.task.experiment,
            task_id=self.task.id,
            run=self.task.run_dir.name,
            stage=self.task.stage,
            state=TaskState.RUNNING,
            message=f"attempt {self.task.attempt} runs on agent {agent}{gpus} "
            f"(worker {self.worker})",
            ts=time.time(),
            attempt=self.task.attempt,
            host=agent,
            gpu_ids=gpu_ids,
        )
        self.store.add_events(self.lease, [event])

    def _give_back(self) -> Outcome:
        return Outcome.RETRY if self.store.unclaim(self.lease, self.worker) else Outcome.DROPPED

    def _commit(self, result: StageResult) -> Outcome:
        if self.store.commit(self.lease, self.worker, result):
            return Outcome.DONE
        log.warning("lease %s: commit refused (fenced); result dropped", self.lease)
        return Outcome.DROPPED

    def _failed(self, message: str, failure: str = "infrastructure") -> StageResult:
        result = self._ended(TaskState.FAILED, message)
        result.failure = "stage" if failure == "stage" else "infrastructure"
        return result

    def _ended(self, status: TaskState, message: str) -> StageResult:
        return StageResult(
            task_id=self.task.id, stage=self.task.stage, status=status, message=message
        )

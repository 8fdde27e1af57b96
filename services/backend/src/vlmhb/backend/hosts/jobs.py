"""Bootstrap jobs: queued in the database, run by a worker thread of this process with
``vlmhb.hosts.bootstrap.run_bootstrap``; each Ansible event is stored as it arrives (the
API streams them), then the result, the facts and the agent's URL."""

from __future__ import annotations

import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from vlmhb.backend.db.engine import Database
from vlmhb.backend.db.models import Host, HostJob
from vlmhb.backend.errors import Conflict
from vlmhb.backend.hosts import store
from vlmhb.backend.hosts.keys import resolve_key
from vlmhb.backend.settings import BackendSettings
from vlmhb.hosts.bootstrap import BootstrapError, run_bootstrap
from vlmhb.hosts.models import BootstrapOptions, BootstrapResult, HostTarget, JobEvent

log = logging.getLogger("vlmhb.backend.hosts")
WORKERS = 2


class HostJobs:
    def __init__(self, db: Database, settings: BackendSettings) -> None:
        self.db = db
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="host-job")
        self._cancel: set[str] = set()
        self._lock = threading.Lock()

    def recover(self) -> None:
        with self.db.session() as session:
            store.fail_unfinished_jobs(session)

    def submit(self, host_name: str, check: bool) -> str:
        """Queue a bootstrap of ``host_name``: the job id (``Conflict`` while one runs)."""
        with self.db.session() as session:
            host = store.find(session, host_name)
            if host is None:
                raise LookupError(host_name)
            active = session.scalar(
                select(HostJob).where(
                    HostJob.host_id == host.id, HostJob.status.in_(store.ACTIVE_JOB)
                )
            )
            if active is not None:
                raise Conflict(f"host {host_name} has a job running ({active.id})")
            job = HostJob(
                id=secrets.token_hex(8),
                host_id=host.id,
                check=check,
                failures=[],
                created_at=store.now(),
            )
            session.add(job)
            if not check:
                host.status, host.status_message = "bootstrapping", ""
            job_id = job.id
        self._pool.submit(self._run, job_id)
        return job_id

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancel.add(job_id)

    def shutdown(self) -> None:
        with self.db.session() as session:
            for job in session.scalars(select(HostJob).where(HostJob.status.in_(store.ACTIVE_JOB))):
                self.cancel(job.id)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str) -> None:
        try:
            target, options = self._prepare(job_id)
            result = run_bootstrap(
                target,
                options,
                self.settings.data_dir / "hosts" / "jobs" / job_id,
                lambda event: self._event(job_id, event),
                lambda: job_id in self._cancel,
                self._secrets(),
            )
        except (BootstrapError, ValueError, OSError) as exc:
            result = BootstrapResult(status="failed", rc=-1, message=str(exc))
        except Exception as exc:  # a worker thread must always record how the job ended
            log.exception("bootstrap job %s failed", job_id)
            result = BootstrapResult(status="failed", rc=-1, message=f"internal error: {exc}")
        self._finish(job_id, result)

    def _prepare(self, job_id: str) -> tuple[HostTarget, BootstrapOptions]:
        with self.db.session() as session:
            job = session.get(HostJob, job_id)
            assert job is not None
            host = session.get(Host, job.host_id)
            assert host is not None
            job.status, job.started_at = "running", store.now()
            if not job.check and self.settings.agent_token_file is None:
                raise ValueError(
                    "no agent token to install: set VLMHB_AGENT_TOKEN_FILE (the file the "
                    "agents and workers share)"
                )
            key = resolve_key(self.settings.keys_dir, host.ssh_key) if host.ssh_key else None
            target = HostTarget(
                name=host.name,
                address=host.address,
                connection=host.connection,
                ssh_user=host.ssh_user,
                ssh_port=host.ssh_port,
                ssh_key_file=key,
            )
            options = BootstrapOptions(
                check=job.check,
                agent_port=host.agent_port,
                agent_bind="127.0.0.1" if host.connection in ("local", "docker") else "0.0.0.0",
                token_file=self.settings.agent_token_file,
                redis_url=self.settings.redis_url,
            )
            return target, options

    def _event(self, job_id: str, event: JobEvent) -> None:
        with self.db.session() as session:
            store.store_job_event(session, job_id, event)

    def _finish(self, job_id: str, result: BootstrapResult) -> None:
        with self._lock:
            self._cancel.discard(job_id)
        with self.db.session() as session:
            job = session.get(HostJob, job_id)
            if job is None:  # the host was deleted meanwhile
                return
            host = session.get(Host, job.host_id)
            job.status, job.rc, job.changed = result.status, result.rc, result.changed
            job.failures, job.message, job.finished_at = (
                result.failures,
                result.message,
                store.now(),
            )
            if host is None:
                return
            if result.facts is not None:
                host.facts, host.facts_at = result.facts.model_dump(mode="json"), store.now()
            if not job.check:
                ok = result.status == "successful"
                host.status = "available" if ok else "failed"
                host.status_message = "" if ok else result.message
                if ok:
                    host.agent_name, host.agent_url, host.last_seen_at = (
                        host.name,
                        result.agent_url,
                        store.now(),
                    )
            host.updated_at = store.now()
            what = "check" if job.check else "bootstrap"
            store.add_event(
                session,
                host.name,
                "bootstrap_finished",
                f"{what} {result.status}: {result.message or 'ok'}",
            )

    def _secrets(self) -> tuple[str, ...]:
        values = [self.settings.auth_token, self.settings.orchestrator_token]
        return tuple(v for v in values if v)


def key_dir_ready(settings: BackendSettings) -> Path:
    """The keys folder (created 0700 when missing)."""
    folder = settings.keys_dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder

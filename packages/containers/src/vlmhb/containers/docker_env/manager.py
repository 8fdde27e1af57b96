"""The ``docker`` env manager: each stage in its own container of the Docker engine.

A stage container runs ``python -m vlmhb.core.cli.main stage run <task.json> --result
<run_dir>/.tasks/<stage>.result.json --consume`` — the entry point of the process env.
The task file it reads is a private (0600) copy holding the secrets, in a private (0700)
host folder bind-mounted at ``/run/vlmhb/task`` and readable by the container's user only;
the stage deletes it once read. ``.tasks/<stage>.json`` in the run folder is the same
task, secrets masked. Secrets are never on the command line, in the container's
environment, labels or logs.

The container sees what ``vlmhb.core.envs.policy.stage_mounts`` allows, each at its own
path (run folder read-write, inputs read-only), plus the venv of ``env.packages`` when
there are any (``packages``: made once per image and package set by a short prepare
container, then reused); its network is ``vlmhb.core.envs.network.stage_network``'s
(``none`` or ``host``, never a bridge); ``resources.memory``/``cpus`` are its limits and
``gpu_ids`` its ``DeviceRequest``. It runs as a non-root user (``user``: the host user, or
``1000:1000`` with its writable folders handed over when the host user is root), without
capabilities, with ``no-new-privileges``, and never gets the Docker socket. A model that
reads its key from a host variable (``api_key_env``) is refused: a container's environment
never holds a secret.

Lifecycle: the container is labelled (``labels``), started, its stdout relayed as events
and its stderr appended with timestamps to ``logs/<stage>.log`` while it runs (``logs``);
once it exits, its exit code and ``State.OOMKilled`` are read, then it is removed. Exit
125/126/127, an out-of-memory kill, 137, and engine errors (image missing, engine down)
are infrastructure failures (``failures``: retried by the scheduler); any other failure is
the stage's own. Before a stage container starts, containers of the same stage whose
orchestrator is gone (``orphans``: a killed ``vlmhb run``) are removed: they would hold the
stage's lock.

Cancelling ``execute`` stops the container: SIGTERM to the stage (it finishes what is in
flight and writes its result), SIGKILL after ``min(stop_grace_s, 4 s)`` so the container is
gone within 5 s; cancelled a second time, SIGKILL at once. It returns the stage's own
result, or ``CANCELLED``. ``cleanup`` kills and removes this manager's containers that are
still there."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container
from docker.types import Mount

from vlmhb.containers.docker_env import labels as lbl
from vlmhb.containers.docker_env.failures import (
    ENGINE_ERRORS,
    container_failure,
    engine_failure,
)
from vlmhb.containers.docker_env.logs import LogPump, note
from vlmhb.containers.docker_env.orphans import remove_orphans
from vlmhb.containers.docker_env.packages import (
    UV_CACHE_DIR,
    UV_CACHE_VOLUME,
    PackageEnv,
    ensure_package_env,
)
from vlmhb.containers.docker_env.spec import PRIVATE_MOUNT, ContainerSpec
from vlmhb.containers.docker_env.user import ContainerUser
from vlmhb.core.childproc import CANCEL_DEADLINE_S, stop_grace_s
from vlmhb.core.contracts import (
    EnvSpec,
    StageName,
    StageResult,
    StageTask,
    TaskState,
    failed_result,
)
from vlmhb.core.envs.base import Emit, PreparedEnv
from vlmhb.core.envs.network import stage_network
from vlmhb.core.envs.policy import (
    DEFAULT_IMAGE,
    ContainerPolicy,
    ContainerPolicyError,
    container_policy,
    stage_mounts,
)
from vlmhb.core.envs.stage_io import EventRelay, StageFiles, stage_command, write_private_task
from vlmhb.core.errors import VlmhbError
from vlmhb.core.secrets import private_dir

KILL_MARGIN_S = 1.0  # what the SIGKILL and the engine's bookkeeping may take
LOG_DRAIN_S = 10.0
CLEANUP_WAIT_S = 5.0
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the image's own trust store
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


def cancel_grace_s() -> float:
    """SIGTERM→SIGKILL grace of a cancelled stage container: ``stop_grace_s``, capped so
    the container is stopped within ``CANCEL_DEADLINE_S``."""
    return min(stop_grace_s(), CANCEL_DEADLINE_S - KILL_MARGIN_S)


class DockerEnvManager:
    """Runs each stage in a container; see the module docstring. ``labels`` are put on
    every container it starts, besides the stage's own (the host agent adds
    ``vlmhb.agent``)."""

    def __init__(self, cache_dir: Path, labels: Mapping[str, str] | None = None) -> None:
        self.cache_dir = cache_dir
        self.labels = dict(labels or {})
        self._client: docker.DockerClient | None = None
        self._containers: dict[str, Container] = {}
        self._jobs: set[_StageJob] = set()
        self._lock = threading.Lock()

    def client(self) -> docker.DockerClient:
        """The engine's client, made on first use (``DOCKER_HOST`` or the default socket)."""
        with self._lock:
            if self._client is None:
                self._client = docker.from_env()
            return self._client

    def prepare(self, env: EnvSpec) -> PreparedEnv:
        """Check the image (allowed, present) and make the venv of ``env.packages``."""
        image = env.image or DEFAULT_IMAGE
        container_policy().check_image(image)
        image_id = str(self.client().images.get(image).id)
        if not env.packages:
            return PreparedEnv("python", image_id, cache_hit=True, info={"image": image})
        packages = self._package_env(env, image_id, {}, None)
        return PreparedEnv(
            packages.python,
            packages.key,
            packages.cache_hit,
            {"image": image, "host_dir": str(packages.host_dir), "mount": packages.mount},
        )

    async def execute(self, task: StageTask, emit: Emit) -> StageResult:
        loop = asyncio.get_running_loop()
        relay = EventRelay(task, emit)
        job = _StageJob(self, task, lambda line: loop.call_soon_threadsafe(relay, line))
        with self._lock:
            self._jobs.add(job)
        worker = asyncio.ensure_future(asyncio.to_thread(job.run))
        try:
            return await asyncio.shield(worker)
        except asyncio.CancelledError:
            try:
                await asyncio.to_thread(job.stop, cancel_grace_s())
            except asyncio.CancelledError:
                await asyncio.to_thread(job.stop, 0)
            return await worker
        finally:
            with self._lock:
                self._jobs.discard(job)

    def cleanup(self) -> None:
        """Kill this manager's containers that are still there (their stages were asked
        to stop and did not wait to end) and start no more; each ``execute`` reads its
        container's exit, removes it and returns ``CANCELLED`` (or the stage's result);
        what none removed within ``CLEANUP_WAIT_S`` is removed here. Package venvs are a
        cache: they stay."""
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.stop(0)
        deadline = time.monotonic() + CLEANUP_WAIT_S
        while self._containers and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            left = list(self._containers.values())
        for container in left:
            self._remove(container)

    # ----------------------------------------------------------------- internals

    def _track(self, container: Container) -> None:
        with self._lock:
            self._containers[str(container.id)] = container

    def _forget(self, container: Container) -> None:
        with self._lock:
            self._containers.pop(str(container.id), None)

    def _package_env(
        self,
        env: EnvSpec,
        image_id: str,
        labels: dict[str, str],
        job: _StageJob | None,
        log_path: Path | None = None,
    ) -> PackageEnv:
        user = ContainerUser.for_host()

        def run_prepare(command: list[str], mounts: dict[Path, str]) -> tuple[int, str, str]:
            for host_dir in mounts:
                user.give(host_dir)
            spec = ContainerSpec(
                image=image_id,
                command=command,
                user=user,
                network="host",  # to reach the package index
                labels={
                    **labels,
                    lbl.ROLE: lbl.ROLE_PREPARE,
                    lbl.ORCHESTRATOR: lbl.Orchestrator.current().label(),
                },
                extra_mounts=[
                    *(Mount(target, str(source), type="bind") for source, target in mounts.items()),
                    Mount(UV_CACHE_DIR, UV_CACHE_VOLUME, type="volume"),
                ],
                environment={
                    "UV_CACHE_DIR": UV_CACHE_DIR,
                    "UV_PYTHON_DOWNLOADS": "never",
                    "SSL_CERT_FILE": CA_BUNDLE,
                    "PIP_CERT": CA_BUNDLE,
                },
            )
            out: list[str] = []
            code, pump, _ = self._run_container(spec, out.append, log_path, job)
            return code, "\n".join(out), pump.tail() if pump else "(cancelled)"

        return ensure_package_env(env, image_id, self.cache_dir, run_prepare)

    def _run_container(
        self,
        spec: ContainerSpec,
        on_stdout: Callable[[str], object],
        log_path: Path | None,
        job: _StageJob | None,
    ) -> tuple[int, LogPump | None, bool]:
        """Create, start, follow, wait for and remove a container: (exit code, its
        output, whether it was killed for memory); (-1, None, False) if ``job`` was
        cancelled before it started."""
        container = job.launch(spec) if job else self._launch(spec)
        if container is None:
            return -1, None, False
        try:
            note(
                log_path,
                f"container {container.name} started: image {spec.image}, user "
                f"{spec.user.spec}, network {spec.network}",
            )
            pump = LogPump(container, on_stdout, log_path)
            code = int(container.wait()["StatusCode"])
            pump.join(LOG_DRAIN_S)
            container.reload()
            state: dict[str, Any] = container.attrs["State"]
            oom_killed = bool(state.get("OOMKilled"))
            note(
                log_path, f"container {container.name} exited: code {code}, OOMKilled {oom_killed}"
            )
            return code, pump, oom_killed
        finally:
            self._remove(container)

    def _launch(self, spec: ContainerSpec) -> Container:
        role = spec.labels.get(lbl.ROLE, lbl.ROLE_PREPARE)
        what = spec.labels.get(lbl.STAGE, role) if role == lbl.ROLE_STAGE else role
        name = "vlmhb-" + _NAME_UNSAFE.sub("-", what)
        container = self.client().containers.create(
            name=f"{name}-{secrets.token_hex(4)}", **spec.create_options()
        )
        self._track(container)
        try:
            container.start()
        except BaseException:
            self._remove(container)
            raise
        return container

    def _remove(self, container: Container) -> None:
        with contextlib.suppress(*ENGINE_ERRORS):  # already gone (cleanup, the engine)
            container.remove(force=True)
        self._forget(container)


class _StageJob:
    """One ``execute``: the blocking container work, run in a worker thread; ``stop``
    (from another thread) stops the container that runs, and keeps any from starting."""

    def __init__(
        self, manager: DockerEnvManager, task: StageTask, on_stdout: Callable[[str], object]
    ) -> None:
        self.manager = manager
        self.task = task
        self.on_stdout = on_stdout
        self.cancelled = False
        self._lock = threading.Lock()
        self._current: Container | None = None
        self.image = task.env.image or DEFAULT_IMAGE
        self.files = StageFiles.of(task)
        self.log_path = self.files.log_path

    def launch(self, spec: ContainerSpec) -> Container | None:
        with self._lock:
            if self.cancelled:
                return None
            self._current = self.manager._launch(spec)
            return self._current

    def stop(self, grace_s: float) -> None:
        with self._lock:
            self.cancelled = True
            container = self._current
        if container is None:
            return
        try:
            if grace_s > 0:
                container.stop(timeout=max(1, math.floor(grace_s)))
            else:
                container.kill()
        except ENGINE_ERRORS:
            pass  # it ended meanwhile

    def run(self) -> StageResult:
        started = time.monotonic()
        try:
            with private_dir("vlmhb-task-") as private:
                return self._run(started, private)
        except ContainerPolicyError as exc:
            return failed_result(self.task, str(exc), time.monotonic() - started, "stage")
        except (*ENGINE_ERRORS, VlmhbError) as exc:  # VlmhbError: installing packages failed
            duration = time.monotonic() - started
            if self.cancelled:  # the failure is the cancel's doing (a killed prepare)
                return self._cancelled(duration, "before the stage started")
            message = str(exc) if isinstance(exc, VlmhbError) else engine_failure(exc, self.image)
            return failed_result(self.task, message, duration, "infrastructure")

    def _run(self, started: float, private: Path) -> StageResult:
        task = self.task
        _check_no_key_env(task)
        policy: ContainerPolicy = container_policy()
        policy.check_image(self.image)
        mounts = stage_mounts(task, policy)
        network = stage_network(task)
        user = ContainerUser.for_host()
        image_id = str(self.manager.client().images.get(self.image).id)
        labels = {**self.manager.labels, **lbl.stage_labels(task, task.attempt)}
        python, env_mounts = "python", []
        if task.env.packages:
            packages = self.manager._package_env(task.env, image_id, labels, self, self.log_path)
            python = packages.python
            env_mounts = [
                Mount(packages.mount, str(packages.host_dir), type="bind", read_only=True)
            ]
        StageFiles.write(task)
        private_task = write_private_task(task, private)
        for mount in mounts:
            if not mount.read_only:
                mount.source.mkdir(parents=True, exist_ok=True)
                user.give(mount.source)
        user.give(private)
        spec = ContainerSpec(
            image=image_id,
            command=stage_command(
                python, f"{PRIVATE_MOUNT}/{private_task.name}", self.files.result_file
            ),
            user=user,
            network=network,
            labels=labels,
            mounts=mounts,
            extra_mounts=[Mount(PRIVATE_MOUNT, str(private), type="bind"), *env_mounts],
            resources=task.resources,
            gpu_ids=task.gpu_ids,
            working_dir=task.run_dir,
        )
        # a stage container left by a killed orchestrator would hold the stage's lock
        remove_orphans(
            self.manager.client(),
            {key: labels[key] for key in (lbl.EXPERIMENT, lbl.RUN, lbl.STAGE)},
        )
        code, pump, oom_killed = self.manager._run_container(
            spec, self.on_stdout, self.log_path, self
        )
        return self._result(code, oom_killed, pump, time.monotonic() - started)

    def _cancelled(self, duration_s: float, how: str) -> StageResult:
        return StageResult(
            task_id=self.task.id,
            stage=self.task.stage,
            status=TaskState.CANCELLED,
            duration_s=duration_s,
            message=f"cancelled: {how}",
        )

    def _result(
        self,
        code: int,
        oom_killed: bool,
        pump: LogPump | None,
        duration: float,
    ) -> StageResult:
        task = self.task
        memory = task.resources.memory
        result = self.files.result(duration)
        if result is not None:
            if oom_killed and result.status == TaskState.FAILED:
                return failed_result(
                    task,
                    container_failure(code, True, memory, self.image) or "",
                    duration,
                    "infrastructure",
                )
            if result.status == TaskState.FAILED:
                result.failure = "stage"
            return result
        if self.cancelled:
            return self._cancelled(duration, f"the stage container was stopped (exit code {code})")
        infra = container_failure(code, oom_killed, memory, self.image)
        if infra is not None:
            return failed_result(task, infra, duration, "infrastructure")
        tail = pump.tail() if pump else "(no output)"
        return failed_result(
            task,
            f"stage container exited with code {code}; last output "
            f"(full log: {self.log_path}):\n{tail}",
            duration,
            "stage",
        )


def _check_no_key_env(task: StageTask) -> None:
    """An inference stage whose model reads its key from a host variable (``api_key_env``)
    cannot run in a container: the container's environment never holds a secret."""
    model = task.run.model if task.run is not None else None
    if task.stage == StageName.INFERENCE and model is not None and model.api_key_env:
        raise ContainerPolicyError(
            f"model {model.name!r}: api_key_env {model.api_key_env!r} is not passed into a "
            "container (secrets never enter a container's environment); give the key as "
            "params.api_key, which reaches the stage only through its private task file"
        )

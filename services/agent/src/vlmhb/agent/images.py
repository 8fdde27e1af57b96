"""The project's images on this host: list, build (a background job), pull, remove.

Every name is checked against the image allow-list (``vlmhb.core.envs.policy``) first. A
pull must name the registry too (``registry.example.com/vlmhb/x``, under a prefix the
operator allowed): a bare ``vlmhb/x`` would come from Docker Hub, whose ``vlmhb``
namespace this project does not own, so those images are built here instead."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import asdict

import docker
import docker.errors

from vlmhb.agent.wire import ImageJob
from vlmhb.containers.images.build import ImageBuilder
from vlmhb.core.envs.policy import ContainerPolicyError, container_policy

LOG_LINES_KEPT = 2000


class ImageError(Exception):
    """An image operation the engine refused or failed (the message says why)."""


def check_pull_ref(ref: str) -> None:
    """``ContainerPolicyError`` unless ``ref`` is allowed and names its registry host."""
    container_policy().check_image(ref)
    first, sep, _ = ref.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        raise ContainerPolicyError(
            f"image {ref!r} names no registry: only images of a registry the operator "
            "allowed (VLMHB_IMAGE_PREFIXES, e.g. 'registry.example.com/vlmhb/') are pulled; "
            "the project's own images are built on the host (POST /images/build)"
        )


def pull_image(client: docker.DockerClient, ref: str) -> str:
    """Pull ``ref`` (checked first); the image id. ``ImageError`` when the pull fails."""
    check_pull_ref(ref)
    repo, tag = _split(ref)
    try:
        return str(client.images.pull(repo, tag=tag).id)
    except docker.errors.APIError as exc:
        raise ImageError(f"pulling {ref} failed: {exc.explanation or exc}") from exc


def remove_image(client: docker.DockerClient, ref: str) -> None:
    """Remove the allowed image ``ref``; ``LookupError`` when it is not here."""
    container_policy().check_image(ref)
    try:
        client.images.remove(ref)
    except docker.errors.ImageNotFound as exc:
        raise LookupError(f"no image {ref}") from exc
    except docker.errors.APIError as exc:
        raise ImageError(f"removing {ref} failed: {exc.explanation or exc}") from exc


def _split(ref: str) -> tuple[str, str]:
    head, _, last = ref.rpartition("/")
    name, sep, tag = last.partition(":")
    return (f"{head}/{name}" if head else name), (tag if sep else "latest")


class BuildJobs:
    """``vlmhb images build`` as background jobs, one thread each; their logs kept."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImageJob] = {}
        self._logs: dict[str, deque[str]] = {}
        self._lock = threading.Lock()

    def start(self, client: docker.DockerClient, names: list[str], force: bool) -> ImageJob:
        job = ImageJob(id=secrets.token_hex(8), state="running", names=names)
        with self._lock:
            self._jobs[job.id] = job
            self._logs[job.id] = deque(maxlen=LOG_LINES_KEPT)
        threading.Thread(target=self._run, args=(job.id, client, names, force), daemon=True).start()
        return job

    def get(self, job_id: str) -> ImageJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            return job.model_copy(update={"log": list(self._logs[job_id])})

    def _run(self, job_id: str, client: docker.DockerClient, names: list[str], force: bool) -> None:
        def progress(name: str, line: str) -> None:
            with self._lock:
                self._logs[job_id].append(f"{name}: {line}")

        try:
            outcomes = ImageBuilder(client, progress=progress).build(names or None, force=force)
        except Exception as exc:  # a failed build: reported by the job, never raised here
            self._update(job_id, state="failed", error=str(exc))
        else:
            self._update(job_id, state="finished", outcomes=[asdict(o) for o in outcomes])

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            self._jobs[job_id] = self._jobs[job_id].model_copy(update=changes)

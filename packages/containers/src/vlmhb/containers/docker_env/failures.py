"""Telling infrastructure failures from the stage's own.

A stage that ran and failed writes its own ``FAILED`` result. When the container, not the
stage, failed — the runtime could not run it (exit 125), the command is not executable or
not there (126, 127), the kernel killed it for memory (``State.OOMKilled``) or something
killed it (137) — or the engine itself failed (image missing, engine down), the result is
an infrastructure failure: retryable, and its message says which."""

from __future__ import annotations

import docker.errors
import requests

KILLED = 137
RUNTIME_ERROR = 125
NOT_EXECUTABLE = 126
NOT_FOUND = 127


def container_failure(code: int, oom_killed: bool, memory: str | None, image: str) -> str | None:
    """Why the container failed, when it is the infrastructure's fault; None when the exit
    is the stage's own (its code and result say what happened)."""
    if oom_killed:
        return f"container killed: out of memory (limit {memory or 'none set'})"
    if code == KILLED:
        return "container killed (SIGKILL, exit 137) by the engine or the host, not for memory"
    if code == RUNTIME_ERROR:
        return "the container runtime could not run the stage (exit 125)"
    if code == NOT_EXECUTABLE:
        return f"the stage command is not executable in image {image} (exit 126)"
    if code == NOT_FOUND:
        return (
            f"the stage command was not found in image {image} (exit 127): "
            "is it a vlmhb stage image? run `vlmhb images build`"
        )
    return None


def engine_failure(exc: Exception, image: str | None = None) -> str:
    """The message for an error of the engine (or of reaching it)."""
    if isinstance(exc, docker.errors.ImageNotFound) and image:
        return f"image {image} not found: run `vlmhb images build`"
    if isinstance(exc, requests.ConnectionError):
        return f"the Docker engine does not answer ({exc}); is dockerd running?"
    return f"Docker engine error: {exc}"


ENGINE_ERRORS = (docker.errors.DockerException, requests.RequestException)

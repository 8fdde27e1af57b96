"""Which container exits are the infrastructure's fault (retryable) and what their
messages say; the orchestrator label that ``vlmhb envs gc`` reads back."""

from __future__ import annotations

import os

import pytest

from vlmhb.containers.docker_env.failures import container_failure
from vlmhb.containers.docker_env.labels import Orchestrator


@pytest.mark.parametrize(
    ("code", "oom", "expected"),
    [
        (137, True, "container killed: out of memory (limit 64m)"),
        (1, True, "container killed: out of memory (limit 64m)"),
        (
            137,
            False,
            "container killed (SIGKILL, exit 137) by the engine or the host, not for memory",
        ),
        (125, False, "the container runtime could not run the stage (exit 125)"),
        (126, False, "the stage command is not executable in image vlmhb/x (exit 126)"),
        (127, False, "the stage command was not found in image vlmhb/x (exit 127)"),
    ],
)
def test_infrastructure_exits_say_what_happened(code: int, oom: bool, expected: str) -> None:
    message = container_failure(code, oom, "64m", "vlmhb/x")
    assert message is not None and message.startswith(expected)


@pytest.mark.parametrize("code", [0, 1, 2, 130, 143])
def test_the_stages_own_exits_are_not_infrastructure(code: int) -> None:
    assert container_failure(code, False, None, "vlmhb/x") is None


def test_no_memory_limit_is_named_as_such() -> None:
    assert container_failure(137, True, None, "vlmhb/x") == (
        "container killed: out of memory (limit none set)"
    )


def test_the_orchestrator_label_reads_back_and_knows_this_process() -> None:
    me = Orchestrator.current()
    assert me.pid == os.getpid() and me.start
    assert Orchestrator.parse(me.label()) == me
    assert me.is_local() and me.is_alive()
    assert not Orchestrator(me.host, me.pid, str(int(me.start) + 1)).is_alive()  # pid reused
    for broken in ("", "host", "host:pid:1", "a:b"):
        assert Orchestrator.parse(broken) is None

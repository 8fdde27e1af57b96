"""Heartbeats in a real Redis: a running agent is discovered with its URL and inventory;
a stopped one is gone from the list at once."""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path
from typing import Any

from vlmhb.agent.client import discover_agents

sys.path.insert(0, str(Path(__file__).parents[2] / "orchestrator" / "tests"))
from vlmhb_orchestrator_testkit import shared_redis_url


def test_a_running_agent_is_discovered_and_a_stopped_one_is_not(
    launch: Any, tmp_path: Path
) -> None:
    redis_url = shared_redis_url()
    name = f"h-{secrets.token_hex(3)}"
    agent = launch(
        tmp_path,
        name,
        gpus="0",
        env={"VLMHB_AGENT_HEARTBEAT_S": "0.3"},
        extra=("--redis-url", redis_url),
    )
    deadline = time.monotonic() + 10
    while not (found := [a for a in discover_agents(redis_url) if a.name == name]):
        assert time.monotonic() < deadline, "no heartbeat"
        time.sleep(0.1)
    assert found[0].url == agent.url
    assert found[0].inventory is not None and found[0].inventory.gpus_free == ["0"]
    agent.stop()
    assert [a for a in discover_agents(redis_url) if a.name == name] == []

"""Ansible runner events → ``JobEvent`` (one readable line each) and the facts they hold."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from vlmhb.hosts.models import EventStatus, GpuFact, HostFacts, JobEvent

OUTCOMES: dict[str, EventStatus] = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
    "runner_item_on_failed": "failed",
}
SHOWN = {"playbook_on_play_start", "playbook_on_task_start", "playbook_on_stats", *OUTCOMES}
FACTS_TASK = "Gathering Facts"
DISK_TASK, DOCKER_TASK, GPUS_TASK = (
    "Free disk on the cache path",
    "Docker version",
    "GPUs (nvidia-smi --query-gpu)",
)


def job_event(seq: int, raw: dict[str, Any]) -> JobEvent | None:
    """The event as shown, or None for the runner's bookkeeping events."""
    name = str(raw.get("event", ""))
    if name not in SHOWN:
        return None
    data = raw.get("event_data") or {}
    task, host = data.get("task"), data.get("host") or data.get("remote_addr")
    status = OUTCOMES.get(name)
    result = data.get("res") or {}
    changed = bool(result.get("changed")) and status == "ok"
    if changed:
        status = "changed"
    if name == "playbook_on_play_start":
        message = f"PLAY {data.get('play', '')}"
    elif name == "playbook_on_task_start":
        message = f"TASK {task}"
    elif name == "playbook_on_stats":
        message = "RECAP " + ", ".join(
            f"{key}={sum((data.get(key) or {}).values())}"
            for key in ("ok", "changed", "failures", "unreachable", "skipped")
        )
    else:
        message = f"{status}: {host}: {task}" + (
            f": {_reason(result)}" if status in ("failed", "unreachable") else ""
        )
    created = datetime.fromtimestamp(_ts(raw), UTC)
    return JobEvent(
        seq=seq,
        event=name,
        task=task,
        host=host,
        status=status,
        changed=changed,
        message=message,
        created_at=created,
    )


def changed_count(raw: dict[str, Any]) -> int | None:
    """Tasks that changed something, from the play recap (None for other events)."""
    if raw.get("event") != "playbook_on_stats":
        return None
    per_host: dict[str, int] = (raw.get("event_data") or {}).get("changed") or {}
    return sum(int(count) for count in per_host.values())


def failure_line(raw: dict[str, Any]) -> str | None:
    """``"<task>: <message>"`` for a failed or unreachable task result."""
    if OUTCOMES.get(str(raw.get("event"))) not in ("failed", "unreachable"):
        return None
    data = raw.get("event_data") or {}
    if data.get("ignore_errors"):
        return None
    return f"{data.get('task')}: {_reason(data.get('res') or {})}"


def _reason(result: dict[str, Any]) -> str:
    parts = [str(result.get("msg") or "").strip()]
    for key in ("stderr", "stdout"):
        text = str(result.get(key) or "").strip()
        if text and text not in parts[0]:
            parts.append(text.splitlines()[-1])
    return " | ".join(p for p in parts if p)[:500] or "failed"


def _ts(raw: dict[str, Any]) -> float:
    created = raw.get("created")
    if isinstance(created, str):
        try:
            return datetime.fromisoformat(created).replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    return time.time()


class FactsCollector:
    """Reads the facts from the ``runner_on_ok`` events of the fact tasks (with
    ansible-core 2.19 the runner's fact cache stays empty)."""

    def __init__(self, cache_path: str) -> None:
        self.facts: HostFacts | None = None
        self.cache_path = cache_path

    def feed(self, raw: dict[str, Any]) -> None:
        if raw.get("event") != "runner_on_ok":
            return
        data = raw.get("event_data") or {}
        task, result = data.get("task"), data.get("res") or {}
        if task == FACTS_TASK:
            self.facts = _from_setup(result.get("ansible_facts") or {}, self.cache_path)
            return
        if self.facts is None:
            return
        stdout = str(result.get("stdout") or "").strip()
        if task == DISK_TASK and stdout.isdigit():
            self.facts.disk_free_bytes = int(stdout)
        elif task == DOCKER_TASK and stdout:
            self.facts.docker_version = stdout.removeprefix("Docker version ").split(",")[0]
        elif task == GPUS_TASK:
            self.facts.gpus = parse_gpus(stdout)


def _from_setup(raw: dict[str, Any], cache_path: str) -> HostFacts:
    facts = {key.removeprefix("ansible_"): value for key, value in raw.items()}
    python = facts.get("python") or {}
    version = python.get("version") or {}
    return HostFacts(
        distro=facts.get("distribution"),
        distro_version=facts.get("distribution_version"),
        kernel=facts.get("kernel"),
        architecture=facts.get("architecture"),
        cpus=facts.get("processor_vcpus") or facts.get("processor_count"),
        memory_mb=facts.get("memtotal_mb"),
        cache_path=cache_path,
        service_manager=facts.get("service_mgr"),
        python=".".join(str(version[k]) for k in ("major", "minor", "micro") if k in version)
        or None,
    )


def parse_gpus(csv_text: str) -> list[GpuFact]:
    """``nvidia-smi --query-gpu=index,name,memory.total,driver_version,uuid
    --format=csv,noheader,nounits`` lines → GPUs (malformed lines are left out)."""
    gpus = []
    for line in csv_text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) < 5 or not cells[0].isdigit():
            continue
        memory = cells[2]
        gpus.append(
            GpuFact(
                index=int(cells[0]),
                name=cells[1],
                memory_total_mb=int(float(memory))
                if memory.replace(".", "", 1).isdigit()
                else None,
                driver_version=cells[3] or None,
                uuid=cells[4] or None,
            )
        )
    return gpus

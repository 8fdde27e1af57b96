"""The bootstrap's own process: ``python -m vlmhb.hosts.child <work_dir>``, started by
``run_bootstrap`` with a minimal environment (ansible-runner records its whole process
environment). Reads ``request.json`` from the work dir and the secrets to mask from stdin;
writes one JSON line per shown event (``{"event": JobEvent}``) and the result last
(``{"result": BootstrapResult}``). A ``cancel`` file in the work dir stops the playbook."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ansible_runner
from ansible_runner.runner import Runner

from vlmhb.hosts.events import FactsCollector, changed_count, failure_line, job_event
from vlmhb.hosts.models import BootstrapResult
from vlmhb.hosts.scrub import Scrubber, scrub_work_dir

CANCEL_FILE = "cancel"
REQUEST_FILE = "request.json"


def main(work_dir: Path) -> int:
    request = json.loads((work_dir / REQUEST_FILE).read_text(encoding="utf-8"))
    scrub = Scrubber(json.loads(sys.stdin.read() or "[]"))
    facts = FactsCollector(request["cache_path"])
    failures: list[str] = []
    changed = [0]
    seq = [0]

    def handle(raw: dict[str, Any]) -> bool:
        facts.feed(raw)
        recap = changed_count(raw)
        if recap is not None:
            changed[0] = recap
        failure = failure_line(raw)
        if failure:
            failures.append(scrub(failure))
        shown = job_event(seq[0] + 1, raw)
        if shown is not None:
            seq[0] += 1
            shown.message = scrub(shown.message)
            print(json.dumps({"event": shown.model_dump(mode="json")}), flush=True)
        return False  # the runner keeps no job_events files

    (work_dir / "runner").mkdir(exist_ok=True)
    try:
        runner = _run(work_dir, request, handle)
    finally:
        scrub_work_dir(work_dir, scrub)
    status = {"successful": "successful", "canceled": "canceled"}.get(str(runner.status), "failed")
    rc = int(runner.rc if runner.rc is not None else -1)
    message = (
        ""
        if status == "successful"
        else (
            failures[-1] if failures else f"ansible-playbook ended with rc {rc} ({runner.status})"
        )
    )
    result = BootstrapResult(
        status=status,
        rc=rc,
        facts=facts.facts,
        changed=changed[0],
        failures=failures,
        message=message,
        agent_url=request["agent_url"] if status == "successful" and not request["check"] else None,
    )
    print(json.dumps({"result": result.model_dump(mode="json")}), flush=True)
    return 0


def _run(
    work_dir: Path, request: dict[str, Any], handle: Callable[[dict[str, Any]], bool]
) -> Runner:
    return ansible_runner.run(
        private_data_dir=str(work_dir / "runner"),
        playbook=request["playbook"],
        inventory=request["inventory"],
        extravars=request["extravars"],
        cmdline="--check" if request["check"] else None,
        event_handler=handle,
        cancel_callback=lambda: (work_dir / CANCEL_FILE).exists(),
        quiet=True,
        suppress_env_files=True,
        envvars={},
    )


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))

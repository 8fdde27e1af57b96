"""Run the bootstrap playbook (``deploy/ansible/bootstrap.yml``) against one host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlmhb.hosts.models import BootstrapOptions, BootstrapResult, HostTarget, JobEvent


def run_bootstrap(
    target: HostTarget,
    options: BootstrapOptions,
    work_dir: Path,
    on_event: Callable[[JobEvent], None],
    cancelled: Callable[[], bool],
    secrets: tuple[str, ...] = (),
) -> BootstrapResult:
    """Bootstrap ``target``: blocking (call it from a worker thread). ``work_dir``: the
    runner's private data folder (inventory, artifacts; scrubbed when the run ends).
    ``on_event``: each event, scrubbed of ``secrets`` (and of the token file's content).
    ``cancelled``: polled by the runner; true stops the playbook (status ``canceled``)."""
    raise NotImplementedError("vlmhb-hosts: being written (issue 12)")

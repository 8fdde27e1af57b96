"""The network a container stage gets: one rule for every container env kind."""

from __future__ import annotations

from vlmhb.core.contracts import NetworkMode, StageName, StageTask


def stage_network(task: StageTask) -> NetworkMode:
    """``task.env.network`` when set to ``none`` or ``host``; for ``auto``: ``host`` for an
    inference stage whose model reaches a server (it has a ``base_url``), else ``none``
    (evaluation, reports, and inference by a backend that runs inside the stage)."""
    if task.env.network != "auto":
        return task.env.network
    if task.stage == StageName.INFERENCE and task.run is not None and task.run.model.base_url:
        return "host"
    return "none"

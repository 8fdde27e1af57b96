"""``vlmhb envs gc``: remove the containers a crashed orchestrator left.

Removes, running or stopped, every container of the docker env whose orchestrator is gone
(``docker_env.orphans``: the host, pid and start time in its ``vlmhb.orchestrator``
label); ``--dry-run`` only lists them, ``--experiment`` looks at one experiment's only.
Containers of a live orchestrator, of another host and unlabelled ones are left alone.
The docker env also removes its stage's own orphans before starting a stage again."""

from __future__ import annotations

from typing import Annotated

import docker
import typer
from rich.console import Console
from rich.table import Table

from vlmhb.containers.docker_env import labels as lbl
from vlmhb.containers.docker_env.failures import ENGINE_ERRORS, engine_failure
from vlmhb.containers.docker_env.orphans import remove_orphans

envs_app = typer.Typer(help="Container envs: find and remove what a crashed run left.")


@envs_app.command("gc")
def gc_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    experiment: Annotated[
        str | None, typer.Option(help="Only containers of this experiment.")
    ] = None,
) -> None:
    """Remove containers whose orchestrator is gone (a crashed or killed `vlmhb run`)."""
    console = Console()
    try:
        client = docker.from_env()
        verdicts = remove_orphans(
            client, {lbl.EXPERIMENT: experiment} if experiment else None, dry_run
        )
    except ENGINE_ERRORS as exc:
        console.print(f"[red]{engine_failure(exc)}[/red]")
        raise typer.Exit(1) from exc
    if not verdicts:
        console.print("No vlmhb containers.")
        return
    table = Table("container", "experiment", "run", "stage", "status", "action")
    for verdict in verdicts:
        labels = verdict.labels
        action = verdict.reason
        if verdict.orphan:
            action = ("would remove: " if dry_run else "removed: ") + verdict.reason
        table.add_row(
            verdict.name,
            labels.get(lbl.EXPERIMENT, ""),
            labels.get(lbl.RUN, ""),
            labels.get(lbl.STAGE, labels.get(lbl.ROLE, "")),
            verdict.status,
            action,
        )
    console.print(table)

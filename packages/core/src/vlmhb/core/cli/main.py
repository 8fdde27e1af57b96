"""``vlmhb``: run, validate and plan experiments; list registries; run one stage.

Packages add sub-commands through the ``vlmhb.cli`` entry-point group (a ``typer.Typer``
mounted under the entry point's name, e.g. ``vlmhb datasets synth``).
"""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from vlmhb.core.config import load_experiment
from vlmhb.core.errors import VlmhbError
from vlmhb.core.registries import get_registries

app = typer.Typer(
    help="VLMHyperBench: benchmark vision-language models on your documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
stage_app = typer.Typer(help="Run a single stage (used by environments).")
app.add_typer(stage_app, name="stage")
console = Console()
err_console = Console(stderr=True)

ConfigArg = Annotated[
    Path,
    typer.Argument(
        help="experiment .yaml/.json, or user_config.csv "
        "(or its folder) with vlm_base.csv beside it"
    ),
]


@app.command()
def run(
    config: ConfigArg,
    output_dir: Annotated[Path | None, typer.Option(help="where runs/ go")] = None,
    force: Annotated[bool, typer.Option(help="re-run stages even if finished")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show stage logs")] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            help="executor kind: local (this host) or celery (the job queue; vlmhb-worker); "
            "default VLMHB_EXECUTOR or local"
        ),
    ] = None,
) -> None:
    """Run an experiment: inference, evaluation and reports for every run. Resumes."""
    from vlmhb.core.cli.run_command import EXIT_CANCELLED, run_experiment_cli

    spec = load_experiment(config)
    if output_dir is not None:
        spec.output_dir = output_dir.resolve()
    try:
        code = asyncio.run(
            run_experiment_cli(
                spec, config.resolve(), console, force=force, verbose=verbose, executor=executor
            )
        )
    except KeyboardInterrupt:  # before the run's own signal handling is in place
        code = EXIT_CANCELLED
    if code == EXIT_CANCELLED:
        err_console.print(
            "[yellow]cancelled[/]: finished samples are kept; run the same command again to resume."
        )
    raise typer.Exit(code)


@app.command()
def validate(config: ConfigArg) -> None:
    """Check a config (syntax, fields, names, files) and its datasets as run will
    (format files, rows, images, filters, prompt keys) without running anything."""
    from rich.markup import escape

    from vlmhb.core.config.checks import check_output_dir
    from vlmhb.core.inputcheck import check_run_inputs
    from vlmhb.core.orchestration.graph import plan_runs

    spec = load_experiment(config)
    check_output_dir(spec, str(config))
    runs = plan_runs(spec)
    base = config if config.is_dir() else config.parent
    reports = check_run_inputs(runs, base)
    for report in reports:
        if warning := report.warning(base):
            err_console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(
        f"[green]OK[/] {escape(str(config))}: experiment {spec.name!r}, {len(spec.models)} "
        f"model(s), {len(spec.tasks)} task(s), {len(runs)} run(s), "
        f"{sum(r.samples for r in reports)} sample(s) to send per model"
    )


@app.command()
def plan(config: ConfigArg) -> None:
    """Print the task graph: runs and their stages, with ids and what is already done."""
    from vlmhb.core.orchestration.graph import plan_experiment
    from vlmhb.core.orchestration.markers import is_done

    spec = load_experiment(config)
    graph = plan_experiment(spec)
    tree = Tree(f"[bold]{spec.name}[/] → {graph.experiment_dir}")
    by_run: dict[str, Tree] = {}
    for task in graph:
        status = "[cyan]done[/]" if is_done(task) else "[yellow]todo[/]"
        deps = f" after {', '.join(d[:8] for d in task.depends_on)}" if task.depends_on else ""
        line = f"{task.stage.value} [dim]{task.id}[/] {status}{deps}"
        if task.run is None:
            tree.add(line)
            continue
        name = task.run_dir.name
        if name not in by_run:
            run = task.run
            by_run[name] = tree.add(
                f"[bold]{name}[/] model={run.model.name} "
                f"backend={run.model.backend} task={run.task.name} "
                f"gpus={run.model.resources.gpus}"
            )
        by_run[name].add(line)
    console.print(tree)


@app.command("list")
def list_registry(
    kind: Annotated[
        str, typer.Argument(help="models | tasks | metrics | datasets | reports | stages")
    ],
) -> None:
    """Show a registry: names, what each is, and where it comes from."""
    registries = get_registries()
    by_kind = registries.by_kind()
    if kind not in by_kind:
        raise VlmhbError(f"unknown registry {kind!r}; choose one of {', '.join(by_kind)}")
    table = Table(title=f"{kind} registry")
    table.add_column("name", no_wrap=True)
    table.add_column("description", ratio=2)
    table.add_column("source", ratio=1, overflow="fold")
    for entry in by_kind[kind]:
        table.add_row(entry.name, entry.summary(), entry.source)
    if kind == "models":
        for entry in registries.model_presets:
            table.add_row(entry.name, f"preset: {entry.description}", entry.source)
    console.print(table)


@stage_app.command("run")
def stage_run(
    task_file: Annotated[Path, typer.Argument(help="StageTask JSON")],
    result: Annotated[Path, typer.Option(help="where to write the StageResult JSON")],
    consume: Annotated[
        bool, typer.Option(help="delete TASK_FILE once read (a private hand-off holding secrets)")
    ] = False,
) -> None:
    """Run one stage task (the entry point every environment starts)."""
    from vlmhb.core.stage_runner import run_stage_file

    raise typer.Exit(run_stage_file(task_file, result, consume=consume))


def _core_commands() -> set[str]:
    """The names of the commands and groups defined here (no plugin)."""
    names = {info.name for info in app.registered_groups if info.name}
    for info in app.registered_commands:
        if info.name:
            names.add(info.name)
        elif info.callback is not None:
            names.add(info.callback.__name__.replace("_", "-"))
    return names


def _mount_plugins(argv: list[str]) -> None:
    """Mount the plugin CLIs (entry points ``vlmhb.cli``): only the one ``argv`` names,
    none for a core command (each plugin costs imports: 0.5 s for bench-serve's HTTP
    client on every ``vlmhb run``), all of them otherwise (help, a mistyped name)."""
    plugins = {ep.name: ep for ep in entry_points(group="vlmhb.cli")}
    command = argv[0] if argv else None
    if command in plugins:
        chosen = [plugins[command]]
    elif command in _core_commands():
        chosen = []
    else:
        chosen = list(plugins.values())
    for ep in chosen:
        try:
            app.add_typer(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not break the CLI
            err_console.print(f"[yellow]warning:[/] CLI plugin {ep.name!r} failed to load: {exc}")


def main() -> None:
    _mount_plugins(sys.argv[1:])
    try:
        app()
    except VlmhbError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()

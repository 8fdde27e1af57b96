"""``vlmhb datasets ...``: generate synthetic documents and check a dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vlmhb.core.contracts import DatasetSpec
from vlmhb.core.errors import VlmhbError
from vlmhb.core.registries import get_registries
from vlmhb.data.synth import DEGRADATIONS, FORMATS, KINDS, generate_dataset

app = typer.Typer(help="Dataset tools: synthetic documents, dataset checks.", no_args_is_help=True)
console = Console()


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    kind: Annotated[str, typer.Option(help=f"{' | '.join(KINDS)} | all")] = "all",
    n: Annotated[int, typer.Option("--n", help="Documents per kind.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed; same seed → same files.")] = 0,
    degrade: Annotated[
        str, typer.Option(help=f"Comma-separated degradations: {','.join(DEGRADATIONS)}.")
    ] = "",
    strength: Annotated[float, typer.Option(help="Degradation strength in (0, 1].")] = 0.5,
    format: Annotated[str, typer.Option(help="vqa_csv | json_extraction | both")] = "both",
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier generated dataset.")] = False,
) -> None:
    """Generate synthetic passports, invoices and SNILS cards with exact ground truth."""
    kinds = list(KINDS) if kind == "all" else _split_list(kind)
    formats = list(FORMATS) if format == "both" else _split_list(format)
    try:
        summary = generate_dataset(
            out,
            kinds,
            n,
            seed,
            _split_list(degrade),
            strength,
            formats,
            overwrite=overwrite,
            progress=console.is_terminal,
        )
    except VlmhbError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    counts = ", ".join(f"{k}: {v}" for k, v in summary.documents.items())
    console.print(
        f"wrote {sum(summary.documents.values())} documents ({counts}) to {out} "
        f"(subset {summary.subset}, {summary.vqa_rows} VQA rows)"
    )


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="Dataset folder.")],
    format: Annotated[str, typer.Option(help="Dataset format (registry name).")] = "vqa_csv",
    split: Annotated[str | None, typer.Option(help="Only this split.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many problems.")] = 50,
) -> None:
    """Read a dataset and list the rows that would be skipped; exit 1 when there are any."""
    try:
        reader = get_registries().datasets.get(format)()
        load = reader.read(DatasetSpec(name=path.name, format=format, path=path, split=split))
    except VlmhbError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"{len(load.samples)} samples, {len(load.problems)} problems")
    for problem in load.problems[:limit]:
        console.print(f"  {problem}", markup=False, highlight=False)
    if len(load.problems) > limit:
        console.print(f"  ... and {len(load.problems) - limit} more")
    if load.problems:
        raise typer.Exit(1)

"""``vlmhb images``: build the project's images locally and list them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

images_app = typer.Typer(help="Build and list the project's container images (no registry).")
console = Console(highlight=False)


@images_app.command("build")
def build_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="image folders of deploy/images (default: all)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="rebuild even when up to date")] = False,
    images_dir: Annotated[
        Path | None, typer.Option(help="folder of image folders (default: deploy/images)")
    ] = None,
    build_arg: Annotated[
        list[str] | None,
        typer.Option("--build-arg", help="KEY=VALUE for Dockerfiles declaring ARG KEY"),
    ] = None,
) -> None:
    """Build the images (and the rootfs they start from) that are missing or stale."""
    from vlmhb.containers.images.build import ImageBuilder
    from vlmhb.containers.images.engine import open_engine
    from vlmhb.containers.images.errors import ImageBuildError

    buildargs: dict[str, str] = {}
    for item in build_arg or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ImageBuildError(f"--build-arg {item!r}: expected KEY=VALUE")
        buildargs[key] = value

    def progress(name: str, line: str) -> None:
        style = "bold" if line.startswith("Step ") else ""
        text = f"[{style}]{escape(line)}[/]" if style else escape(line)
        console.print(f"[cyan]{escape(name)}[/] {text}", soft_wrap=True)

    with open_engine() as client:
        builder = ImageBuilder(
            client, images_dir=images_dir, buildargs=buildargs, progress=progress
        )
        outcomes = builder.build(names or None, force=force)
    for o in outcomes:
        console.print(f"{o.name}: {o.status} in {o.seconds:.1f} s")


@images_app.command("ls")
def ls_command(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """The project's images (vlmhb/*): tag, digest, created, size, contents."""
    from vlmhb.containers.images.engine import open_engine
    from vlmhb.containers.images.listing import list_images

    with open_engine() as client:
        rows = list_images(client)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    table = Table(
        "tag", "digest / id", "created", "size", "python", "vlmhb", "packages", "key contents"
    )
    for r in rows:
        c = r.contents
        table.add_row(
            r.tag,
            r.digest.removeprefix("sha256:")[:19],
            r.created.strftime("%Y-%m-%d %H:%M"),
            f"{r.size / 1e6:.0f} MB",
            (c.python or "-") if c else "-",
            c.vlmhb if c else "-",
            str(len(c.packages)) if c else "-",
            escape(", ".join(c.key_packages())) if c else "",
        )
    console.print(table)

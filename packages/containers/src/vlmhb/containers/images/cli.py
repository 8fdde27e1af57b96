"""``vlmhb images``: build the project's images locally and list them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

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
    from vlmhb.containers.images.listing import ImageRow, list_images

    with open_engine() as client:
        rows = list_images(client)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    shown: dict[tuple[str, str], list[ImageRow]] = {}
    for r in rows:
        shown.setdefault((r.tag.rpartition(":")[0], r.image_id), []).append(r)
    for (repo, _), same in shown.items():
        r, c = same[0], same[0].contents
        tags = ", ".join(x.tag.rpartition(":")[2] for x in same)
        console.print(
            f"[bold]{escape(repo)}[/] \\[{escape(tags)}]  {r.digest.removeprefix('sha256:')[:12]}"
            f"  {r.created:%Y-%m-%d %H:%M}  {r.size / 1e6:.0f} MB"
        )
        if c is not None:
            console.print(
                f"  python {c.python or '-'}, vlmhb {c.vlmhb or '-'}, {len(c.packages)} packages: "
                + escape(", ".join(c.key_packages())),
                soft_wrap=True,
            )

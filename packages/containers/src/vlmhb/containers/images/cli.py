"""``vlmhb images``: build the project's images locally and list them."""

from __future__ import annotations

import typer

images_app = typer.Typer(help="Build and list the project's container images (no registry).")

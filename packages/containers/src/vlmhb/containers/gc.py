"""``vlmhb envs``: container envs' housekeeping."""

from __future__ import annotations

import typer

envs_app = typer.Typer(help="Container envs: find and remove what a crashed run left.")

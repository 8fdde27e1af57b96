"""Keep secrets out of what a bootstrap leaves and shows: every secret value is replaced
by ``***`` in event text, and the runner's work folder keeps no environment, command line
or extravars (ansible-runner records the whole process environment in
``artifacts/<ident>/command``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

MASK = "***"
MIN_SECRET = 4  # shorter values would mask ordinary words


class Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def scrub_work_dir(work_dir: Path, scrubber: Scrubber) -> None:
    """Delete what holds the environment or the variables (``env/``, the ``command``
    and ``job_events`` artifacts, the inventory) and mask secrets in what stays."""
    for folder in [p for p in work_dir.rglob("*") if p.is_dir() and p.name in ("env", "inventory")]:
        shutil.rmtree(folder, ignore_errors=True)
    for path in sorted(work_dir.rglob("*")):
        if not path.is_file():
            continue
        if path.name in ("command", "request.json") or path.parent.name == "job_events":
            path.unlink()
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            path.unlink()
            continue
        cleaned = scrubber(text)
        if cleaned != text:
            path.write_text(cleaned, encoding="utf-8")

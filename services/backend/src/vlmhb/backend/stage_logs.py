"""A stage's log file (its stderr, ``logs/<stage>.log`` in its run folder, or in the
experiment's folder for the experiment report) and the last lines of it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vlmhb.core.envs.stage_io import LOGS_DIR

TAIL_BYTES = 64 * 1024


def log_relpath(experiment_name: str, run_name: str | None, stage: str) -> str:
    """The log of the stage of ``run_name`` (None: the experiment's own stage), relative
    to the runs root."""
    folder = PurePosixPath(experiment_name, *([run_name] if run_name else []))
    return (folder / LOGS_DIR / f"{stage}.log").as_posix()


def tail_lines(path: Path, lines: int, max_bytes: int = TAIL_BYTES) -> list[str]:
    """The last ``lines`` lines of ``path`` read from at most its last ``max_bytes``
    (a cut first line is dropped); empty when the file is missing."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            start = max(0, size - max_bytes)
            file.seek(start)
            data = file.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").splitlines()
    if start > 0 and text:
        text = text[1:]
    return text[-lines:] if lines > 0 else []

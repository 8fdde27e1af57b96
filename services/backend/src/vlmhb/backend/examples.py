"""The example experiment of the New-experiment page, built for this server: it names a
dataset that exists under the data root (``VLMHB_DATA_ROOT``), so it runs as it is.

The data root is searched breadth first (a few levels, a bounded number of folders,
hidden folders and symlinks skipped) for a VQA dataset: an ``annotation.csv`` whose
header has the columns the ``vqa_csv`` reader needs. Datasets made by ``vlmhb datasets
synth`` (small by design) come first. The example's models are scripted oracles that
answer from the dataset's own ground truth, so it runs in seconds with no model.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from vlmhb.data.readers.vqa_csv import REQUIRED_COLUMNS

ANNOTATION = "annotation.csv"
MAX_DEPTH = 4
MAX_FOLDERS = 2000
SKIPPED_NAMES = frozenset({"node_modules", "__pycache__", "site-packages"})
SYNTH_GENERATOR = "vlmhb.data.synth"
NO_DATASET = (
    "the server's data root (VLMHB_DATA_ROOT) holds no VQA dataset (a folder with an "
    "annotation.csv) to build the example from. Make one on the server with "
    "`vlmhb datasets synth --out <data root>/demo --n 3`, then insert the example again."
)


class NoDataset(LookupError):
    """The data root holds no dataset the example could use."""


@dataclass(frozen=True)
class Example:
    """The example config (YAML) and the dataset it uses (relative to the data root)."""

    text: str
    dataset: str


def find_datasets(root: Path) -> list[str]:
    """VQA dataset folders under ``root``, relative to it (``.`` for the root itself):
    generated ones first, then the shallowest, then by name."""
    found: list[tuple[bool, int, str]] = []
    queue: deque[tuple[Path, int]] = deque([(root, 0)])
    visited = 0
    while queue and visited < MAX_FOLDERS:
        folder, depth = queue.popleft()
        visited += 1
        if _is_vqa_dataset(folder):
            rel = folder.relative_to(root).as_posix() or "."
            found.append((not _generated(folder), depth, rel))
            continue  # a dataset's images are not datasets
        if depth < MAX_DEPTH:
            queue.extend((child, depth + 1) for child in _subfolders(folder))
    return [rel for _, _, rel in sorted(found)]


def example_config(root: Path) -> Example:
    """The example for the data root ``root``; ``NoDataset`` when it holds none."""
    datasets = find_datasets(root)
    if not datasets:
        raise NoDataset(NO_DATASET)
    return Example(text=_render(datasets[0]), dataset=datasets[0])


def _render(dataset: str) -> str:
    name = Path(dataset).name if dataset != "." else "data"
    answers = _scalar(f"{dataset}/{ANNOTATION}" if dataset != "." else ANNOTATION)
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in name.lower())
    return (
        f"# An example for this server: dataset {_scalar(dataset)} lies under its data root\n"
        "# (VLMHB_DATA_ROOT); relative paths resolve there. The two models are scripted\n"
        "# oracles answering from the dataset's ground truth (one with 8% noise), so it\n"
        "# runs in seconds; swap in a real model (see 'Names you can use').\n"
        f"name: example-{slug}\n"
        "models:\n"
        "  - name: oracle\n"
        "    backend: scripted\n"
        f"    params: {{answers_file: {answers}, answer_column: answer, latency_ms: 20}}\n"
        "    concurrency: 8\n"
        "  - name: noisy-oracle\n"
        "    backend: scripted\n"
        f"    params: {{answers_file: {answers}, answer_column: answer, noise: 0.08,\n"
        "             latency_ms: 40}\n"
        "    concurrency: 8\n"
        "datasets:\n"
        f"  - {{name: {slug}, format: vqa_csv, path: {_scalar(dataset)}}}\n"
        "tasks:\n"
        "  - name: fields_vqa\n"
        f"    dataset: {slug}\n"
        "    kind: vqa\n"
        "    metrics: [cer, anls, exact_match]\n"
    )


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when it is a simple path, else double-quoted."""
    plain = value[:1].isalnum() and all(c.isalnum() or c in "-_./" for c in value)
    return value if plain else json.dumps(value, ensure_ascii=False)


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                Path(e.path)
                for e in entries
                if e.is_dir(follow_symlinks=False)
                and not e.name.startswith((".", "_"))
                and e.name not in SKIPPED_NAMES
            )
    except OSError:
        return []


def _is_vqa_dataset(folder: Path) -> bool:
    """``folder`` holds an ``annotation.csv`` (a regular file) whose header has the
    columns the ``vqa_csv`` reader needs."""
    path = folder / ANNOTATION
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8-sig") as handle:
            header = handle.readline(64 * 1024)
    except (OSError, UnicodeDecodeError):
        return False
    columns = {c.strip() for c in header.strip().split(";")}
    return all(c in columns for c in REQUIRED_COLUMNS)


def _generated(folder: Path) -> bool:
    try:
        info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("generator") == SYNTH_GENERATOR

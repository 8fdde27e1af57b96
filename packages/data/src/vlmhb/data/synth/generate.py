"""Writing a synthetic dataset folder in the VQA and/or JSON-extraction format.

Layout of ``out``: ``images/<subset>/<n>.jpg`` (subset ``clean`` or the degradations
joined by ``-``), ``annotation.csv`` (VQA, one row per field), ``jsons/<n>.json``
(extraction, one per document), ``dataset.json`` and ``README.txt``. The same seed gives
byte-identical files; each document is seeded from (seed, kind, index) alone.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from faker import Faker
from PIL import Image
from rich.progress import Progress

from vlmhb.core.errors import ConfigError
from vlmhb.data.readers.vqa_csv import VQA_COLUMNS
from vlmhb.data.synth.degrade import check_degradations, degrade
from vlmhb.data.synth.render import FieldBox, render
from vlmhb.data.synth.values import FIELD_MAKERS

KINDS = tuple(FIELD_MAKERS)
FORMATS = ("vqa_csv", "json_extraction")
JPEG_QUALITY = 92
OUTPUTS = ("images", "jsons", "annotation.csv", "dataset.json", "README.txt")


@dataclass
class SynthSummary:
    """What was written: documents per kind, VQA rows, the subset name, the files."""

    out: Path
    subset: str
    documents: dict[str, int] = field(default_factory=dict)
    vqa_rows: int = 0
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Doc:
    index: int
    kind: str
    image_path: str
    fields: list[FieldBox]


def generate_dataset(
    out: Path,
    kinds: Sequence[str] = KINDS,
    n: int = 10,
    seed: int = 0,
    degradations: Sequence[str] = (),
    strength: float = 0.5,
    formats: Sequence[str] = FORMATS,
    overwrite: bool = False,
    progress: bool = False,
) -> SynthSummary:
    """Generate ``n`` documents of each kind in ``kinds`` into the folder ``out``.

    Raises ``ConfigError`` for bad arguments or a non-empty ``out`` without ``overwrite``
    (which then replaces only the generator's own files).
    """
    kinds, formats, degradations = _check(kinds, n, degradations, strength, formats)
    _prepare_out(out, overwrite)
    subset = "-".join(degradations) or "clean"
    (out / "images" / subset).mkdir(parents=True)
    summary = SynthSummary(out=out, subset=subset)
    docs: list[_Doc] = []
    jobs = [(kind, i) for kind in kinds for i in range(n)]
    fake = Faker("ru_RU")
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("generating documents", total=len(jobs))
        for index, (kind, kind_index) in enumerate(jobs):
            doc_seed = _doc_seed(seed, kind, kind_index)
            docs.append(
                _make_document(out, subset, index, kind, fake, doc_seed, degradations, strength)
            )
            summary.documents[kind] = summary.documents.get(kind, 0) + 1
            bar.advance(task)
    if "vqa_csv" in formats:
        summary.vqa_rows = _write_annotation(out / "annotation.csv", docs, subset)
    if "json_extraction" in formats:
        _write_jsons(out / "jsons", docs)
    _write_description(out, summary, seed, kinds, n, degradations, strength, formats)
    summary.files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return summary


def _check(
    kinds: Sequence[str],
    n: int,
    degradations: Sequence[str],
    strength: float,
    formats: Sequence[str],
) -> tuple[list[str], list[str], list[str]]:
    bad_kinds = [kind for kind in kinds if kind not in KINDS]
    if bad_kinds or not kinds:
        raise ConfigError("--kind", f"unknown kind(s) {bad_kinds}; choose from {', '.join(KINDS)}")
    bad_formats = [fmt for fmt in formats if fmt not in FORMATS]
    if bad_formats or not formats:
        raise ConfigError(
            "--format", f"unknown format(s) {bad_formats}; choose from {', '.join(FORMATS)}"
        )
    if n < 1:
        raise ConfigError("--n", f"number of documents must be at least 1, got {n}")
    if not 0 < strength <= 1:
        raise ConfigError("--strength", f"must be in (0, 1], got {strength}")
    try:
        ordered = check_degradations(degradations)
    except ValueError as exc:
        raise ConfigError("--degrade", str(exc)) from None
    return list(dict.fromkeys(kinds)), list(dict.fromkeys(formats)), ordered


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(str(out), "output path exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(
                str(out),
                "output folder is not empty; pass --overwrite to replace "
                "a previously generated dataset",
            )
        for name in OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _doc_seed(seed: int, kind: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}:{kind}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _make_document(
    out: Path,
    subset: str,
    index: int,
    kind: str,
    fake: Faker,
    doc_seed: int,
    degradations: Sequence[str],
    strength: float,
) -> _Doc:
    fake.seed_instance(doc_seed)
    image, boxes = render(kind, FIELD_MAKERS[kind](fake), random.Random(doc_seed))
    rng = np.random.default_rng(doc_seed)
    image, moved = (
        degrade(image, [box.bbox for box in boxes], degradations, strength, rng)
        if degradations
        else (image, [box.bbox for box in boxes])
    )
    relative = f"images/{subset}/{index}.jpg"
    _save_jpeg(image, out / relative)
    fields = [FieldBox(box.name, box.value, bbox) for box, bbox in zip(boxes, moved, strict=True)]
    return _Doc(index, kind, relative, fields)


def _save_jpeg(image: Image.Image, path: Path) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    path.write_bytes(buffer.getvalue())


def _write_annotation(path: Path, docs: list[_Doc], subset: str) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(VQA_COLUMNS)
    rows = 0
    for doc in docs:
        for item in doc.fields:
            writer.writerow(
                [
                    doc.index,
                    subset,
                    doc.image_path,
                    f"Напиши {item.name}",
                    item.value,
                    doc.kind,
                    item.name,
                    json.dumps(list(item.bbox)),
                ]
            )
            rows += 1
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return rows


def _write_jsons(folder: Path, docs: list[_Doc]) -> None:
    folder.mkdir()
    for doc in docs:
        payload = {
            "fields": {
                item.name: {"value": item.value, "bboxes": [list(item.bbox)]} for item in doc.fields
            },
            "doc_class": doc.kind,
            "index": doc.index,
        }
        text = json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
        (folder / f"{doc.index}.json").write_text(text, encoding="utf-8")


def _write_description(
    out: Path,
    summary: SynthSummary,
    seed: int,
    kinds: list[str],
    n: int,
    degradations: list[str],
    strength: float,
    formats: list[str],
) -> None:
    description = {
        "generator": "vlmhb.data.synth",
        "seed": seed,
        "kinds": kinds,
        "n_per_kind": n,
        "documents": summary.documents,
        "vqa_rows": summary.vqa_rows,
        "subset": summary.subset,
        "degradations": degradations,
        "strength": strength if degradations else None,
        "formats": formats,
    }
    (out / "dataset.json").write_text(
        json.dumps(description, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    counts = ", ".join(f"{kind}: {count}" for kind, count in summary.documents.items())
    lines = [
        "Synthetic Russian documents generated by vlmhb.data.synth (`vlmhb datasets synth`).",
        f"seed: {seed}; documents per kind: {n} ({counts}); images: images/{summary.subset}/",
        f"degradations: {', '.join(degradations) or 'none'}"
        + (f" (strength {strength})" if degradations else ""),
    ]
    if "vqa_csv" in formats:
        lines.append(
            f"VQA: annotation.csv, {summary.vqa_rows} rows (one per field), "
            "read with format vqa_csv"
        )
    if "json_extraction" in formats:
        lines.append("Extraction: jsons/<n>.json per document, read with format json_extraction")
    lines.append("Boxes are pixel [x1, y1, x2, y2] around each field value (padded 4 px).")
    (out / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

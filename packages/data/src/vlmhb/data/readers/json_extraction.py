"""Reader for JSON-extraction datasets: ``images/<subset>/<n>.jpg`` + ``jsons/<n>.json``.

``jsons/<n>.json`` = ``{"fields": {"<field>": {"value": str, "bboxes": [[x1,y1,x2,y2], ...]}}}``
and is shared by ``<n>`` in every subset. One sample per image, id ``<subset>/<n>``,
split = subset, ``fields`` = {field: value}; the boxes go to ``extra["field_bboxes"]``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmhb.core.contracts import DatasetLoad, DatasetSpec, RowProblem, Sample
from vlmhb.core.errors import ConfigError
from vlmhb.data.readers._common import (
    IMAGE_SUFFIXES,
    ImageChecker,
    bbox_from_numbers,
    bbox_problem,
    check_options,
    dataset_dir,
)
from vlmhb.data.readers.expand import expand_fields_to_vqa

LAYOUT = "expected images/<subset>/<n>.jpg and jsons/<n>.json"
OPTIONS: dict[str, type] = {"doc_class": str, "as_vqa": bool, "question_template": str}


@dataclass
class _Truth:
    """A parsed ``jsons/<n>.json``, or the problems that made it unusable."""

    source: str
    fields: dict[str, str] = field(default_factory=dict)
    bboxes: dict[str, list[list[float]]] = field(default_factory=dict)
    doc_class: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # source, field, message


class JsonExtractionReader:
    """Reads a JSON-extraction dataset; bad documents become ``RowProblem``s.

    Options: ``doc_class`` (overrides the JSON's ``doc_class`` and the folder name),
    ``as_vqa`` (true: one VQA sample per document field, see ``expand_fields_to_vqa``)
    and ``question_template`` for those questions (default ``"Напиши {field}"``).
    """

    def read(self, spec: DatasetSpec) -> DatasetLoad:
        options = check_options(spec, OPTIONS)
        root = dataset_dir(spec)
        images_dir = root / "images"
        if not images_dir.is_dir():
            raise ConfigError(str(images_dir), f"missing images/ folder ({LAYOUT})")
        if not (root / "jsons").is_dir():
            raise ConfigError(str(root / "jsons"), f"missing jsons/ folder ({LAYOUT})")
        subsets = sorted(p.name for p in images_dir.iterdir() if p.is_dir() and _visible(p))
        if spec.split is not None:
            if spec.split not in subsets:
                raise ConfigError(
                    f"dataset {spec.name!r} split",
                    f"no subset {spec.split!r} in {images_dir}; "
                    f"subsets: {', '.join(subsets) or 'none'}",
                )
            subsets = [spec.split]
        default_class = options.get("doc_class")
        load = _Collector(root, default_class, root.name).collect(subsets)
        if not load.samples and not load.problems:
            raise ConfigError(str(images_dir), "empty dataset: no images in images/<subset>/")
        if options.get("as_vqa"):
            return expand_fields_to_vqa(load, options.get("question_template", "Напиши {field}"))
        return load


class _Collector:
    """Walks the subsets and builds samples and problems (one per read)."""

    def __init__(self, root: Path, doc_class: str | None, folder_name: str) -> None:
        self.root = root
        self.doc_class = doc_class
        self.folder_name = folder_name
        self.images = ImageChecker()
        self.truths: dict[str, _Truth] = {}

    def collect(self, subsets: list[str]) -> DatasetLoad:
        samples: list[Sample] = []
        problems = [
            RowProblem(
                source=f"images/{p.name}",
                field="image_path",
                message=f"image outside a subset folder ({LAYOUT}); ignored",
            )
            for p in sorted((self.root / "images").iterdir())
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        for subset in subsets:
            files = [
                p
                for p in (self.root / "images" / subset).iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and _visible(p)
            ]
            for image in sorted(files, key=_natural_key):
                sample, sample_problems = self._sample(subset, image)
                problems.extend(sample_problems)
                if sample is not None:
                    samples.append(sample)
        return DatasetLoad(samples=samples, problems=problems)

    def _sample(self, subset: str, image: Path) -> tuple[Sample | None, list[RowProblem]]:
        sample_id = f"{subset}/{image.stem}"
        source = f"images/{subset}/{image.name}"
        truth = self._truth(image.stem)
        found = list(truth.problems)
        check = self.images.check(image)
        if check.error:
            found.append((source, "image_path", check.error))
        elif not truth.problems:
            for name, boxes in truth.bboxes.items():
                for box in boxes:
                    message = bbox_problem(bbox_from_numbers(box), check.size)
                    if message:
                        found.append((truth.source, f"fields.{name}.bboxes", message))
        if found:
            return None, [
                RowProblem(source=src, field=fld, message=msg, sample_id=sample_id)
                for src, fld, msg in found
            ]
        return Sample(
            id=sample_id,
            image_path=image,
            fields=truth.fields,
            doc_class=self.doc_class or truth.doc_class or self.folder_name,
            split=subset,
            source=source,
            extra={**truth.extra, "field_bboxes": truth.bboxes, "json": truth.source},
        ), []

    def _truth(self, stem: str) -> _Truth:
        if stem not in self.truths:
            source = f"jsons/{stem}.json"
            self.truths[stem] = _parse_truth(self.root / source, source)
        return self.truths[stem]


def _parse_truth(path: Path, source: str) -> _Truth:
    truth = _Truth(source)
    if not path.is_file():
        truth.problems.append((source, "json", "no ground-truth JSON for this image"))
        return truth
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        where = f"{source}:{exc.lineno}:{exc.colno}"
        truth.problems.append((where, "json", f"invalid JSON: {exc.msg}"))
        return truth
    except UnicodeDecodeError as exc:
        truth.problems.append((source, "json", f"not valid UTF-8 ({exc.reason})"))
        return truth
    if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
        truth.problems.append((source, "fields", 'missing "fields" object'))
        return truth
    for name, entry in data["fields"].items():
        where = f"fields.{name}"
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            truth.problems.append((source, where, 'needs {"value": str, "bboxes": [...]}'))
            continue
        boxes = entry.get("bboxes", [])
        try:
            if not isinstance(boxes, list):
                raise ValueError("bboxes must be a list of [x1, y1, x2, y2]")
            truth.bboxes[name] = [list(bbox_from_numbers(box)) for box in boxes]
        except ValueError as exc:
            truth.problems.append((source, f"{where}.bboxes", str(exc)))
            continue
        truth.fields[name] = entry["value"]
    doc_class = data.get("doc_class")
    truth.doc_class = doc_class if isinstance(doc_class, str) and doc_class else None
    truth.extra = {k: v for k, v in data.items() if k not in ("fields", "doc_class")}
    return truth


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _natural_key(path: Path) -> list[Any]:
    """Sort ``2.jpg`` before ``10.jpg``."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", path.stem)
        if part
    ]

"""Reader for VQA datasets: ``annotation.csv`` (``;``-separated) plus image files.

Columns: ``data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox``.
Only ``image_path``, ``question`` and ``answer`` must be in the header; unknown columns go
to ``Sample.extra``. The sample id is the 0-based number of the data row (blank lines are
not rows), or the ``id`` cell when the file has an ``id`` column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vlmhb.core.contracts import DatasetLoad, DatasetSpec, RowProblem, Sample
from vlmhb.core.errors import ConfigError
from vlmhb.data.readers._common import (
    BBox,
    ImageChecker,
    InsideResolver,
    bbox_problem,
    check_options,
    dataset_dir,
    parse_bbox,
    resolve_inside,
)

REQUIRED_COLUMNS = ("image_path", "question", "answer")
#: The columns a VQA annotation.csv may hold, in the order the generator writes them
#: (``id`` may replace ``data_index``); others are kept as the sample's extra fields.
VQA_COLUMNS = (
    "data_index",
    "split",
    "image_path",
    "question",
    "answer",
    "doc_class",
    "question_type",
    "answer_bbox",
)
KNOWN_COLUMNS = frozenset({"id", *VQA_COLUMNS})
OPTIONS: dict[str, type] = {"annotation": str, "require_images": bool}
# The longest line read: a longer one is refused before it fills memory.
MAX_LINE_BYTES = 1024 * 1024


def read_csv_table(path: Path, display: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and data rows ``(line number, cells)`` of a ``;``-separated UTF-8 file.

    Blank lines are skipped. Read as a stream, a line at most ``MAX_LINE_BYTES`` long, so
    memory stays bounded whatever the file holds. Raises ``ConfigError`` naming
    ``display`` and the line for a missing file, bad encoding, a line too long, broken
    quoting, or a file with no header or no data.
    """
    if not path.is_file():
        raise ConfigError(display, "file not found")
    with path.open("rb") as handle:
        lines = _BoundedLines(handle, display)
        reader = csv.reader(lines, delimiter=";", strict=True)
        rows: list[tuple[int, list[str]]] = []
        try:
            start = 1
            for cells in reader:
                if cells and any(cell.strip() for cell in cells):
                    rows.append((start, cells))
                start = lines.count + 1
        except csv.Error as exc:
            raise ConfigError(f"{display}:{lines.count}", f"not valid CSV: {exc}") from None
    if not rows:
        raise ConfigError(display, "empty file: no header row")
    header_line, header = rows[0]
    header = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        hint = " (is the separator ';'?)" if len(header) == 1 else ""
        raise ConfigError(
            f"{display}:{header_line}",
            f"header lacks column(s) {', '.join(missing)}{hint}; found: {';'.join(header)}",
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ConfigError(
            f"{display}:{header_line}", f"duplicate column(s): {', '.join(duplicated)}"
        )
    if len(rows) == 1:
        raise ConfigError(display, "empty dataset: the file has a header but no data rows")
    return header, rows[1:]


class _BoundedLines:
    """The lines of a binary file as text, each at most ``MAX_LINE_BYTES`` long
    (``ConfigError`` beyond, and for bytes that are not UTF-8, naming the line); a
    leading BOM is dropped; ``count`` is the lines read so far."""

    def __init__(self, handle: BinaryIO, display: str) -> None:
        self.handle = handle
        self.display = display
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        where = f"{self.display}:{self.count + 1}"
        raw = self.handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        if len(raw) > MAX_LINE_BYTES:
            raise ConfigError(
                where, f"line longer than {MAX_LINE_BYTES} bytes (is this a CSV file?)"
            )
        try:
            line = raw.decode("utf-8-sig" if self.count == 0 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(where, f"not valid UTF-8 ({exc.reason})") from None
        self.count += 1
        return line


class VqaCsvReader:
    """Reads a VQA ``annotation.csv``; bad rows become ``RowProblem``s and are skipped.

    Options: ``annotation`` (file name inside the dataset folder, default
    ``annotation.csv``) and ``require_images`` (default true; false skips the image
    checks, e.g. to score answers without the images at hand).
    """

    def read(self, spec: DatasetSpec) -> DatasetLoad:
        options = check_options(spec, OPTIONS)
        root = dataset_dir(spec)
        name = options.get("annotation", "annotation.csv")
        csv_path = resolve_inside(root, name)
        if csv_path is None:
            raise ConfigError(
                f"dataset {spec.name!r} options", f"annotation {name!r} is outside {root}"
            )
        return _RowParser(root, name, spec.split, options.get("require_images", True)).parse(
            *read_csv_table(csv_path, str(csv_path))
        )


class _RowParser:
    """Turns table rows into samples and problems (one parser per read)."""

    def __init__(self, root: Path, display: str, split: str | None, require_images: bool) -> None:
        self.root = root
        self.display = display
        self.split = split
        self.require_images = require_images
        self.images = ImageChecker()
        self.inside = InsideResolver(root)
        self.seen_ids: dict[str, str] = {}

    def parse(self, header: list[str], rows: list[tuple[int, list[str]]]) -> DatasetLoad:
        samples: list[Sample] = []
        problems: list[RowProblem] = []
        for row_number, (line, cells) in enumerate(rows):
            source = f"{self.display}:{line}"
            if len(cells) != len(header):
                problems.append(
                    RowProblem(
                        source=source,
                        field="row",
                        sample_id=str(row_number),
                        message=f"row has {len(cells)} cells, the header has {len(header)}",
                    )
                )
                continue
            record = dict(zip(header, cells, strict=True))
            if self.split is not None and record.get("split", "").strip() != self.split:
                continue
            sample_id = record["id"].strip() if "id" in record else str(row_number)
            sample, row_problems = self._sample(record, sample_id, source)
            problems.extend(row_problems)
            if sample is not None:
                samples.append(sample)
        return DatasetLoad(samples=samples, problems=problems)

    def _sample(
        self, record: dict[str, str], sample_id: str, source: str
    ) -> tuple[Sample | None, list[RowProblem]]:
        problems: list[tuple[str, str]] = []
        required = [*REQUIRED_COLUMNS, "id"] if "id" in record else REQUIRED_COLUMNS
        problems += [(col, "required cell is empty") for col in required if not record[col].strip()]
        if sample_id and sample_id in self.seen_ids:
            first = self.seen_ids[sample_id]
            problems.append(("id", f"duplicate id {sample_id!r} (first at {first})"))
        elif sample_id:
            self.seen_ids[sample_id] = source

        image_path, size = self._image(record["image_path"].strip(), problems)
        bbox: BBox | None = None
        bbox_text = record.get("answer_bbox", "").strip()
        if bbox_text:
            try:
                bbox = parse_bbox(bbox_text)
            except ValueError as exc:
                problems.append(("answer_bbox", str(exc)))
            else:
                message = bbox_problem(bbox, size)
                if message:
                    problems.append(("answer_bbox", message))

        if problems:
            return None, [
                RowProblem(source=source, field=field, message=message, sample_id=sample_id)
                for field, message in problems
            ]
        extra = {key: value for key, value in record.items() if key not in KNOWN_COLUMNS}
        if "data_index" in record:
            extra["data_index"] = record["data_index"].strip()
        return Sample(
            id=sample_id,
            image_path=image_path,
            question=record["question"],
            answer=record["answer"],
            doc_class=record.get("doc_class", "").strip(),
            question_type=record.get("question_type", "").strip(),
            bbox=bbox,
            split=record.get("split", "").strip(),
            source=source,
            extra=extra,
        ), []

    def _image(
        self, relative: str, problems: list[tuple[str, str]]
    ) -> tuple[Path | None, tuple[int, int] | None]:
        """The resolved image path and its size (None when unknown); adds problems."""
        if not relative:
            return None, None
        path = self.inside(relative)
        if path is None:
            problems.append(("image_path", f"path {relative!r} points outside the dataset folder"))
            return None, None
        if not self.require_images:
            return path, None
        check = self.images.check(path)
        if check.error:
            problems.append(("image_path", check.error))
        return path, check.size

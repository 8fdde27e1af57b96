"""VqaCsvReader: samples, per-row problems and file-level errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vlmhb.core.contracts import DatasetSpec
from vlmhb.core.errors import ConfigError
from vlmhb.data.readers import VqaCsvReader

HEADER = "data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox"


def _spec(path: Path, split: str | None = None, **options: object) -> DatasetSpec:
    return DatasetSpec(name="t", format="vqa_csv", path=path, split=split, options=options)


def _write(folder: Path, *lines: str, bom: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    (folder / "annotation.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return folder


def test_reads_rows_with_ids_bbox_and_extra_columns(tmp_path: Path, make_image: Callable) -> None:
    make_image(tmp_path / "images" / "a.jpg")
    _write(
        tmp_path,
        HEADER + ";note",
        '0;clean;images/a.jpg;Напиши Имя;"Иван; Петрович";passport;Имя;[10, 20, 110.5, 40];x',
        "",
        "0;clean;images/a.jpg;Напиши Пол;МУЖ.;passport;Пол;;y",
        bom=True,
    )
    load = VqaCsvReader().read(_spec(tmp_path))
    assert load.problems == []
    first, second = load.samples
    assert (first.id, second.id) == ("0", "1")
    assert first.answer == "Иван; Петрович"
    assert first.bbox == (10.0, 20.0, 110.5, 40.0)
    assert first.image_path == (tmp_path / "images" / "a.jpg").resolve()
    assert first.source == "annotation.csv:2"
    assert second.source == "annotation.csv:4"  # blank line 3 is not a row
    assert second.bbox is None
    assert first.extra == {"note": "x", "data_index": "0"}
    assert (first.doc_class, first.question_type, first.split) == ("passport", "Имя", "clean")


def test_relative_path_resolves_against_cwd(
    tmp_path: Path, make_image: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_image(tmp_path / "ds" / "a.jpg")
    _write(tmp_path / "ds", HEADER, "0;s;a.jpg;q;a;d;t;")
    monkeypatch.chdir(tmp_path)
    assert [s.id for s in VqaCsvReader().read(_spec(Path("ds"))).samples] == ["0"]


def test_bad_rows_are_reported_and_skipped(tmp_path: Path, make_image: Callable) -> None:
    make_image(tmp_path / "a.jpg", size=(200, 100))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    _write(
        tmp_path,
        HEADER,
        "0;s;a.jpg;q;ok;d;t;[0, 0, 200, 100]",
        "1;s;missing.jpg;q;a;d;t;",
        "2;s;broken.jpg;q;a;d;t;",
        "3;s;a.jpg;q;a;d;t;[1, 2, three, 4]",
        "4;s;a.jpg;q;a;d;t;[50, 10, 40, 20]",
        "5;s;a.jpg;q;a;d;t;[-1, 10, 40, 20]",
        "6;s;a.jpg;q;a;d;t;[10, 10, 250, 20]",
        "7;s;a.jpg;;a;d;t;",
        "8;s;a.jpg;q;a;d",
        "9;s;../outside.jpg;q;a;d;t;",
        "10;s;broken.jpg;q;a;d;t;",
    )
    load = VqaCsvReader().read(_spec(tmp_path))
    assert [s.id for s in load.samples] == ["0"]
    found = {(p.source, p.field, p.sample_id) for p in load.problems}
    assert found == {
        ("annotation.csv:3", "image_path", "1"),
        ("annotation.csv:4", "image_path", "2"),
        ("annotation.csv:5", "answer_bbox", "3"),
        ("annotation.csv:6", "answer_bbox", "4"),
        ("annotation.csv:7", "answer_bbox", "5"),
        ("annotation.csv:8", "answer_bbox", "6"),
        ("annotation.csv:9", "question", "7"),
        ("annotation.csv:10", "row", "8"),
        ("annotation.csv:11", "image_path", "9"),
        ("annotation.csv:12", "image_path", "10"),
    }
    messages = {p.sample_id: p.message for p in load.problems}
    assert "not found" in messages["1"]
    assert "unreadable image" in messages["2"]
    assert "not a number" in messages["3"]
    assert "inverted" in messages["4"]
    assert "negative" in messages["5"]
    assert "outside the image (200x100)" in messages["6"]
    assert "outside the dataset folder" in messages["9"]


def test_id_column_and_duplicates(tmp_path: Path, make_image: Callable) -> None:
    make_image(tmp_path / "a.jpg")
    _write(
        tmp_path,
        "id;image_path;question;answer",
        "x1;a.jpg;q;a",
        "x2;a.jpg;q;a",
        "x1;a.jpg;q;a",
        ";a.jpg;q;a",
    )
    load = VqaCsvReader().read(_spec(tmp_path))
    assert [s.id for s in load.samples] == ["x1", "x2"]
    duplicate, empty = load.problems
    assert (duplicate.source, duplicate.field) == ("annotation.csv:4", "id")
    assert "first at annotation.csv:2" in duplicate.message
    assert (empty.source, empty.field) == ("annotation.csv:5", "id")


def test_split_filter_keeps_row_numbers(tmp_path: Path, make_image: Callable) -> None:
    make_image(tmp_path / "a.jpg")
    _write(
        tmp_path,
        HEADER,
        "0;train;a.jpg;q;a;d;t;",
        "1;test;a.jpg;q;b;d;t;",
        "2;test;missing.jpg;q;c;d;t;",
        "3;train;missing.jpg;q;c;d;t;",
    )
    load = VqaCsvReader().read(_spec(tmp_path, split="test"))
    assert [s.id for s in load.samples] == ["1"]
    assert [p.sample_id for p in load.problems] == ["2"]


def test_image_check_runs_once_per_path(
    tmp_path: Path, make_image: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlmhb.data.readers import _common

    make_image(tmp_path / "a.jpg")
    _write(tmp_path, HEADER, *[f"{i};s;a.jpg;q;a;d;t;" for i in range(5)])
    calls: list[Path] = []
    real = _common._verify

    def counting(path: Path) -> _common.ImageCheck:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(_common, "_verify", counting)
    assert len(VqaCsvReader().read(_spec(tmp_path)).samples) == 5
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("content", "where", "words"),
    [
        (None, "annotation.csv", "file not found"),
        (b"", "annotation.csv", "no header"),
        (HEADER.encode() + b"\n", "annotation.csv", "no data rows"),
        (b"data_index,image_path,question\n1,a,b\n", "annotation.csv:1", "separator"),
        (b"image_path;question\na;b\n", "annotation.csv:1", "answer"),
        (b'image_path;question;answer\na;b;c\nx;"y"z;w\n', "annotation.csv:3", "not valid CSV"),
        (b"image_path;question;answer\na;b;c\na;\xff;c\n", "annotation.csv:3", "UTF-8"),
        (b"image_path;question;answer;answer\na;b;c;d\n", "annotation.csv:1", "duplicate"),
        (
            b"image_path;question;answer\n" + b"a;b;c\n" * 5000 + b"a;\xff;c\n",
            "annotation.csv:5002",
            "UTF-8",
        ),
        (
            b"image_path;question;answer\na;b;c\na;" + b"x" * (2 * 1024 * 1024) + b";c\n",
            "annotation.csv:3",
            "line longer than 1048576 bytes",
        ),
    ],
)
def test_file_level_errors_name_file_and_line(
    tmp_path: Path, content: bytes | None, where: str, words: str
) -> None:
    if content is not None:
        (tmp_path / "annotation.csv").write_bytes(content)
    with pytest.raises(ConfigError) as info:
        VqaCsvReader().read(_spec(tmp_path))
    assert info.value.location == f"{tmp_path.resolve()}/{where}"  # the full path
    assert words in info.value.message


def test_missing_folder_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        VqaCsvReader().read(_spec(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="Did you mean 'require_images'"):
        VqaCsvReader().read(_spec(tmp_path, require_image=False))
    with pytest.raises(ConfigError, match="must be bool"):
        VqaCsvReader().read(_spec(tmp_path, require_images="no"))
    with pytest.raises(ConfigError, match="outside"):
        VqaCsvReader().read(_spec(tmp_path, annotation="../x.csv"))


def test_shared_fixture_reports_every_missing_image(shared_fixtures: Path) -> None:
    load = VqaCsvReader().read(_spec(shared_fixtures / "snils_vqa_answers"))
    assert load.samples == []
    assert [p.sample_id for p in load.problems] == [str(i) for i in range(9)]
    assert {p.field for p in load.problems} == {"image_path"}
    assert load.problems[0].source == "annotation.csv:2"


def test_shared_fixture_without_image_checks(shared_fixtures: Path) -> None:
    load = VqaCsvReader().read(_spec(shared_fixtures / "snils_vqa_answers", require_images=False))
    assert load.problems == []
    assert [s.id for s in load.samples] == [str(i) for i in range(9)]
    first = load.samples[0]
    assert (first.answer, first.doc_class, first.question_type) == (
        "353-721-310 54",
        "snils",
        "Номер снилса",
    )
    assert first.bbox is not None and first.bbox[0] == pytest.approx(289.9057873485868)
    assert first.extra["data_index"] == "6"

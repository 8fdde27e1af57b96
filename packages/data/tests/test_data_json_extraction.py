"""JsonExtractionReader and expand_fields_to_vqa."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from vlmhb.core.contracts import DatasetLoad, DatasetSpec, Sample
from vlmhb.core.errors import ConfigError
from vlmhb.data.readers import JsonExtractionReader, expand_fields_to_vqa


def _spec(path: Path, split: str | None = None, **options: object) -> DatasetSpec:
    return DatasetSpec(name="t", format="json_extraction", path=path, split=split, options=options)


def _truth(folder: Path, n: str, payload: object) -> None:
    (folder / "jsons").mkdir(parents=True, exist_ok=True)
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    (folder / "jsons" / f"{n}.json").write_text(text, encoding="utf-8")


GOOD = {
    "fields": {
        "Имя": {"value": "Анна", "bboxes": [[10, 10, 50, 30], [60, 40, 90, 50]]},
        "Пол": {"value": "женский", "bboxes": []},
    }
}


def test_reads_subsets_in_natural_order(tmp_path: Path, make_image: Callable) -> None:
    for subset in ("clean", "blur"):
        for n in ("2", "10"):
            make_image(tmp_path / "images" / subset / f"{n}.jpg")
    _truth(tmp_path, "2", {**GOOD, "doc_class": "snils", "index": 2})
    _truth(tmp_path, "10", GOOD)
    load = JsonExtractionReader().read(_spec(tmp_path))
    assert load.problems == []
    assert [s.id for s in load.samples] == ["blur/2", "blur/10", "clean/2", "clean/10"]
    first = load.samples[0]
    assert first.fields == {"Имя": "Анна", "Пол": "женский"}
    assert (first.question, first.bbox, first.split) == ("", None, "blur")
    assert first.doc_class == "snils"
    assert load.samples[1].doc_class == tmp_path.name  # no doc_class in JSON: folder name
    assert first.extra["field_bboxes"]["Имя"] == [[10, 10, 50, 30], [60, 40, 90, 50]]
    assert first.extra["index"] == 2
    assert first.source == "images/blur/2.jpg"

    only = JsonExtractionReader().read(_spec(tmp_path, split="clean", doc_class="passport"))
    assert [s.id for s in only.samples] == ["clean/2", "clean/10"]
    assert {s.doc_class for s in only.samples} == {"passport"}


def test_bad_documents_are_reported(tmp_path: Path, make_image: Callable) -> None:
    for n in range(6):
        make_image(tmp_path / "images" / "s" / f"{n}.jpg", size=(100, 100))
    (tmp_path / "images" / "s" / "6.jpg").write_bytes(b"garbage")
    make_image(tmp_path / "images" / "loose.jpg")
    _truth(tmp_path, "0", GOOD)
    _truth(tmp_path, "2", '{"fields": {\n  "a": }')
    _truth(tmp_path, "3", {"values": {}})
    _truth(tmp_path, "4", {"fields": {"a": {"value": 5}}})
    _truth(tmp_path, "5", {"fields": {"a": {"value": "x", "bboxes": [[0, 0, 500, 10]]}}})
    _truth(tmp_path, "6", GOOD)
    load = JsonExtractionReader().read(_spec(tmp_path))
    assert [s.id for s in load.samples] == ["s/0"]
    found = {(p.sample_id, p.source, p.field) for p in load.problems}
    assert found == {
        (None, "images/loose.jpg", "image_path"),
        ("s/1", "jsons/1.json", "json"),
        ("s/2", "jsons/2.json:2:8", "json"),
        ("s/3", "jsons/3.json", "fields"),
        ("s/4", "jsons/4.json", "fields.a"),
        ("s/5", "jsons/5.json", "fields.a.bboxes"),
        ("s/6", "images/s/6.jpg", "image_path"),
    }


def test_folder_errors(tmp_path: Path, make_image: Callable) -> None:
    with pytest.raises(ConfigError, match="images/ folder"):
        JsonExtractionReader().read(_spec(tmp_path))
    (tmp_path / "images" / "clean").mkdir(parents=True)
    with pytest.raises(ConfigError, match="jsons/ folder"):
        JsonExtractionReader().read(_spec(tmp_path))
    (tmp_path / "jsons").mkdir()
    with pytest.raises(ConfigError, match="empty dataset"):
        JsonExtractionReader().read(_spec(tmp_path))
    with pytest.raises(ConfigError, match=r"no subset 'blur'.*clean"):
        JsonExtractionReader().read(_spec(tmp_path, split="blur"))


def test_expand_fields_to_vqa() -> None:
    fields = {"Имя": "Анна", "Пол": "ж", "Е": " "}
    doc = Sample(
        id="clean/0",
        image_path=Path("x.jpg"),
        fields=fields,
        doc_class="snils",
        split="clean",
        source="images/clean/0.jpg",
        extra={"field_bboxes": {"Имя": [[10, 10, 50, 30], [5, 40, 90, 50]]}, "json": "j"},
    )
    plain = Sample(id="q", answer="a")
    load = expand_fields_to_vqa(DatasetLoad(samples=[doc, plain]))
    name, sex, passed = load.samples
    assert name.id == "clean/0:Имя"
    assert (name.question, name.answer, name.question_type) == ("Напиши Имя", "Анна", "Имя")
    assert name.bbox == (5, 10, 90, 50)
    assert name.extra == {"json": "j", "document_id": "clean/0"}
    assert (name.doc_class, name.split, name.image_path) == ("snils", "clean", Path("x.jpg"))
    assert sex.bbox is None
    assert passed is plain
    [problem] = load.problems
    assert (problem.sample_id, problem.field) == ("clean/0:Е", "Е")


def test_shared_snils_fixture(shared_fixtures: Path) -> None:
    load = JsonExtractionReader().read(_spec(shared_fixtures / "snils"))
    assert load.problems == []
    assert [s.id for s in load.samples] == ["clean/0", "clean/1"]
    first = load.samples[0]
    assert first.fields is not None
    assert first.fields["Номер СНИЛС"] == "796-956-305 92"
    assert first.doc_class == "snils"
    assert len(first.fields) == 6

    vqa = JsonExtractionReader().read(
        _spec(shared_fixtures / "snils", as_vqa=True, question_template="Что в поле {field}?")
    )
    assert len(vqa.samples) == 12
    name = next(s for s in vqa.samples if s.id == "clean/0:Полное имя")
    assert name.question == "Что в поле Полное имя?"
    assert name.bbox == (160, 243, 205, 318)  # union of the three line boxes

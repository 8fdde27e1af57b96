"""Preparing a run's samples: filters, prompt rendering, crops and per-row problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmhb.core.contracts import (
    DatasetSpec,
    Filters,
    GenerationParams,
    ModelSpec,
    RunSpec,
    TaskSpec,
)
from vlmhb.core.errors import VlmhbError
from vlmhb.core.prepare import prepare_run_inputs, read_prepared_samples
from vlmhb.core.prompts import prompt_ref


def make_run(dataset: Path, prompt: Path | None = None, **task: object) -> RunSpec:
    return RunSpec(
        experiment="t",
        model=ModelSpec(name="m", backend="scripted"),
        task=TaskSpec(name="t", dataset="d", **task),  # type: ignore[arg-type]
        dataset=DatasetSpec(name="d", format="vqa_csv", path=dataset),
        prompt=prompt_ref(prompt) if prompt else None,
        generation=GenerationParams(),
    )


def test_csv_prompts_render_per_key_and_missing_key_is_a_row_problem(
    vqa_dataset: Path, tmp_path: Path
) -> None:
    prompts = tmp_path / "p.csv"
    prompts.write_text(
        "prompt;doc_class_question_type\n"
        "Фамилия? {{ question }};passport Фамилия\n"
        "Имя? {{ question }};passport Имя\n"
        "Номер? {{ question }};snils Номер\n",
        encoding="utf-8",
    )
    prepared = prepare_run_inputs(make_run(vqa_dataset, prompts), tmp_path / "run")
    assert [s.user_prompt for s in prepared.samples] == [
        "Фамилия? Напиши Фамилия",
        "Имя? Напиши Имя",
        "Номер? Напиши Номер",
    ]
    assert len(prepared.problems) == 1
    problem = prepared.problems[0]
    assert problem.field == "prompt" and "invoice Итого" in problem.message
    assert problem.source.endswith("annotation.csv:5")
    assert read_prepared_samples(tmp_path / "run") == prepared.samples
    problems_csv = (tmp_path / "run" / "problems.csv").read_text(encoding="utf-8")
    assert "invoice Итого" in problems_csv


def test_json_prompt_config_with_type_mapping(vqa_dataset: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "p.json"
    prompts.write_text(
        json.dumps(
            {
                "prompt_config": {
                    "system_prompt": "Ты OCR.",
                    "user_prompt": "Поле: {{ type }}",
                    "type_mapping": {"Фамилия": "фамилия владельца"},
                }
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    prepared = prepare_run_inputs(make_run(vqa_dataset, prompts), tmp_path / "run")
    first = prepared.samples[0]
    assert (first.system_prompt, first.user_prompt) == ("Ты OCR.", "Поле: фамилия владельца")
    assert prepared.samples[1].user_prompt == "Поле: Имя"


def test_filters_each_alone(vqa_dataset: Path, tmp_path: Path) -> None:
    only_class = prepare_run_inputs(
        make_run(vqa_dataset, filters=Filters(doc_class=["passport"])), tmp_path / "a"
    )
    assert [s.answer for s in only_class.samples] == ["ИВАНОВ", "ПЁТР"]
    only_type = prepare_run_inputs(
        make_run(vqa_dataset, filters=Filters(question_type=["Номер"])), tmp_path / "b"
    )
    assert [s.answer for s in only_type.samples] == ["123-456-789 00"]


def test_answer_bbox_sets_crop_and_bad_boxes_are_row_problems(
    vqa_dataset: Path, tmp_path: Path
) -> None:
    text = (vqa_dataset / "annotation.csv").read_text(encoding="utf-8").splitlines()
    text[2] = text[2].replace("[5, 5, 150, 90]", "[150, 5, 20, 90]")  # inverted
    text[3] = text[3].replace("[5, 5, 150, 90]", "[5, 5, 900, 90]")  # outside 200x100
    (vqa_dataset / "annotation.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    prepared = prepare_run_inputs(
        make_run(vqa_dataset, image_region="answer_bbox"), tmp_path / "run"
    )
    crops = {s.answer: s.crop_box for s in prepared.samples}
    assert crops == {"ИВАНОВ": (5, 5, 150, 90), "1500.00": (5, 5, 150, 90)}
    messages = sorted(p.message for p in prepared.problems)
    assert any("inverted" in m for m in messages) or any("x2" in m for m in messages)
    assert len(prepared.problems) == 2


def test_empty_selection_is_a_clear_error(vqa_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(VlmhbError, match=r"gives no sample.*doc_class 'passprt' is not in"):
        prepare_run_inputs(
            make_run(vqa_dataset, filters=Filters(doc_class=["passprt"])), tmp_path / "run"
        )

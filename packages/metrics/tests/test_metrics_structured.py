"""Extraction, classification and ordering metrics against brute-force definitions."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest

from vlmhb.metrics.builtins import (
    ACCURACY,
    FIELD_F1,
    FIELD_PRECISION,
    FIELD_RECALL,
    JSON_VALID,
    KENDALL_TAU,
    MACRO_F1,
)
from vlmhb.metrics.extraction import parse_fields
from vlmhb.metrics.ordering import parse_order

REF = {"surname": "Осипов", "name": "Автоном", "snils": "353-721-310 54"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"fields": {"surname": "Осипов"}}', {"surname": "Осипов"}),
        ('{"surname": "Осипов", "age": 7}', {"surname": "Осипов", "age": "7"}),
        ('Ответ:\n```json\n{"surname": "Осипов"}\n```', {"surname": "Осипов"}),
        ('Here: {"fields": {"surname": {"value": "X"}}} done', {"surname": "X"}),
        ('{"surname": null}', {"surname": ""}),
        ("no json here", None),
        ('["a", "b"]', None),
        ('{"surname": "Осипов"', None),
        ("", None),
    ],
)
def test_parse_fields(text: str, expected: dict[str, str] | None) -> None:
    assert parse_fields(text) == expected


def test_json_valid() -> None:
    assert JSON_VALID.score('```json\n{"a": "1"}\n```', REF) == 1.0
    assert JSON_VALID.score("{'a': '1'}", REF) == 0.0


def test_field_prf_by_hand() -> None:
    answer = json.dumps(
        {"fields": {"surname": "ОСИПОВ ", "name": "Антон", "extra": "x", "snils": ""}},
        ensure_ascii=False,
    )
    # predicted (non-empty): surname, name, extra = 3; expected 3; correct: surname (casefold)
    assert FIELD_PRECISION.score(answer, REF) == pytest.approx(1 / 3)
    assert FIELD_RECALL.score(answer, REF) == pytest.approx(1 / 3)
    assert FIELD_F1.score(answer, REF) == pytest.approx(1 / 3)
    assert FIELD_RECALL.score("garbage", REF) == 0.0
    assert FIELD_PRECISION.score("garbage", REF) == 0.0
    assert FIELD_F1.score("{}", {}) == 1.0


def _prf_brute(preds: list[dict[str, str]], refs: list[dict[str, str]]) -> tuple[float, ...]:
    tp = npred = nref = 0
    for pred, ref in zip(preds, refs, strict=True):
        pred_n = {k: " ".join(v.casefold().split()) for k, v in pred.items() if v.strip()}
        ref_n = {k: " ".join(v.casefold().split()) for k, v in ref.items() if v.strip()}
        tp += sum(1 for k in pred_n if k in ref_n and pred_n[k] == ref_n[k])
        npred += len(pred_n)
        nref += len(ref_n)
    return tp / npred, tp / nref, 2 * tp / (npred + nref)


def test_field_micro_equals_brute_force() -> None:
    rng = random.Random(5)
    values = ["Осипов", "осипов", "Иван", "", " 12 мая ", "12 мая", "X"]
    keys = ["a", "b", "c", "d"]
    preds, refs = [], []
    for _ in range(300):
        refs.append({k: rng.choice(values) for k in rng.sample(keys, rng.randint(1, 4))})
        preds.append({k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, 4))})
    answers = [json.dumps(p, ensure_ascii=False) for p in preds]
    p, r, f = _prf_brute(preds, refs)
    assert FIELD_PRECISION.corpus(answers, refs) == pytest.approx(p)
    assert FIELD_RECALL.corpus(answers, refs) == pytest.approx(r)
    assert FIELD_F1.corpus(answers, refs) == pytest.approx(f)


def test_accuracy_and_macro_f1() -> None:
    refs = ["passport", "passport", "snils", "invoice", "snils"]
    preds = ["Passport", "snils", "snils", "не знаю", "SNILS "]
    assert [ACCURACY.score(p, r) for p, r in zip(preds, refs, strict=True)] == [1, 0, 1, 0, 1]
    # passport: tp1 fn1 -> 2/3; snils: tp2 fp1 -> 4/5; invoice: fn1 -> 0
    assert MACRO_F1.corpus(preds, refs) == pytest.approx((2 / 3 + 4 / 5 + 0) / 3)
    with pytest.raises(TypeError, match="corpus-level"):
        MACRO_F1.score("a", "a")


def _tau_b_brute(x: list[float], y: list[float]) -> float:
    """Kendall tau-b from counts of concordant/discordant pairs and ties."""
    conc = disc = tie_x = tie_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            tie_x += 1
        elif dy == 0:
            tie_y += 1
        elif dx * dy > 0:
            conc += 1
        else:
            disc += 1
    den = math.sqrt((conc + disc + tie_x) * (conc + disc + tie_y))
    return (conc - disc) / den if den else 0.0


def test_kendall_tau_against_brute_force() -> None:
    rng = random.Random(9)
    for _ in range(300):
        ref = list(range(1, rng.randint(3, 10)))
        rng.shuffle(ref)
        pred = [p for p in ref if rng.random() < 0.8] + rng.sample(range(10, 13), 1)
        rng.shuffle(pred)
        position = {item: i for i, item in reversed(list(enumerate(pred)))}
        y = [float(position.get(item, len(pred))) for item in ref]
        expected = _tau_b_brute([float(i) for i in range(len(ref))], y)
        text = json.dumps(pred) if rng.random() < 0.5 else ", ".join(map(str, pred))
        assert KENDALL_TAU.score(text, json.dumps(ref)) == pytest.approx(expected, abs=1e-12)


def test_kendall_tau_edge_cases() -> None:
    assert KENDALL_TAU.score("[1, 2, 3]", "[1, 2, 3]") == 1.0
    assert KENDALL_TAU.score("3, 2, 1", "[1, 2, 3]") == -1.0
    assert KENDALL_TAU.score("", "[1, 2, 3]") == 0.0
    assert KENDALL_TAU.score("1", "[1]") == 1.0
    assert parse_order("страницы: 2, затем 1") == ["2", "1"]
    with pytest.raises(ValueError, match="repeated"):
        KENDALL_TAU.score("1", "[1, 1]")

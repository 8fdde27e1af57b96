"""Extraction metrics: parsing the model's JSON, validity and field precision/recall/F1."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from vlmhb.metrics.base import Metric, Reference
from vlmhb.metrics.normalize import Normalization

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def _field_text(value: Any) -> str:
    if isinstance(value, Mapping) and "value" in value:
        value = value["value"]
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _json_object(text: str) -> dict[str, Any] | None:
    candidates = [match.group(1) for match in _FENCE.finditer(text)] + [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return data
    return None


def parse_fields(text: str) -> dict[str, str] | None:
    """Fields from a model answer, or None when it holds no JSON object.

    Accepts ``{"fields": {...}}`` or a flat object, optionally inside a ```json fence or
    surrounded by prose; values may be strings, numbers or ``{"value": ...}`` objects.
    """
    data = _json_object(text)
    if data is None:
        return None
    inner = data.get("fields")
    if isinstance(inner, Mapping):
        data = dict(inner)
    return {str(key): _field_text(value) for key, value in data.items()}


def _reference_fields(reference: Reference) -> Mapping[str, str]:
    if not isinstance(reference, Mapping):
        raise TypeError("extraction metrics need the reference fields (Sample.fields)")
    return reference


@dataclass(frozen=True, kw_only=True)
class JsonValid(Metric):
    """1.0 when the answer holds a parsable JSON object (see ``parse_fields``), else 0.0."""

    kinds: frozenset[str] = frozenset({"extraction"})
    document_level: ClassVar[bool] = True

    def score(self, prediction: str, reference: Reference) -> float:
        return float(parse_fields(prediction) is not None)


def _field_default_normalization() -> Normalization:
    return Normalization(nfkc=True, casefold=True, collapse_whitespace=True)


@dataclass(frozen=True, kw_only=True)
class FieldMatch(Metric):
    """Field-level precision / recall / F1 of one document.

    A field is *predicted* when its normalised predicted value is non-empty, *expected*
    when its normalised reference value is non-empty, and *correct* when both hold and
    the values are equal (default normalisation: NFKC, casefold, whitespace collapse).
    precision = correct/predicted, recall = correct/expected, F1 = 2·correct/(predicted +
    expected); a zero denominator gives 1.0 when nothing was expected and nothing
    predicted, else 0.0. Micro: the same formulas over summed counts.
    """

    kinds: frozenset[str] = frozenset({"extraction"})
    normalization: Normalization = field(default_factory=_field_default_normalization)
    measure: Literal["precision", "recall", "f1"] = "f1"
    document_level: ClassVar[bool] = True

    def field_counts(self, prediction: str, reference: Reference) -> tuple[int, int, int]:
        """(correct, predicted, expected) for one document."""
        expected = {k: self.normalize(v) for k, v in _reference_fields(reference).items()}
        expected = {k: v for k, v in expected.items() if v}
        predicted = {k: self.normalize(v) for k, v in (parse_fields(prediction) or {}).items()}
        predicted = {k: v for k, v in predicted.items() if v}
        correct = sum(1 for k, v in predicted.items() if expected.get(k) == v)
        return correct, len(predicted), len(expected)

    def _value(self, correct: int, predicted: int, expected: int) -> float:
        num, den = {
            "precision": (correct, predicted),
            "recall": (correct, expected),
            "f1": (2 * correct, predicted + expected),
        }[self.measure]
        if den:
            return num / den
        return 1.0 if predicted == expected == 0 else 0.0

    def score(self, prediction: str, reference: Reference) -> float:
        return self._value(*self.field_counts(prediction, reference))

    def corpus(self, predictions: Sequence[str], references: Sequence[Reference]) -> float:
        totals = [0, 0, 0]
        for prediction, reference in zip(predictions, references, strict=True):
            for i, count in enumerate(self.field_counts(prediction, reference)):
                totals[i] += count
        return self._value(*totals)

"""Ordering metric: Kendall τ-b between predicted and reference page order."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np

from vlmhb.metrics.base import Metric, Reference, as_texts

_NUMBER = re.compile(r"\d+")


def parse_order(text: str) -> list[str]:
    """Items of an order: a JSON list, else the numbers in the text, as strings."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, list):
        return [str(item).strip() for item in data]
    return _NUMBER.findall(text)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall τ-b of two equally long rank vectors (ties allowed); nan when undefined."""
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    den = math.sqrt(float((sx * sx).sum()) * float((sy * sy).sum()))
    return float((sx * sy).sum()) / den if den else math.nan


@dataclass(frozen=True, kw_only=True)
class KendallTau(Metric):
    """Kendall τ-b between reference positions and predicted positions of the reference
    items. An item's predicted position is its first occurrence in the answer; items the
    answer lacks share the last position. References with fewer than 2 items score 1.0;
    an answer giving no usable order (all tied) scores 0.0."""

    kinds: frozenset[str] = frozenset({"ordering"})
    value_range: tuple[float | None, float | None] = (-1.0, 1.0)
    value_unit: str = ""

    def score(self, prediction: str, reference: Reference) -> float:
        ref = parse_order(as_texts(reference)[0])
        if len(set(ref)) != len(ref):
            raise ValueError(f"reference order has repeated items: {ref}")
        if len(ref) < 2:
            return 1.0
        predicted = parse_order(prediction)
        position: dict[str, int] = {}
        for index, item in enumerate(predicted):
            position.setdefault(item, index)
        y = np.array([position.get(item, len(predicted)) for item in ref], dtype=float)
        tau = kendall_tau_b(np.arange(len(ref), dtype=float), y)
        return 0.0 if math.isnan(tau) else tau

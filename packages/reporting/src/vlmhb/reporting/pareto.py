"""Pareto front of (latency, quality) points: lower latency and better quality win."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pareto_front(
    latency: Sequence[float], quality: Sequence[float], higher_is_better: bool = True
) -> list[int]:
    """Indices of the non-dominated points, ordered by latency (then by quality, best first).

    A point is dominated when another is no slower and no worse, and strictly better in one
    of the two. Identical points do not dominate each other, so all of them stay on the
    front. Points with a missing (NaN) coordinate are never on the front.
    """
    if len(latency) != len(quality):
        raise ValueError("latency and quality must have the same length")
    sign = 1.0 if higher_is_better else -1.0
    points = [
        (i, float(x), sign * float(y))
        for i, (x, y) in enumerate(zip(latency, quality, strict=True))
        if not (math.isnan(float(x)) or math.isnan(float(y)))
    ]

    def dominated(x: float, y: float) -> bool:
        return any(ox <= x and oy >= y and (ox < x or oy > y) for _, ox, oy in points)

    front = [(i, x, y) for i, x, y in points if not dominated(x, y)]
    front.sort(key=lambda p: (p[1], -p[2], p[0]))
    return [i for i, _, _ in front]

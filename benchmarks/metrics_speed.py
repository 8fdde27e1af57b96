"""CER/WER speed: vlmhb.metrics vs jiwer on 100k generated pairs.

Checks both give the same values (per sample and corpus), prints the best-of-3 timings
(``Metric.scores`` over the pairs — what the evaluation stage calls — vs ``jiwer.cer``/
``jiwer.wer`` once per pair and vs a bare rapidfuzz loop over the same tokens, the fastest
possible here (``vs_bare_rapidfuzz_loop``, target <= 1.5); then one corpus call each) and writes
them to benchmarks/results/metrics_speed.json. Run: .venv/bin/python benchmarks/metrics_speed.py
"""

from __future__ import annotations

import json
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path

import jiwer
from rapidfuzz.distance import Levenshtein

from vlmhb.metrics.builtins import CER, WER

ALPHABET = "абвгдежзийклмнопрстуфхцчшщыэюяАБВabcdefXYZ0123456789.,:-   "
PAIRS = 100_000
RESULTS = Path(__file__).resolve().parent / "results" / "metrics_speed.json"


def generate(count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """References (1-40 chars) and predictions: edited copies or unrelated text."""
    rng = random.Random(seed)
    refs, preds = [], []
    for _ in range(count):
        ref = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40))).strip() or "x"
        chars = list(ref)
        for _ in range(rng.randint(0, 3)):
            chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
        refs.append(ref)
        preds.append("".join(chars) if rng.random() < 0.8 else "")
    return refs, preds


def timed(fn: Callable[[], object], repeats: int = 3) -> tuple[float, object]:
    """Best wall time of ``repeats`` runs (the machine is shared) and the value."""
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def bare_loop(unit: str, refs: list[str], preds: list[str]) -> Callable[[], list[float]]:
    """The fastest per-pair loop here: rapidfuzz's Levenshtein over the same pairs and
    the same tokens (trimmed characters, or ``str.split`` words), divided by the
    reference length (every generated reference is non-empty)."""
    distance = Levenshtein.distance
    pairs = list(zip(refs, preds, strict=True))

    def chars() -> list[float]:
        out = []
        for ref, pred in pairs:
            ref = ref.strip()
            out.append(distance(ref, pred.strip()) / len(ref))
        return out

    def words() -> list[float]:
        out = []
        for ref, pred in pairs:
            tokens = ref.split()
            out.append(distance(tokens, pred.split()) / len(tokens))
        return out

    return chars if unit == "char" else words


def main() -> None:
    refs, preds = generate(PAIRS)
    pairs = list(zip(refs, preds, strict=True))
    figures: dict[str, object] = {
        "pairs": PAIRS,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    for label, ours, theirs in (("cer", CER, jiwer.cer), ("wer", WER, jiwer.wer)):
        t_ours, ours_values = timed(lambda m=ours: m.scores(preds, refs))
        t_jiwer, jiwer_values = timed(lambda f=theirs: [f(r, p) for r, p in pairs])
        t_bare, bare_values = timed(bare_loop("char" if label == "cer" else "word", refs, preds))
        assert isinstance(ours_values, list) and isinstance(jiwer_values, list)
        worst = max(abs(a - b) for a, b in zip(ours_values, jiwer_values, strict=True))
        assert worst < 1e-9, f"{label}: per-sample values differ by {worst}"
        identical = sum(a == b for a, b in zip(ours_values, jiwer_values, strict=True))
        assert ours_values == bare_values, f"{label}: the bare loop computes other values"
        tc_ours, corpus_ours = timed(lambda m=ours: m.corpus(preds, refs))
        tc_jiwer, corpus_jiwer = timed(lambda f=theirs: f(refs, preds))
        assert isinstance(corpus_ours, float) and isinstance(corpus_jiwer, float)
        assert abs(corpus_ours - corpus_jiwer) < 1e-9, f"{label}: corpus values differ"
        figures[label] = {
            "per_sample_s": {
                "ours": round(t_ours, 4),
                "bare_rapidfuzz_loop": round(t_bare, 4),
                "jiwer": round(t_jiwer, 4),
            },
            "per_sample_speedup": round(t_jiwer / t_ours, 1),
            "vs_bare_rapidfuzz_loop": round(t_ours / t_bare, 3),
            "identical_to_jiwer": f"{identical}/{len(ours_values)} pairs bit-identical, "
            f"all within {worst:.1e}",
            "corpus_s": {"ours": round(tc_ours, 4), "jiwer": round(tc_jiwer, 4)},
            "corpus_speedup": round(tc_jiwer / tc_ours, 2),
            "corpus_value": corpus_ours,
        }
        print(
            f"{label}: per-sample ours {t_ours:.3f}s bare loop {t_bare:.3f}s "
            f"({t_ours / t_bare:.2f}x) jiwer {t_jiwer:.3f}s "
            f"({t_jiwer / t_ours:.1f}x); corpus ours {tc_ours:.3f}s jiwer {tc_jiwer:.3f}s "
            f"({tc_jiwer / tc_ours:.2f}x); value {corpus_ours:.6f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()

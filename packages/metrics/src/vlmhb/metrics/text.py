"""Text metrics: CER, WER, ANLS, exact match, BLEU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from rapidfuzz.distance import Levenshtein

from vlmhb.metrics.base import Metric, Reference, as_texts

if TYPE_CHECKING:
    from sacrebleu.metrics import BLEU


@dataclass(frozen=True, kw_only=True)
class EditRate(Metric):
    """CER (``unit="char"``) or WER (``unit="word"``): Levenshtein distance between the
    token sequences divided by the reference length. Outer whitespace is trimmed; words are
    ``str.split()`` tokens. Empty reference: 0.0 if the prediction is empty too, else 1.0.
    Several references: the one giving the lowest rate."""

    unit: Literal["char", "word"] = "char"
    higher_is_better: bool = False
    value_range: tuple[float | None, float | None] = (0.0, None)  # insertions exceed 1
    value_unit: str = "ratio"

    def _tokens(self, text: str) -> str | list[str]:
        if not self.normalization.is_identity:
            text = self.normalization.apply(text)
        return text.strip() if self.unit == "char" else text.split()

    def _pair(self, reference: str, hyp: str | list[str]) -> tuple[float, float]:
        ref = self._tokens(reference)
        return float(Levenshtein.distance(ref, hyp)), float(len(ref))

    def counts(self, prediction: str, reference: Reference) -> tuple[float, float]:
        hyp = self._tokens(prediction)
        if isinstance(reference, str):  # the common case, kept fast
            ref = self._tokens(reference)
            return float(Levenshtein.distance(ref, hyp)), float(len(ref))
        pairs = [self._pair(text, hyp) for text in as_texts(reference)]
        return min(pairs, key=lambda pair: self.ratio(*pair))

    def score(self, prediction: str, reference: Reference) -> float:
        num, den = self.counts(prediction, reference)
        if den:
            return num / den
        return self.ratio(num, den)

    def scores(self, predictions: Sequence[str], references: Sequence[Reference]) -> list[float]:
        """Same values as ``score`` per pair, in one tight loop for the common case
        (no normalisation, one reference each: a pair with several goes through
        ``score``, found by the text method it lacks, so the common case pays no check)."""
        if not self.normalization.is_identity:
            return super().scores(predictions, references)
        distance, ratio, score = Levenshtein.distance, self.ratio, self.score
        out: list[float] = []
        append = out.append
        if self.unit == "char":
            for prediction, reference in zip(predictions, references, strict=True):
                try:
                    ref = reference.strip()  # type: ignore[union-attr]
                except AttributeError:  # several references
                    append(score(prediction, reference))
                    continue
                num = distance(ref, prediction.strip())
                append(num / len(ref) if ref else ratio(num, 0))
        else:
            for prediction, reference in zip(predictions, references, strict=True):
                try:
                    words = reference.split()  # type: ignore[union-attr]
                except AttributeError:  # several references
                    append(score(prediction, reference))
                    continue
                num = distance(words, prediction.split())
                append(num / len(words) if words else ratio(num, 0))
        return out


@dataclass(frozen=True, kw_only=True)
class Anls(Metric):
    """ANLS (DocVQA): max over references of 1 − NL, NL = Levenshtein distance / max
    length of the normalised strings; 0 when NL ≥ ``threshold``."""

    threshold: float = 0.5

    def score(self, prediction: str, reference: Reference) -> float:
        hyp = self.normalize(prediction)
        best = 0.0
        for text in as_texts(reference):
            nl = Levenshtein.normalized_distance(self.normalize(text), hyp)
            if nl < self.threshold:
                best = max(best, 1.0 - nl)
        return best


@dataclass(frozen=True, kw_only=True)
class ExactMatch(Metric):
    """1.0 when the normalised prediction equals a normalised reference, else 0.0."""

    def score(self, prediction: str, reference: Reference) -> float:
        hyp = self.normalize(prediction)
        return float(any(self.normalize(text) == hyp for text in as_texts(reference)))


@cache
def _bleu(sentence: bool) -> BLEU:
    """Shared sacrebleu scorers with the defaults of ``sentence_bleu``/``corpus_bleu``
    (sacrebleu is imported on first use: 0.6 s of every evaluation that needs no BLEU)."""
    from sacrebleu.metrics import BLEU

    return BLEU(effective_order=True) if sentence else BLEU()


@dataclass(frozen=True, kw_only=True)
class Bleu(Metric):
    """BLEU from sacrebleu on a 0–1 scale (sacrebleu score / 100), hypothesis = model
    answer. Per sample: ``sentence_bleu`` defaults; micro: ``corpus_bleu``."""

    def score(self, prediction: str, reference: Reference) -> float:
        refs = [self.normalize(text) for text in as_texts(reference)]
        return _bleu(True).sentence_score(self.normalize(prediction), refs).score / 100.0

    def corpus(self, predictions: Sequence[str], references: Sequence[Reference]) -> float:
        ref_lists = [[self.normalize(t) for t in as_texts(r)] for r in references]
        width = max((len(refs) for refs in ref_lists), default=1)
        # sacrebleu takes one stream per reference position; None marks a missing one.
        streams: list[list[str | None]] = [
            [refs[i] if i < len(refs) else None for refs in ref_lists] for i in range(width)
        ]
        hyps = [self.normalize(p) for p in predictions]
        return _bleu(False).corpus_score(hyps, streams).score / 100.0  # type: ignore[arg-type]

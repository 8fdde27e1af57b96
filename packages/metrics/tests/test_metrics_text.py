"""Text metrics against reference implementations (jiwer, sacrebleu) and hand values."""

from __future__ import annotations

import random

import jiwer
import pytest
import sacrebleu

from vlmhb.core.errors import UnknownNameError
from vlmhb.metrics.builtins import (
    ANLS,
    BLEU,
    CER,
    CER_CI,
    CER_NORM,
    EXACT_MATCH,
    EXACT_MATCH_CI,
    EXACT_MATCH_NORM,
    WER,
    WER_NORM,
)
from vlmhb.metrics.normalize import Normalization

# Only spaces as whitespace: jiwer's WER splits on " " only (a lone tab stays inside a
# word), ours on any whitespace; see test_wer_splits_on_any_whitespace.
ALPHABET = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖabcdefXYZ0123456789.,:;-!?«»()№   "


def _text(rng: random.Random, max_len: int = 30) -> str:
    if rng.random() < 0.1:
        return ""
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, max_len)))


def _pairs(count: int, seed: int) -> list[tuple[str, str]]:
    """(reference, prediction) pairs; predictions are often edited references."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        ref = _text(rng)
        if rng.random() < 0.5 and ref:
            chars = list(ref)
            for _ in range(rng.randint(0, 4)):
                pos = rng.randrange(len(chars) + 1)
                op = rng.choice("isd")
                if op == "i":
                    chars.insert(pos, rng.choice(ALPHABET))
                elif chars and pos < len(chars):
                    if op == "s":
                        chars[pos] = rng.choice(ALPHABET)
                    else:
                        del chars[pos]
            pred = "".join(chars)
        else:
            pred = _text(rng)
        pairs.append((ref, pred))
    return pairs


PAIRS = _pairs(3000, seed=7)


def test_cer_wer_equal_jiwer_per_sample() -> None:
    checked = 0
    for ref, pred in PAIRS:
        if ref.strip():  # empty references: our own documented rule, tested below
            assert CER.score(pred, ref) == pytest.approx(jiwer.cer(ref, pred), abs=1e-9)
            checked += 1
        if ref.split():
            assert WER.score(pred, ref) == pytest.approx(jiwer.wer(ref, pred), abs=1e-9)
    assert checked >= 2000


def test_the_batch_loop_gives_each_pairs_own_score_with_mixed_reference_lists() -> None:
    """``scores`` (the evaluation stage's tight loop) = ``score`` pair by pair, also when
    some pairs have several references (those go through ``score``)."""
    rng = random.Random(5)
    refs: list[str | list[str]] = [[r, _text(rng)] if rng.random() < 0.2 else r for r, _ in PAIRS]
    preds = [p for _, p in PAIRS]
    for metric in (CER, WER):
        assert metric.scores(preds, refs) == [
            metric.score(p, r) for p, r in zip(preds, refs, strict=True)
        ]
    assert any(isinstance(r, list) for r in refs)


def test_cer_wer_corpus_equal_jiwer_including_empty_references() -> None:
    refs = [r for r, _ in PAIRS]
    preds = [p for _, p in PAIRS]
    assert CER.corpus(preds, refs) == pytest.approx(jiwer.cer(refs, preds), abs=1e-9)
    assert WER.corpus(preds, refs) == pytest.approx(jiwer.wer(refs, preds), abs=1e-9)
    for start in range(0, 3000, 100):  # many small corpora too
        chunk_r, chunk_p = refs[start : start + 100], preds[start : start + 100]
        assert CER.corpus(chunk_p, chunk_r) == pytest.approx(jiwer.cer(chunk_r, chunk_p), abs=1e-9)
        assert WER.corpus(chunk_p, chunk_r) == pytest.approx(jiwer.wer(chunk_r, chunk_p), abs=1e-9)


def test_empty_prediction_is_full_error_and_counts_reference_length() -> None:
    assert CER.score("", "Осипов") == 1.0
    assert CER.counts("", "Осипов") == (6.0, 6.0)
    assert WER.score("   ", "25 июня 2018") == 1.0
    assert WER.counts("", "25 июня 2018") == (3.0, 3.0)


def test_empty_reference_rule() -> None:
    assert CER.score("", "") == 0.0
    assert CER.score("abc", "") == 1.0  # jiwer would give 3 (insertions, unbounded)
    assert CER.counts("abc", "") == (3.0, 0.0)
    assert WER.score("a b", "  ") == 1.0


def test_wer_splits_on_any_whitespace() -> None:
    assert WER.score("a\tb", "a b") == 0.0
    assert WER.counts("a\nb c", "a b") == (1.0, 2.0)


def test_cer_counts_inner_whitespace_and_trims_outer() -> None:
    assert CER.score("  abc\n", "abc") == 0.0
    assert CER.counts("a  b", "a b") == (1.0, 3.0)


def test_normalised_variants() -> None:
    assert CER.score("ОСИПОВ", "Осипов") == pytest.approx(5 / 6)
    assert CER_CI.score("ОСИПОВ", "Осипов") == 0.0
    assert CER_CI.normalization.enabled() == ["casefold"]
    assert CER_NORM.score("Ёлкин,  Пётр!", "елкин петр") == 0.0
    assert WER_NORM.score("Фамилия: ОСИПОВ", "фамилия осипов") == 0.0
    assert EXACT_MATCH.score("Мужской", "мужской") == 0.0
    assert EXACT_MATCH_CI.score("Мужской ", "мужской") == 1.0
    assert EXACT_MATCH_NORM.score("ＡＢ１２.", "ab12") == 1.0  # NFKC: fullwidth → ASCII


def test_normalization_order_and_options() -> None:
    norm = Normalization(
        nfkc=True, casefold=True, yo_to_e=True, strip_punctuation=True, collapse_whitespace=True
    )
    assert norm.apply("  ЁЖ,\tﬁ «Ё»  ") == "еж fi е"
    assert Normalization().apply(" Ё, ") == " Ё, "


def test_with_options_builds_variant_and_rejects_unknown() -> None:
    custom = CER.with_options(name="cer_yo", yo_to_e=True, casefold=True)
    assert custom.name == "cer_yo"
    assert custom.normalization == Normalization(yo_to_e=True, casefold=True)
    assert CER.normalization == Normalization()  # original untouched
    assert custom.score("ЁЛКА", "елка") == 0.0
    assert ANLS.with_options(threshold=0.9).threshold == 0.9
    with pytest.raises(UnknownNameError, match="casefold"):
        CER.with_options(casefol=True)


def _docvqa_anls(pred: str, answers: list[str]) -> float:
    """Straight from the DocVQA definition, with a hand-written Levenshtein."""

    def lev(a: str, b: str) -> int:
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]

    best = 0.0
    p = " ".join(pred.strip().lower().split())
    for answer in answers:
        a = " ".join(answer.strip().lower().split())
        nl = lev(a, p) / max(len(a), len(p)) if max(len(a), len(p)) else 0.0
        best = max(best, 1 - nl if nl < 0.5 else 0.0)
    return best


def test_anls_matches_docvqa_definition() -> None:
    rng = random.Random(3)
    for ref, pred in PAIRS[:800]:
        answers = [ref] + ([_text(rng)] if rng.random() < 0.3 else [])
        assert ANLS.score(pred, answers) == pytest.approx(_docvqa_anls(pred, answers), abs=1e-12)
    assert ANLS.score("Осипова", "ОСИПОВ") == pytest.approx(1 - 1 / 7)
    assert ANLS.score("Сидоров", "Осипов") == 0.0
    assert ANLS.score("x", ["Осипов", "x"]) == 1.0


def test_exact_match_multiple_references() -> None:
    assert EXACT_MATCH.score("b", ["a", "b"]) == 1.0
    assert EXACT_MATCH.score("c", ["a", "b"]) == 0.0


def test_bleu_equals_sacrebleu() -> None:
    rng = random.Random(11)
    words = ["паспорт", "выдан", "ОВД", "района", "г.", "Москвы", "2018", "года", "the", "of"]

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))

    hyps, refs = [], []
    for _ in range(500):
        ref, hyp = sentence(), sentence()
        refs.append(ref)
        hyps.append(hyp)
        expected = sacrebleu.sentence_bleu(hyp, [ref]).score / 100
        assert BLEU.score(hyp, ref) == pytest.approx(expected, abs=1e-9)
    assert BLEU.corpus(hyps, refs) == pytest.approx(
        sacrebleu.corpus_bleu(hyps, [refs]).score / 100, abs=1e-9
    )
    assert BLEU.score("паспорт выдан ОВД района", "паспорт выдан ОВД района") == pytest.approx(1.0)


def test_bleu_corpus_with_varying_reference_counts() -> None:
    hyps = ["a b c d", "e f g h"]
    refs: list[list[str]] = [["a b c d", "a b"], ["e f g x"]]
    expected = sacrebleu.corpus_bleu(hyps, [["a b c d", "e f g x"], ["a b", None]]).score
    assert BLEU.corpus(hyps, refs) == pytest.approx(expected / 100)

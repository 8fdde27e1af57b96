"""The built-in metrics, each registered under its ``name`` in the ``vlmhb.metrics``
entry-point group (see this package's pyproject.toml)."""

from __future__ import annotations

from vlmhb.metrics.base import Metric
from vlmhb.metrics.classification import Accuracy, MacroF1
from vlmhb.metrics.extraction import FieldMatch, JsonValid
from vlmhb.metrics.normalize import Normalization
from vlmhb.metrics.ordering import KendallTau
from vlmhb.metrics.text import Anls, Bleu, EditRate, ExactMatch

TEXT_KINDS = frozenset({"vqa", "extraction"})
_ALL = dict.fromkeys(Normalization.option_names(), True)

CER = EditRate(name="cer", kinds=TEXT_KINDS, unit="char", description="character error rate")
CER_CI = CER.with_options(name="cer_ci", casefold=True)
CER_NORM = CER.with_options(name="cer_norm", **_ALL)
WER = EditRate(name="wer", kinds=TEXT_KINDS, unit="word", description="word error rate")
WER_CI = WER.with_options(name="wer_ci", casefold=True)
WER_NORM = WER.with_options(name="wer_norm", **_ALL)
ANLS = Anls(
    name="anls",
    kinds=TEXT_KINDS,
    normalization=Normalization(casefold=True, collapse_whitespace=True),
    description="average normalised Levenshtein similarity (DocVQA)",
)
EXACT_MATCH = ExactMatch(
    name="exact_match", kinds=TEXT_KINDS | {"classification"}, description="exact match"
)
EXACT_MATCH_CI = EXACT_MATCH.with_options(name="exact_match_ci", casefold=True)
EXACT_MATCH_NORM = EXACT_MATCH.with_options(name="exact_match_norm", **_ALL)
BLEU = Bleu(name="bleu", kinds=TEXT_KINDS, description="sacrebleu BLEU / 100")
JSON_VALID = JsonValid(name="json_valid", description="answer holds a JSON object")
FIELD_PRECISION = FieldMatch(name="field_precision", measure="precision")
FIELD_RECALL = FieldMatch(name="field_recall", measure="recall")
FIELD_F1 = FieldMatch(name="field_f1", measure="f1")
ACCURACY = Accuracy(name="accuracy", description="classification accuracy")
MACRO_F1 = MacroF1(name="macro_f1", description="macro F1 over reference classes")
KENDALL_TAU = KendallTau(name="kendall_tau", description="Kendall tau-b of page order")

BUILTINS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        CER,
        CER_CI,
        CER_NORM,
        WER,
        WER_CI,
        WER_NORM,
        ANLS,
        EXACT_MATCH,
        EXACT_MATCH_CI,
        EXACT_MATCH_NORM,
        BLEU,
        JSON_VALID,
        FIELD_PRECISION,
        FIELD_RECALL,
        FIELD_F1,
        ACCURACY,
        MACRO_F1,
        KENDALL_TAU,
    )
}

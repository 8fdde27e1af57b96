"""Synthetic Russian documents (passport, invoice, SNILS) with exact ground truth.

``generate_dataset(out, kinds, n, seed, ...)`` writes a folder readable by both the
``vqa_csv`` and ``json_extraction`` readers.
"""

from vlmhb.data.synth.degrade import DEGRADATIONS
from vlmhb.data.synth.generate import FORMATS, KINDS, SynthSummary, generate_dataset

__all__ = ["DEGRADATIONS", "FORMATS", "KINDS", "SynthSummary", "generate_dataset"]

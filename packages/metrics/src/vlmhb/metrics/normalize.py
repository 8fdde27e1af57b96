"""Text normalisation options a metric applies to both prediction and reference."""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import dataclass, fields
from functools import cache, cached_property


@cache
def _punctuation_table() -> dict[int, None]:
    """Translation table deleting every Unicode punctuation character (category ``P*``)."""
    return {
        code: None
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)).startswith("P")
    }


@dataclass(frozen=True)
class Normalization:
    """Which normalisations to apply; all off by default.

    Applied in this order: ``nfkc`` (Unicode NFKC), ``casefold`` (``str.casefold``),
    ``yo_to_e`` (ё→е, Ё→Е), ``strip_punctuation`` (delete Unicode category P*),
    ``collapse_whitespace`` (runs of whitespace → one space, trimmed).
    """

    nfkc: bool = False
    casefold: bool = False
    yo_to_e: bool = False
    strip_punctuation: bool = False
    collapse_whitespace: bool = False

    @classmethod
    def option_names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))

    def enabled(self) -> list[str]:
        """Names of the options that are on, in application order."""
        return [f.name for f in fields(self) if getattr(self, f.name)]

    @cached_property
    def is_identity(self) -> bool:
        """True when no option is on (lets hot paths skip ``apply``)."""
        return not self.enabled()

    def apply(self, text: str) -> str:
        if self.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.casefold:
            text = text.casefold()
        if self.yo_to_e:
            text = text.replace("ё", "е").replace("Ё", "Е")
        if self.strip_punctuation:
            text = text.translate(_punctuation_table())
        if self.collapse_whitespace:
            text = " ".join(text.split())
        return text

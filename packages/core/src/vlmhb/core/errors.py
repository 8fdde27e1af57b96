"""Errors a user sees: each names where the problem is and how to fix it."""

from __future__ import annotations

from pydantic import ValidationError
from rapidfuzz import fuzz, process


class VlmhbError(Exception):
    """Base for errors shown to the user without a traceback."""


class ConfigError(VlmhbError):
    """A configuration problem at ``location`` (file, line/row, field)."""

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}")


class UnknownNameError(VlmhbError, KeyError):
    """A name not found in a registry, with the closest valid names."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.suggestions = did_you_mean(name, known)
        hint = (
            f" Did you mean {' or '.join(repr(s) for s in self.suggestions)}?"
            if (self.suggestions)
            else ""
        )
        listing = ", ".join(sorted(known)) or "none registered"
        super().__init__(f"unknown {kind} {name!r}.{hint} Known {kind}s: {listing}")

    def __str__(self) -> str:
        return str(self.args[0])


def did_you_mean(name: str, known: list[str], limit: int = 2) -> list[str]:
    """Closest known names to ``name`` (case-insensitive, fuzzy)."""
    if not known:
        return []
    matches = process.extract(
        name.lower(), {k: k.lower() for k in known}, limit=limit, scorer=fuzz.ratio, score_cutoff=50
    )
    return [key for _, _, key in matches]


def settings_problems(exc: ValidationError) -> str:
    """One line naming each bad setting of a settings model and why (for CLI errors)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
        for error in exc.errors()
    )

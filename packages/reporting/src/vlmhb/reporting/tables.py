"""Tables shared by the Markdown and HTML reports: cells formatted once, rendered twice."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import pandas as pd

MISSING = "—"


@dataclass
class Table:
    """Formatted cells; ``bold`` holds ``(row, column)`` positions to emphasise.

    ``links`` maps a ``(row, column)`` position to a URL the cell points to, ``titles``
    one to the text shown on hover (HTML); ``header_titles`` a column index to its header's.
    """

    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)
    links: dict[tuple[int, int], str] = field(default_factory=dict)
    titles: dict[tuple[int, int], str] = field(default_factory=dict)
    header_titles: dict[int, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows)


def format_value(value: Any, digits: int = 4, max_chars: int | None = None) -> str:
    """A cell as text: NaN/None as ``—``, integers plain, floats with ``digits`` decimals
    (fewer from 10 up: milliseconds need no more); long text cut to ``max_chars``."""
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return MISSING
        decimals = 1 if abs(number) >= 100 else 2 if abs(number) >= 10 else digits
        return f"{number:.{min(decimals, digits)}f}"
    text = str(value)
    if max_chars is not None and len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def table_from_frame(
    frame: pd.DataFrame,
    digits: int = 4,
    max_chars: int | None = None,
    bold: set[tuple[int, int]] | None = None,
) -> Table:
    """Format every cell of ``frame`` (index dropped) into a ``Table``."""
    rows = [
        [format_value(value, digits, max_chars) for value in record]
        for record in frame.itertuples(index=False, name=None)
    ]
    return Table([str(c) for c in frame.columns], rows, set(bold or ()))


def best_cells(frame: pd.DataFrame, higher_is_better: Mapping[str, bool]) -> set[tuple[int, int]]:
    """Positions of the best value in each column named in ``higher_is_better`` (all ties)."""
    marked: set[tuple[int, int]] = set()
    for col_index, column in enumerate(frame.columns):
        if column not in higher_is_better:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().sum() == 0:
            continue
        best = values.max() if higher_is_better[column] else values.min()
        for row_index, value in enumerate(values):
            if value == best:
                marked.add((row_index, col_index))
    return marked


def _md_cell(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r\n", " ")
        .replace("\n", " ")
        .replace("\r", " ")
    )


def render_markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table (pipes, newlines and HTML in cells escaped)."""
    if not table.columns:
        return ""
    lines = [
        "| " + " | ".join(_md_cell(c) for c in table.columns) + " |",
        "|" + "|".join("---" for _ in table.columns) + "|",
    ]
    for r, row in enumerate(table.rows):
        cells: list[str] = []
        for c, text in enumerate(row):
            cell = _md_cell(text)
            if (r, c) in table.links:
                cell = f"[{cell}]({table.links[(r, c)]})"
            if (r, c) in table.bold and cell:
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame, digits: int = 4, max_chars: int | None = None) -> str:
    """``frame`` as a Markdown table without the ``tabulate`` dependency."""
    return render_markdown(table_from_frame(frame, digits, max_chars))


def key_value_table(pairs: Sequence[tuple[str, Any]], header: tuple[str, str]) -> Table:
    """A two-column table from ``(name, value)`` pairs."""
    return Table(list(header), [[name, format_value(value)] for name, value in pairs])

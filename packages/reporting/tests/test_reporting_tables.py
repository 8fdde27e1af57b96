"""Formatting and Markdown tables, best cells by direction."""

from __future__ import annotations

import math

import pandas as pd

from vlmhb.reporting import markdown_table
from vlmhb.reporting.tables import Table, best_cells, format_value, render_markdown


def test_format_value() -> None:
    assert format_value(0.123456) == "0.1235"
    assert format_value(1510.71) == "1510.7"
    assert format_value(5) == "5"
    assert format_value(math.nan) == "—"
    assert format_value(None) == "—"
    assert format_value("None") == "None"
    assert format_value("x" * 10, max_chars=5) == "xxxx…"


def test_markdown_table_escapes_pipes_newlines_and_html() -> None:
    frame = pd.DataFrame({"answer": ["a|b", "line1\nline2", "<b>X</b>"], "cer": [0.5, 1, 0.25]})
    text = markdown_table(frame)
    lines = text.splitlines()
    assert lines[0] == "| answer | cer |"
    assert lines[1] == "|---|---|"
    assert lines[2] == "| a\\|b | 0.5000 |"
    assert lines[3] == "| line1 line2 | 1.0000 |"
    assert lines[4] == "| &lt;b&gt;X&lt;/b&gt; | 0.2500 |"


def test_render_markdown_bold_and_links() -> None:
    table = Table(
        ["run", "cer"], [["a", "0.1"], ["b", "0.2"]], bold={(0, 1)}, links={(1, 0): "b/report.md"}
    )
    lines = render_markdown(table).splitlines()
    assert lines[2] == "| a | **0.1** |"
    assert lines[3] == "| [b](b/report.md) | 0.2 |"


def test_best_cells_respects_direction_and_ties() -> None:
    frame = pd.DataFrame(
        {"run": ["a", "b", "c"], "cer": [0.2, 0.1, 0.1], "anls": [0.9, 0.8, math.nan]}
    )
    assert best_cells(frame, {"cer": False, "anls": True}) == {(1, 1), (2, 1), (0, 2)}

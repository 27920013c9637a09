"""Wide tables on the command line: whole in a pipe, a block per row in a narrow terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from leadsift.kit import cli

HEADERS = ["campaign", "cost", "cost / qualified", "return on ad spend"]
ROWS = [
    ["traffic-1", "612.75 EUR", "1.76 EUR", "7.87"],
    ["traffic-2", "978.25 EUR", "0.97 EUR", "24.70"],
]


def _printed(monkeypatch: pytest.MonkeyPatch, *, width: int, terminal: bool) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=terminal, color_system=None)
    monkeypatch.setattr(cli, "stdout", console)
    cli.print_rows(HEADERS, ROWS, "ROI by campaign")
    return buffer.getvalue()


def test_a_table_that_fits_is_printed_as_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _printed(monkeypatch, width=200, terminal=True)
    header_line = next(line for line in text.splitlines() if line.startswith("┃"))
    assert all(header in header_line for header in HEADERS)
    assert "1/2" not in text


def test_a_wide_table_is_written_whole_into_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _printed(monkeypatch, width=30, terminal=False)
    header_line = next(line for line in text.splitlines() if line.startswith("┃"))
    assert all(header in header_line for header in HEADERS)
    assert "…" not in text
    assert "24.70" in text


def test_a_wide_table_in_a_narrow_terminal_becomes_one_block_per_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _printed(monkeypatch, width=40, terminal=True)
    assert "…" not in text
    assert "ROI by campaign · 1/2" in text and "ROI by campaign · 2/2" in text
    lines = [line.split() for line in text.splitlines()]
    assert ["return", "on", "ad", "spend", "24.70"] in lines
    assert ["cost", "/", "qualified", "1.76", "EUR"] in lines

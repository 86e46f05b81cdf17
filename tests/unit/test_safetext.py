"""Spreadsheet cells that cannot run, terminal lines that cannot repaint the screen."""

from __future__ import annotations

import pytest

from playbook.safetext import neutralise_cell, printable, restore_cell


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ('=HYPERLINK("http://x","click")', '\'=HYPERLINK("http://x","click")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-500", "-500"),
        ("+3.5e2", "+3.5e2"),
        ("-.5", "-.5"),
        ("王丽", "王丽"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_cells_get_a_quote_and_read_back(cell: str, shown: str) -> None:
    """OWASP's rule, numbers left alone; restore_cell undoes it exactly."""
    assert neutralise_cell(cell) == shown
    assert restore_cell(neutralise_cell(cell)) == cell


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b]0;title\x07name", "name"),
        ("a\x00b\x07c\x7fd\x9be", "abcde"),
        ("li\u202enaw", "linaw"),
        ("tab\there", "tab here"),
        ("王丽 +08:00", "王丽 +08:00"),
    ],
)
def test_printable_drops_escapes_and_controls(text: str, shown: str) -> None:
    """ANSI CSI/OSC sequences, C0/C1 controls and bidi overrides never reach the terminal."""
    assert printable(text) == shown

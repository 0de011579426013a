"""Cells the platform writes into spreadsheets (Excel and CSV) are always data, never formulas.

Names, units and other roster text are typed by clerks and may come from anyone: a 姓名 of
``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0`` would otherwise run as a formula on the
administrator's machine when the export is opened (CSV/formula injection, OWASP). Every writer
of an ``.xlsx`` or ``.csv`` (completion exports, the initial-passwords file) goes through
:func:`set_cell` / :func:`csv_text` / :func:`csv_rows`.

It lives in ``records`` (the lowest room) because the roster writes the initial-passwords file
and ``records`` imports nothing from ``reports``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable

# Excel, LibreOffice and WPS start a formula (or a DDE call) with any of these
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_text(value):
    """``value`` as a CSV field that a spreadsheet shows as text: a leading ``'`` when it could
    start a formula (Excel hides the quote and shows the text)."""
    if is_formula_like(value):
        return "'" + value
    return value


def csv_rows(rows: Iterable[Iterable]) -> list[list]:
    return [[csv_text(v) for v in row] for row in rows]


def write_csv_rows(f, rows: Iterable[Iterable]) -> None:
    """Write ``rows`` (header included) to the open text file ``f`` as safe CSV."""
    csv.writer(f).writerows(csv_rows(rows))


def set_cell(ws, row: int, column: int, value):
    """``ws.cell(row, column, value)`` that never stores a formula: text that looks like one is
    stored as a string cell with Excel's quote prefix (so editing it in Excel keeps it text)."""
    cell = ws.cell(row=row, column=column)
    cell.value = value
    if is_formula_like(value):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell

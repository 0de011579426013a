"""Completion reports as files for the leadership meeting: an Excel workbook (汇总 / 分单位 /
未完成名单 / 每日进度) and a CSV of the by-unit table.

Every number comes from :mod:`grading.reports.queries`, the same calls the dashboards make, so a
workbook and the dashboard opened at the same moment agree cell for cell. Every cell goes through
:mod:`grading.records.sheets`: names and units typed by clerks come out as text, never formulas.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from grading.records.sheets import csv_text, set_cell
from grading.reports import queries as reports

SHEET_SUMMARY = "汇总"
SHEET_UNITS = "分单位"
SHEET_LAGGARDS = "未完成名单"
SHEET_TREND = "每日进度"

# columns of the by-unit table that are navigation, not figures
_UNIT_HIDDEN = ["unit_id", "level", "has_children"]
_RATE_COLS = {"participation_rate", "completion_rate", "pass_rate", "cumulative_rate"}
_HEADER_FILL = PatternFill("solid", fgColor="C00000")


def _frames(url: str, campaign_id: str, today: date | None = None, scope: int | None = None):
    # scope: a unit administrator's 管理范围 (issue 16); the workbook then holds only its people
    ov = reports.overview(url, campaign_id, today=today, scope=scope)
    units = reports.by_unit(url, campaign_id, scope=scope).drop(columns=_UNIT_HIDDEN)
    lag = reports.laggards(url, campaign_id, scope=scope)
    trend = reports.daily_trend(url, campaign_id, scope=scope)
    return ov, units, lag, trend


def _write_table(ws, df: pd.DataFrame, start_row: int = 1) -> None:
    cols = list(df.columns)
    for j, col in enumerate(cols, start=1):
        cell = set_cell(ws, start_row, j, reports.LABELS.get(col, col))
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center")
    for i, row in enumerate(df.itertuples(index=False), start=start_row + 1):
        for j, (col, value) in enumerate(zip(cols, row), start=1):
            if isinstance(value, float) and pd.isna(value):
                value = None
            elif hasattr(value, "item"):  # numpy scalars
                value = value.item()
            cell = set_cell(ws, i, j, value)
            if col in _RATE_COLS:
                cell.number_format = "0.00%"
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
    for j, col in enumerate(cols, start=1):
        width = max([len(str(reports.LABELS.get(col, col)))] + [len(str(v)) for v in df[col].head(200)]) * 2 + 2
        ws.column_dimensions[get_column_letter(j)].width = min(max(width, 8), 60)
    ws.freeze_panes = ws.cell(row=start_row + 1, column=1)
    if len(df):
        ws.auto_filter.ref = f"A{start_row}:{get_column_letter(len(cols))}{start_row + len(df)}"


def workbook(url: str, campaign_id: str, *, today: date | None = None,
             scope: int | None = None) -> Workbook:
    ov, units, lag, trend = _frames(url, campaign_id, today, scope)
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_SUMMARY
    set_cell(ws, 1, 1, f"{ov.campaign} 学习情况汇总").font = Font(bold=True, size=14)
    set_cell(ws, 2, 1, f"统计时间：{datetime.now():%Y-%m-%d %H:%M}（以通过考核为准，不统计在线时长）")
    summary = ov.to_frame()
    set_cell(ws, 4, 1, "指标").font = Font(bold=True)
    set_cell(ws, 4, 2, "数值").font = Font(bold=True)
    rate_names = {"参学率", "完成率", "合格率"}
    for i, (name, value) in enumerate(zip(summary["指标"], summary["数值"]), start=5):
        set_cell(ws, i, 1, name)
        cell = set_cell(ws, i, 2, value)
        if name in rate_names:
            cell.number_format = "0.00%"
        elif isinstance(value, date):
            cell.number_format = "yyyy-mm-dd"
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 36
    _write_table(wb.create_sheet(SHEET_UNITS), units)
    _write_table(wb.create_sheet(SHEET_LAGGARDS), lag)
    _write_table(wb.create_sheet(SHEET_TREND), trend)
    return wb


def write_xlsx(url: str, campaign_id: str, path: str | Path, *, today: date | None = None,
               scope: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook(url, campaign_id, today=today, scope=scope).save(path)
    return path


def xlsx_bytes(url: str, campaign_id: str, *, today: date | None = None,
               scope: int | None = None) -> bytes:
    """The workbook as bytes (for the dashboards' download button)."""
    buf = io.BytesIO()
    workbook(url, campaign_id, today=today, scope=scope).save(buf)
    return buf.getvalue()


def write_csv(url: str, campaign_id: str, path: str | Path, *, scope: int | None = None) -> Path:
    """The by-unit table with Chinese headers; UTF-8 with BOM so Excel shows the Chinese."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = reports.labelled(reports.by_unit(url, campaign_id, scope=scope).drop(columns=_UNIT_HIDDEN))
    df = df.rename(columns=csv_text).map(csv_text)
    df.to_csv(path, index=False, encoding="utf-8-sig")
    return path

"""Dashboard tables (widgets.charts.table_html) with the shapes reports.people() returns."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from widgets import charts


def test_people_table_with_someone_not_complete_yet():
    """完成时间 is NaT for people not complete: an empty cell, not a crash of the drill-down."""
    df = pd.DataFrame({"name": ["赵晓", "张明"], "status": ["已完成", "未完成"],
                       "completed_at": [datetime(2026, 11, 29, 3, 40), None]})
    df["completed_at"] = pd.to_datetime(df["completed_at"])
    assert df["completed_at"].iloc[1] is pd.NaT
    html = charts.table_html(df, {"completed_at": "完成时间"})
    assert "2026-11-29 03:40" in html and "NaT" not in html
    assert html.count("<tr>") == 3


def test_wide_tables_scroll_in_their_own_box():
    df = pd.DataFrame({f"列{i}": [i] for i in range(14)})
    html = charts.table_html(df)
    assert '<div class="xf-scroll"><table' in html and "</table></div>" in html
    assert ".xf-scroll" in charts.STYLE and "overflow-x: auto" in charts.STYLE

"""Values from the records service and the roster reach learners' and administrators' pages as
text, never as markup (security finding 6 of issue 13: the dashboards' tables and cards; the
我的学习 page's are in tests/hub_config/test_home_page_render.py)."""

from __future__ import annotations

import pandas as pd

from widgets import charts

EVIL = "<img src=x onerror=alert(1)>"


def test_dashboard_tables_and_cards_escape(monkeypatch):
    df = pd.DataFrame({"unit": [EVIL], EVIL: [1.5]})
    table = charts.table_html(df, {"unit": EVIL}, text_cols=["unit"])
    cards = charts.cards_html([(EVIL, EVIL, EVIL)])
    link = charts.download_link(b"x", f'{EVIL}".xlsx', label=EVIL)
    for page in (table, cards, link):
        assert "<img" not in page

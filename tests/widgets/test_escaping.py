"""Values from the records service and the roster reach learners' and administrators' pages as
text, never as markup (security finding 6 of issue 13: the 我的学习 header and cards, and the
dashboards' tables and cards)."""

from __future__ import annotations

import pandas as pd

from widgets import charts, home

EVIL = "<img src=x onerror=alert(1)>"


def test_my_learning_header_escapes_every_value(monkeypatch, tmp_path):
    monkeypatch.setenv("XUEFA_HOME", str(tmp_path))
    data = {"name": EVIL, "audience_label": EVIL, "required_passed": EVIL, "required_total": 3,
            "credited_hours": EVIL, "complete": False,
            "campaign": {"name": EVIL, "deadline": EVIL, "days_left": EVIL, "running": True,
                         "pass_mark": EVIL}}
    page = home.header_html(data)
    assert "<img" not in page and page.count("&lt;img src=x onerror=alert(1)&gt;") == 8


def test_module_card_escapes_title_summary_status_and_score(monkeypatch, tmp_path):
    monkeypatch.setenv("XUEFA_HOME", str(tmp_path))
    card = home.ModuleCard({"course_id": "c1", "title": EVIL, "summary": EVIL, "status": EVIL,
                            "hours": EVIL, "score": EVIL, "required": True})
    assert "<img" not in card.info.value
    assert "<img" not in card.actions.children[0].description


def test_dashboard_tables_and_cards_escape(monkeypatch):
    df = pd.DataFrame({"unit": [EVIL], EVIL: [1.5]})
    table = charts.table_html(df, {"unit": EVIL}, text_cols=["unit"])
    cards = charts.cards_html([(EVIL, EVIL, EVIL)])
    link = charts.download_link(b"x", f'{EVIL}".xlsx', label=EVIL)
    for page in (table, cards, link):
        assert "<img" not in page

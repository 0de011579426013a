"""Unit administrators (issue 16): scopes, scoped report queries and exports, the 管理范围 and
邮箱 roster columns, setting a scope on the accounts functions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from grading.records import accounts, audit, scopes
from grading.records.db import session_scope
from grading.records.models import Learner, Role, Unit
from grading.records.roster import import_roster
from grading.reports import exports
from grading.reports import queries as reports
from hub_config.tools import synth


@pytest.fixture
def city(records_url):
    summary = synth.generate(records_url, 200, seed=3, events_per_participant=(1, 3))
    with session_scope(records_url) as s:
        town = s.scalar(select(Unit).where(Unit.level == 1).order_by(Unit.id))
        other = s.scalar(select(Unit).where(Unit.level == 1, Unit.id != town.id).order_by(Unit.id))
        admin = s.scalar(select(Learner).order_by(Learner.id))
        admin.role, admin.admin_scope_unit_id = Role.admin, town.id
        return records_url, summary.campaign_id, town.id, other.id, admin.username


def test_scope_covers_the_subtree_only(city):
    url, _, town, other, admin = city
    sc = scopes.scope_of(url, admin)
    assert not sc.city_wide and sc.covers(town) and not sc.covers(other) and not sc.covers(None)
    with session_scope(url) as s:
        villages = set(s.scalars(select(Unit.id).where(Unit.parent_id == town)))
    assert villages and villages <= sc.unit_ids
    assert scopes.scope_of(url, "nobody").unit_ids == frozenset()  # unknown: covers nothing


def test_scoped_queries_see_only_the_subtree(city):
    url, cid, town, other, _ = city
    whole = reports.by_unit(url, cid)
    mine = reports.by_unit(url, cid, scope=town)
    town_row = whole[whole["unit_id"] == town].iloc[0]
    assert mine["learners"].sum() == town_row["learners"]
    ov = reports.overview(url, cid, scope=town)
    assert ov.learners == town_row["learners"] and ov.complete == town_row["complete"]
    lag = reports.laggards(url, cid, scope=town)
    assert set(lag["top_unit"]) <= {town_row["unit"]}
    assert len(reports.people(url, cid, scope=town)) == town_row["learners"]
    trend = reports.daily_trend(url, cid, scope=town)
    assert trend["cumulative"].iloc[-1] == town_row["complete"]
    ia = reports.item_analysis(url, cid, scope=town)
    assert ia.by_question["answers"].sum() <= reports.item_analysis(url, cid).by_question["answers"].sum()
    for call in (lambda: reports.by_unit(url, cid, other, scope=town),
                 lambda: reports.people(url, cid, other, scope=town),
                 lambda: reports.laggards(url, cid, other, scope=town)):
        with pytest.raises(reports.OutOfScope):
            call()


def test_scoped_export_holds_only_the_subtree(city, tmp_path):
    from openpyxl import load_workbook

    url, cid, town, _, _ = city
    path = exports.write_xlsx(url, cid, tmp_path / "x.xlsx", scope=town)
    lag = load_workbook(path)["未完成名单"]
    names = {r[0] for r in lag.iter_rows(min_row=2, values_only=True)}
    with session_scope(url) as s:
        town_name = s.get(Unit, town).name
    assert names <= {town_name}


def test_set_scope_is_audited_and_checked(city):
    url, _, town, _, admin = city
    with session_scope(url) as s:
        path = s.get(Unit, town).path
        learner = s.scalar(select(Learner.username).where(Learner.role == Role.learner))
    with pytest.raises(ValueError, match="不是管理员"):
        accounts.set_scope(url, learner, path, actor="boss")
    with pytest.raises(ValueError, match="不存在"):
        accounts.set_scope(url, admin, "示范市/没有这个镇", actor="boss")
    assert accounts.set_scope(url, admin, "", actor="boss")
    assert scopes.scope_of(url, admin).city_wide
    assert accounts.set_scope(url, admin, path, actor="boss", client="127.0.0.1")
    assert accounts.get_account(url, admin).admin_scope == path
    e = audit.entries(url, action="change_scope")[0]
    assert e.target == admin and "新管理范围" in e.detail_text and path in e.detail_text
    with pytest.raises(ValueError, match="不能缩小自己"):
        accounts.set_scope(url, admin, path, actor=admin)
    found = accounts.search(url, "", 500, unit_ids=scopes.scope_of(url, admin).unit_ids)
    assert found and all(a.unit_path.startswith(path) for a in found)


def test_roster_scope_and_email_columns(tmp_path, records_url):
    import csv

    rows = [["账号", "姓名", "单位", "身份", "角色", "邮箱", "管理范围"],
            ["boss", "市管理员", "测试市", "干部", "管理员", "", ""],
            ["townadm", "镇管理员", "测试市/城东镇", "干部", "管理员", "t@example.org", "测试市/城东镇"],
            ["stud", "学员", "测试市/城东镇/新城社区", "法律明白人", "学员", "s@example.org", ""]]
    path = tmp_path / "r.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    rep = import_roster(path, records_url, reports_dir=tmp_path)
    assert not rep.errors, rep.errors
    assert scopes.scope_of(records_url, "boss").city_wide
    sc = scopes.scope_of(records_url, "townadm")
    assert sc.unit_path == "测试市/城东镇"
    with session_scope(records_url) as s:
        assert s.scalar(select(Learner.email).where(Learner.username == "stud")) == "s@example.org"
    bad = rows[:3] + [["stud", "学员", "测试市/城东镇/新城社区", "法律明白人", "学员", "not-an-email", "测试市"]]
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(bad)
    rep = import_roster(path, records_url, reports_dir=tmp_path)
    assert {e.field for e in rep.errors} == {"邮箱", "管理范围"}

"""The audit log and the administrators' account tools (issue 16), on SQLite and PostgreSQL.

The account functions are the ones the 账号管理 page and ``xuefa account`` share; each act and
its audit row commit together, and the log is append-only down to the database."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from grading.records import accounts, audit
from grading.records.db import get_engine, session_scope
from grading.records.models import Audience, AuditEntry, Credential, Learner, Role, Unit
from hub_config.cli import main as cli


@pytest.fixture
def people(records_url):
    with session_scope(records_url) as s:
        city = Unit(path="海安市", name="海安市", level=0)
        town = Unit(path="海安市/城东镇", name="城东镇", level=1, parent=city)
        for username, name, unit, role in [("admin1", "管理员甲", city, Role.admin),
                                           ("zhangsan", "张三", town, Role.learner),
                                           ("lisi", "=HYPERLINK(\"x\")", town, Role.learner)]:
            s.add(Learner(username=username, name=name, unit=unit, audience=Audience.cadre, role=role,
                          phone="13800000001" if username == "zhangsan" else None,
                          credential=Credential(password_hash=accounts.hash_password("Init-pass-1"),
                                                must_change=False, failed_attempts=4)))
    return records_url


def all_rows(url) -> list[audit.Entry]:
    return audit.entries(url, limit=None)


def test_reset_gives_a_new_initial_password_that_must_be_changed_and_is_audited(people):
    pw = accounts.reset_password(people, "zhangsan", actor="admin1", client="10.0.0.7")
    assert not accounts.verify_login(people, "zhangsan", "Init-pass-1").ok
    r = accounts.verify_login(people, "zhangsan", pw)
    assert r.ok and r.must_change
    [e] = all_rows(people)
    assert (e.actor, e.action, e.target, e.client) == ("admin1", "reset_password", "zhangsan", "10.0.0.7")
    # neither the password nor its hash is anywhere in the row
    raw = json.dumps(e.detail, ensure_ascii=False)
    assert pw not in raw and "argon2" not in raw


def test_audit_detail_never_keeps_a_password_even_if_a_caller_passes_one(people):
    audit.record(people, actor="admin1", action="unlock", target="zhangsan",
                 detail={"password": "Secret123", "new_password_hash": "$argon2id$x", "ok": True})
    [e] = all_rows(people)
    assert e.detail == {"ok": True}


def test_unlock_clears_the_failure_count(people):
    accounts.unlock(people, "zhangsan", actor="admin1", client="127.0.0.1")
    assert accounts.get_account(people, "zhangsan").failed_attempts == 0
    assert all_rows(people)[0].detail == {"failed_attempts_before": 4}


def test_deactivate_and_reactivate_refuse_then_allow_login(people):
    assert accounts.set_active(people, "zhangsan", False, actor="admin1")
    assert not accounts.verify_login(people, "zhangsan", "Init-pass-1").ok
    assert accounts.hub_groups_of(people, "zhangsan") == set()
    assert accounts.set_active(people, "zhangsan", True, actor="admin1")
    assert accounts.verify_login(people, "zhangsan", "Init-pass-1").ok
    assert [e.action for e in all_rows(people)] == ["reactivate", "deactivate"]


def test_the_last_active_admin_is_never_deactivated_or_demoted(people):
    with pytest.raises(ValueError, match="不能停用自己"):
        accounts.set_active(people, "admin1", False, actor="admin1")
    with pytest.raises(ValueError, match="最后一个"):
        accounts.set_active(people, "admin1", False, actor="cli:root")
    with pytest.raises(ValueError, match="最后一个"):
        accounts.set_role(people, "admin1", "学员", actor="cli:root")
    assert all_rows(people) == []  # a refused act writes nothing
    accounts.set_role(people, "zhangsan", "管理员", actor="admin1")
    accounts.set_role(people, "admin1", Role.learner, actor="zhangsan")
    assert accounts.get_account(people, "admin1").role == "learner"


def test_role_change_moves_the_hub_role_group_and_is_audited(people):
    assert "role-learner" in accounts.hub_groups_of(people, "zhangsan")
    assert accounts.set_role(people, "zhangsan", "trainer", actor="admin1", client="10.0.0.8")
    groups = accounts.hub_groups_of(people, "zhangsan")
    assert "role-trainer" in groups and "role-learner" not in groups
    assert {g for g in groups if g.startswith("unit-")} and "audience-cadre" in groups
    [e] = all_rows(people)
    assert e.detail == {"from": "learner", "to": "trainer"} and e.action_label == "变更角色"
    assert e.detail_text == "原角色：学员；新角色：讲师"
    with pytest.raises(ValueError, match="角色"):
        accounts.set_role(people, "zhangsan", "boss", actor="admin1")


def test_own_password_change_is_audited_with_the_person_as_actor(people):
    accounts.change_password(people, "zhangsan", "Init-pass-1", "Newpass2026", client="10.1.1.1")
    [e] = all_rows(people)
    assert (e.actor, e.target, e.action, e.client) == ("zhangsan", "zhangsan", "change_password", "10.1.1.1")


def test_search_by_account_name_phone_or_unit(people):
    assert [a.username for a in accounts.search(people, "张三")] == ["zhangsan"]
    assert [a.username for a in accounts.search(people, "138000")] == ["zhangsan"]
    assert {a.username for a in accounts.search(people, "城东镇")} == {"zhangsan", "lisi"}
    assert accounts.search(people, "%") == []  # LIKE wildcards are literal
    assert len(accounts.search(people, "")) == 3


def test_the_database_refuses_to_change_or_delete_audit_rows(people):
    accounts.unlock(people, "zhangsan", actor="admin1")
    engine = get_engine(people)
    for stmt in ("UPDATE audit_log SET actor = 'someone'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(stmt))
    with session_scope(people) as s:
        assert s.scalar(select(AuditEntry.actor)) == "admin1"


def test_the_module_offers_only_insert_and_read():
    public = {n for n in dir(audit) if not n.startswith("_") and callable(getattr(audit, n))
              and getattr(getattr(audit, n), "__module__", "") == audit.__name__}
    assert public == {"add", "record", "entries", "rows", "csv_bytes", "xlsx_bytes", "Entry"}


def test_exports_are_chinese_and_write_formula_like_text_as_text(people):
    accounts.unlock(people, "zhangsan", actor="=cmd|' /C calc'!A0", client="10.0.0.1")
    items = all_rows(people)
    rows = list(csv.reader(io.StringIO(audit.csv_bytes(items).decode("utf-8-sig"))))
    assert rows[0] == audit.HEADER and rows[1][1].startswith("'=") and rows[1][2] == "解锁账号"
    ws = openpyxl.load_workbook(io.BytesIO(audit.xlsx_bytes(items))).active
    assert ws.cell(2, 2).data_type == "s" and ws.cell(2, 3).value == "解锁账号"


def test_cli_account_commands_share_the_functions_and_audit(people, datadir, monkeypatch):
    monkeypatch.setenv("XUEFA_RECORDS_DB_URL", people)
    run = CliRunner().invoke
    r = run(cli, ["account", "reset", "zhangsan", "--data-dir", str(datadir.root)])
    assert r.exit_code == 0, r.output
    pw = r.output.split("：")[1].split()[0]
    assert accounts.verify_login(people, "zhangsan", pw).must_change
    r = run(cli, ["account", "role", "zhangsan", "讲师", "--data-dir", str(datadir.root)])
    assert r.exit_code == 0, r.output
    r = run(cli, ["account", "deactivate", "admin1", "--data-dir", str(datadir.root)])
    assert r.exit_code == 1 and "最后一个" in r.output
    actions = [(e.action, e.actor.startswith("cli:"), e.client) for e in all_rows(people)]
    assert actions == [("change_role", True, "local"), ("reset_password", True, "local")]


def test_a_trainers_essay_grade_is_audited_with_the_result(people):
    """The grading service finalises an essay result from the gradebook (grading.grader.manual):
    the grade change and its audit row commit together."""
    from datetime import datetime

    from grading.records.models import Course, Result
    from grading.records.results import update_manual

    with session_scope(people) as s:
        s.add(Course(id="shufa", title="领导干部述法", hours=1, pass_mark=60))
        me = s.scalar(select(Learner).where(Learner.username == "zhangsan"))
        r = Result(learner_id=me.id, course_id="shufa", assignment="module", attempt=1, score=40,
                   max_score=100, passed=False, outcome="needs_manual", submitted_at=datetime(2026, 11, 20))
        s.add(r)
        s.flush()
        rid = r.id
    update_manual(people, rid, 78, 100)
    [e] = all_rows(people)
    assert (e.actor, e.action, e.target) == ("formgrader-shufa", "grade_manual", "zhangsan")
    assert e.detail == {"course": "shufa", "attempt": 1, "score_from": 40.0, "score_to": 78.0,
                        "max_score": 100.0}

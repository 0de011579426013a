"""Roster import: encodings, all-or-nothing validation, idempotent re-import."""

from __future__ import annotations

import csv
import io
import stat

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from grading.records import accounts
from grading.records.db import session_scope
from grading.records.models import Learner, Result, Role, Unit, utcnow
from grading.records.roster import import_roster

HEADER = ["账号", "姓名", "单位", "身份", "角色", "手机", "初始密码"]
PEOPLE = [
    ["zhangsan", "张三", "海安市/城东镇/新城社区", "干部", "学员", "13812345678", "Init-pass-1"],
    ["lisi", "李四", "海安市/城东镇", "法律明白人", "学员", "", "Init-pass-2"],
    ["wangwu", "王五", "海安市/市司法局", "政法干警", "讲师", "", "Init-pass-3"],
    ["boss", "赵六", "海安市/市委依法治市办", "干部", "管理员", "", ""],
]


def write_csv(path, rows, encoding):
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path, rows):
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append([int(c) if c.isdigit() and len(c) == 11 else (c or None) for c in r])
    wb.save(path)
    return path


def snapshot(url):
    with session_scope(url) as s:
        return sorted(
            (p.username, p.name, p.unit.path, p.audience.value, p.role.value, p.phone or "", p.active)
            for p in s.scalars(select(Learner))
        )


@pytest.mark.parametrize("kind", ["gbk", "utf-8-sig", "xlsx"])
def test_each_format_imports_the_same_people(kind, records_url, tmp_path):
    path = (write_xlsx(tmp_path / "r.xlsx", PEOPLE) if kind == "xlsx"
            else write_csv(tmp_path / "r.csv", PEOPLE, kind))
    report = import_roster(path, records_url, reports_dir=tmp_path / "reports")
    assert report.ok, report.errors
    assert snapshot(records_url) == [
        ("boss", "赵六", "海安市/市委依法治市办", "cadre", "admin", "", True),
        ("lisi", "李四", "海安市/城东镇", "volunteer", "learner", "", True),
        ("wangwu", "王五", "海安市/市司法局", "legal_staff", "trainer", "", True),
        ("zhangsan", "张三", "海安市/城东镇/新城社区", "cadre", "learner", "13812345678", True),
    ]
    with session_scope(records_url) as s:
        village = s.scalar(select(Unit).where(Unit.path == "海安市/城东镇/新城社区"))
        assert village.level == 2 and village.parent.path == "海安市/城东镇" and village.parent.parent.level == 0


def test_one_bad_row_imports_nothing_and_names_it(records_url, tmp_path):
    rows = [*PEOPLE[:2], ["badphone", "钱七", "海安市/城东镇", "干部", "学员", "12345", ""], *PEOPLE[2:]]
    report = import_roster(write_csv(tmp_path / "r.csv", rows, "utf-8"), records_url)
    assert [(e.line, e.field) for e in report.errors] == [(4, "手机")]
    assert "12345" in str(report.errors[0]) and str(report.errors[0]).startswith("第4行")
    assert snapshot(records_url) == []


@pytest.mark.parametrize("row,field", [
    (["zhangsan", "重复", "海安市", "干部", "学员", "", ""], "账号"),
    (["newguy", "", "海安市", "干部", "学员", "", ""], "姓名"),
    (["newguy", "某", "海安市", "村干部", "学员", "", ""], "身份"),
    (["newguy", "某", "海安市", "干部", "局长", "", ""], "角色"),
    (["New-Guy", "某", "海安市", "干部", "学员", "", ""], "账号"),
    (["newguy", "某", "", "干部", "学员", "", ""], "单位"),
    (["newguy", "某", "a/b/c/d", "干部", "学员", "", ""], "单位"),
])
def test_each_kind_of_bad_row_is_named(row, field, records_url, tmp_path):
    report = import_roster(write_csv(tmp_path / "r.csv", [*PEOPLE, row], "utf-8"), records_url)
    assert [(e.line, e.field) for e in report.errors] == [(6, field)]
    assert snapshot(records_url) == []


def test_missing_column_is_named(records_url, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("账号,姓名,单位,角色\nzhangsan,张三,海安市,学员\n", encoding="utf-8")
    report = import_roster(path, records_url)
    assert [(e.line, e.field) for e in report.errors] == [(1, "身份")]
    assert "身份" in str(report.errors[0])


def test_reimport_moves_unit_keeps_records_and_deactivates_the_missing_on_request(records_url, tmp_path):
    import_roster(write_csv(tmp_path / "a.csv", PEOPLE, "utf-8"), records_url)
    with session_scope(records_url) as s:
        zs = s.scalar(select(Learner).where(Learner.username == "zhangsan"))
        s.add(Result(learner_id=zs.id, course_id="c1", assignment="module", score=9, max_score=10,
                     passed=True, submitted_at=utcnow()))
        zs_id = zs.id
    moved = [["zhangsan", "张三", "海安市/海安街道/东园村", "干部", "学员", "13812345678", "Init-pass-1"],
             *PEOPLE[2:]]  # lisi left the roster
    report = import_roster(write_csv(tmp_path / "b.csv", moved, "utf-8"), records_url,
                           deactivate_missing="all")
    assert report.updated == ["zhangsan"] and report.deactivated == ["lisi"]
    with session_scope(records_url) as s:
        zs = s.scalar(select(Learner).where(Learner.username == "zhangsan"))
        assert zs.id == zs_id and zs.unit.path == "海安市/海安街道/东园村"
        assert s.scalar(select(func.count()).select_from(Result).where(Result.learner_id == zs_id)) == 1
        assert s.scalar(select(Learner.active).where(Learner.username == "lisi")) is False
    assert not accounts.verify_login(records_url, "lisi", "Init-pass-2").ok
    again = import_roster(write_csv(tmp_path / "b.csv", moved, "utf-8"), records_url)
    assert again.updated == [] and again.deactivated == [] and len(again.unchanged) == 3
    back = import_roster(write_csv(tmp_path / "c.csv", PEOPLE, "utf-8"), records_url)
    assert back.reactivated == ["lisi"]


def test_generated_passwords_go_to_an_admin_only_file(records_url, tmp_path):
    report = import_roster(write_csv(tmp_path / "r.csv", PEOPLE, "utf-8"), records_url,
                           reports_dir=tmp_path / "reports")
    assert stat.S_IMODE(report.passwords_file.stat().st_mode) == 0o600
    rows = list(csv.reader(report.passwords_file.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["账号", "姓名", "初始密码"] and [r[0] for r in rows[1:]] == ["boss"]
    result = accounts.verify_login(records_url, "boss", rows[1][2])
    assert result.ok and result.must_change and result.role is Role.admin


def test_dry_run_writes_nothing(records_url, tmp_path):
    report = import_roster(write_csv(tmp_path / "r.csv", PEOPLE, "utf-8"), records_url, dry_run=True)
    assert report.ok and len(report.created) == 4
    assert snapshot(records_url) == []


def test_reimport_keeps_changed_passwords_unless_the_sheet_gives_a_new_one(records_url, tmp_path):
    import_roster(write_csv(tmp_path / "a.csv", PEOPLE, "utf-8"), records_url)
    accounts.change_password(records_url, "zhangsan", "Init-pass-1", "Own-pass-99")
    # same sheet again (e.g. `xuefa up --demo` at every start): nobody's password is reset
    again = import_roster(write_csv(tmp_path / "a.csv", PEOPLE, "utf-8"), records_url)
    assert "zhangsan" in again.unchanged
    r = accounts.verify_login(records_url, "zhangsan", "Own-pass-99")
    assert r.ok and not r.must_change
    # a different 初始密码 is the administrator's reset: old one gone, change forced again
    reset = [["zhangsan", *PEOPLE[0][1:6], "Reset-pass-7"], *PEOPLE[1:]]
    report = import_roster(write_csv(tmp_path / "b.csv", reset, "utf-8"), records_url)
    assert report.updated == ["zhangsan"]
    assert not accounts.verify_login(records_url, "zhangsan", "Own-pass-99").ok
    r = accounts.verify_login(records_url, "zhangsan", "Reset-pass-7")
    assert r.ok and r.must_change
    # rows without 初始密码 never touch an existing password
    blank = [["zhangsan", *PEOPLE[0][1:6], ""], *PEOPLE[1:]]
    import_roster(write_csv(tmp_path / "c.csv", blank, "utf-8"), records_url)
    assert accounts.verify_login(records_url, "zhangsan", "Reset-pass-7").ok


def test_title_row_above_header_and_annotated_headers(records_url, tmp_path):
    path = tmp_path / "r.csv"
    body = io.StringIO()
    csv.writer(body).writerows([["海安市学法人员名单"], ["账号*", "姓名 ", "单位（路径）", "身份", "角色"],
                                ["zhangsan", "张三", "海安市", "干部", "学员"],
                                ["lisi", "李四", "海安市", "干部", "队长"]])
    path.write_text(body.getvalue(), encoding="utf-8")
    report = import_roster(path, records_url)
    # line numbers stay the ones Excel shows: title 1, header 2, people from 3
    assert [(e.line, e.field) for e in report.errors] == [(4, "角色")]


def test_utf16_tab_separated_export(records_url, tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\n".join("\t".join(r) for r in [HEADER, *PEOPLE]).encode("utf-16"))
    assert import_roster(path, records_url, reports_dir=tmp_path / "rep").ok
    assert len(snapshot(records_url)) == 4


def test_weak_initial_password_is_named(records_url, tmp_path):
    rows = [*PEOPLE, ["newguy", "某", "海安市", "干部", "学员", "", "12345678"]]
    report = import_roster(write_csv(tmp_path / "r.csv", rows, "gb18030"), records_url)
    assert [(e.line, e.field) for e in report.errors] == [(6, "初始密码")]
    assert "初始密码" in report.errors[0].reason


def test_old_excel_format_gets_a_save_as_hint(records_url, tmp_path):
    path = tmp_path / "名单.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    report = import_roster(path, records_url)
    assert [e.field for e in report.errors] == ["文件"] and "另存为" in report.errors[0].reason


def test_a_partial_file_deactivates_nobody_by_default(records_url, tmp_path):
    import_roster(write_csv(tmp_path / "a.csv", PEOPLE, "utf-8"), records_url)
    report = import_roster(write_csv(tmp_path / "b.csv", PEOPLE[:1], "utf-8"), records_url)
    assert report.ok and report.deactivated == []
    assert report.missing_kept == ["boss", "lisi", "wangwu"]
    assert all(active for *_, active in snapshot(records_url))


def test_deactivate_missing_stays_within_the_units_of_the_file(records_url, tmp_path):
    extra = [["zhaoqi", "赵七", "海安市/城东镇", "干部", "学员", "", "Init-pass-4"]]
    import_roster(write_csv(tmp_path / "a.csv", PEOPLE + extra, "utf-8"), records_url)
    # 城东镇's file: lisi stays, zhaoqi left; the village (新城社区), the bureau and the office
    # are other units and keep their people
    township = [PEOPLE[1]]
    dry = import_roster(write_csv(tmp_path / "b.csv", township, "utf-8"), records_url,
                        deactivate_missing="units", dry_run=True)
    assert dry.deactivated == ["zhaoqi"] and dry.missing_kept == ["boss", "wangwu", "zhangsan"]
    assert all(active for *_, active in snapshot(records_url)), "a dry run changes nothing"
    report = import_roster(write_csv(tmp_path / "b.csv", township, "utf-8"), records_url,
                           deactivate_missing="units")
    assert report.deactivated == ["zhaoqi"]
    assert {u for u, *_, active in snapshot(records_url) if not active} == {"zhaoqi"}


def test_the_last_administrator_is_never_deactivated(records_url, tmp_path):
    import_roster(write_csv(tmp_path / "a.csv", PEOPLE, "utf-8"), records_url)
    # four learners' rows (no 管理员), "everyone else leaves"
    four = [PEOPLE[0], PEOPLE[1],
            ["jia1", "甲", "海安市/城东镇", "干部", "学员", "", "Init-pass-5"],
            ["yi22", "乙", "海安市/城东镇", "干部", "学员", "", "Init-pass-6"]]
    report = import_roster(write_csv(tmp_path / "b.csv", four, "utf-8"), records_url,
                           deactivate_missing="all")
    assert report.deactivated == ["wangwu"] and report.kept_admins == ["boss"]
    assert accounts.verify_login(records_url, "boss", "x").reason  # still a known account
    with session_scope(records_url) as s:
        assert s.scalar(select(Learner.active).where(Learner.username == "boss")) is True
    # with another administrator in the file, the missing one may go
    new_admin = ["chief", "钱八", "海安市/市委依法治市办", "干部", "管理员", "", "Init-pass-7"]
    report = import_roster(write_csv(tmp_path / "c.csv", [*four, new_admin], "utf-8"), records_url,
                           deactivate_missing="all")
    assert report.deactivated == ["boss"] and report.kept_admins == []


def test_a_unit_administrator_does_not_count_as_the_last_administrator(records_url, tmp_path):
    import_roster(write_csv(tmp_path / "a.csv", PEOPLE, "utf-8"), records_url)
    with session_scope(records_url) as s:  # a township's administrator, elsewhere in the city
        town = s.scalar(select(Learner.unit_id).where(Learner.username == "lisi"))
        s.add(Learner(username="townadm", name="镇管理员", unit_id=town, audience="cadre",
                      role="admin", admin_scope_unit_id=town))
    # the office's file without boss: boss is the last administrator who can see the whole city
    clerk = [["clerk1", "办事员", "海安市/市委依法治市办", "干部", "学员", "", "Init-pass-8"]]
    report = import_roster(write_csv(tmp_path / "b.csv", clerk, "utf-8"), records_url,
                           deactivate_missing="units")
    assert report.deactivated == [] and report.kept_admins == ["boss"]


def test_initial_passwords_file_writes_names_as_text(records_url, tmp_path):
    rows = [["evil", "=cmd|' /C calc'!A0", "海安市/城东镇", "干部", "学员", "", ""],
            ["plus", "+1+1", "海安市/城东镇", "干部", "学员", "", ""],
            ["minus", "-2+3", "海安市/城东镇", "干部", "学员", "", ""],
            ["atsign", "@SUM(A1)", "海安市/城东镇", "干部", "学员", "", ""]]
    report = import_roster(write_csv(tmp_path / "r.csv", rows, "utf-8"), records_url,
                           reports_dir=tmp_path / "reports")
    got = {r[0]: r[1] for r in csv.reader(report.passwords_file.read_text(encoding="utf-8-sig").splitlines())}
    assert got["evil"] == "'=cmd|' /C calc'!A0" and got["plus"] == "'+1+1"
    assert got["minus"] == "'-2+3" and got["atsign"] == "'@SUM(A1)"

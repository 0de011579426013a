"""通知公告, 市领导导学 and the audit rows of roster imports / campaign loads (issue 16)."""

from __future__ import annotations

import csv
from datetime import date

import pytest
from openpyxl import load_workbook

from grading.content.courses import CampaignSpec
from grading.content.publish import PublishError, store_campaign
from grading.records import audit, notices
from grading.records.db import session_scope
from grading.records.models import Campaign, Course
from grading.records.roster import import_roster, passwords_xlsx

HEADER = ["账号", "姓名", "单位", "身份", "角色", "手机", "初始密码"]
PEOPLE = [
    ["zhangsan", "张三", "海安市/城东镇", "干部", "学员", "", "Init-pass-1"],
    ["lisi", "李四", "海安市/城东镇/新城社区", "法律明白人", "学员", "", ""],
    ["boss", "赵六", "海安市", "干部", "管理员", "", "Init-pass-3"],
]


def roster(tmp_path, rows, name="r.csv"):
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    return path


def test_notices_by_audience_expiry_and_withdrawal_each_audited(records_url, tmp_path):
    import_roster(roster(tmp_path, PEOPLE), records_url, actor="boss")
    a = notices.post_notice(records_url, title="<b>全体</b>", body="正文\n第二行", actor="boss",
                            client="10.0.0.1", today=date(2026, 11, 1))
    notices.post_notice(records_url, title="明白人专看", body="x", audience="法律明白人",
                        expires_on=date(2026, 11, 30), actor="boss", today=date(2026, 11, 1))
    with session_scope(records_url) as s:
        cadre = [n["title"] for n in notices.home_notices(s, "zhangsan", date(2026, 11, 2))]
        vol = [n["title"] for n in notices.home_notices(s, "lisi", date(2026, 11, 2))]
        later = [n["title"] for n in notices.home_notices(s, "lisi", date(2026, 12, 1))]
        assert notices.home_notices(s, "nobody", date(2026, 11, 2)) == []
    assert cadre == ["<b>全体</b>"] and vol == ["明白人专看", "<b>全体</b>"] and later == ["<b>全体</b>"]
    assert notices.withdraw_notice(records_url, a, actor="boss")
    assert not notices.withdraw_notice(records_url, a, actor="boss")
    assert notices.notices_for(records_url, "zhangsan", date(2026, 11, 2)) == []
    acts = [e.action for e in audit.entries(records_url)]
    assert acts[:3] == ["notice_withdraw", "notice_post", "notice_post"]
    assert all(e.action_label != e.action for e in audit.entries(records_url))


@pytest.mark.parametrize("kw,message", [
    ({"title": " ", "body": "x"}, "标题不能为空"),
    ({"title": "t", "body": "x" * 2001}, "正文不能超过"),
    ({"title": "t", "body": "x", "audience": "hacker"}, "未知的对象"),
    ({"title": "t", "body": "x", "expires_on": date(2020, 1, 1)}, "截止日期不能早于今天"),
])
def test_bad_notices_are_refused_in_chinese(records_url, kw, message):
    with pytest.raises(ValueError, match=message):
        notices.post_notice(records_url, actor="boss", **kw)
    assert notices.list_notices(records_url) == []


def test_roster_import_reports_moves_and_is_audited_but_not_its_dry_run(records_url, tmp_path):
    import_roster(roster(tmp_path, PEOPLE), records_url, actor="cli:root", client="local")
    moved = [["zhangsan", "张三", "海安市/城西镇", "干部", "学员", "", "Init-pass-1"], *PEOPLE[1:]]
    dry = import_roster(roster(tmp_path, moved, "b.csv"), records_url, dry_run=True, actor="boss")
    assert dry.moved == [("zhangsan", "海安市/城东镇", "海安市/城西镇")]
    assert len(audit.entries(records_url, action="roster_import")) == 1
    report = import_roster(roster(tmp_path, moved, "b.csv"), records_url, actor="boss",
                           client="10.1.1.1", source_name="名单.csv")
    assert report.moved == dry.moved and "zhangsan" in report.updated
    entry = audit.entries(records_url, action="roster_import")[0]
    assert (entry.actor, entry.client, entry.detail["file"], entry.detail["moved"]) == (
        "boss", "10.1.1.1", "名单.csv", 1)
    assert "调动单位：1" in entry.detail_text


def test_generated_passwords_kept_for_the_page_as_a_formula_safe_workbook(records_url, tmp_path):
    rows = [["evil", "=HYPERLINK(\"http://x\")", "海安市", "干部", "学员", "", ""], PEOPLE[2]]
    report = import_roster(roster(tmp_path, rows), records_url, write_passwords=False,
                           reports_dir=tmp_path / "reports")
    assert report.passwords_file is None and not (tmp_path / "reports").exists()
    [(username, name, password)] = report.generated_passwords
    (tmp_path / "p.xlsx").write_bytes(passwords_xlsx(report.generated_passwords))
    ws = load_workbook(tmp_path / "p.xlsx").active
    assert ws["B2"].data_type == "s" and ws["B2"].value == name and ws["C2"].value == password


def _courses(url):
    with session_scope(url) as s:
        s.add(Course(id="c_all", title="通用课", audiences=[]))
        s.add(Course(id="c_vol", title="明白人课", audiences=["volunteer"]))


PLAN = {"id": "m2026", "name": "学习月", "start": "2026-11-01", "end": "2026-11-30", "pass_mark": 70,
        "plans": {"干部": {"required": ["c_all"]}, "法律明白人": {"elective": ["c_vol"]}},
        "guidance": {"leader": "王某/市长", "title": "致全市干部", "text": "<script>x</script>学法"}}


def test_campaign_guidance_stored_replaced_and_removed_with_audit(records_url):
    _courses(records_url)
    store_campaign(records_url, CampaignSpec.model_validate(PLAN), actor="boss", client="1.2.3.4",
                   source="网页")
    with session_scope(records_url) as s:
        assert notices.home_guidance(s, "m2026") == PLAN["guidance"]
        assert notices.home_guidance(s, s.get(Campaign, "m2026"))["leader"] == "王某/市长"
        assert notices.home_guidance(s, "other") is None
    [c] = notices.campaigns_overview(records_url)
    assert c["plans"] == {"cadre": {"required": ["c_all"], "elective": []},
                          "volunteer": {"required": [], "elective": ["c_vol"]}}
    store_campaign(records_url, CampaignSpec.model_validate({**PLAN, "guidance": None}))
    with session_scope(records_url) as s:
        assert notices.home_guidance(s, "m2026") is None
    [entry] = audit.entries(records_url, action="campaign_load")  # no actor: not audited
    assert entry.detail["campaign"] == "m2026" and entry.detail["guidance"] is True
    assert "学习活动：m2026" in entry.detail_text and "来源：网页" in entry.detail_text


def test_campaign_refuses_a_course_not_meant_for_the_audience(records_url):
    _courses(records_url)
    bad = {**PLAN, "plans": {"干部": {"required": ["c_vol"]}}}
    with pytest.raises(PublishError, match="不面向干部"):
        store_campaign(records_url, CampaignSpec.model_validate(bad), actor="boss")
    assert notices.campaigns_overview(records_url) == []

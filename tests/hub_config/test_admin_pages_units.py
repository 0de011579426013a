"""Units of the roster / campaign pages (issue 16) without a hub: the upload store and its
one-time tokens, the one-time passwords workbook, Chinese field names in campaign errors."""

from __future__ import annotations

import os
import stat

import pytest
from pydantic import ValidationError

from grading.content.courses import CampaignSpec, _validation_problems
from hub_config.pages import roster
from hub_config.pages.campaigns import field_label


def test_an_upload_is_private_bound_to_its_admin_and_unchanged(datadir):
    token = roster.save_upload(datadir, b"a,b\n", ".csv", {"admin": "boss", "name": "x", "deactivate": ""})
    path, meta = roster.load_upload(datadir, token, "boss")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert roster.load_upload(datadir, token, "other") is None
    for bad in ("../" + token, token + "/..", "", "A" * 33):
        assert roster.load_upload(datadir, bad, "boss") is None
    path.write_bytes(b"changed")
    assert roster.load_upload(datadir, token, "boss") is None  # not the previewed bytes
    roster.drop_upload(datadir, token)
    assert not any(path.parent.iterdir())


def test_expired_uploads_are_refused_and_purged(datadir):
    token = roster.save_upload(datadir, b"x", ".csv", {"admin": "boss", "name": "x", "deactivate": ""})
    old = roster.time.time() - roster.UPLOAD_TTL - 10
    for p in (datadir.reports / "roster-uploads").iterdir():
        os.utime(p, (old, old))
    roster.save_upload(datadir, b"y", ".csv", {"admin": "boss", "name": "y", "deactivate": ""})
    assert roster.load_upload(datadir, token, "boss") is None


def test_the_passwords_workbook_is_handed_out_once_to_its_admin(datadir):
    token = roster.save_passwords(datadir, [("a1", "甲", "Pw123456a")], "boss")
    assert roster.take_passwords(datadir, token, "other") is None
    assert roster.take_passwords(datadir, token, "boss")[:2] == b"PK"
    assert roster.take_passwords(datadir, token, "boss") is None
    assert not any((datadir.reports / "roster-uploads").iterdir())


@pytest.mark.parametrize("sent,shown", [("../../etc/x.csv", "x.csv"), ("C:\\a\\b.xlsx", "b.xlsx"),
                                        ("a\x00.csv", "a.csv"), ("", "名单")])
def test_the_browsers_file_name_is_only_a_label(sent, shown):
    assert roster._display_name(sent) == shown


def test_campaign_errors_name_the_field_in_chinese():
    data = {"id": "Bad Id", "name": "学习月", "start": "2026-11-01", "end": "x", "pass_mark": 120,
            "plans": {}, "guidance": {"leader": "", "title": "t", "text": "x" * 3000}}
    with pytest.raises(ValidationError) as e:
        CampaignSpec.model_validate(data)
    shown = {f"{field_label(f)}：{m}" for f, m in _validation_problems(e.value)}
    assert shown == {"活动编号：格式不对（小写字母、数字、下划线）", "结束日期：应为日期，例如 2026-12-01",
                     "合格线：应不大于 100.0", "导学署名（姓名/职务）：不能为空",
                     "导学正文：不能超过 2000 个字"}


def test_the_cli_roster_import_and_campaign_load_are_audited_as_the_cli(tmp_path):
    from click.testing import CliRunner

    from grading.records import audit
    from grading.records.db import session_scope
    from grading.records.models import Course
    from hub_config.cli import main

    data = tmp_path / "data"
    url = f"sqlite:///{data / 'records.sqlite'}"
    sheet = tmp_path / "r.csv"
    sheet.write_text("账号,姓名,单位,身份,角色\nzhangsan,张三,海安市/城东镇,干部,学员\n", encoding="utf-8")
    moved = tmp_path / "m.csv"
    moved.write_text("账号,姓名,单位,身份,角色\nzhangsan,张三,海安市/城西镇,干部,学员\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["roster", "import", str(sheet), "--data-dir", str(data)]).exit_code == 0
    out = runner.invoke(main, ["roster", "import", str(moved), "--dry-run", "--data-dir", str(data)]).output
    assert "将调动单位 1 人：zhangsan（海安市/城东镇 → 海安市/城西镇）" in out
    [entry] = audit.entries(url, action="roster_import")
    assert entry.actor.startswith("cli:") and entry.client == "local" and entry.detail["file"] == "r.csv"
    with session_scope(url) as s:
        s.add(Course(id="c_all", title="通用课", audiences=[]))
    plan = tmp_path / "p.yaml"
    plan.write_text("id: m2026\nname: 学习月\nstart: 2026-11-01\nend: 2026-11-30\n"
                    "plans: {干部: {required: [c_all]}}\n"
                    "guidance: {leader: 王某/市长, title: 致全市干部, text: 学法}\n", encoding="utf-8")
    from grading.content.publish import load_campaign
    from grading.records import notices

    load_campaign(url, plan, actor="cli:test", client="local")
    [entry] = audit.entries(url, action="campaign_load")
    assert entry.detail["source"] == "p.yaml" and entry.detail["guidance"] is True
    with session_scope(url) as s:
        assert notices.home_guidance(s, "m2026")["leader"] == "王某/市长"

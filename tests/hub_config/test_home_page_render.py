"""我的学习 rendered as plain HTML by the learner's server (hub_config.home.page): the same
content and links as the old Voila page, the optional blocks only when the data has them, and
every value escaped."""

from __future__ import annotations

import re

from hub_config.home.page import Links, render_page

LINKS = Links("/user/ganbu1/", "/")
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def _module(cid="pingtai_rumen", **kw):
    m = {"course_id": cid, "title": "平台入门", "required": False, "hours": 0.5, "status": "未开始",
         "score": None, "lessons": ["lesson1.ipynb", "lesson2.ipynb"], "summary": "入门",
         "feedback": False}
    m.update(kw)
    return m


def _data(**kw):
    d = {"username": "ganbu1", "name": "张三", "audience_label": "干部",
         "campaign": {"name": "2026 干部学习月", "deadline": "2026-12-31", "days_left": 33,
                      "running": True, "pass_mark": 60},
         "required_passed": 0, "required_total": 1, "credited_hours": 0.5, "complete": False,
         "modules": [_module("fazhi_zhengfu", title="法治政府建设", required=True, status="未合格",
                             score=40.0, attempts_used=1, attempts_max=3, reveal="wrong"),
                     _module()],
         "guidance": None, "notices": [], "certificate": None, "law_review": None}
    d.update(kw)
    return d


def test_page_shows_campaign_modules_and_links(tmp_path):
    (tmp_path / "fazhi_zhengfu" / "module").mkdir(parents=True)  # fetched
    page = render_page(_data(), LINKS, tmp_path, xsrf_form="<input type='hidden' name='_xsrf' value='t'>")
    text = re.sub(r"<[^>]+>", "", page)
    assert "我的学习 · 2026 干部学习月" in text and "还剩 33 天" in text
    assert "必修课程已合格 0/1 门" in text and "合格线 60 分" in text
    assert text.index("必修课程") < text.index("法治政府建设") < text.index("选修课程") < text.index("平台入门")
    assert "已提交 1/3 次" in text and "未合格" in text and "最高 40 分" in text
    # fetched: lessons, the quiz and its results; not fetched: 开始学习 (a POST with the token)
    assert "/user/ganbu1/voila/render/fazhi_zhengfu/module/lesson1.ipynb" in page
    assert "/user/ganbu1/voila/render/fazhi_zhengfu/module/assessment.ipynb" in page
    assert "参加测试" in text and "查看成绩与解析" in text
    assert "<form method='post' action='/user/ganbu1/xuefa/learning/start/pingtai_rumen'>" in page
    assert "name='_xsrf'" in page and ">开始学习</button>" in page
    assert "/user/ganbu1/voila/render/%E6%88%91%E7%9A%84%E9%94%99%E9%A2%98%E6%9C%AC.ipynb" in page
    assert "href='/hub/xuefa/password'" in page and "刷新" in text
    # nothing measures time or ranks people; no optional block without data
    for absent in ("排名", "时长", "导学", "通知公告", "结业证书", "述法评议"):
        assert absent not in text, absent
    assert "<script" not in page  # the page needs no script at all


def test_ready_module_links_to_its_first_lesson(tmp_path):
    (tmp_path / "pingtai_rumen" / "module").mkdir(parents=True)
    page = render_page(_data(), LINKS, tmp_path, ready="pingtai_rumen")
    assert "已准备好" in page and "点击进入第一课" in page
    assert "学习中" in page  # fetched before any learning event arrived


def test_optional_blocks(tmp_path):
    data = _data(complete=True,
                 guidance={"leader": "市委书记 李明", "title": "学法用法", "text": "带头尊法学法守法用法。"},
                 notices=[{"title": "考试安排", "body": "12月20日前完成。", "posted_at": "2026-12-01"}],
                 certificate={"number": "HA-2026-0001", "url": "/hub/xuefa/certificate"},
                 law_review={"status": "已评议", "mean": 86.25, "url": "/hub/xuefa/law-review"})
    page = render_page(data, LINKS, tmp_path)
    text = re.sub(r"<[^>]+>", "", page)
    # 导学 first, above the campaign header
    assert text.index("导学 · 学法用法") < text.index("我的学习 · 2026")
    assert "市委书记 李明" in text and "带头尊法学法守法用法。" in text
    assert "通知公告" in text and "考试安排" in text and "2026-12-01" in text
    assert "<a class='btn primary' href='/hub/xuefa/certificate'>下载结业证书</a>" in page
    assert "HA-2026-0001" in text
    assert "状态：已评议，平均 86.2 分" in text or "状态：已评议，平均 86.3 分" in text
    assert "href='/hub/xuefa/law-review'" in page
    # the certificate only once the campaign is complete
    assert "下载结业证书" not in render_page(dict(data, complete=False), LINKS, tmp_path)


def test_hostile_text_is_escaped(tmp_path):
    data = _data(name=HOSTILE, audience_label=HOSTILE, campaign=dict(_data()["campaign"], name=HOSTILE),
                 modules=[_module(HOSTILE, title=HOSTILE, summary=HOSTILE, status=HOSTILE)],
                 guidance={"leader": HOSTILE, "title": HOSTILE, "text": HOSTILE},
                 notices=[{"title": HOSTILE, "body": HOSTILE, "posted_at": HOSTILE}],
                 complete=True, certificate={"number": HOSTILE, "url": "javascript:alert(1)"},
                 law_review={"status": HOSTILE, "mean": HOSTILE, "url": "//evil.example/x"})
    page = render_page(data, LINKS, tmp_path)
    assert "<script" not in page and "<img" not in page and "onerror=alert(2)>" not in page
    assert "javascript:" not in page and "evil.example" not in page
    assert "&lt;script&gt;" in page


def test_error_says_so_and_offers_refresh(tmp_path):
    page = render_page(None, LINKS, tmp_path, error="暂时无法读取学习记录，请稍后刷新页面")
    assert "role='alert'" in page and "暂时无法读取学习记录" in page
    assert "href='/user/ganbu1/xuefa/learning'>刷新</a>" in page


def test_failed_start_is_said_above_the_modules(tmp_path):
    page = render_page(_data(), LINKS, tmp_path, alert="课程准备失败，请稍后重试。")
    text = re.sub(r"<[^>]+>", "", page)
    assert text.index("课程准备失败") < text.index("平台入门")  # and the modules are still there


def test_header_and_card_escape_every_value():
    """Security finding 6 of issue 13, on the page that replaced the Voila one."""
    from pathlib import Path

    from hub_config.home.page import card_html, header_html

    evil = "<img src=x onerror=alert(1)>"
    head = header_html({"name": evil, "audience_label": evil, "required_passed": evil,
                        "required_total": 3, "credited_hours": evil, "complete": False,
                        "campaign": {"name": evil, "deadline": evil, "days_left": evil,
                                     "running": True, "pass_mark": evil}})
    card = card_html({"course_id": "c1", "title": evil, "summary": evil, "status": evil,
                      "hours": evil, "score": evil, "required": True}, LINKS, Path("/nonexistent"))
    assert "<img" not in head and "<img" not in card


def test_exam_rules_on_the_card():
    """已提交 n/m 次, the next try and the deadline in Beijing time, when the key opens."""
    from hub_config.home.page import exam_html

    card = exam_html(_module(attempts_used=1, attempts_max=3, next_at="2026-12-03T12:30:00+00:00",
                             closes="2026-12-31T18:00:00+08:00", reveal="wrong"))
    assert "已提交 <b>1/3</b> 次" in card and "下次可提交：2026-12-03 20:30" in card
    assert "考试截止：2026-12-31 18:00" in card and "通过测试、用完考试次数或考试结束后公布" in card
    done = exam_html(_module(attempts_used=3, attempts_max=3, reveal="key"))
    assert "考试机会已用完" in done and "答案与解析：<b>可查看</b>" in done
    assert exam_html(_module()) == ""  # no exam fields: nothing

"""述法评议: panels from the campaign plan, blind scoring, final reviews, the leader's outcome,
per-unit completion (grading.records.law_review, grading.reports.queries.law_review_by_unit)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import yaml

from grading.content.courses import FormatError, load_campaign_file
from grading.grader.rebuild import escape_text
from grading.records import audit, law_review
from grading.records.db import session_scope
from grading.records.models import (
    Audience,
    Campaign,
    CampaignCourse,
    Course,
    Learner,
    Result,
    Role,
    Unit,
)
from grading.reports import queries

RUBRIC = [{"item": "述法内容全面", "points": 30}, {"item": "事例数据真实", "points": 40},
          {"item": "问题整改具体", "points": 30}]
REVIEW = {"course": "shufa", "reviewers": ["admin", "trainer1", "ganbu2"], "rubric": RUBRIC}
NOW = datetime(2026, 12, 4, 8, 0)
REPORT = "本人带头学法。<script>alert(1)</script>\n第二段 *强调* [链接](http://x)"


def loader(texts: dict[str, str]):
    return lambda course, username: (texts[username], None) if username in texts else None


@pytest.fixture
def url(records_url):
    with session_scope(records_url) as s:
        city = Unit(path="海安市", name="海安市", level=0)
        s.add(city)
        s.flush()
        town = Unit(path="海安市/城东镇", name="城东镇", level=1, parent_id=city.id)
        dept = Unit(path="海安市/司法局", name="司法局", level=1, parent_id=city.id)
        s.add_all([town, dept])
        s.flush()
        people = [("admin", Role.admin, Audience.cadre, city), ("trainer1", Role.trainer, Audience.legal_staff, dept),
                  ("ganbu1", Role.learner, Audience.cadre, town), ("ganbu2", Role.learner, Audience.cadre, town),
                  ("ganbu3", Role.learner, Audience.cadre, dept), ("mingbai1", Role.learner, Audience.volunteer, town)]
        for username, role, aud, unit in people:
            s.add(Learner(username=username, name=username + "名", unit_id=unit.id, audience=aud, role=role))
        s.add(Course(id="shufa", title="领导干部述法", hours=2))
        camp = Campaign(id="c2026", name="学习月", start=date(2026, 11, 1), end=date(2026, 12, 31))
        camp.courses.append(CampaignCourse(course_id="shufa", audience=Audience.cadre, required=False))
        s.add(camp)
        s.flush()
        ids = {x.username: x.id for x in s.query(Learner)}
        # ganbu1 and ganbu2 handed in the report; ganbu3 only before the campaign and after it
        # ended (next year's report); mingbai1 is not in the plan's audience
        for who, when, outcome, attempt in [("ganbu1", datetime(2026, 11, 20), "needs_manual", 1),
                                            ("ganbu2", datetime(2026, 11, 21), "ok", 1),
                                            ("ganbu3", datetime(2026, 10, 1), "ok", 1),
                                            ("ganbu3", datetime(2027, 1, 1), "ok", 2),
                                            ("mingbai1", datetime(2026, 11, 20), "ok", 1)]:
            s.add(Result(learner_id=ids[who], course_id="shufa", assignment="module",
                         submitted_at=when, outcome=outcome, attempt=attempt))
    law_review.store_panel(records_url, "c2026", REVIEW)
    return records_url


def submit(url, reviewer, leader, scores=(20, 30, 20), comment="内容全面，事例具体。", **kw):
    return law_review.submit_review(url, "c2026", reviewer, leader, list(scores), comment,
                                    loader=loader({"ganbu1": REPORT, "ganbu2": "陈静的述法报告"}),
                                    now=kw.pop("now", NOW), client="127.0.0.1", **kw)


def test_campaign_yaml_review_block(tmp_path):
    base = {"id": "c2026", "name": "学习月", "start": "2026-11-01", "end": "2026-12-31",
            "plans": {"干部": {"required": ["shufa"]}}}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({**base, "review": REVIEW}, allow_unicode=True), encoding="utf-8")
    spec = load_campaign_file(p)
    assert spec.review.reviewers == ["admin", "trainer1", "ganbu2"] and spec.review.total_points == 100
    for bad, field in [({**REVIEW, "course": "tiaojie"}, "review.course"),
                       ({**REVIEW, "reviewers": ["admin", "admin"]}, "review.reviewers"),
                       ({**REVIEW, "rubric": [{"item": "述法", "points": -1}]}, "review.rubric")]:
        p.write_text(yaml.safe_dump({**base, "review": bad}, allow_unicode=True), encoding="utf-8")
        with pytest.raises(FormatError) as e:
            load_campaign_file(p)
        assert field in str(e.value), str(e.value)
    # the shipped plan carries a panel of demo roster accounts
    from grading.content.courses import courses_dir

    shipped = load_campaign_file(courses_dir() / "campaigns" / "xuexiyue_2026.yaml")
    assert shipped.review is not None and shipped.review.course == "shufa"
    roster = (courses_dir() / "demo" / "roster.csv").read_text(encoding="utf-8")
    assert all(f"\n{r}," in roster for r in shipped.review.reviewers)


def test_reviewers_must_be_on_the_roster(url):
    with pytest.raises(ValueError, match="review.reviewers.*nobody"):
        law_review.store_panel(url, "c2026", {**REVIEW, "reviewers": ["admin", "nobody"]})
    with session_scope(url) as s:
        s.query(Learner).filter_by(username="trainer1").one().active = False
    with pytest.raises(ValueError, match="trainer1"):
        law_review.store_panel(url, "c2026", REVIEW)
    # a platform with another roster loading the shipped plan: only those on its roster
    assert law_review.store_panel(url, "c2026", REVIEW, strict=False) == ["trainer1"]
    assert [x["username"] for x in law_review.reviewer_queue(url, "admin", now=NOW)[0]["leaders"]] == ["ganbu1", "ganbu2"]
    assert law_review.reviewer_queue(url, "trainer1", now=NOW) == []


def test_leaders_and_the_reviewers_queue(url):
    q = law_review.reviewer_queue(url, "admin", now=NOW)
    assert [x["username"] for x in q[0]["leaders"]] == ["ganbu1", "ganbu2"]
    # nobody reviews their own report
    assert [x["username"] for x in law_review.reviewer_queue(url, "ganbu2", now=NOW)[0]["leaders"]] == ["ganbu1"]
    assert law_review.reviewer_queue(url, "ganbu1", now=NOW) == []
    with pytest.raises(PermissionError):
        law_review.review_detail(url, "c2026", "ganbu1", "ganbu2", now=NOW)
    with pytest.raises(PermissionError):  # an unknown leader looks the same as someone else's
        law_review.review_detail(url, "c2026", "admin", "mingbai1", now=NOW)
    with pytest.raises(PermissionError):
        law_review.review_detail(url, "c2026", "ganbu2", "ganbu2", now=NOW)


def test_blind_until_submitted_then_final_and_the_mean_reaches_the_leader(url):
    submit(url, "admin", "ganbu1", (30, 40, 30), "很好，很全面。")
    d = law_review.review_detail(url, "c2026", "trainer1", "ganbu1", now=NOW)
    assert d["report"] == REPORT  # frozen at the first open
    assert d["mine"] is None and d["others"] == [] and d["mean"] is None
    assert "很好" not in repr(d)
    assert law_review.home_review(url, "ganbu1", now=NOW) == {
        "status": "评议中", "mean": None, "url": "/hub/xuefa/review"}
    out = law_review.my_outcomes(url, "ganbu1", now=NOW)[0]
    assert out["reviews"] == [] and out["n_submitted"] == 1 and out["n_panel"] == 3

    submit(url, "trainer1", "ganbu1", (20, 30, 20), "事例还可更具体。")
    d = law_review.review_detail(url, "c2026", "trainer1", "ganbu1", now=NOW)
    assert d["mine"]["total"] == 70 and [o["total"] for o in d["others"]] == [100]
    assert d["others"][0]["comment"] == "很好，很全面。" and d["mean"] == 85
    with pytest.raises(ValueError, match="不能修改"):
        submit(url, "trainer1", "ganbu1", (30, 40, 30))

    submit(url, "ganbu2", "ganbu1", (15, 30, 15), "整改措施要落实。")
    home = law_review.home_review(url, "ganbu1", now=NOW)
    assert home == {"status": "已完成", "mean": 76.7, "url": "/hub/xuefa/review"}
    out = law_review.my_outcomes(url, "ganbu1", now=NOW)[0]
    assert [r["label"] for r in out["reviews"]] == ["评议人1", "评议人2", "评议人3"]
    assert [r["comment"] for r in out["reviews"]] == ["很好，很全面。", "事例还可更具体。", "整改措施要落实。"]
    assert "admin" not in repr(out) and "trainer1" not in repr(out)  # anonymous to the leader
    assert law_review.home_review(url, "ganbu2", now=NOW)["status"] == "待评议"
    assert law_review.home_review(url, "mingbai1", now=NOW) is None

    acts = audit.entries(url, action="law_review")
    assert [(e.actor, e.target, e.detail["review_total"]) for e in acts] == [
        ("ganbu2", "ganbu1", 60), ("trainer1", "ganbu1", 70), ("admin", "ganbu1", 100)]
    # once reviews exist the rubric cannot change under them
    with pytest.raises(ValueError, match="review.rubric"):
        law_review.store_panel(url, "c2026", {**REVIEW, "rubric": RUBRIC[:2]})
    law_review.store_panel(url, "c2026", {**REVIEW, "reviewers": ["admin", "trainer1"]})


def test_scores_are_checked_against_the_rubric(url):
    for scores, msg in [((31, 0, 0), "0 到 30"), ((-1, 0, 0), "0 到 30"), (("abc", 0, 0), "数字"),
                        (("", 0, 0), "还没有打分"), ((1, 2), "每一项"), (("nan", 0, 0), "0 到 30"),
                        (("inf", 0, 0), "0 到 30")]:
        with pytest.raises(ValueError, match=msg):
            submit(url, "admin", "ganbu1", scores)
    with pytest.raises(ValueError, match="评议意见"):
        submit(url, "admin", "ganbu1", comment=" ")
    with pytest.raises(PermissionError):
        submit(url, "mingbai1", "ganbu1")
    # without a readable report there is nothing to score
    with pytest.raises(ValueError, match="正文"):
        law_review.submit_review(url, "c2026", "admin", "ganbu2", [1, 1, 1], "评议意见五个字",
                                 loader=loader({}), now=NOW)
    assert law_review.home_review(url, "ganbu1", now=NOW)["status"] == "待评议"


def test_window_and_closing_makes_the_outcome_final(url):
    law_review.store_panel(url, "c2026", {**REVIEW, "opens": "2026-12-05T00:00:00+08:00",
                                          "closes": "2026-12-10T00:00:00+08:00"})
    with pytest.raises(ValueError, match="尚未开始"):
        submit(url, "admin", "ganbu1")
    submit(url, "admin", "ganbu1", now=datetime(2026, 12, 6))
    assert law_review.home_review(url, "ganbu1", now=datetime(2026, 12, 6))["status"] == "评议中"
    with pytest.raises(ValueError, match="已截止"):
        submit(url, "trainer1", "ganbu1", now=datetime(2026, 12, 11))
    after = law_review.home_review(url, "ganbu1", now=datetime(2026, 12, 11))
    assert after == {"status": "已完成", "mean": 70.0, "url": "/hub/xuefa/review"}


def test_per_unit_completion(url):
    submit(url, "admin", "ganbu1")
    submit(url, "trainer1", "ganbu1")
    submit(url, "ganbu2", "ganbu1")
    submit(url, "admin", "ganbu2", (10, 10, 10))
    df = queries.law_review_by_unit(url, "c2026")
    row = df[df["unit"] == "城东镇"].iloc[0]
    assert (row["reports"], row["reviewed"], row["review_complete"]) == (2, 2, 1)
    assert row["review_mean"] == 70 and row["review_rate"] == 0.5
    assert set(queries.LABELS) >= {"reports", "reviewed", "review_complete", "review_mean"}
    people = queries.law_review_people(url, "c2026")
    assert list(people["username"]) == ["ganbu1", "ganbu2"]
    assert queries.law_review_by_unit(url, "no-such").empty
    # a unit administrator of 城东镇 sees only its people; 司法局 is outside
    with session_scope(url) as s:
        town, dept = (s.query(Unit).filter_by(name=n).one().id for n in ("城东镇", "司法局"))
    scoped = queries.law_review_by_unit(url, "c2026", scope=town)
    assert list(scoped["unit"]) == ["城东镇(本级)"] and scoped.iloc[0]["reports"] == 2
    assert queries.law_review_by_unit(url, "c2026", dept, scope=town).empty
    assert queries.law_review_people(url, "c2026", scope=dept).empty


def test_essay_text_reads_the_graded_notebook_as_typed(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_markdown_cell(escape_text(REPORT))
    cell.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "q11", "points": 40}
    nb.cells = [nbformat.v4.new_markdown_cell("# 题目"), cell]
    d = tmp_path / "autograded" / "ganbu1" / "module"
    d.mkdir(parents=True)
    nbformat.write(nb, str(d / "assessment.ipynb"))
    (d / "timestamp.txt").write_text("2026-11-20 08:00:00.000000 UTC", encoding="utf-8")
    text, at = law_review.essay_text(tmp_path, "ganbu1")
    assert text == REPORT and at == datetime(2026, 11, 20, 8)
    assert law_review.essay_text(tmp_path, "ganbu2") is None

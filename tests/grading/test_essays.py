"""阅卷 (grading.grader.essays): who may grade a course's essays, what is waiting, the learner's
text with the rubric, and saving score + comment into nbgrader's gradebook, finalised into the
Result (audited as the trainer) -- on the real 述法 course and a real gradebook."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import nbformat
import pytest

from grading.content.publish import publish_course
from grading.grader import essays
from grading.grader.manual import sync_manual
from grading.grader.rebuild import escape_text
from grading.records import audit, results
from grading.records.db import session_scope
from grading.records.models import Audience, Learner, Result, Role, Unit

# nbgrader's own add_submission (the fixture's) warns about its session; not ours
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

REPORT = "本人带头学法，全年组织会前学法 12 次。<script>alert(1)</script>\n第二段：负责人出庭应诉 2 件。"
SUBMITTED = datetime(2026, 11, 20, 8, 30, 15, 123456)


def submit_essay(datadir, username: str, text: str, when: datetime) -> int:
    """What the grading service leaves after autograding a 述法 submission: the gradebook
    submission (objective items scored, the report waiting), the rebuilt notebook in
    autograded/, and the needs_manual Result."""
    from nbgrader.api import Gradebook

    root = datadir.course_root("shufa")
    dest = root / "autograded" / username / "module"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    nb = nbformat.read(str(root / "release" / "module" / "assessment.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "q11":
            cell.source = escape_text(text)
    nbformat.write(nb, str(dest / "assessment.ipynb"))
    (dest / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    (dest / "submission_secret.txt").write_text(f"{username}-secret")  # nbgrader collect's
    with Gradebook(datadir.gradebook_url("shufa"), "shufa") as gb:
        gb.update_or_create_student(username)
        try:
            gb.remove_submission("module", username)
        except Exception:  # noqa: BLE001 - first attempt
            pass
        sub = gb.add_submission("module", username, timestamp=when)
        for nbk in sub.notebooks:
            for g in nbk.grades:
                if g.cell_type == "code":
                    g.auto_score = g.max_score if g.name <= "q05" else 0
                    g.needs_manual_grade = False
                else:
                    g.needs_manual_grade = True
        gb.db.commit()
    url = datadir.records_db_url
    details = [{"id": f"q{i:02d}", "points": 6.0 if i <= 5 else 0.0, "max_points": 6.0,
                "correct": i <= 5} for i in range(1, 11)] + [{"id": "q11", "points": 0.0, "max_points": 40.0}]
    with session_scope(url) as s:
        me = s.query(Learner).filter_by(username=username).one()
        n = s.query(Result).filter_by(learner_id=me.id, course_id="shufa").count()
        r = Result(learner_id=me.id, course_id="shufa", assignment="module", attempt=n + 1,
                   score=30, max_score=100, passed=False, outcome="needs_manual",
                   message="客观题已评分", details=details, submitted_at=when)
        s.add(r)
        s.flush()
        return r.id


@pytest.fixture
def shufa(datadir, records_url):
    with session_scope(records_url) as s:
        city = Unit(path="海安市", name="海安市", level=0)
        s.add(city)
        s.flush()
        town = Unit(path="海安市/城东镇", name="城东镇", level=1, parent_id=city.id)
        s.add(town)
        s.flush()
        for username, role, unit, scope in [
                ("ganbu1", Role.learner, town, None), ("trainer1", Role.trainer, city, None),
                ("trainer2", Role.trainer, city, None), ("admin", Role.admin, city, None),
                ("townadmin", Role.admin, town, town.id)]:
            s.add(Learner(username=username, name=username + "名", unit_id=unit.id,
                          audience=Audience.cadre, role=role, admin_scope_unit_id=scope))
    publish_course(datadir, "shufa")
    submit_essay(datadir, "ganbu1", REPORT, SUBMITTED)
    return datadir


def test_who_may_grade(shufa):
    url = shufa.records_db_url
    assert essays.course_trainers(shufa, "shufa") == ["trainer1"]  # the published course.yaml
    roles = {u: essays.grader_role(url, u) for u in ("ganbu1", "trainer1", "admin", "townadmin", "nobody")}
    assert roles == {"ganbu1": None, "trainer1": "trainer", "admin": "admin", "townadmin": None,
                     "nobody": None}
    assert essays.may_grade(shufa, "shufa", "trainer1", "trainer")
    assert not essays.may_grade(shufa, "shufa", "trainer2", "trainer")
    assert essays.may_grade(shufa, "shufa", "admin", "admin")
    assert not essays.may_grade(shufa, "shufa", "ganbu1", None)
    assert not essays.may_grade(shufa, "../shufa", "admin", "admin")
    # the trainers' workspace copy wins once it exists (they may add a colleague there)
    ws = shufa.workspace / "shufa"
    ws.mkdir(parents=True)
    (ws / "course.yaml").write_text("id: shufa\ntrainers: [trainer2]\n", encoding="utf-8")
    assert essays.course_trainers(shufa, "shufa") == ["trainer2"]
    assert essays.may_grade(shufa, "shufa", "trainer2", "trainer")
    assert not essays.may_grade(shufa, "shufa", "trainer1", "trainer")
    # a symlink planted in a workspace is not followed (to the published list, trainer1): the
    # last valid list holds, as on the authoring pages
    (ws / "course.yaml").unlink()
    (ws / "course.yaml").symlink_to(shufa.course_root("shufa") / "course.yaml")
    assert essays.course_trainers(shufa, "shufa") == ["trainer2"]


def test_lists_and_reads_the_report(shufa):
    courses = essays.gradable_courses(shufa, "trainer1", "trainer")
    assert courses == [{"course_id": "shufa", "title": "领导干部述法", "waiting": 1, "graded": 0}]
    assert essays.gradable_courses(shufa, "trainer2", "trainer") == []
    assert essays.gradable_courses(shufa, "ganbu1", None) == []
    [row] = essays.submissions(shufa, "shufa")
    assert (row["username"], row["name"], row["status"]) == ("ganbu1", "ganbu1名", essays.WAITING)
    e = essays.essay(shufa, "shufa", "ganbu1")
    assert e.status == essays.WAITING and e.unit_path == "海安市/城东镇"
    [item] = e.items
    assert item.id == "q11" and item.max_points == 40 and item.score is None
    assert item.text == REPORT  # as typed; the page escapes it
    assert item.stem.startswith("请撰写本人本年度述法报告")
    assert item.rubric.startswith("评分要点（共40分）") and "8分" in item.rubric
    assert essays.essay(shufa, "shufa", "trainer1") is None
    assert essays.essay(shufa, "shufa", "../ganbu1") is None


@pytest.mark.parametrize("raw,needle", [("41", "0 到 40 分之间"), ("-1", "0 到 40 分之间"),
                                        ("abc", "必须是数字"), ("", "请填写"), ("nan", "0 到 40"),
                                        ("inf", "0 到 40")])
def test_out_of_range_score_is_refused(shufa, raw, needle):
    with pytest.raises(essays.GradeError) as e:
        essays.save_grade(shufa, "shufa", "ganbu1", {"q11": raw}, {}, actor="trainer1")
    assert "“得分”" in str(e.value) and needle in str(e.value), str(e.value)
    assert results.effective_result(shufa.records_db_url, "ganbu1", "shufa", "module").outcome == "needs_manual"


def test_save_reaches_gradebook_result_and_audit(shufa):
    from nbgrader.api import Gradebook

    url = shufa.records_db_url
    e = essays.essay(shufa, "shufa", "ganbu1")
    with pytest.raises(essays.GradeError, match="评语"):
        essays.save_grade(shufa, "shufa", "ganbu1", {"q11": "30"}, {"q11": "长" * 2001}, actor="trainer1")
    with pytest.raises(essays.GradeError, match="重新提交"):
        essays.save_grade(shufa, "shufa", "ganbu1", {"q11": "30"}, {}, actor="trainer1",
                          stamp="2026-01-01T00:00:00.000000")
    done = essays.save_grade(shufa, "shufa", "ganbu1", {"q11": "30.5"},
                             {"q11": "事例具体。<b>败诉整改</b>还要写清楚。"},
                             actor="trainer1", stamp=e.stamp, client="10.0.0.9")
    assert done == {"score": 60.5, "max_score": 100.0}
    with Gradebook(shufa.gradebook_url("shufa"), "shufa") as gb:
        g = gb.find_grade("q11", "assessment", "module", "ganbu1")
        assert (g.manual_score, g.needs_manual_grade) == (30.5, False)
        assert gb.find_comment("q11", "assessment", "module", "ganbu1").manual_comment.startswith("事例具体")
    row = results.effective_result(url, "ganbu1", "shufa", "module")
    assert (row.outcome, row.score, row.passed) == ("ok", 60.5, True)
    assert "讲师评语：事例具体。<b>败诉整改</b>还要写清楚。" in row.message
    assert next(d for d in row.details if d["id"] == "q11")["points"] == 30.5
    [entry] = audit.entries(url, action="grade_manual")
    assert (entry.actor, entry.target, entry.client) == ("trainer1", "ganbu1", "10.0.0.9")
    assert entry.detail["score_to"] == 60.5
    # the released feedback HTML (评阅反馈 on 我的学习) carries the comment too
    released = list((shufa.exchange / "shufa" / "feedback").rglob("*.html"))
    assert released and any("败诉整改" in f.read_text(encoding="utf-8") for f in released), released
    # the periodic sync finds nothing left to do
    assert sync_manual(shufa) == 0
    assert essays.essay(shufa, "shufa", "ganbu1").items[0].score == 30.5
    assert essays.gradable_courses(shufa, "admin", "admin")[0]["graded"] == 1

    # a second look: the score can be corrected (audited again)
    essays.save_grade(shufa, "shufa", "ganbu1", {"q11": "10"}, {"q11": ""}, actor="admin")
    row = results.effective_result(url, "ganbu1", "shufa", "module")
    assert (row.score, row.passed) == (40.0, False) and "讲师评语" not in row.message
    assert [x.actor for x in audit.entries(url, action="grade_manual")] == ["admin", "trainer1"]


def test_a_new_attempt_replaces_the_one_waiting(shufa):
    url = shufa.records_db_url
    old = essays.essay(shufa, "shufa", "ganbu1").stamp
    later = datetime(2026, 11, 21, 9, 0, 0, 5)
    submit_essay(shufa, "ganbu1", "第二次提交的述法报告。", later)
    with pytest.raises(essays.GradeError, match="重新提交"):
        essays.save_grade(shufa, "shufa", "ganbu1", {"q11": "20"}, {}, actor="trainer1", stamp=old)
    e = essays.essay(shufa, "shufa", "ganbu1")
    assert e.items[0].text == "第二次提交的述法报告。"
    essays.save_grade(shufa, "shufa", "ganbu1", {"q11": "20"}, {}, actor="trainer1", stamp=e.stamp)
    rows = results.attempts(url, "ganbu1", "shufa", "module")
    assert [(r.attempt, r.outcome) for r in rows] == [(1, "needs_manual"), (2, "ok")]
    assert json.dumps(rows[1].details)  # still plain data

"""Question banks and per-learner papers (issue 14): the blueprint is met by every draw, papers
differ across learners and attempts but not across reloads, and nothing nbgrader releases or a
learner fetches holds a key, an explanation or a bank question."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import yaml

from grading.content.bank import (
    BlueprintError,
    check_blueprint,
    draw,
    load_bank,
    paper_seed,
    public,
    slot_notebook,
)
from grading.content.courses import CampaignSpec, FormatError, load_course, resolve_exam
from grading.content.publish import publish_course, source_digest
from grading.content.validate import course_context, course_items, parse_citations, validate_course

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"test-platform-secret"
COURSE = "banktest"
LAWS = ["未成年人保护法", "反家庭暴力法", "预防未成年人犯罪法"]


def _law(tag: str, art: int) -> str:
    return f"《中华人民共和国{tag}》第{art}条"


def fixture_bank() -> list[dict]:
    """40 questions: 14 single, 6 multiple, 10 true/false, 4 fill, 3 ordering, 3 cases; the third
    statute is rare (4 questions) so require_tags makes the draw retry."""
    qs: list[dict] = []
    levels = ["易", "中", "难"]

    def tag(i: int) -> str:
        return LAWS[2] if i % 10 == 3 else LAWS[i % 2]

    for i in range(14):
        qs.append({"id": f"s{i:02d}", "type": "single", "stem": f"单选题题干第{i}号：下列说法正确的是（  ）。",
                   "options": [f"甲{i}", f"乙{i}", f"丙{i}", f"丁{i}"], "key": "ABCD"[i % 4],
                   "explanation": f"单选题{i}的解析文字", "legal_basis": _law(tag(i), i + 1), "points": 6,
                   "difficulty": levels[i % 3], "tags": [tag(i)]})
    for i in range(6):
        qs.append({"id": f"m{i:02d}", "type": "multiple", "stem": f"多选题题干第{i}号：下列属于的有（  ）。",
                   "options": ["选项一", "选项二", "选项三", "选项四"], "key": ["ABC", "ABD", "BCD"][i % 3],
                   "explanation": f"多选题{i}的解析文字", "legal_basis": _law(tag(i + 20), i + 1), "points": 10,
                   "difficulty": levels[(i + 1) % 3], "tags": [tag(i + 20)], "partial": "subset"})
    for i in range(10):
        qs.append({"id": f"t{i:02d}", "type": "truefalse", "stem": f"判断题题干第{i}号：这种做法合法。",
                   "key": i % 2 == 0, "explanation": f"判断题{i}的解析文字",
                   "legal_basis": _law(tag(i + 1), i + 1), "points": 4, "difficulty": levels[(i + 2) % 3],
                   "tags": [tag(i + 1)]})
    for i in range(4):
        qs.append({"id": f"f{i:02d}", "type": "fill", "stem": f"填空题题干第{i}号：期限为____日。",
                   "key": [[f"{i + 10}个工作日", f"{i + 10}日以内"]], "explanation": f"填空题{i}的解析文字",
                   "legal_basis": _law(tag(i), 30 + i), "points": 5, "difficulty": levels[i % 3], "tags": [tag(i)]})
    for i in range(3):
        qs.append({"id": f"o{i:02d}", "type": "ordering", "stem": f"排序题题干第{i}号：请排列处置顺序。",
                   "options": ["报告", "制止", "记录", "配合"], "key": "BACD", "shuffle": False,
                   "explanation": f"排序题{i}的解析文字", "legal_basis": _law(tag(i + 1), 40 + i), "points": 5,
                   "difficulty": levels[(i + 1) % 3], "tags": [tag(i + 1)]})
    for i in range(3):
        qs.append({"id": f"c{i:02d}", "type": "case", "scenario": f"案例第{i}号：某村发生了一件事，村干部需要处理。",
                   "legal_basis": _law(LAWS[i], 50 + i), "points": 22, "difficulty": "难" if i else "中",
                   "tags": [LAWS[i]],
                   "questions": [
                       {"id": "a", "type": "truefalse", "stem": f"案例{i}小题一：应当报告。", "key": True,
                        "points": 6, "explanation": f"案例{i}小题一的解析"},
                       {"id": "b", "type": "single", "stem": f"案例{i}小题二：应当向谁报告（  ）。",
                        "options": ["公安机关", "邻居", "媒体"], "key": "A", "points": 6,
                        "explanation": f"案例{i}小题二的解析"},
                       {"id": "c", "type": "multiple", "stem": f"案例{i}小题三：正确做法有（  ）。",
                        "options": ["保护隐私", "避免二次伤害", "发到群里"], "key": "AB", "points": 10,
                        "explanation": f"案例{i}小题三的解析"}]})
    return qs


BLUEPRINT = {
    "sections": [{"type": "single", "count": 6, "points": 6}, {"type": "multiple", "count": 2, "points": 10},
                 {"type": "truefalse", "count": 3, "points": 4}, {"type": "fill", "count": 1, "points": 5},
                 {"type": "ordering", "count": 1, "points": 5}, {"type": "case", "count": 1, "points": 22}],
    "require_tags": LAWS,
    "difficulty": {"易": 5, "中": 6, "难": 3},
}


def make_course(root: Path, questions: list[dict] | None = None, blueprint: dict | None = None, **extra) -> Path:
    """A bank course folder: course.yaml with a blueprint, bank.yaml, one lesson."""
    cdir = root / COURSE
    (cdir / "source" / "module").mkdir(parents=True, exist_ok=True)
    shutil_src = ROOT / "courses" / "weichengnian" / "source" / "module" / "lesson1.ipynb"
    nb = nbformat.read(shutil_src, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace('course="weichengnian"', f'course="{COURSE}"')
    nbformat.write(nb, cdir / "source" / "module" / "lesson1.ipynb")
    spec = {"id": COURSE, "title": "题库测试课程", "audience": "全体", "hours": 1, "points": 100,
            "lessons": [{"file": "lesson1.ipynb", "title": "第一课"}],
            "assessment": {"file": "assessment.ipynb", "title": "结业测试", "manual": False},
            "blueprint": blueprint or BLUEPRINT, **extra}
    (cdir / "course.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (cdir / "bank.yaml").write_text(yaml.safe_dump({"questions": questions or fixture_bank()},
                                                   allow_unicode=True, sort_keys=False), encoding="utf-8")
    write_statutes(cdir)
    return cdir


def write_statutes(cdir: Path) -> None:
    """The statute table listing what the course cites (the table's own check is test_quality's)."""
    laws: dict[str, list[str]] = {}
    for it in course_items(course_context(cdir)):
        for c in parse_citations(it.legal_basis):
            laws.setdefault(c.law, [])
            laws[c.law] += [a for a in c.articles if a not in laws[c.law]]
    rows = [{"law": law, "version": "2020年修订", "articles": arts} for law, arts in laws.items()]
    text = yaml.safe_dump({"statutes": rows}, allow_unicode=True, sort_keys=False)
    (cdir / "statutes.yaml").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return make_course(tmp_path_factory.mktemp("bank"))


@pytest.fixture(scope="module")
def bank(course):
    return load_bank(course)


@pytest.fixture(scope="module")
def spec(course):
    return load_course(course)


def paper(bank, spec, user: str, attempt: int = 1, secret: bytes = SECRET) -> list[dict]:
    return draw(bank, spec.blueprint, paper_seed(secret, COURSE, "module", user, attempt))


def assert_meets_blueprint(p: list[dict], spec) -> None:
    bp = spec.blueprint
    assert [q["slot"] for q in p] == [f"s{i:02d}" for i in range(1, bp.count + 1)]
    assert len({q["id"] for q in p}) == len(p)
    i = 0
    for section in bp.sections:  # slots follow the sections in order
        for q in p[i:i + section.count]:
            assert q["type"] == section.type and q["points"] == section.points, (q["id"], section)
        i += section.count
    assert sum(q["points"] for q in p) == spec.points
    tags = {t for q in p for t in q["tags"]}
    assert set(bp.require_tags) <= tags
    assert Counter(q["difficulty"] for q in p) == Counter(bp.difficulty)
    for q in p:  # full questions, keys included (the records DB keeps them; learners get public())
        subs = q["questions"] if q["type"] == "case" else [q]
        assert all("key" in s and "explanation" in s for s in subs), q["id"]


def test_fixture_course_validates_statically(course):
    assert [str(p) for p in validate_course(course, execute=False)] == []


def test_200_learners_each_get_a_paper_meeting_the_blueprint(bank, spec):
    papers = {f"learner{i:03d}": paper(bank, spec, f"learner{i:03d}") for i in range(200)}
    for p in papers.values():
        assert_meets_blueprint(p, spec)
    sets = {frozenset(q["id"] for q in p) for p in papers.values()}
    assert len(sets) >= 190, len(sets)  # papers differ across learners (question sets)
    # every bank question that fits a section turns up on some paper
    drawn = {q["id"] for p in papers.values() for q in p}
    assert drawn == {q["id"] for q in bank.questions}


def test_reload_is_identical_and_a_new_attempt_differs(bank, spec):
    differ = 0
    for i in range(200):
        user = f"learner{i:03d}"
        first = paper(bank, spec, user, 1)
        assert paper(bank, spec, user, 1) == first  # the same (learner, attempt): the same paper
        second = paper(bank, spec, user, 2)
        assert_meets_blueprint(second, spec)
        differ += {q["id"] for q in second} != {q["id"] for q in first}
    assert differ >= 190, differ
    # the secret is part of the seed: another platform draws other papers
    assert paper(bank, spec, "learner000", secret=b"other") != paper(bank, spec, "learner000")


def test_draw_is_stable_across_processes(course, bank, spec):
    """A reload served by another service process (other hash seed) draws the same paper."""
    code = ("import json,sys\nfrom grading.content.bank import load_bank, draw, paper_seed\n"
            "from grading.content.courses import load_course\n"
            f"c = sys.argv[1]\np = draw(load_bank(c), load_course(c).blueprint, paper_seed({SECRET!r}, "
            f"'{COURSE}', 'module', 'learner007', 3))\nprint(json.dumps([q['id'] for q in p]))")
    out = subprocess.run([sys.executable, "-c", code, str(course)], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}, cwd=ROOT)
    assert json.loads(out.stdout) == [q["id"] for q in paper(bank, spec, "learner007", 3)]


def test_public_strips_key_explanation_and_partial_also_in_cases(bank, spec):
    p = paper(bank, spec, "learner001")
    for q in p:
        pub = public(q)
        assert pub["slot"] == q["slot"] and pub["id"] == q["id"]
        assert not {"key", "explanation", "partial"} & set(pub)
        for s in pub.get("questions", []):
            assert not {"key", "explanation", "partial"} & set(s)
    assert "key" in p[0]  # the drawn paper itself is untouched


def test_impossible_blueprint_is_refused_in_chinese(bank, spec):
    bp = spec.blueprint.model_copy(update={"require_tags": ["行政处罚法"]})
    with pytest.raises(BlueprintError, match="行政处罚法"):
        draw(bank, bp, 1)
    assert any("行政处罚法" in m for _, m in check_blueprint(bank, bp, 100))
    too_many = spec.blueprint.model_copy(update={"sections": [
        s.model_copy(update={"count": 15}) if s.type == "single" else s for s in spec.blueprint.sections]})
    problems = check_blueprint(bank, too_many, 100)
    assert ("blueprint.sections.0", "需要 15 道 6 分的单选题，题库中只有 14 道") in problems


def test_bad_bank_names_question_and_field_in_chinese(tmp_path):
    qs = fixture_bank()
    qs[0]["key"] = "E"  # s00: not an option
    del qs[1]["explanation"]  # s01
    qs[2]["legal_basis"] = "未成年人保护法第三条"  # s02: no 《》
    qs[15]["id"] = "m00"  # duplicate id
    qs[20]["key"] = "对"  # t00: not a bool
    qs[37]["points"] = 20  # c00: != 6 + 6 + 10
    qs[38]["questions"][1]["key"] = "D"  # c01 sub b: 3 options
    qs[5]["stem"] = qs[4]["stem"]  # s05 repeats s04
    cdir = make_course(tmp_path, qs)
    with pytest.raises(FormatError) as e:
        load_bank(cdir)
    got = dict(e.value.problems)
    assert "应为 ABCD 中的一个字母" in got["s00.key"]
    assert got["s01.explanation"] == "缺少解析 explanation"
    assert "书名号" in got["s02.legal_basis"]
    assert "题号 m00 重复" in got["m00.id"]
    assert "判断题的答案" in got["t00.key"]
    assert "与各小题分值合计 22 不一致" in got["c00.points"]
    assert "ABC" in got["c01.questions.b.key"]
    assert got["s05.stem"] == "题干与 s04 重复"
    # validate reports the same rows against bank.yaml
    problems = validate_course(cdir, execute=False)
    assert any(p.file == f"{COURSE}/bank.yaml" and p.field == "s00.key" for p in problems), [str(p) for p in problems]


def test_bank_needs_blueprint_and_hand_written_assessment_is_refused(tmp_path):
    cdir = make_course(tmp_path)
    text = (cdir / "course.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    del data["blueprint"]
    (cdir / "course.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    fixed = ROOT / "courses" / "pingtai_rumen" / "source" / "module" / "assessment.ipynb"
    (cdir / "source" / "module" / "assessment.ipynb").write_bytes(fixed.read_bytes())
    got = {(p.file, p.field): p.message for p in validate_course(cdir, execute=False)}
    assert "需要组卷规则 blueprint" in got[(f"{COURSE}/course.yaml", "blueprint")]
    assert "请删除手写的结业测试笔记本" in got[(f"{COURSE}/source/module/assessment.ipynb", "")]


def test_blueprint_points_must_add_up_to_course_points(tmp_path):
    bp = dict(BLUEPRINT, sections=BLUEPRINT["sections"][:-1], difficulty=None)  # no case: 78 points
    cdir = make_course(tmp_path, blueprint=bp)
    problems = validate_course(cdir, execute=False)
    assert any(p.field == "" and "blueprint 各部分分值合计 78" in p.message for p in problems), \
        [str(p) for p in problems]


def test_exam_rules_course_over_campaign_over_defaults(tmp_path):
    cdir = make_course(tmp_path, exam={"attempts": 2, "closes": "2026-12-31"})
    spec = load_course(cdir)
    camp = CampaignSpec.model_validate({"id": "xx_2026", "name": "学习月", "start": "2026-11-01",
                                        "end": "2026-12-31", "plans": {},
                                        "exam": {"attempts": 5, "counts": "last", "cooldown_minutes": 30}})
    rules = resolve_exam(spec, camp).rules()
    assert rules == {"attempts": 2, "cooldown_minutes": 30, "counts": "last", "opens": None,
                     "closes": "2027-01-01T00:00:00+08:00", "show": "wrong", "key": "after"}
    assert resolve_exam(spec).policy == "best" and resolve_exam(spec, camp).policy == "latest"
    bad = make_course(tmp_path / "bad", exam={"counts": "first"})
    got = {p.field: p.message for p in validate_course(bad, execute=False)}
    assert got["exam.counts"] == "取值应为 'best', 'last' 之一"
    bad = make_course(tmp_path / "bad2", exam={"opens": "2026-12-01", "closes": "2026-11-01"})
    got = {p.field: p.message for p in validate_course(bad, execute=False)}
    assert "应晚于" in got["exam"]


def test_slot_notebook_holds_no_question(bank, spec):
    nb = slot_notebook(spec)
    meta = [c.metadata["nbgrader"] for c in nb.cells]
    assert [m["grade_id"] for m in meta][:3] == ["setup", "instructions", "paper"]
    graded = [m for m in meta if m["grade"]]
    assert [m["grade_id"] for m in graded] == [f"s{i:02d}" for i in range(1, 15)]
    assert sum(m["points"] for m in graded) == 100 and all(m["locked"] for m in meta)
    text = json.dumps(nb, ensure_ascii=False)
    assert "共 14 题" in text and "3 次机会" in text
    for q in bank.questions:
        assert (q.get("stem") or q["scenario"]) not in text


def _secrets(bank) -> list[str]:
    out = []
    for q in bank.questions:
        out += [q.get("stem", ""), q.get("scenario", ""), q.get("explanation", "")]
        for s in q.get("questions", []):
            out += [s["stem"], s["explanation"]]
        if q["type"] == "fill":
            out += [v for blank in q["key"] for v in blank]
    return [s for s in out if s]


def test_released_and_fetched_files_hold_no_key_or_bank_question(datadir, course, bank, tmp_path, monkeypatch):
    """A REAL nbgrader generate + release (publish) and fetch (as a learner's kernel does)."""
    from widgets.exchange import exchange_app

    rep = publish_course(datadir, COURSE, source=course)
    root = datadir.course_root(COURSE)
    kept = root / "bank.yaml"
    assert kept.read_bytes() == (course / "bank.yaml").read_bytes()
    assert kept.stat().st_mode & 0o777 == 0o600  # every key is in it: root only
    assert (root / ".published.sha256").read_text().strip() == source_digest(course)

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("XUEFA_EXCHANGE", str(datadir.exchange))
    app = exchange_app("FetchAssignment", course=COURSE, assignment="module", assignment_dir=home,
                       path_includes_course=True, quiet=True)
    app.start()
    fetched = home / COURSE / "module"
    assert sorted(p.name for p in fetched.glob("*.ipynb")) == ["assessment.ipynb", "lesson1.ipynb"]

    secrets = _secrets(bank)
    checked = 0
    for where in (rep.released_to, root / "release" / "module", fetched):
        files = [p for p in where.rglob("*") if p.is_file()]
        assert not [p for p in files if p.name.endswith((".yaml", ".paper.json"))]
        for f in files:
            text = f.read_text(encoding="utf-8")
            checked += 1
            assert "HIDDEN TESTS" not in text and "grade_slot" not in text, f
            leaked = [s for s in secrets if s in text]
            assert not leaked, (f, leaked[:3])
            if f.name == "assessment.ipynb":
                nb = nbformat.reads(text, as_version=4)
                code = [c.source for c in nb.cells if c.cell_type == "code"]
                # setup, the paper, 14 emptied slot tests, submit
                assert code[1:] == ["xf.Paper()"] + [""] * 14 + ["xf.Submit()"]
    assert checked >= 6
    # the exchange holds no copy of the bank either
    assert not list(datadir.exchange.rglob("bank.yaml"))


def test_publish_stores_rules_and_policy(datadir, tmp_path):
    from grading.records.db import session_scope
    from grading.records.models import Assessment

    cdir = make_course(tmp_path, exam={"attempts": 2, "counts": "last"})
    publish_course(datadir, COURSE, source=cdir)
    with session_scope(datadir.records_db_url) as s:
        a = s.query(Assessment).filter_by(course_id=COURSE).one()
        assert a.policy == "latest" and a.max_score == 100
        assert a.rules == {"attempts": 2, "counts": "last"}  # only what the course sets


@pytest.mark.parametrize("cid", ["falv_yuanzhu", "jiceng_zhili", "tiaojie", "weichengnian", "xingzheng_zhifa"])
def test_converted_course_papers_hold_every_question_in_varying_order(cid):
    cdir = ROOT / "courses" / cid
    bank, spec = load_bank(cdir), load_course(cdir)
    assert not (cdir / "source" / "module" / "assessment.ipynb").exists()
    assert len(bank.questions) == 12 and spec.blueprint.count == 12
    orders = set()
    for i in range(20):
        p = draw(bank, spec.blueprint, paper_seed(SECRET, cid, "module", f"u{i}", 1))
        assert {q["id"] for q in p} == {q["id"] for q in bank.questions}
        orders.add(tuple(q["id"] for q in p))
    assert len(orders) > 1
    # ordered options (ages, durations, amounts) and ordering items keep their order
    for q in bank.questions:
        if q["type"] == "ordering":
            assert q["shuffle"] is False

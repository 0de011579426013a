"""Item quality checks of ``xuefa course validate`` (issue 17): every question cites a law and an
article (or says 无条文 and why), no multiple choice whose key is every option, no stem shared
with another course, the key is the uniquely longest option in at most a quarter of a course's
single-choice questions, options in a natural order (期限、金额) are not shuffled, and every
cited law and article is in the course's statute table (statutes.yaml) with its current version.

Each check fails on a small bad course (a bank course or a notebook course in a temp folder)
naming the file, the question and the field in Chinese; every shipped course passes them all."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from grading.content.validate import (
    QUALITY_CHECKS,
    check_all_correct,
    check_bank,
    check_citations,
    check_duplicate_stems,
    check_layout,
    check_longest_key,
    check_ordered_options,
    check_statutes,
    check_yaml,
    course_context,
    parse_citations,
    validate_course,
)
from grading.content.courses import load_course

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.parent.name for p in (ROOT / "courses").glob("*/course.yaml"))
READ = [check_yaml, check_bank, check_layout]
LAW = "《中华人民共和国行政处罚法》"


def single(qid: str, stem: str, options: list[str], key: str = "A", **extra) -> dict:
    return {"id": qid, "type": "single", "stem": stem, "options": options, "key": key,
            "explanation": f"{qid}的解析", "legal_basis": f"{LAW}第五十一条", "points": 10,
            "tags": ["行政处罚法"], **extra}


def filler(n: int, start: int = 0) -> list[dict]:
    """Single-choice questions of equal-length options: no check has anything to say about them."""
    return [single(f"s{i:02d}", f"第{i}号普通题干：下列做法正确的是（  ）。", ["甲做法", "乙做法", "丙做法", "丁做法"],
                   "ABCD"[i % 4]) for i in range(start, start + n)]


def bank_course(root: Path, cid: str, questions: list[dict]) -> Path:
    """A bank course whose blueprint draws every question (so only the item checks speak)."""
    cdir = root / cid
    (cdir / "source" / "module").mkdir(parents=True)
    nb = nbformat.read(ROOT / "courses" / "weichengnian" / "source" / "module" / "lesson1.ipynb", as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace('course="weichengnian"', f'course="{cid}"')
    # the lesson's own questions are weichengnian's: keep them out of the duplicate-stem check
    nb.cells = [c for c in nb.cells if "xf." not in c.source or "setup" in c.source]
    nbformat.write(nb, cdir / "source" / "module" / "lesson1.ipynb")
    sections: dict[tuple[str, float], int] = {}
    for q in questions:
        sections[(q["type"], q["points"])] = sections.get((q["type"], q["points"]), 0) + 1
    spec = {"id": cid, "title": "质量校验测试课程", "audience": "全体", "hours": 1,
            "points": sum(q["points"] for q in questions),
            "lessons": [{"file": "lesson1.ipynb", "title": "第一课"}],
            "assessment": {"file": "assessment.ipynb", "title": "结业测试", "manual": False},
            "blueprint": {"sections": [{"type": t, "count": n, "points": p} for (t, p), n in sections.items()]}}
    (cdir / "course.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (cdir / "bank.yaml").write_text(yaml.safe_dump({"questions": questions}, allow_unicode=True, sort_keys=False),
                                    encoding="utf-8")
    statutes(cdir, {LAW: ("2021年修订", sorted({a for q in questions for c in parse_citations(q["legal_basis"])
                                                for a in c.articles}))})
    return cdir


def statutes(cdir: Path, rows: dict) -> None:
    """statutes.yaml with ``{law: (version, [articles])}``."""
    data = {"statutes": [{"law": law, "version": v, "articles": list(arts)} for law, (v, arts) in rows.items()]}
    (cdir / "statutes.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def run(cdir: Path, check) -> list:
    return validate_course(cdir, execute=False, checks=[*READ, check])


def only(problems: list, file: str, field: str):
    hits = [p for p in problems if p.file == file and p.field == field]
    assert len(hits) == 1, [str(p) for p in problems]
    return hits[0]


@pytest.mark.parametrize("course", SHIPPED)
def test_every_shipped_course_passes_the_quality_checks(course):
    assert [str(p) for p in validate_course(ROOT / "courses" / course, execute=False,
                                            checks=[*READ, *QUALITY_CHECKS])] == []


def test_citation_without_article_fails_and_no_article_needs_a_reason(tmp_path):
    qs = filler(9) + [single("q01", "只写了章节的题目：简易程序的罚款上限是（  ）。", ["甲", "乙", "丙", "丁"],
                             legal_basis=f"{LAW}第五章第一节")]
    cdir = bank_course(tmp_path, "cite", qs)
    p = only(run(cdir, check_citations), "cite/bank.yaml", "q01.legal_basis")
    assert "第几条" in p.message and "无条文" in p.message
    assert "cite/bank.yaml [q01.legal_basis]" in str(p)

    qs[-1]["legal_basis"] = f"{LAW}（无条文）"  # the reason is missing
    assert run(bank_course(tmp_path / "b", "cite", qs), check_citations)
    qs[-1]["legal_basis"] = f"{LAW}（无条文：该原则来自政策文件，不分条）"
    assert run(bank_course(tmp_path / "c", "cite", qs), check_citations) == []


def test_citation_without_article_in_a_notebook_names_its_cell(tmp_path):
    cdir = tmp_path / "pingtai_rumen"
    shutil.copytree(ROOT / "courses" / "pingtai_rumen", cdir)
    path = cdir / "source" / "module" / "lesson1.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "xf.TrueFalse(\n    id='l1_x',\n    stem='执法人员可以一个人执法。',\n    key=False,\n"
        "    explanation='不得少于两人。',\n    legal_basis='《中华人民共和国行政处罚法》',\n)"))
    nbformat.write(nb, path)
    p = only(run(cdir, check_citations), "pingtai_rumen/source/module/lesson1.ipynb", "l1_x.legal_basis")
    assert p.cell == len(nb.cells)
    assert f"lesson1.ipynb 第{len(nb.cells)}个单元格 [l1_x.legal_basis]" in str(p)


def test_multiple_choice_with_every_option_correct_fails(tmp_path):
    allright = {"id": "m01", "type": "multiple", "stem": "下列属于法律援助形式的有（  ）。",
                "options": ["法律咨询", "代拟法律文书", "值班律师法律帮助"], "key": "ABC",
                "explanation": "都是。", "legal_basis": "《中华人民共和国法律援助法》第二十二条", "points": 10}
    cdir = bank_course(tmp_path, "allright", filler(9) + [allright])
    p = only(run(cdir, check_all_correct), "allright/bank.yaml", "m01.key")
    assert "全部选项" in p.message

    allright["options"].append("代为垫付诉讼费用")
    assert run(bank_course(tmp_path / "ok", "allright", filler(9) + [allright]), check_all_correct) == []


def test_multiple_choice_all_correct_inside_a_case_names_the_sub_question(tmp_path):
    case = {"id": "c01", "type": "case", "scenario": "某村民申请法律援助，法律明白人帮他准备材料。", "points": 10,
            "legal_basis": "《中华人民共和国法律援助法》第二十二条",
            "questions": [{"id": "a", "type": "multiple", "stem": "可以提供的法律援助有（  ）。",
                           "options": ["法律咨询", "代拟法律文书"], "key": "AB", "explanation": "都是。", "points": 10}]}
    cdir = bank_course(tmp_path, "casecheck", filler(9) + [case])
    only(run(cdir, check_all_correct), "casecheck/bank.yaml", "c01.questions.a.key")


def test_stem_repeated_in_another_course_fails_in_both(tmp_path):
    stem = "重大行政决策的法定程序包括（  ）。"
    mine = single("q01", stem, ["公众参与", "上级审批", "网络投票", "领导签字"])
    theirs = single("q07", "根据《重大行政决策程序暂行条例》，" + stem, ["公众参与", "上级审批", "网络投票", "领导签字"])
    a = bank_course(tmp_path, "course_a", filler(9) + [mine])
    b = bank_course(tmp_path, "course_b", filler(9, start=20) + [theirs])
    pa = only(run(a, check_duplicate_stems), "course_a/bank.yaml", "q01.stem")
    assert "其他课程" in pa.message and "course_b/bank.yaml（q07）" in pa.message
    pb = only(run(b, check_duplicate_stems), "course_b/bank.yaml", "q07.stem")
    assert "course_a/bank.yaml（q01）" in pb.message

    theirs["stem"] = "重大行政决策草案提交讨论前必须经过的程序是（  ）。"
    b = bank_course(tmp_path / "fixed", "course_b", filler(9, start=20) + [theirs])
    shutil.copytree(a, tmp_path / "fixed" / "course_a")
    assert run(b, check_duplicate_stems) == []


def test_key_uniquely_longest_in_over_a_quarter_of_singles_fails(tmp_path):
    longest = [single(f"k{i}", f"第{i}号答案最长的题：申请人应当向（  ）提出。",
                      ["人民法院", "设立该法律援助机构的司法行政部门", "律师协会", "信访部门"], "B") for i in range(3)]
    cdir = bank_course(tmp_path, "longest", filler(7) + longest)  # 3 of 10 > a quarter
    p = only(run(cdir, check_longest_key), "longest/bank.yaml", "options")
    assert "10 道单选题中有 3 道" in p.message and "k0、k1、k2" in p.message

    # two of ten is within a quarter; a tie for the longest is not "uniquely" longest
    longest[2]["options"][0] = "设立该法律援助机构的人民法院庭室"
    assert run(bank_course(tmp_path / "ok", "longest", filler(7) + longest), check_longest_key) == []


def test_ordered_options_that_are_shuffled_fail(tmp_path):
    days = single("q01", "当事人要求听证的，应当在行政机关告知后（  ）内提出。", ["三日", "五日", "七日", "十五日"], "B")
    case = {"id": "c01", "type": "case", "scenario": "某小区 300 户业主参与表决，拟使用维修资金更换电梯。", "points": 10,
            "legal_basis": "《中华人民共和国民法典》第二百七十八条",
            "questions": [{"id": "b", "type": "single", "stem": "至少需要多少户同意？",
                           "options": ["151 户", "200 户", "225 户", "267 户"], "key": "A", "explanation": "过半数。",
                           "points": 10}]}
    cdir = bank_course(tmp_path, "ordered", filler(8) + [days, case])
    problems = run(cdir, check_ordered_options)
    assert "shuffle: false" in only(problems, "ordered/bank.yaml", "q01.shuffle").message
    only(problems, "ordered/bank.yaml", "c01.questions.b.shuffle")

    days["shuffle"] = False
    case["questions"][0]["shuffle"] = False
    assert run(bank_course(tmp_path / "ok", "ordered", filler(8) + [days, case]), check_ordered_options) == []


def test_quality_problems_fail_the_cli(tmp_path):
    """``xuefa course validate`` exits non-zero and prints the Chinese message."""
    import subprocess

    bad = single("q01", "只写了法律名称的题目：简易程序的罚款上限是（  ）。", ["甲", "乙", "丙", "丁"], legal_basis=LAW)
    cdir = bank_course(tmp_path, "clibad", filler(9) + [bad])
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "xuefa"), "course", "validate", "--quick", str(cdir)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0, r.stdout
    assert "clibad/bank.yaml [q01.legal_basis]" in r.stdout and "第几条" in r.stdout, r.stdout + r.stderr


# --- statute table ------------------------------------------------------------------------------

DEPARTMENT_COURSES = {"xingzheng_zhifa": "综合行政执法", "weichengnian": "检察院", "falv_yuanzhu": "司法局",
                      "tiaojie": "司法局"}


def test_citations_are_split_per_law_and_reasons_cite_nothing():
    cites = parse_citations("《中华人民共和国行政复议法》第二十条；《中华人民共和国行政诉讼法》第四十五条、第三条第三款")
    assert [(c.law, c.articles) for c in cites] == [("《中华人民共和国行政复议法》", ("第二十条",)),
                                                    ("《中华人民共和国行政诉讼法》", ("第四十五条", "第三条"))]
    # an article or a law named in the reason for 无条文 is not cited
    cites = parse_citations("《业主大会和业主委员会指导规则》（无条文：民法典第二百七十七条只规定可以设立，见《某市工作指引》）；"
                            f"{LAW}第5条")
    assert [(c.law, c.articles, c.no_article) for c in cites] == [
        ("《业主大会和业主委员会指导规则》", (), True), (LAW, ("第5条",), False)]
    cites = parse_citations("《某某工作意见》（无条文：意见不分条）；《另一份工作意见》（无条文：也不分条）")
    assert [c.no_article for c in cites] == [True, True]


def test_cited_law_or_article_missing_from_the_table_fails(tmp_path):
    qs = filler(9) + [single("q01", "调查取证时执法人员应当出示证件吗（  ）？", ["甲", "乙", "丙", "丁"],
                             legal_basis=f"{LAW}第五十五条；《中华人民共和国行政强制法》第十八条")]
    cdir = bank_course(tmp_path, "table", qs)
    statutes(cdir, {LAW: ("2021年修订", ["第51条"])})  # 第五十一条 written in digits is the same article
    problems = run(cdir, check_statutes)
    assert [str(p) for p in problems] == [
        "table/bank.yaml [q01.legal_basis]: 引用的《中华人民共和国行政处罚法》第五十五条不在法条表 statutes.yaml "
        "该法律的 articles 中，请核对条文后补入表中",
        "table/bank.yaml [q01.legal_basis]: 引用的《中华人民共和国行政强制法》不在法条表 statutes.yaml 中，"
        "请在表中列出它的现行版本和引用的条文"]

    statutes(cdir, {LAW: ("2021年修订", ["第五十一条", "第五十五条"])})
    p = only(run(cdir, check_statutes), "table/bank.yaml", "q01.legal_basis")
    assert "《中华人民共和国行政强制法》不在法条表" in p.message

    statutes(cdir, {LAW: ("2021年修订", ["第五十一条", "第五十五条"]),
                    "《中华人民共和国行政强制法》": ("2011年公布", ["第十八条"])})
    assert run(cdir, check_statutes) == []


def test_no_article_citation_needs_no_row_and_a_version_is_required(tmp_path):
    qs = filler(9) + [single("q01", "意见要求的做法是（  ）。", ["甲", "乙", "丙", "丁"],
                             legal_basis="《关于实行国家机关“谁执法谁普法”普法责任制的意见》（无条文：该意见分部分编排，不分条）")]
    cdir = bank_course(tmp_path, "noart", qs)
    assert run(cdir, check_statutes) == []

    statutes(cdir, {LAW: ("", ["第五十一条"])})
    p = only(run(cdir, check_statutes), "noart/statutes.yaml", "statutes.0.version")
    assert "现行版本不能为空" in p.message
    (cdir / "statutes.yaml").write_text("statutes:\n- law: 中华人民共和国行政处罚法\n  version: 2021年修订\n"
                                        "  articles: [五十一]\n", encoding="utf-8")
    problems = run(cdir, check_statutes)
    assert "书名号" in only(problems, "noart/statutes.yaml", "statutes.0.law").message
    assert "第X条" in only(problems, "noart/statutes.yaml", "statutes.0.articles").message


def test_course_citing_articles_without_a_table_fails(tmp_path):
    cdir = bank_course(tmp_path, "notable", filler(10))
    (cdir / "statutes.yaml").unlink()
    p = only(run(cdir, check_statutes), "notable/statutes.yaml", "")
    assert "缺少法条表" in p.message and LAW in p.message


def test_shipped_tables_give_a_version_for_every_law():
    for course in SHIPPED:
        path = ROOT / "courses" / course / "statutes.yaml"
        if not path.exists():
            continue  # a course citing nothing needs none; the quality test above says if one does
        rows = yaml.safe_load(path.read_text(encoding="utf-8"))["statutes"]
        assert all(str(r["version"]).strip() for r in rows), course
    table = yaml.safe_load((ROOT / "courses" / "weichengnian" / "statutes.yaml").read_text(encoding="utf-8"))
    versions = {r["law"]: r["version"] for r in table["statutes"]}
    assert versions["《中华人民共和国未成年人保护法》"] == "2020年修订、2024年修正"


@pytest.mark.parametrize("course", sorted(DEPARTMENT_COURSES))
def test_department_course_names_its_department_and_ends_with_a_case(course):
    """谁执法谁讲法: the department in course.yaml, atop lesson 1, and a 践学 case with practice
    questions closing the last lesson."""
    spec = load_course(ROOT / "courses" / course)
    assert DEPARTMENT_COURSES[course] in spec.department
    ctx = course_context(ROOT / "courses" / course)
    first = ctx.notebooks[spec.lessons[0].file].nb
    md = [c.source for c in first.cells if c.cell_type == "markdown"]
    assert f"部门负责人讲学：{spec.department}" in md[1], md[:2]
    last = ctx.notebooks[spec.lessons[-1].file]
    cases = [i for i, c in enumerate(last.nb.cells, 1) if c.cell_type == "markdown" and "践学案例" in c.source]
    assert cases and spec.department in last.nb.cells[cases[-1] - 1].source
    assert len([q for q in last.questions if q.cell > cases[-1]]) >= 1
    assert last.nb.cells[-1].source.startswith("xf.Section(")


def test_fazhi_zhengfu_teaches_public_lawyers_and_legality_review():
    """Issue 17: 公职律师 and 合法性审查 / 重新审查 sections, each with practice questions."""
    ctx = course_context(ROOT / "courses" / "fazhi_zhengfu")
    cited = {}
    for name in ("lesson1.ipynb", "lesson2.ipynb"):
        for q in ctx.notebooks[name].questions:
            cited[q.id if name == "lesson1.ipynb" else f"2.{q.id}"] = q.kwargs.get("legal_basis", "")
    assert "《中华人民共和国律师法》第十一条" in cited["l1_04"] and "《公职律师管理办法》第五条" in cited["l1_05"]
    assert "《重大行政决策程序暂行条例》第二十五条" in cited["2.l2_04"]
    assert "《中华人民共和国行政处罚法》第七十五条" in cited["2.l2_06"]
    sections = {n: [c.source for c in ctx.notebooks[n].nb.cells if c.source.startswith("xf.Section(")]
                for n in ("lesson1.ipynb", "lesson2.ipynb")}
    assert sections["lesson1.ipynb"][-1] == "xf.Section('三、公职律师')"
    assert sections["lesson2.ipynb"][-1] == "xf.Section('三、合法性审查')"

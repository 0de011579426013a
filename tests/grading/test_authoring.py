"""Questions written as Markdown (issue 15): the syntax, its errors in Chinese naming notebook,
cell and field, compilation into ``xf.<Class>`` cells, the preview blocks, and a course whose
lessons hold no code cell at all validating and publishing like any other."""

from __future__ import annotations

import ast
import copy
import json
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grading.content.authoring import (
    BLANK_RE,
    AuthoringError,
    compile_notebook,
    parse_question,
    preview_blocks,
    question_markdown,
)
from grading.content.validate import parse_notebook, validate_course

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = """【单选题 l1_q1】当事人要求听证的，应当在行政机关告知后（  ）内提出。
A. 三日
B. 五日
C. 七日
D. 十五日
答案：B
解析：当事人要求听证的，应当在行政机关告知后五日内提出。
法律依据：《中华人民共和国行政处罚法》第六十四条
分值：2"""

LAW = "法律依据：《中华人民共和国行政处罚法》第六十四条"


def _errors(text: str, where: str = "lesson1.ipynb 第3个单元格") -> list[tuple[str, str]]:
    with pytest.raises(AuthoringError) as e:
        parse_question(text, default_id="lesson1_1", where=where)
    return e.value.problems


def _nb(*sources: str) -> nbformat.NotebookNode:
    cells = [new_markdown_cell(s) for s in sources]
    for i, c in enumerate(cells, 1):
        c["id"] = f"c{i}"
    return new_notebook(cells=cells)


# --- the syntax -----------------------------------------------------------------------------


def test_the_contract_example_is_a_bank_item():
    assert parse_question(EXAMPLE, default_id="x_1") == {
        "id": "l1_q1", "type": "single", "stem": "当事人要求听证的，应当在行政机关告知后（  ）内提出。",
        "options": ["三日", "五日", "七日", "十五日"], "key": "B",
        "explanation": "当事人要求听证的，应当在行政机关告知后五日内提出。",
        "legal_basis": "《中华人民共和国行政处罚法》第六十四条", "points": 2.0, "difficulty": "中",
        "tags": [], "shuffle": True}


def test_every_type_and_optional_field_as_trainers_type_them():
    multiple = parse_question(
        "【多选题】下列属于行政处罚的有（  ）。\n- A、警告\n- B、罚款\n- C、记过\n- D、吊销许可证\n"
        "**答案**：A、B、D\n解析：记过是处分。\n" + LAW + "\n分值:4\n难度：难\n知识点：行政处罚法，处罚种类\n"
        "乱序：否\n部分得分：少选得一半分", default_id="lesson1_2")
    assert multiple["key"] == "ABD" and multiple["id"] == "lesson1_2"
    assert multiple["options"] == ["警告", "罚款", "记过", "吊销许可证"]
    assert (multiple["difficulty"], multiple["tags"], multiple["shuffle"], multiple["partial"]) == (
        "难", ["行政处罚法", "处罚种类"], False, "subset")
    assert multiple["points"] == 4

    tf = parse_question("【判断题 l1_tf】村民委员会可以设定罚款。\n答案：错\n解析：不能。\n" + LAW,
                        default_id="x")
    assert tf["key"] is False and "options" not in tf and tf["points"] == 1  # default 分值

    fill = parse_question("【填空题】复议申请应在____日内提出，情况特殊的最长____个月。\n答案：六十|60；六|6\n"
                          "解析：见条文。\n" + LAW + "\n部分得分：proportional", default_id="x_3")
    assert fill["key"] == [["六十", "60"], ["六", "6"]] and fill["partial"] == "proportional"

    order = parse_question("[排序 l1_order] 行政处罚的一般程序依次是（  ）。\nA．调查取证\nB．立案\nC．作出决定\n"
                           "D．告知\n答案：B→A→D→C\n解析：先立案。\n" + LAW, default_id="x")
    assert order["type"] == "ordering" and order["key"] == "BADC" and order["id"] == "l1_order"

    multi_line = parse_question("【单选题】甲村与乙村因山林界线发生争议。\n\n下列说法正确的是（  ）。\nA. 甲\nB. 乙\n"
                                "答案：Ａ\n解析：第一行。\n第二行。\n" + LAW, default_id="x")
    assert multi_line["stem"] == "甲村与乙村因山林界线发生争议。\n\n下列说法正确的是（  ）。"
    assert multi_line["explanation"] == "第一行。\n第二行。" and multi_line["key"] == "A"


@pytest.mark.parametrize("text", ["# 第一课", "【注意】本课约需二十分钟。", "答案：B", "", "A. 三日\n答案：A",
                                  "正文【单选题】不在第一行"])
def test_anything_without_the_type_tag_is_ordinary_markdown(text):
    assert parse_question(text, default_id="x") is None


def test_wrong_answer_letter_names_cell_and_field_in_chinese():
    problems = _errors(EXAMPLE.replace("答案：B", "答案：E"))
    assert problems == [("lesson1.ipynb 第3个单元格 [答案]", problems[0][1])]
    assert "ABCD" in problems[0][1]


def test_every_problem_of_a_cell_is_listed_at_once():
    text = "【多选题 Bad-Id】下列\nA. 甲\nC. 乙\n答案：AE\n分值：零"
    where = {w: m for w, m in _errors(text)}
    assert set(where) == {f"lesson1.ipynb 第3个单元格 [{f}]" for f in ("题号", "选项", "解析", "法律依据", "分值")}
    assert "应为 B" in where["lesson1.ipynb 第3个单元格 [选项]"]
    assert "大于 0" in where["lesson1.ipynb 第3个单元格 [分值]"]


@pytest.mark.parametrize("edit, field, words", [
    (("解析：当事人要求听证的，应当在行政机关告知后五日内提出。\n", ""), "解析", "缺少解析"),
    ((LAW + "\n", ""), "法律依据", "缺少法律依据"),
    ((LAW, "法律依据：行政处罚法第六十四条"), "法律依据", "书名号"),
    (("分值：2", "分值：-1"), "分值", "大于 0"),
    (("分值：2", "分值：2\n难度：很难"), "难度", "易、中、难"),
    (("分值：2", "分值：2\n乱序：也许"), "乱序", "是 或 否"),
    (("分值：2", "分值：2\n部分得分：全部"), "部分得分", "subset"),
    (("分值：2", "分值：2\n部分得分：subset"), "部分得分", "部分得分"),
    (("B. 五日", "B. 三日"), "选项", "重复"),
    (("答案：B", "答案：B\n答案：C"), "答案", "两次"),
    (("C. 七日", "C. 七日\n七日以上"), "选项", "每个选项一行"),
    (("【单选题 l1_q1】当事人要求听证的，应当在行政机关告知后（  ）内提出。", "【单选题 l1_q1】"), "题干", "缺少题干"),
])
def test_problems_name_the_field(edit, field, words):
    problems = _errors(EXAMPLE.replace(*edit))
    hits = [m for w, m in problems if w == f"lesson1.ipynb 第3个单元格 [{field}]"]
    assert hits and words in hits[0], problems
    assert all(not any(c.isascii() and c.isalpha() for c in w.split("[")[1]) for w, _ in problems)


def test_type_specific_problems():
    tf = "【判断题】村委会可以罚款。\nA. 对\nB. 错\n答案：是的\n解析：x\n" + LAW
    fields = {w.split("[")[1][:-1]: m for w, m in _errors(tf)}
    assert "不应有选项" in fields["选项"] and "对 或 错" in fields["答案"]
    fill = "【填空题】期限为____日。\n答案：六十；六\n解析：x\n" + LAW
    assert "题干中有 1 个空" in dict(_errors(fill))["lesson1.ipynb 第3个单元格 [答案]"]
    no_blank = "【填空题】期限为多少日？\n答案：六十\n解析：x\n" + LAW
    assert "____" in dict(_errors(no_blank))["lesson1.ipynb 第3个单元格 [题干]"]
    ordering = "【排序题】顺序是\nA. 一\nB. 二\nC. 三\n答案：AB\n解析：x\n" + LAW
    assert "每个字母各排一次" in dict(_errors(ordering))["lesson1.ipynb 第3个单元格 [答案]"]
    no_options = "【单选题】哪一个？\n答案：A\n解析：x\n" + LAW
    assert "缺少选项" in dict(_errors(no_options))["lesson1.ipynb 第3个单元格 [选项]"]


def test_case_questions_are_not_markdown_questions():
    problems = _errors("【案例分析题 c1】张某……\n答案：A")
    assert problems[0][0] == "lesson1.ipynb 第3个单元格 [题型]" and "题库" in problems[0][1]


@pytest.mark.parametrize("text", [
    EXAMPLE,
    "【多选题 m1】下列属于（  ）。\nA. 甲\nB. 乙\nC. 丙\n答案：AC\n解析：x。\n" + LAW + "\n分值：2.5\n难度：易\n"
    "知识点：甲、乙\n乱序：否\n部分得分：按比例得分",
    "【判断题 t1】对吗？\n答案：对\n解析：x。\n" + LAW,
    "【填空题 f1】____和____。\n答案：甲|A；乙\n解析：x。\n" + LAW + "\n部分得分：全对才得分",
    "【排序题 o1】排序（  ）。\nA. 一\nB. 二\nC. 三\n答案：CAB\n解析：x。\n" + LAW,
])
def test_question_markdown_is_the_inverse_of_parse_question(text):
    item = parse_question(text, default_id="x_1")
    md = question_markdown(item)
    assert parse_question(md, default_id="other_9") == item
    assert question_markdown(parse_question(md, default_id="y")) == md


def test_blank_pattern_is_the_widgets_one():
    from widgets.questions import BLANK_RE as WIDGETS_BLANK_RE

    assert BLANK_RE.pattern == WIDGETS_BLANK_RE.pattern


# --- compilation ----------------------------------------------------------------------------


def test_markdown_only_notebook_compiles_to_setup_and_question_cells():
    nb = _nb("# 第一课 行政处罚", "正文。", EXAMPLE, "【判断题】村委会可以罚款。\n答案：错\n解析：不能。\n" + LAW)
    before = copy.deepcopy(nb)
    out = compile_notebook(nb, course_id="xzcf", notebook="lesson1.ipynb")
    assert nb == before  # the trainer's notebook is not touched
    assert [c.cell_type for c in out.cells] == ["code", "markdown", "markdown", "code", "code"]
    setup = out.cells[0].source
    assert 'course="xzcf"' in setup and 'mode="practice"' in setup
    assert 'notebook="lesson1.ipynb"' in setup and 'lesson="lesson1"' in setup
    assert out.cells[3]["id"] == "c3" and out.cells[3].metadata["xuefa"]["authored"] == "markdown"
    info = parse_notebook(out, "lesson1.ipynb")
    assert info.mode == "practice"
    assert [(q.cls, q.id, q.cell) for q in info.questions] == [("SingleChoice", "l1_q1", 4), ("TrueFalse", "lesson1_2", 5)]
    q = info.questions[0].kwargs
    assert q["key"] == "B" and q["points"] == 2 and q["options"] == ["三日", "五日", "七日", "十五日"]
    assert q["legal_basis"].startswith("《中华人民共和国行政处罚法》") and "五日内" in q["explanation"]
    assert info.questions[1].kwargs["key"] is False
    nbformat.validate(out)
    # compiling again changes nothing
    assert compile_notebook(out, course_id="xzcf", notebook="lesson1.ipynb") == out


def test_assessment_mode_keeps_keys_in_hidden_tests():
    out = compile_notebook(_nb(EXAMPLE), course_id="xzcf", notebook="assessment.ipynb", mode="assessment")
    setup, question, test = out.cells
    assert 'mode="assessment"' in setup.source and setup.metadata["nbgrader"]["grade_id"] == "setup"
    assert "key=" not in question.source and "explanation" not in question.source
    assert question.metadata["nbgrader"]["locked"] and question.metadata["nbgrader"]["grade_id"] == "l1_q1_question"
    assert test.source.startswith("### BEGIN HIDDEN TESTS") and test.source.endswith("### END HIDDEN TESTS")
    assert test.metadata["nbgrader"]["grade"] and test.metadata["nbgrader"]["points"] == 2
    info = parse_notebook(out, "assessment.ipynb")
    assert info.grades[0].qid == "l1_q1" and info.grades[0].kwargs["key"] == "B"


def test_compile_errors_name_notebook_cell_and_field():
    nb = _nb("# 标题", "正文", EXAMPLE.replace("答案：B", "答案：E"), EXAMPLE)
    with pytest.raises(AuthoringError) as e:
        compile_notebook(nb, course_id="xzcf", notebook="lesson1.ipynb")
    wheres = [w for w, _ in e.value.problems]
    assert wheres == ["lesson1.ipynb 第3个单元格 [答案]"]
    dup = _nb(EXAMPLE, EXAMPLE)
    with pytest.raises(AuthoringError) as e:
        compile_notebook(dup, course_id="xzcf", notebook="lesson1.ipynb")
    assert e.value.problems == [("lesson1.ipynb 第2个单元格 [题号]", "题号 l1_q1 重复（第1个单元格已使用）")]


def test_auto_ids_follow_the_question_cells_position():
    tf = "【判断题】对吗？\n答案：对\n解析：x。\n" + LAW
    out = compile_notebook(_nb("# 一", tf, "正文", tf.replace("对吗", "错吗"), EXAMPLE, tf.replace("对吗", "是吗")),
                           course_id="c", notebook="第一课-Intro.ipynb")
    assert [q.id for q in parse_notebook(out, "x").questions] == ["intro_1", "intro_2", "l1_q1", "intro_4"]


def test_shipped_lessons_compile_to_themselves():
    for path in sorted((ROOT / "courses").glob("*/source/module/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert compile_notebook(nb, course_id=path.parts[-4], notebook=path.name) == nb, path


def test_existing_code_cells_keep_working_beside_markdown_questions():
    nb = nbformat.read(ROOT / "courses" / "weichengnian" / "source" / "module" / "lesson1.ipynb", as_version=4)
    nb.cells.append(new_markdown_cell(EXAMPLE))
    out = compile_notebook(nb, course_id="weichengnian", notebook="lesson1.ipynb")
    assert out.cells[:-1] == nb.cells[:-1]  # the setup is there: nothing put in front
    assert "xf.SingleChoice(" in out.cells[-1].source
    ast.parse(out.cells[-1].source)


# --- preview --------------------------------------------------------------------------------


def test_preview_blocks_of_markdown_and_code_questions():
    nb = nbformat.read(ROOT / "courses" / "weichengnian" / "source" / "module" / "lesson1.ipynb", as_version=4)
    nb.cells.append(new_markdown_cell(EXAMPLE))
    nb.cells.append(new_markdown_cell(EXAMPLE.replace("答案：B", "答案：E").replace("l1_q1", "l1_q2")))
    blocks = preview_blocks(nb, notebook="lesson1.ipynb")
    kinds = [b["kind"] for b in blocks]
    assert "code" in kinds  # xf.ReadingProgress / xf.Section: 互动内容
    assert blocks[0]["cell"] == 2  # the setup cell is left out
    questions = [b["item"] for b in blocks if b["kind"] == "question"]
    assert [q["id"] for q in questions] == ["l1_01", "l1_02", "l1_03", "l1_q1"]
    assert questions[0]["type"] == "single" and questions[0]["key"] == "B"
    assert questions[0]["options"][1] == "最有利于未成年人"
    assert questions[-1] == parse_question(EXAMPLE, default_id="x")
    broken = blocks[-1]
    assert broken["kind"] == "markdown" and broken["problems"][0][0] == "lesson1.ipynb 第13个单元格 [答案]"


def test_preview_of_a_fixed_assessment_shows_keys_from_hidden_tests():
    nb = nbformat.read(ROOT / "courses" / "fazhi_zhengfu" / "source" / "module" / "assessment.ipynb", as_version=4)
    blocks = preview_blocks(nb, notebook="assessment.ipynb")
    q = [b["item"] for b in blocks if b["kind"] == "question"]
    assert q[0]["id"] == "q01" and q[0]["key"] == "B" and q[0]["explanation"]
    code = [nb.cells[b["cell"] - 1].source for b in blocks if b["kind"] == "code"]
    assert code == ["xf.Submit()"]  # hidden tests are not content


# --- a course whose lessons hold no code cell -----------------------------------------------

COURSE = "weichengnian"


def markdown_only(nb: nbformat.NotebookNode, notebook: str) -> nbformat.NotebookNode:
    """The lesson as a trainer now writes it: Markdown text and Markdown questions, no code."""
    cells = []
    for b in preview_blocks(nb, notebook=notebook):
        if b["kind"] == "markdown":
            cells.append(new_markdown_cell(b["text"]))
        elif b["kind"] == "question":
            item = {"points": 1, **b["item"]}
            cells.append(new_markdown_cell(question_markdown(item)))
    return new_notebook(cells=cells, metadata=nb.metadata)


@pytest.fixture
def md_course(tmp_path) -> Path:
    course = tmp_path / "courses" / COURSE
    shutil.copytree(ROOT / "courses" / COURSE, course)
    for path in sorted((course / "source" / "module").glob("*.ipynb")):
        nbformat.write(markdown_only(nbformat.read(path, as_version=4), path.name), path)
    return course


def _cells(course: Path, name: str) -> list:
    return nbformat.read(course / "source" / "module" / name, as_version=4).cells


def test_markdown_only_course_validates_statically(md_course):
    assert all(c.cell_type == "markdown" for c in _cells(md_course, "lesson1.ipynb"))
    assert [str(p) for p in validate_course(md_course, execute=False)] == []


def test_validate_names_the_trainers_cells(md_course):
    path = md_course / "source" / "module" / "lesson1.ipynb"
    nb = nbformat.read(path, as_version=4)
    qcells = [i for i, c in enumerate(nb.cells, 1) if c.source.startswith("【")]
    first, second, third = qcells
    nb.cells[first - 1].source = nb.cells[first - 1].source.replace("答案：B", "答案：E")
    # quality checks see Markdown questions: a law name without its article
    nb.cells[second - 1].source = "\n".join(
        "法律依据：《中华人民共和国未成年人保护法》" if ln.startswith("法律依据") else ln
        for ln in nb.cells[second - 1].source.splitlines())
    # and a law the statutes table does not list
    nb.cells[third - 1].source = "\n".join(
        "法律依据：《中华人民共和国民法典》第一千零四十三条" if ln.startswith("法律依据") else ln
        for ln in nb.cells[third - 1].source.splitlines())
    nbformat.write(nb, path)
    problems = validate_course(md_course, execute=False)
    got = {(p.cell, p.field): p.message for p in problems if p.file.endswith("lesson1.ipynb")}
    assert "ABCD" in got[(first, "答案")], [str(p) for p in problems]
    assert "具体条文" in got[(second, "l1_02.legal_basis")]
    assert "法条表" in got[(third, "l1_03.legal_basis")]
    text = "\n".join(str(p) for p in problems)
    assert f"lesson1.ipynb 第{first}个单元格 [答案]" in text


def test_duplicate_stem_with_another_course_is_found_in_markdown(md_course):
    other = md_course.parent / "tiaojie"
    shutil.copytree(ROOT / "courses" / "tiaojie", other)
    theirs = next(q for q in yaml.safe_load((other / "bank.yaml").read_text(encoding="utf-8"))["questions"]
                  if q["type"] == "single")
    path = md_course / "source" / "module" / "lesson2.ipynb"
    nb = nbformat.read(path, as_version=4)
    item = {**theirs, "id": "l2_copied", "tags": []}
    nb.cells.append(new_markdown_cell(question_markdown(item)))
    nbformat.write(nb, path)
    problems = validate_course(md_course, execute=False)
    hits = [p for p in problems if p.field == "l2_copied.stem"]
    assert hits and hits[0].cell == len(nb.cells) and "其他课程" in hits[0].message


@pytest.mark.slow
def test_markdown_only_course_runs_and_publishes_with_question_cells(md_course, datadir):
    """Full validate (every notebook executed, nbgrader generate) passes, and the released lesson
    holds the compiled question cells; the assessment (drawn from the bank) holds no key."""
    from grading.content.publish import publish_course

    assert [str(p) for p in validate_course(md_course)] == []
    source = {p: p.read_bytes() for p in md_course.rglob("*") if p.is_file()}
    rep = publish_course(datadir, COURSE, source=md_course)
    assert {p: p.read_bytes() for p in md_course.rglob("*") if p.is_file()} == source  # never rewritten
    lesson = nbformat.read(rep.released_to / "lesson1.ipynb", as_version=4)
    assert 'xf.setup(course="weichengnian"' in lesson.cells[0].source
    info = parse_notebook(lesson, "lesson1.ipynb")
    assert [q.id for q in info.questions] == ["l1_01", "l1_02", "l1_03"]
    assert all("key" in q.kwargs for q in info.questions)  # practice: keys as in any lesson
    assessment = (rep.released_to / "assessment.ipynb").read_text(encoding="utf-8")
    assert "xf.Paper()" in assessment and "key=" not in assessment and "HIDDEN TESTS" not in assessment
    bank = yaml.safe_load((md_course / "bank.yaml").read_text(encoding="utf-8"))["questions"]
    leaked = [q["id"] for q in bank for k in ("stem", "scenario", "explanation")
              if q.get(k) and json.dumps(q[k], ensure_ascii=False)[1:-1] in assessment]
    assert leaked == []


def test_publish_refuses_a_broken_question_cell(md_course, datadir):
    from grading.content.publish import PublishError, publish_course

    path = md_course / "source" / "module" / "lesson2.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_markdown_cell(EXAMPLE.replace("答案：B", "答案：E")))
    nb.cells.append(new_code_cell("xf.Section('x')"))
    nbformat.write(nb, path)
    with pytest.raises(PublishError) as e:
        publish_course(datadir, COURSE, source=md_course)
    assert f"lesson2.ipynb 第{len(nb.cells) - 1}个单元格 [答案]" in str(e.value)
    assert not (datadir.exchange / COURSE / "outbound").exists()


def test_hostile_text_compiles_to_literals_only():
    """Stems, 解析 and file names are the trainer's text: compiled, they stay string literals."""
    evil = "'); __import__('os').system('id'); ('\"\"\"\\"
    text = EXAMPLE.replace("当事人要求", evil + "当事人要求").replace("解析：", "解析：" + evil)
    name = 'x", lesson=__import__("os").system("id"), y=".ipynb'
    out = compile_notebook(_nb(text), course_id="xzcf", notebook=name)
    for cell in out.cells:
        tree = ast.parse(cell.source)
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        assert len(calls) == 1 and calls[0].func.attr in ("setup", "SingleChoice")
        assert all(isinstance(ast.literal_eval(k.value), (str, list, int, float)) for k in calls[0].keywords)
    q = parse_notebook(out, "x").questions[0].kwargs
    assert q["stem"].startswith(evil) and q["explanation"].startswith(evil)
    assert ast.literal_eval(ast.parse(out.cells[0].source).body[1].value.keywords[3].value) == name


@pytest.mark.slow
def test_markdown_question_in_a_fixed_assessment_is_graded_from_a_hidden_test(tmp_path):
    """A hand-written assessment may hold Markdown questions too: compiled without key or 解析 in
    the learner's cell, the key in an nbgrader hidden test that the release strips."""
    from grading.content.validate import check_layout, check_nbgrader, check_points, check_questions, check_yaml

    course = tmp_path / "pingtai_rumen"
    shutil.copytree(ROOT / "courses" / "pingtai_rumen", course)
    path = course / "source" / "module" / "assessment.ipynb"
    nb = nbformat.read(path, as_version=4)
    block = next(b for b in preview_blocks(nb, notebook="assessment.ipynb") if b["kind"] == "question")
    qid = block["item"]["id"]
    cells = []
    for i, cell in enumerate(nb.cells, 1):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if i == block["cell"]:
            cells.append(new_markdown_cell(question_markdown(block["item"])))
        elif gid != qid:
            cells.append(cell)
    nb.cells = cells
    nbformat.write(nb, path)
    assert [str(p) for p in validate_course(course, execute=False)] == []
    checks = [check_yaml, check_layout, check_questions, check_points, check_nbgrader]
    assert [str(p) for p in validate_course(course, checks=checks)] == []

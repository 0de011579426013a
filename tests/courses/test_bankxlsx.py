"""Question banks as Excel workbooks (issue 15): every shipped bank survives bank -> .xlsx ->
import unchanged (also after its notebook is generated and a paper drawn), a bad workbook names
every wrong row and field in Chinese and leaves bank.yaml as it was, and text that looks like a
formula stays text both ways."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from grading.content.bank import Bank, draw, load_bank, paper_seed, parse_bank, slot_notebook
from grading.content.bankxlsx import (
    COLUMNS,
    GUIDE_SHEET,
    SHEET,
    BankXlsxError,
    export_xlsx,
    import_xlsx,
)
from grading.content.courses import load_course
from hub_config.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
BANK_COURSES = sorted(p.parent.name for p in (ROOT / "courses").glob("*/bank.yaml"))


def _column(name: str) -> int:
    return COLUMNS.index(name) + 1


def _row_of(path: Path, qid: str, case: str = "") -> int:
    ws = load_workbook(path)[SHEET]
    for r in range(2, ws.max_row + 1):
        if (ws.cell(r, _column("题号")).value == qid
                and (ws.cell(r, _column("所属案例")).value or "") == case):
            return r
    raise AssertionError(f"{qid} not in {path}")


def _edit(path: Path, edits: dict[tuple[int, str], object]) -> None:
    wb = load_workbook(path)
    ws = wb[SHEET]
    for (row, column), value in edits.items():
        ws.cell(row, _column(column)).value = value
    wb.save(path)


def test_there_are_shipped_bank_courses():
    assert len(BANK_COURSES) >= 5


@pytest.mark.parametrize("cid", BANK_COURSES)
def test_shipped_bank_round_trips_through_xlsx_as_data(cid, tmp_path):
    bank = load_bank(ROOT / "courses" / cid)
    out = export_xlsx(bank, tmp_path / f"{cid}.xlsx")
    back = import_xlsx(out)
    assert back.questions == bank.questions
    assert back.digest == bank.digest
    # and a second trip changes nothing either (no drift from number or text conversions)
    assert import_xlsx(export_xlsx(back, tmp_path / "again.xlsx")).questions == bank.questions


@pytest.mark.parametrize("cid", BANK_COURSES)
def test_bank_round_trips_after_notebook_generation_and_a_drawn_paper(cid, tmp_path):
    course = ROOT / "courses" / cid
    bank = load_bank(course)
    before = copy.deepcopy(bank.questions)
    spec = load_course(course)
    nb = slot_notebook(spec)
    assert any("xf.Paper()" in c.source for c in nb.cells)
    paper = draw(bank, spec.blueprint, paper_seed(b"secret", cid, "module", "learner1", 1))
    assert bank.questions == before  # generating and drawing leave the bank as it was

    back = import_xlsx(export_xlsx(bank, tmp_path / "bank.xlsx"))
    assert back.questions == before
    # the drawn paper's questions, as a bank of their own, come back the same too
    drawn = Bank([{k: v for k, v in q.items() if k != "slot"} for q in paper])
    again = import_xlsx(export_xlsx(drawn, tmp_path / "paper.xlsx"))
    assert again.questions == drawn.questions
    assert {q["id"] for q in again.questions} <= {q["id"] for q in before}


def test_empty_bank_exports_the_template_with_example_and_chinese_guide(tmp_path):
    path = export_xlsx(Bank([]), tmp_path / "模板.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == [SHEET, GUIDE_SHEET]
    ws = wb[SHEET]
    assert [c.value for c in ws[1]] == list(COLUMNS)
    assert ws.max_row == 2  # headers + one example row
    guide = " ".join(str(c.value) for row in wb[GUIDE_SHEET].iter_rows() for c in row if c.value)
    for word in ("题型", "单选", "对 或 错", "所属案例", "知识点", "法律依据"):
        assert word in guide
    example = import_xlsx(path)
    assert len(example.questions) == 1 and example.questions[0]["key"] == "C"
    assert path.stat().st_mode & 0o077 == 0  # an export holds keys


def _bank_of(n_rows: int) -> Bank:
    """The weichengnian bank plus single-choice questions up to ``n_rows`` sheet rows."""
    questions = copy.deepcopy(load_bank(ROOT / "courses" / "weichengnian").questions)
    rows = sum(1 + len(q.get("questions", [])) for q in questions)
    for i in range(n_rows - rows):
        questions.append({
            "id": f"x{i:02d}", "type": "single", "stem": f"补充题 {i}：强制报告的时限是（  ）。",
            "options": ["立即", "三日内", "七日内", "一个月内"], "key": "A",
            "explanation": "发现后应当立即报告。",
            "legal_basis": "《中华人民共和国未成年人保护法》第十一条", "points": 6,
            "difficulty": "易", "tags": ["未成年人保护法"], "shuffle": True})
    bank = parse_bank({"questions": questions})
    assert sum(1 + len(q.get("questions", [])) for q in bank.questions) == n_rows
    return bank


@pytest.fixture
def course_copy(tmp_path) -> Path:
    dst = tmp_path / "courses" / "weichengnian"
    shutil.copytree(ROOT / "courses" / "weichengnian", dst)
    return dst


def test_30_row_workbook_with_one_bad_row_names_row_and_field_and_changes_nothing(course_copy, tmp_path):
    bank30 = _bank_of(30)
    new = len(bank30.questions) - len(load_bank(course_copy).questions)
    xlsx = export_xlsx(bank30, tmp_path / "题库.xlsx")
    bad_row = _row_of(xlsx, "x07")
    _edit(xlsx, {(bad_row, "答案"): "Z"})
    before = (course_copy / "bank.yaml").read_bytes()

    res = CliRunner().invoke(cli, ["course", "bank", "import", str(course_copy), str(xlsx)])
    assert res.exit_code != 0
    assert f"第{bad_row}行 [答案]" in res.output
    assert "应为 ABCD 中的一个字母" in res.output
    assert "题库未作任何修改" in res.output
    assert res.output.count("[答案]") == 1  # one bad row, one problem
    assert (course_copy / "bank.yaml").read_bytes() == before

    # fixed, it imports: the new questions, nothing else touched, nothing else touched, and bank.yaml reads back the same
    _edit(xlsx, {(bad_row, "答案"): "A"})
    dry = CliRunner().invoke(cli, ["course", "bank", "import", str(course_copy), str(xlsx), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"新增 {new} 道" in dry.output and (course_copy / "bank.yaml").read_bytes() == before
    res = CliRunner().invoke(cli, ["course", "bank", "import", str(course_copy), str(xlsx)])
    assert res.exit_code == 0, res.output
    assert f"新增 {new} 道" in res.output and "修改 0 道" in res.output and "删除 0 道" in res.output
    assert load_bank(course_copy).questions == bank30.questions


def test_every_problem_is_listed_by_row_and_field_not_just_the_first(course_copy, tmp_path):
    xlsx = export_xlsx(_bank_of(30), tmp_path / "题库.xlsx")
    rows = {q: _row_of(xlsx, q) for q in ("q01", "q02", "q03", "x01", "x02", "x03")}
    case_sub = _row_of(xlsx, "a", case="q12")
    _edit(xlsx, {
        (rows["q01"], "题型"): "问答",
        (rows["q02"], "法律依据"): "未成年人保护法第十一条",
        (rows["x01"], "题号"): "x02",
        (rows["x03"], "选项B"): None,
        (rows["q03"], "分值"): "六分",
        (case_sub, "知识点"): "强制报告",
    })
    before = (course_copy / "bank.yaml").read_bytes()
    with pytest.raises(BankXlsxError) as e:
        import_xlsx(xlsx)
    text = "\n".join(e.value.lines)
    assert f"第{rows['q01']}行 [题型]" in text
    assert f"第{rows['q02']}行 [法律依据]" in text and "书名号" in text
    assert f"第{rows['x02']}行 [题号]" in text and "重复" in text
    assert f"第{rows['x03']}行 [选项B]" in text
    assert f"第{rows['q03']}行 [分值]" in text
    assert f"第{case_sub}行 [知识点]" in text
    assert len(e.value.lines) >= 6
    res = CliRunner().invoke(cli, ["course", "bank", "import", str(course_copy), str(xlsx)])
    assert res.exit_code != 0 and (course_copy / "bank.yaml").read_bytes() == before


def test_a_bank_the_blueprint_cannot_draw_from_is_refused(course_copy, tmp_path):
    bank = load_bank(course_copy)
    xlsx = export_xlsx(Bank([q for q in bank.questions if q["type"] != "case"]), tmp_path / "少题.xlsx")
    before = (course_copy / "bank.yaml").read_bytes()
    res = CliRunner().invoke(cli, ["course", "bank", "import", str(course_copy), str(xlsx)])
    assert res.exit_code != 0 and "[组卷规则]" in res.output
    assert (course_copy / "bank.yaml").read_bytes() == before


def test_chinese_text_and_formula_looking_cells_survive_as_text(tmp_path):
    bank = load_bank(ROOT / "courses" / "weichengnian")
    questions = copy.deepcopy(bank.questions)
    questions[0]["stem"] = "=1+1 是（  ）？“引号”、顿号与全角；符号"
    questions[0]["explanation"] = "-负号开头的解析"
    questions[1]["options"][0] = "+86 开头的号码"
    questions[1]["options"][1] = "@提醒"
    odd = parse_bank({"questions": questions})
    path = export_xlsx(odd, tmp_path / "公式.xlsx")
    ws = load_workbook(path)[SHEET]
    cell = ws.cell(_row_of(path, questions[0]["id"]), _column("题干"))
    assert cell.data_type == "s" and cell.quotePrefix
    assert import_xlsx(path).questions == odd.questions

    # a formula a colleague typed without the quote is read as its text, never evaluated
    wb = load_workbook(path)
    wb[SHEET].cell(_row_of(path, questions[0]["id"]), _column("题干")).value = "=1+1 是（  ）？另一种题干"
    wb.save(path)
    assert load_workbook(path)[SHEET].cell(_row_of(path, questions[0]["id"]), _column("题干")).data_type == "f"
    assert import_xlsx(path).questions[0]["stem"] == "=1+1 是（  ）？另一种题干"


def test_trainer_answer_forms_are_read(tmp_path):
    path = export_xlsx(_bank_of(17), tmp_path / "写法.xlsx")
    r = _row_of(path, "x00")
    fill_row = {(r, "题型"): "填空", (r, "题干"): "强制报告应当在____内向____报告。",
                (r, "答案"): "立即|马上；公安机关｜公安", (r, "部分得分"): "按比例得分"}
    for letter in "ABCD":
        fill_row[(r, f"选项{letter}")] = None
    r2 = _row_of(path, "x01")
    _edit(path, {**fill_row, (r2, "题型"): "多选题", (r2, "答案"): "d, a", (r2, "知识点"): "甲，乙、丙"})
    got = {q["id"]: q for q in import_xlsx(path).questions}
    assert got["x00"]["key"] == [["立即", "马上"], ["公安机关", "公安"]]
    assert got["x00"]["partial"] == "proportional"
    assert got["x01"]["key"] == "AD" and got["x01"]["tags"] == ["甲", "乙", "丙"]


def test_not_a_workbook_is_refused_in_chinese(tmp_path):
    bad = tmp_path / "题库.xlsx"
    bad.write_text("题号,题型\nq01,单选\n", encoding="utf-8")
    with pytest.raises(BankXlsxError) as e:
        import_xlsx(bad)
    assert ".xlsx" in str(e.value) and "无法读取" in str(e.value)


def test_export_command_writes_the_course_bank(course_copy, tmp_path):
    out = tmp_path / "导出.xlsx"
    res = CliRunner().invoke(cli, ["course", "bank", "export", str(course_copy), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "12 道题" in res.output
    assert import_xlsx(out).questions == load_bank(course_copy).questions


def test_case_sub_questions_are_rows_naming_their_case(tmp_path):
    bank = load_bank(ROOT / "courses" / "weichengnian")
    case = next(q for q in bank.questions if q["type"] == "case")
    path = export_xlsx(bank, tmp_path / "案例.xlsx")
    ws = load_workbook(path)[SHEET]
    case_row = _row_of(path, case["id"])
    assert ws.cell(case_row, _column("题型")).value == "案例"
    assert ws.cell(case_row, _column("题干")).value == case["scenario"]
    for i, sub in enumerate(case["questions"], 1):
        assert _row_of(path, sub["id"], case=case["id"]) == case_row + i

    # the case's 分值 may be left empty (the sum of its sub-questions); a wrong one is named
    _edit(path, {(case_row, "分值"): None})
    assert import_xlsx(path).questions == bank.questions
    first_sub = case_row + 1
    _edit(path, {(first_sub, "分值"): 1, (case_row, "分值"): case["points"]})
    with pytest.raises(BankXlsxError) as e:
        import_xlsx(path)
    assert e.value.lines == [f"第{case_row}行 [分值] 案例分析题分值 {case['points']:g} 与各小题分值合计 "
                             f"{case['points'] - case['questions'][0]['points'] + 1:g} 不一致"]

    # a sub-question row naming no case is refused on its own row, once (and its case, now one
    # sub-question short, no longer adds up)
    _edit(path, {(first_sub, "分值"): case["questions"][0]["points"], (first_sub, "所属案例"): "q99"})
    with pytest.raises(BankXlsxError) as e:
        import_xlsx(path)
    assert e.value.lines[-1] == f"第{first_sub}行 [所属案例] 没有题号为 q99 的案例（题型为“案例”的一行）"
    assert sum(f"第{first_sub}行" in line for line in e.value.lines) == 1


def test_a_course_without_a_bank_exports_the_template_and_imports_a_new_bank(tmp_path):
    cdir = tmp_path / "courses" / "pingtai_rumen"
    shutil.copytree(ROOT / "courses" / "pingtai_rumen", cdir)
    assert not (cdir / "bank.yaml").exists()
    out = tmp_path / "模板.xlsx"
    res = CliRunner().invoke(cli, ["course", "bank", "export", str(cdir), "-o", str(out)])
    assert res.exit_code == 0 and "模板" in res.output, res.output
    res = CliRunner().invoke(cli, ["course", "bank", "import", str(cdir), str(out)])
    assert res.exit_code == 0, res.output
    assert "新增 1 道" in res.output and "组卷规则 blueprint" in res.output
    text = (cdir / "bank.yaml").read_text(encoding="utf-8")
    assert "points: 6\n" in text and "未满十八周岁" in text  # written as trainers write it
    assert load_bank(cdir).questions == import_xlsx(out).questions

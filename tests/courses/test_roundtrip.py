"""Round trip of issue 15's acceptance: a shipped bank written out as Markdown question cells, read
back from the notebook, exported to ``.xlsx`` and imported again is the same bank (items, keys,
points, tags, ...). Cases are not Markdown questions: they go bank -> xlsx -> bank. And a 30-row
workbook with one bad row names that row and field, and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from openpyxl import load_workbook

from grading.content.authoring import CLASSES, bank_notebook, compile_notebook, notebook_items
from grading.content.bank import Bank, load_bank
from grading.content.bankxlsx import COLUMNS, SHEET, BankXlsxError, export_xlsx, import_into_course, import_xlsx
from grading.content.validate import parse_notebook

ROOT = Path(__file__).resolve().parents[2]
BANK_COURSES = sorted(p.parent.name for p in (ROOT / "courses").glob("*/bank.yaml"))


@pytest.mark.parametrize("cid", BANK_COURSES)
def test_bank_to_notebook_to_xlsx_and_back_is_the_same_bank(cid, tmp_path):
    bank = load_bank(ROOT / "courses" / cid)
    path = tmp_path / "bank.ipynb"
    nbformat.write(bank_notebook(bank, cid), path)
    nb = nbformat.read(path, as_version=4)
    assert all(c.cell_type == "markdown" for c in nb.cells)  # no code for a trainer to read

    items = iter(notebook_items(nb, notebook="bank.ipynb"))
    # the notebook holds every non-case question; cases keep their place, straight from the bank
    back = [next(items) if q["type"] in CLASSES else q for q in bank.questions]
    assert next(items, None) is None
    trip = import_xlsx(export_xlsx(Bank(back), tmp_path / "bank.xlsx"))
    assert trip.questions == bank.questions
    assert trip.digest == bank.digest
    assert sum(q["type"] in CLASSES for q in bank.questions) >= 10


@pytest.mark.parametrize("cid", BANK_COURSES[:2])
def test_compiled_bank_notebook_holds_the_same_questions(cid):
    bank = load_bank(ROOT / "courses" / cid)
    compiled = compile_notebook(bank_notebook(bank, cid), course_id=cid, notebook="bank.ipynb")
    info = parse_notebook(compiled, "bank.ipynb")
    want = [q for q in bank.questions if q["type"] in CLASSES]
    assert [q.id for q in info.questions] == [q["id"] for q in want]
    for call, q in zip(info.questions, want):
        assert call.type == q["type"]
        for k in ("stem", "key", "explanation", "legal_basis"):
            assert call.kwargs[k] == q[k]
        assert float(call.kwargs["points"]) == q["points"]
        assert call.kwargs.get("options", []) == q.get("options", [])
        assert call.kwargs.get("shuffle", True) == q["shuffle"]
        assert compiled.cells[call.cell - 1].metadata["xuefa"]["tags"] == q["tags"]


def _thirty() -> list[dict]:
    out = []
    for i in range(1, 31):
        q = {"id": f"q{i:02d}", "stem": f"第{i}题：下列关于行政处罚听证期限的说法，正确的是第{i}项（  ）。",
             "explanation": f"第{i}题的解析。", "legal_basis": "《中华人民共和国行政处罚法》第六十四条",
             "points": 10, "difficulty": "易", "tags": ["行政处罚法"], "shuffle": True}
        if i % 2:
            q.update(type="single", options=["三日", "五日", "七日", "十五日"], key="B", shuffle=False)
        else:
            q.update(type="truefalse", key=i % 4 == 0)
        out.append(q)
    return out


def test_thirty_row_workbook_with_one_bad_row_names_it_and_writes_nothing(tmp_path):
    course = tmp_path / "weichengnian"
    shutil.copytree(ROOT / "courses" / "weichengnian", course)
    yaml_file = course / "course.yaml"
    text = yaml_file.read_text(encoding="utf-8")
    # a blueprint the thirty questions can fill
    head, _, _ = text.partition("blueprint:")
    tail = text.split("trainers:", 1)[1]
    yaml_file.write_text(head + "blueprint:\n  sections:\n  - type: single\n    count: 5\n    points: 10\n"
                         "  - type: truefalse\n    count: 5\n    points: 10\n" + "trainers:" + tail, encoding="utf-8")
    before = (course / "bank.yaml").read_bytes()

    xlsx = export_xlsx(Bank(_thirty()), tmp_path / "bank.xlsx")
    wb = load_workbook(xlsx)
    ws = wb[SHEET]
    assert ws.max_row == 31  # header + 30 questions
    ws.cell(18, COLUMNS.index("答案") + 1).value = "E"  # q17, a single choice
    wb.save(xlsx)

    with pytest.raises(BankXlsxError) as e:
        import_into_course(course, xlsx)
    assert len(e.value.lines) == 1 and e.value.lines[0].startswith("第18行 [答案]")
    assert (course / "bank.yaml").read_bytes() == before

    ws.cell(18, COLUMNS.index("答案") + 1).value = "C"  # fixed: imported whole
    wb.save(xlsx)
    report = import_into_course(course, xlsx)
    assert report.written and len(load_bank(course).questions) == 30
    assert load_bank(course).by_id("q17")["key"] == "C"

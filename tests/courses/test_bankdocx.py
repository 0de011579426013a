"""A bank as a Word document (grading.content.bankdocx): every shipped bank goes bank → .docx →
bank unchanged (cases as tables); a paper typed the way trainers type one (section headings,
numbered questions, options on one line, 【答案】) is read; problems name the question or table
row and nothing is written; and a hostile file (an external entity, a zip bomb, an old .doc)
reads nothing and is refused with a Chinese reason."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import docx
import pytest

from grading.content.bank import BANK_FILE, Bank, load_bank, parse_bank
from grading.content.bankdocx import EXAMPLES, BankDocxError, export_docx, import_docx
from grading.content.bankxlsx import import_into_course

ROOT = Path(__file__).resolve().parents[2]
BANK_COURSES = sorted(p.parent.name for p in (ROOT / "courses").glob("*/bank.yaml"))


def word(path: Path, paragraphs: list[str], table: list[list[str]] | None = None) -> Path:
    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                t.cell(r, c).text = text
    d.save(path)
    return path


PAPER = [
    "2026年行政执法人员法律知识测试题",
    "（考试时间60分钟）",
    "一、单项选择题（每题2分）",
    "1. 当事人要求听证的，应当在行政机关告知后（  ）内提出。",
    "A. 三日    B. 五日    C. 七日    D. 十五日",
    "【答案】B",
    "【解析】行政处罚法第六十四条。",
    "【法律依据】《中华人民共和国行政处罚法》第六十四条",
    "2、下列不属于行政处罚种类的是（  ）。",
    "A．警告\tB．罚款\tC．记过\tD．行政拘留",
    "参考答案：C",
    "答案解析：记过是政务处分，不是行政处罚。",
    "法律依据：《中华人民共和国行政处罚法》第九条",
    "二、判断题（每题1分）",
    "（1）行政机关可以口头作出罚款决定。",
    "答案：错",
    "解析：应当制作行政处罚决定书。",
    "法律依据：《中华人民共和国行政处罚法》第五十九条",
    "【多选题 dx1】行政处罚的种类包括（  ）。",
    "A. 警告",
    "B. 罚款",
    "C. 记过",
    "答案：AB",
    "解析：记过不是行政处罚。",
    "法律依据：《中华人民共和国行政处罚法》第九条",
    "分值：3",
]


@pytest.mark.parametrize("cid", BANK_COURSES)
def test_a_shipped_bank_goes_through_word_unchanged(cid, tmp_path):
    bank = load_bank(ROOT / "courses" / cid)
    path = export_docx(bank, tmp_path / "bank.docx", title="题库")
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the keys
    trip = import_docx(path)
    assert trip.questions == bank.questions
    assert trip.digest == bank.digest


def test_the_empty_template_is_a_guide_and_imports_as_its_examples(tmp_path):
    path = export_docx(Bank([]), tmp_path / "template.docx")
    text = "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    assert "【单选题 q01】" in text and "答案：" in text and "案例分析题写成表格" in text
    assert import_docx(path).questions == parse_bank({"questions": EXAMPLES}).questions
    assert {q["type"] for q in EXAMPLES} >= {"single", "truefalse", "fill", "case"}


def test_a_paper_as_trainers_type_it(tmp_path):
    bank = import_docx(word(tmp_path / "paper.docx", PAPER))
    qs = {q["id"]: q for q in bank.questions}
    assert list(qs) == ["q001", "q002", "q003", "dx1"]
    assert qs["q001"]["options"] == ["三日", "五日", "七日", "十五日"] and qs["q001"]["key"] == "B"
    assert qs["q001"]["points"] == 2 and qs["q001"]["legal_basis"].endswith("第六十四条")
    assert qs["q002"]["options"][2] == "记过" and qs["q002"]["key"] == "C"
    assert qs["q002"]["explanation"] == "记过是政务处分，不是行政处罚。"
    assert qs["q003"]["type"] == "truefalse" and qs["q003"]["key"] is False and qs["q003"]["points"] == 1
    assert qs["dx1"]["type"] == "multiple" and qs["dx1"]["points"] == 3
    # the title and the note above the first heading are not questions
    assert all("考试时间" not in q["stem"] for q in bank.questions)


def test_problems_name_the_question_and_field_and_the_course_is_untouched(tmp_path):
    course = tmp_path / "xingzheng_zhifa"
    shutil.copytree(ROOT / "courses" / "xingzheng_zhifa", course)
    before = (course / BANK_FILE).read_bytes()
    bad = [*PAPER[:6], "解析：缺少法律依据的一题。", *PAPER[8:15], "答案：不对", *PAPER[16:],
           "三、案例分析题", "1. 某镇政府……"]
    with pytest.raises(BankDocxError) as e:
        import_into_course(course, word(tmp_path / "bad.docx", bad))
    lines = e.value.lines
    assert any(ln.startswith("第1题“当事人要求听证的，应当在…” [法律依据]") for ln in lines), lines
    assert any(ln.startswith("第3题“行政机关可以口头作出罚款…” [答案]") and "对 或 错" in ln for ln in lines), lines
    assert any(ln.startswith("“三、案例分析题” [题型]") and "表格" in ln for ln in lines), lines
    assert (course / BANK_FILE).read_bytes() == before
    with pytest.raises(BankDocxError) as e:
        import_docx(word(tmp_path / "none.docx", ["只是一份通知，没有题目。"]))
    assert e.value.lines[0].startswith("[文件] 没有找到题目")


def test_a_case_is_a_table_and_its_rows_are_named(tmp_path):
    head = ["题号", "题型", "所属案例", "题干", "选项A", "选项B", "答案", "解析", "法律依据", "分值"]
    rows = [head,
            ["c1", "案例", "", "某超市被罚款五万元。", "", "", "", "", "《中华人民共和国行政复议法》第二十条", "4"],
            ["a", "判断", "c1", "超市可以申请行政复议。", "", "", "对", "可以。", "", "2"],
            ["b", "单选", "c1", "复议期限是（  ）。", "六十日", "三十日", "A", "第二十条。", "", "2"]]
    bank = import_docx(word(tmp_path / "case.docx", PAPER[2:8], rows))
    assert [q["id"] for q in bank.questions] == ["q001", "c1"]
    assert [s["id"] for s in bank.questions[1]["questions"]] == ["a", "b"]
    rows[3][6] = "Z"
    with pytest.raises(BankDocxError) as e:
        import_docx(word(tmp_path / "case_bad.docx", PAPER[2:8], rows))
    assert any(ln.startswith("第1个表格第4行 [答案]") for ln in e.value.lines), e.value.lines
    with pytest.raises(BankDocxError) as e:
        import_docx(word(tmp_path / "other_table.docx", PAPER[2:8], [["姓名", "单位"], ["张三", "司法局"]]))
    assert any(ln.startswith("第1个表格 [表格] 不是题库表格") for ln in e.value.lines), e.value.lines


def test_the_same_id_twice_names_both_places(tmp_path):
    paper = ["【判断题 t1】甲。", "答案：对", "解析：是。", "法律依据：《中华人民共和国宪法》第一条",
             "【判断题 t1】乙。", "答案：错", "解析：否。", "法律依据：《中华人民共和国宪法》第二条"]
    with pytest.raises(BankDocxError) as e:
        import_docx(word(tmp_path / "dup.docx", paper))
    assert any("第1题" in ln and "t1" in ln and "重复" in ln for ln in e.value.lines), e.value.lines


# --- hostile files ----------------------------------------------------------------------------


def with_entity(src: Path, dest: Path, secret_file: Path) -> Path:
    """``src`` with an external entity to ``secret_file`` declared and used in a question stem."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "word/document.xml":
                text = data.decode()
                decl_end = text.index("?>") + 2
                text = (text[:decl_end] + f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file://{secret_file}">]>'
                        + text[decl_end:]).replace("PLACEHOLDER", "&xxe;")
                data = text.encode()
            zout.writestr(item, data)
    return dest


def hostile_files(tmp_path: Path, secret_file: Path) -> dict[str, Path]:
    plain = word(tmp_path / "plain.docx", ["【判断题 x1】PLACEHOLDER", "答案：对", "解析：是。",
                                            "法律依据：《中华人民共和国宪法》第一条"])
    bomb = tmp_path / "bomb.docx"
    shutil.copy(plain, bomb)
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/media/zeros.bin", b"\0" * (80 * 1024 * 1024))
    old_doc = tmp_path / "old.docx"
    old_doc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096)  # an OLE .doc renamed
    return {"entity": with_entity(plain, tmp_path / "entity.docx", secret_file), "bomb": bomb, "old": old_doc}


def test_hostile_word_files_read_nothing(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("XF-SECRET-7731")
    files = hostile_files(tmp_path, secret)
    try:
        bank = import_docx(files["entity"])
        seen = repr(bank.questions)
    except BankDocxError as e:
        seen = repr(e.lines)
    assert "XF-SECRET" not in seen
    assert files["bomb"].stat().st_size < 1024 * 1024
    started = time.monotonic()
    with pytest.raises(BankDocxError) as e:
        import_docx(files["bomb"])
    assert "解压后超过" in e.value.lines[0] and time.monotonic() - started < 5
    with pytest.raises(BankDocxError) as e:
        import_docx(files["old"])
    assert e.value.lines[0].startswith("[文件] 无法读取") and ".doc" in e.value.lines[0]


def test_the_cli_exports_and_imports_word(tmp_path):
    from click.testing import CliRunner

    from hub_config.cli import main as cli

    course = tmp_path / "weichengnian"
    shutil.copytree(ROOT / "courses" / "weichengnian", course)
    before = (course / BANK_FILE).read_bytes()
    out = tmp_path / "题库.docx"
    res = CliRunner().invoke(cli, ["course", "bank", "export", str(course), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert docx.Document(str(out)).paragraphs[0].text.endswith("题库")
    res = CliRunner().invoke(cli, ["course", "bank", "import", str(course), str(out)])
    assert res.exit_code == 0 and "题库没有变化" in res.output, res.output
    assert (course / BANK_FILE).read_bytes() == before
    res = CliRunner().invoke(cli, ["course", "bank", "import", str(course), str(word(tmp_path / "bad.docx", PAPER[2:7]))])
    assert res.exit_code != 0 and "[法律依据]" in res.output and "题库未作任何修改" in res.output
    assert (course / BANK_FILE).read_bytes() == before

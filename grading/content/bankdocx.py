"""A question bank as a Word document (``.docx``), both ways (issue 15): many trainers keep
their papers in Word, and colleagues review a bank printed from Word more easily than a
spreadsheet.

What an import reads, in document order:

- **Questions written as text**, in the same syntax as a lesson's Markdown question cells
  (:mod:`grading.content.authoring`): a paragraph starting with the type tag
  (``【单选题 q01】题干``), one paragraph per option, then ``答案：``, ``解析：``, ``法律依据：``,
  ``分值：`` … paragraphs. Papers as trainers already type them are read too:

      一、单项选择题（每题2分）
      1. 当事人要求听证的，应当在行政机关告知后（  ）内提出。
      A. 三日    B. 五日    C. 七日    D. 十五日
      【答案】B
      【解析】……

  a section heading (``一、单项选择题``, ``判断题``, optionally ``（每题2分）`` as every question's
  分值) gives the type of the numbered questions under it (``1.``, ``2、``, ``（3）``, counting up
  by one); options may share a line; ``【答案】``/``参考答案：`` are the 答案 field. A numbered
  question gets the id ``q001``, ``q002`` … by its place in the document (write
  ``【单选题 id】`` to keep an id fixed). Text before the first question (title, instructions)
  is ignored.
- **Tables** laid out as the Excel template's sheet (first row the column names 题号、题型、
  所属案例、题干 …): the only way to write 案例分析题 in Word, as in Excel. Any other table is
  an error, not silently skipped.

An import is all or nothing, as the workbook's: :func:`import_docx` returns a bank that passes
:func:`grading.content.bank.parse_bank` or raises :class:`BankDocxError` whose ``lines`` name
the question (``第3题“当事人要求听证的…” [答案] …``) or table row (``第2个表格第4行 [答案] …``).
:func:`export_docx` writes the tagged form (with ids) and each case as a table, so an exported
document imports as the same bank.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grading.content.authoring import UNSUPPORTED_TAGS, AuthoringError, _tag, parse_question, question_markdown
from grading.content.bank import Bank, parse_bank
from grading.content.bankxlsx import (
    _ENGLISH_FIELD,
    COLUMNS,
    EXAMPLE,
    REQUIRED_COLUMNS,
    BankXlsxError,
    bank_rows,
    check_zip,
    import_rows,
    save_private,
)
from grading.content.courses import TYPE_LABELS_ZH, FormatError

UNREADABLE = "Word 的 .docx 文件（不支持 .doc 或 WPS 的 .wps：请先在 Word/WPS 中“另存为 .docx”）"

# section headings of a paper: the label, then the type of its numbered questions
SECTION_TYPES = {"单项选择题": "single", "单选题": "single", "多项选择题": "multiple", "多选题": "multiple",
                 "不定项选择题": "multiple", "判断题": "truefalse", "判断正误题": "truefalse", "是非题": "truefalse",
                 "填空题": "fill", "排序题": "ordering",
                 **{t: "case" for t in UNSUPPORTED_TAGS}}
_HEADING = re.compile(r"^\s*(?:[一二三四五六七八九十]+\s*[、.．]|第[一二三四五六七八九十]+部分\s*[:：]?)?\s*("
                      + "|".join(sorted(SECTION_TYPES, key=len, reverse=True))
                      + r")\s*(?:[（(]([^）)]*)[)）])?\s*[:：。]?\s*$")
_EACH_POINTS = re.compile(r"每(?:小)?题\s*(\d+(?:\.\d+)?)\s*分")
_NUMBERED = re.compile(r"^\s*(?:(\d{1,3})\s*[.．、]|[（(]\s*(\d{1,3})\s*[)）])\s*(.*)$")
# paper habits for the field lines the Markdown syntax writes as 答案：
_FIELD_NAMES = {"参考答案": "答案", "正确答案": "答案", "标准答案": "答案", "答案": "答案", "答案解析": "解析",
                "解析": "解析", "法律依据": "法律依据", "分值": "分值", "难度": "难度", "知识点": "知识点"}
_BRACKET_FIELD = re.compile(r"^\s*【\s*(" + "|".join(sorted(_FIELD_NAMES, key=len, reverse=True)) + r")\s*】\s*[:：]?\s*")
_ALIAS_FIELD = re.compile(r"^\s*(参考答案|正确答案|标准答案|答案解析)\s*[:：]\s*")
_OPTION_START = re.compile(r"^\s*A\s*[.．、:：)）]")
_NEXT_OPTION = re.compile(r"\s+(?=[B-H]\s*[.．、:：)）])")


class BankDocxError(BankXlsxError):
    """A Word document that is not a valid bank; ``lines`` name the question or table row (zh-CN)."""


def _normalise(line: str) -> str:
    line = _BRACKET_FIELD.sub(lambda m: _FIELD_NAMES[m.group(1)] + "：", line)
    return _ALIAS_FIELD.sub(lambda m: _FIELD_NAMES[m.group(1)] + "：", line)


def _split_options(line: str) -> list[str]:
    """``A. 三日  B. 五日  C. 七日`` → one line per option, when the letters run B, C, … in order."""
    if not _OPTION_START.match(line):
        return [line]
    parts = _NEXT_OPTION.split(line.strip())
    letters = [unicodedata.normalize("NFKC", p.lstrip()[:1]) for p in parts]
    return parts if letters == list("ABCDEFGH"[:len(parts)]) else [line]


@dataclass
class _Question:
    label: str
    lines: list[str]
    numbered: bool
    points: str = ""


@dataclass
class _TextReader:
    """Paragraph lines in, questions out (see the module's docstring for what it reads)."""

    problems: list[str]
    items: list[dict]
    section: str | None = None
    section_label: str = ""
    section_points: str = ""
    section_reported: bool = False
    expected: int | None = None
    count: int = 0
    current: _Question | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def _start(self, first: str, preview: str, numbered: bool) -> None:
        self.flush()
        self.count += 1
        preview = preview.strip()
        label = f"第{self.count}题" + (f"“{preview[:12]}{'…' if len(preview) > 12 else ''}”" if preview else "")
        self.current = _Question(label, [first], numbered, self.section_points if numbered else "")

    def line(self, raw: str) -> None:
        text = _normalise(raw.replace("\t", " ").rstrip())
        heading = _HEADING.match(text)
        if heading:
            self.flush()
            self.section, self.section_label = SECTION_TYPES[heading.group(1)], text.strip()
            each = _EACH_POINTS.search(heading.group(2) or "")
            self.section_points, self.section_reported, self.expected = (each.group(1) if each else ""), False, None
            return
        tagged = _tag(text)
        if tagged is not None:
            self._start(text, tagged[2], numbered=False)
            return
        numbered = _NUMBERED.match(text) if self.section else None
        if numbered and (self.current is None or self.current.numbered):
            n = int(numbered.group(1) or numbered.group(2))
            if self.expected is None or n == self.expected:
                self.expected = n + 1
                if self.section == "case":
                    self.flush()
                    if not self.section_reported:
                        self.problems.append(
                            f"“{self.section_label}” [题型] 案例分析题请写成表格（第一行为列名，与 Excel 题库模板相同），"
                            "可先“导出题库（Word）”参照其中的案例表格")
                        self.section_reported = True
                    return
                self._start(f"【{TYPE_LABELS_ZH[self.section]}】{numbered.group(3)}", numbered.group(3), numbered=True)
                return
        if self.current is not None:
            self.current.lines.extend(_split_options(text))

    def flush(self) -> None:
        q, self.current = self.current, None
        if q is None:
            return
        text = "\n".join(q.lines)
        if q.points and not re.search(r"^\s*分值\s*[:：]", text, re.M):
            text += f"\n分值：{q.points}"
        try:
            entry = parse_question(text, default_id=f"q{self.count:03d}", where=q.label)
        except AuthoringError as e:
            self.problems.extend(f"{w} {m}" for w, m in e.problems)
            return
        if entry is not None:
            self.items.append(entry)
            self.labels.setdefault(entry["id"], q.label)


def import_docx(path: str | Path) -> Bank:
    """The bank in Word document ``path``; :class:`BankDocxError` lists every problem."""
    import docx
    from docx.table import Table

    path = Path(path)
    if not path.exists():
        raise BankDocxError(path, ["[文件] 文件不存在"])
    check_zip(path, UNREADABLE, error=BankDocxError)
    try:
        # python-docx parses with lxml, resolve_entities=False: no external entity is ever read
        document = docx.Document(str(path))
        blocks = list(document.iter_inner_content())
    except Exception:  # noqa: BLE001 (zip, XML and package errors all mean "not a document we can read")
        raise BankDocxError(path, [f"[文件] 无法读取：请上传{UNREADABLE}"]) from None

    problems: list[str] = []
    items: list[dict] = []
    reader = _TextReader(problems, items)
    tables = 0
    for block in blocks:
        if not isinstance(block, Table):
            for line in block.text.replace("\r", "\n").split("\n"):
                reader.line(line)
            continue
        reader.flush()
        tables += 1
        where = f"第{tables}个表格"
        rows = [tuple(cell.text.strip() for cell in row.cells) for row in block.rows]
        header = {unicodedata.normalize("NFKC", c).replace(" ", "") for c in rows[0]} if rows else set()
        if not set(REQUIRED_COLUMNS) <= header:
            problems.append(f"{where} [表格] 不是题库表格：题库表格的第一行应为列名"
                            f"（至少 {'、'.join(REQUIRED_COLUMNS)}），与 Excel 题库模板相同")
            continue
        try:
            bank = import_rows(path, rows[0], enumerate(rows[1:], 2), table=where)
        except BankXlsxError as e:
            problems.extend(e.lines)
            continue
        for q in bank.questions:
            items.append(q)
            reader.labels.setdefault(q["id"], where)
    reader.flush()

    if not items and not problems:
        problems.append("[文件] 没有找到题目：每道题以【单选题】【多选题】【判断题】【填空题】【排序题】开头，"
                        "或写在“一、单项选择题”这样的标题下并编号（1. 2. 3.），案例分析题写成表格")
    if not problems:
        try:
            return parse_bank({"questions": items}, path)
        except FormatError as e:
            for where, msg in e.problems:
                qid = where.split(".")[0]
                problems.append(f"{reader.labels.get(qid, '')} [题号] {_ENGLISH_FIELD.sub('', msg)}".strip())
    raise BankDocxError(path, problems)


# --- export ----------------------------------------------------------------------------------

GUIDE = [
    "本文件可在 Word 或 WPS 中修改，保存为 .docx 后在“课程编写”页面导入题库；整个文件都正确才会替换题库。",
    "每道题：第一段以题型标签开头，例如“【单选题 q01】题干”（题号可省略，省略时按顺序编号）；"
    "每个选项一段（A. 选项内容）；然后是“答案：”“解析：”“法律依据：”“分值：”“难度：”“知识点：”各一段。",
    "答案的写法：单选 B；多选 ABD；判断 对 或 错；填空题各空之间用“；”分隔，同一空的几种答法用“|”分隔；排序题按正确顺序写字母，例如 BCAD。",
    "也可以按试卷的样子写：“一、单项选择题（每题2分）”这样的标题下，题目依次编号（1. 2. 3.），"
    "选项可写在同一行，答案写成“【答案】B”或“参考答案：B”。",
    "案例分析题写成表格：第一行为列名（与 Excel 题库模板相同），案例一行，其小题各一行，小题的“所属案例”填案例的题号。",
]

EXAMPLES = [
    EXAMPLE,
    {"id": "q02", "type": "truefalse", "stem": "行政机关作出行政处罚决定前，应当告知当事人拟作出的行政处罚内容及事实、理由、依据。",
     "key": True, "explanation": "行政处罚法第四十四条规定了处罚前的告知义务。",
     "legal_basis": "《中华人民共和国行政处罚法》第四十四条", "points": 2, "difficulty": "易", "tags": ["行政处罚法"]},
    {"id": "q03", "type": "fill", "stem": "当事人要求听证的，应当在行政机关告知后____日内提出。",
     "key": [["五", "5"]], "explanation": "行政处罚法第六十四条第一项。",
     "legal_basis": "《中华人民共和国行政处罚法》第六十四条", "points": 2, "difficulty": "中", "tags": ["行政处罚法"]},
    {"id": "c01", "type": "case", "scenario": "某县市场监管局对一家超市作出罚款五万元的决定，超市不服。",
     "legal_basis": "《中华人民共和国行政复议法》第二十条", "difficulty": "中", "tags": ["行政复议法"], "points": 5,
     "questions": [
         {"id": "a", "type": "single", "stem": "超市申请行政复议的期限是知道该行为之日起（  ）。",
          "options": ["三十日内", "六十日内", "三个月内", "六个月内"], "key": "B",
          "explanation": "行政复议法第二十条：自知道或者应当知道之日起六十日内提出。", "points": 3},
         {"id": "b", "type": "truefalse", "stem": "超市可以直接向人民法院提起行政诉讼。", "key": True,
          "explanation": "除法律规定复议前置的情形外，当事人可以直接起诉。", "points": 2}]},
]


def _east_asian_font(document: Any, name: str = "宋体") -> None:
    from docx.oxml.ns import qn

    style = document.styles["Normal"]
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)


def _case_table(document: Any, case: dict) -> None:
    rows = bank_rows(Bank([case]))
    # the sheet's columns this case uses: an empty 选项H column only crowds the printed page
    used = [c for c in COLUMNS if c in REQUIRED_COLUMNS or c == "所属案例" or any(r.get(c, "") != "" for r in rows)]
    table = document.add_table(rows=1 + len(rows), cols=len(used))
    table.style = "Table Grid"
    for c, name in enumerate(used):
        table.cell(0, c).text = name
        for r, row in enumerate(rows, 1):
            value = row.get(name, "")
            table.cell(r, c).text = "" if value == "" else str(value)


def export_docx(bank: Bank, path: str | Path, title: str = "题库") -> Path:
    """Write ``bank`` as a Word document that :func:`import_docx` reads back as the same bank; an
    empty bank gives the template (the guide and one example of each kind). Created 0600: it
    holds the keys."""
    import docx

    questions = bank.questions or parse_bank({"questions": EXAMPLES}).questions
    document = docx.Document()
    _east_asian_font(document)
    document.add_heading(title, level=1)
    for line in GUIDE:
        document.add_paragraph(line).runs[0].italic = True
    for q in questions:
        if q["type"] == "case":
            document.add_paragraph("")
            _case_table(document, q)
        else:
            for line in question_markdown(q).split("\n"):
                document.add_paragraph(line)
        document.add_paragraph("")
    return save_private(path, ".docx", lambda tmp: document.save(tmp))

"""A question bank as an Excel workbook (``.xlsx``), both ways: trainers author and review banks
in a spreadsheet, and a bank exported and imported again is the same bank, as data.

Layout (sheet ``题库``, one row per question, header names in row 1, columns in any order):

    题号 | 题型 | 所属案例 | 题干 | 选项A … 选项H | 答案 | 解析 | 法律依据 | 分值 | 难度 | 知识点 | 选项乱序 | 部分得分

A case (题型 ``案例``) is one row whose 题干 is the scenario (法律依据, 难度, 知识点 and the
optional overall 解析 on it), and one row per sub-question whose 所属案例 is the case's 题号; a
sub-question row leaves 法律依据, 难度 and 知识点 empty. Answers are written the way trainers
write them on paper (``C``, ``ABD``, ``对``/``错``, ``未成年人|未成年``; blanks separated by ``；``,
``BCAD``), see :data:`GUIDE`.

An import is all or nothing: :func:`import_xlsx` either returns a bank that also passes
:func:`grading.content.bank.parse_bank`, or raises :class:`BankXlsxError` listing every problem as
``第N行 [字段] 原因``. Every cell written is data, never a formula (``grading.records.sheets``);
formula cells read back are taken as their text, never evaluated.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from grading.content.bank import BANK_FILE, Bank, check_blueprint, load_bank, parse_bank
from grading.content.courses import FormatError, load_course
from grading.records.sheets import set_cell

SHEET = "题库"
GUIDE_SHEET = "说明"
OPTION_LETTERS = "ABCDEFGH"
OPTION_COLS = tuple(f"选项{c}" for c in OPTION_LETTERS)
COLUMNS = ("题号", "题型", "所属案例", "题干", *OPTION_COLS, "答案", "解析", "法律依据", "分值",
           "难度", "知识点", "选项乱序", "部分得分")
REQUIRED_COLUMNS = ("题号", "题型", "题干", "答案", "解析", "法律依据", "分值")
# far beyond any course's bank; stops a runaway sheet (a million formatted empty rows) early
MAX_ROWS = 5000

TYPE_TO_ZH = {"single": "单选", "multiple": "多选", "truefalse": "判断", "fill": "填空",
              "ordering": "排序", "case": "案例"}
# trainers also write the full label (单选题, 案例分析题) or the bank.yaml code
ZH_TO_TYPE = {**{v: k for k, v in TYPE_TO_ZH.items()},
              **{v + "题": k for k, v in TYPE_TO_ZH.items()},
              "案例分析": "case", "案例分析题": "case", **{k: k for k in TYPE_TO_ZH}}
PARTIAL_TO_ZH = {"none": "全对才得分", "subset": "少选得一半分", "proportional": "按比例得分"}
ZH_TO_PARTIAL = {**{v: k for k, v in PARTIAL_TO_ZH.items()}, **{k: k for k in PARTIAL_TO_ZH}}
TRUE_WORDS = {"对", "正确", "√", "✓", "是", "T", "TRUE"}
FALSE_WORDS = {"错", "错误", "×", "✗", "否", "F", "FALSE"}
YES_WORDS = {"是", "Y", "YES", "TRUE", "1"}
NO_WORDS = {"否", "N", "NO", "FALSE", "0"}
BLANK_SEP = "；"
ALT_SEP = "|"
TAG_SEP = "、"
_BLANK_SPLIT = re.compile(r"[；;]")
_ALT_SPLIT = re.compile(r"[|｜]")
_TAG_SPLIT = re.compile(r"[、,，;；]")

# bank.yaml field -> the column a problem about it is shown under
FIELD_COLUMN = {"id": "题号", "type": "题型", "stem": "题干", "scenario": "题干", "options": "选项",
                "key": "答案", "explanation": "解析", "legal_basis": "法律依据", "points": "分值",
                "difficulty": "难度", "tags": "知识点", "shuffle": "选项乱序", "partial": "部分得分",
                "questions": "所属案例"}

EXAMPLE = {
    "id": "q01", "type": "single", "stem": "未成年人保护法所称未成年人，是指（  ）的公民。",
    "options": ["未满十四周岁", "未满十六周岁", "未满十八周岁", "未满二十周岁"], "key": "C",
    "explanation": "未成年人是指未满十八周岁的公民。",
    "legal_basis": "《中华人民共和国未成年人保护法》第二条", "points": 6, "difficulty": "易",
    "tags": ["未成年人保护法"], "shuffle": False,
}

GUIDE = [
    ("题号", "本课程内唯一，小写字母、数字、下划线，最长 32 位，如 q01。案例的小题编号只需在本案例内唯一，如 a、b。"),
    ("题型", "单选、多选、判断、填空、排序、案例。"),
    ("所属案例", "只有案例的小题填写：所属案例的题号。案例本身一行（题型“案例”，题干写案情），其小题各占一行。"),
    ("题干", "题目正文；案例行写案情。填空题用 ____ 表示空。"),
    ("选项A～选项H", "单选、多选、排序题按顺序从选项A起连续填写，至少两个；判断、填空、案例行不填。"),
    ("答案", "单选 C；多选 ABD；判断 对 或 错；填空 每空的可接受写法用 | 分隔，多个空用 ；分隔，"
             "如 六十日|60日；六个月；排序 BCAD（每个选项字母各一次）。案例行不填。"),
    ("解析", "必填（案例行可不填，写在各小题）。"),
    ("法律依据", "必填，写明法律名称（加书名号）和条款，如《中华人民共和国行政诉讼法》第三条。小题不填，写在案例行。"),
    ("分值", "大于 0 的数。案例行可不填，即各小题分值之和；填写时必须等于小题分值之和。"),
    ("难度", "易、中、难；不填为 中。小题不填。"),
    ("知识点", "用顿号“、”分隔，如 未成年人保护法、强制报告；组卷规则按它覆盖。小题不填。"),
    ("选项乱序", "是 或 否；不填为 是（小题不填则随案例）。选项是有先后的数字、期限、步骤时填 否。"),
    ("部分得分", "可选，只用于多选、填空、排序题：全对才得分、少选得一半分、按比例得分。"),
    ("", ""),
    ("导入", "xuefa course bank import 课程编号 文件.xlsx [--dry-run]：整个文件无误才写入 bank.yaml，"
             "有错时逐条列出“第N行 [字段] 原因”，题库不作任何修改。"),
    ("导出", "xuefa course bank export 课程编号 -o 文件.xlsx：导出现有题库（含答案，请妥善保管，勿发给学员）。"),
]


class BankXlsxError(FormatError):
    """A workbook that is not a valid bank; ``lines`` are ``第N行 [字段] 原因`` (zh-CN)."""

    def __init__(self, file: Path | str, lines: list[str]):
        self.lines = lines
        super().__init__(Path(file), [("", line) for line in lines])

    def __str__(self) -> str:
        return f"{self.file}:\n" + "\n".join(f"  {line}" for line in self.lines)


# --- export ----------------------------------------------------------------------------------


def _num(v: float) -> int | float:
    v = float(v)
    return int(v) if v.is_integer() else v


def _key_text(qtype: str, key: Any) -> str:
    if qtype == "truefalse":
        return "对" if key else "错"
    if qtype == "fill":
        for variants in key:
            for v in variants:
                if _BLANK_SPLIT.search(v) or _ALT_SPLIT.search(v):
                    raise ValueError(f"填空题答案“{v}”含有分隔符 ； 或 |，无法写入表格")
        return BLANK_SEP.join(ALT_SEP.join(variants) for variants in key)
    return str(key)


def _row(q: dict, case_id: str = "") -> dict[str, Any]:
    qid = f"{case_id}.{q['id']}" if case_id else q["id"]
    options = q.get("options") or []
    if len(options) > len(OPTION_LETTERS):
        raise ValueError(f"题目 {qid} 有 {len(options)} 个选项，表格最多 {len(OPTION_LETTERS)} 个")
    row: dict[str, Any] = {"题号": q["id"], "题型": TYPE_TO_ZH[q["type"]], "所属案例": case_id,
                           "解析": q.get("explanation", ""), "分值": _num(q["points"])}
    for col, text in zip(OPTION_COLS, options):
        row[col] = text
    if q["type"] == "case":
        row["题干"] = q["scenario"]
    else:
        row["题干"] = q["stem"]
        try:
            row["答案"] = _key_text(q["type"], q["key"])
        except ValueError as e:
            raise ValueError(f"题目 {qid}：{e}") from None
    if not case_id:
        row["法律依据"] = q["legal_basis"]
        row["难度"] = q.get("difficulty", "中")
        tags = q.get("tags", [])
        bad = [t for t in tags if _TAG_SPLIT.search(t)]
        if bad:
            raise ValueError(f"题目 {qid} 的知识点“{bad[0]}”含有分隔符，无法写入表格")
        row["知识点"] = TAG_SEP.join(tags)
    if q.get("shuffle") is not None:
        row["选项乱序"] = "是" if q["shuffle"] else "否"
    if q.get("partial") is not None:
        row["部分得分"] = PARTIAL_TO_ZH[q["partial"]]
    return row


def bank_rows(bank: Bank) -> list[dict[str, Any]]:
    """The bank as sheet rows (column name -> value): a case row then its sub-question rows."""
    rows = []
    for q in bank.questions:
        rows.append(_row(q))
        for sub in q.get("questions", []) if q["type"] == "case" else []:
            rows.append(_row(sub, case_id=q["id"]))
    return rows


def _guide(wb: Workbook) -> None:
    ws = wb.create_sheet(GUIDE_SHEET)
    set_cell(ws, 1, 1, "题库导入模板说明").font = Font(bold=True, size=14)
    set_cell(ws, 2, 1, "每道题一行，第一行是列名（不要修改列名）。“题库”工作表中的示例行可以改写或删除。")
    set_cell(ws, 4, 1, "列").font = Font(bold=True)
    set_cell(ws, 4, 2, "填写说明").font = Font(bold=True)
    for i, (name, text) in enumerate(GUIDE, 5):
        set_cell(ws, i, 1, name)
        set_cell(ws, i, 2, text).alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 100


def export_xlsx(bank: Bank, path: str | Path) -> Path:
    """Write ``bank`` as a workbook (sheet 题库 + 说明). An empty bank gives the template: the
    headers and one example row. The file holds the keys: it is created 0600."""
    path = Path(path)
    rows = bank_rows(bank) if bank.questions else bank_rows(Bank([EXAMPLE]))
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    for c, name in enumerate(COLUMNS, 1):
        cell = set_cell(ws, 1, c, name)
        cell.font = Font(bold=True)
        cell.fill = head_fill
    for r, row in enumerate(rows, 2):
        for c, name in enumerate(COLUMNS, 1):
            value = row.get(name, "")
            cell = set_cell(ws, r, c, None if value == "" else value)
            if name != "分值":
                # typed later in Excel, 60 or 2021-01 stays text, as trainers mean it
                cell.number_format = "@"
            if name in ("题干", "解析"):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    widths = {"题号": 8, "题型": 6, "所属案例": 9, "题干": 48, "答案": 14, "解析": 40,
              "法律依据": 30, "分值": 6, "难度": 6, "知识点": 18, "选项乱序": 9, "部分得分": 12}
    for c, name in enumerate(COLUMNS, 1):
        ws.column_dimensions[get_column_letter(c)].width = widths.get(name, 16)
    ws.freeze_panes = "B2"
    _guide(wb)
    return save_private(path, ".xlsx", wb.save)


def save_private(path: str | Path, suffix: str, save: Callable[[str], Any]) -> Path:
    """``save(tmp)`` then rename to ``path``, 0600 (an exported bank holds the keys), so a
    reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".bank-", suffix=suffix, dir=path.parent)
    try:
        os.close(fd)
        save(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- import ----------------------------------------------------------------------------------


def _text(v: Any) -> str:
    """A cell as the text the trainer sees (numbers typed into Excel come back as numbers)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    # Excel on Windows may keep a cell's line breaks as CR LF
    return str(v).replace("\r\n", "\n").replace("\r", "\n").strip()


@dataclass
class _Row:
    n: int  # sheet row number, as Excel shows it
    cells: dict[str, Any]
    qid: str = ""
    case: str = ""
    entry: dict = field(default_factory=dict)
    bad: bool = False


class _Problems:
    """Problems found row by row and then bank-wide, listed in sheet order for the trainer."""

    def __init__(self, table: str = "") -> None:
        self._found: list[tuple[int, str]] = []
        self._table = table  # what "第N行" counts in, when not the only sheet (a Word table)

    def add(self, row: int | None, column: str, msg: str) -> None:
        where = f"{self._table}第{row}行 " if row else ""
        line = f"{where}[{column}] {msg}"
        if all(line != seen for _, seen in self._found):
            self._found.append((row or 0, line))

    @property
    def lines(self) -> list[str]:
        return [line for _, line in sorted(self._found, key=lambda f: f[0])]


def parse_key(qtype: str, raw: Any) -> Any:
    """An answer as typed (a cell of the workbook, a line of a Markdown question): 对/错 words for
    true/false, ``；``-separated blanks of ``|``-separated variants for fill-ins, else the text."""
    text = _text(raw)
    if qtype == "truefalse":
        word = unicodedata.normalize("NFKC", text).upper().rstrip("。.")
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"判断题的答案“{text}”应为 对 或 错")
    if qtype == "fill":
        return [[alt.strip() for alt in _ALT_SPLIT.split(blank)] for blank in _BLANK_SPLIT.split(text)]
    return text


def _read_row(row: _Row, problems: _Problems, sub: bool) -> None:
    c = row.cells
    entry: dict[str, Any] = {"id": row.qid}
    type_text = _text(c.get("题型"))
    qtype = ZH_TO_TYPE.get(type_text)
    if qtype is None:
        problems.add(row.n, "题型", f"“{type_text}”不是题型，应为 单选、多选、判断、填空、排序 或 案例"
                     if type_text else "缺少题型")
        row.bad = True
        return
    if sub and qtype == "case":
        problems.add(row.n, "题型", "案例的小题不能又是案例")
        row.bad = True
        return
    entry["type"] = qtype
    entry["scenario" if qtype == "case" else "stem"] = _text(c.get("题干"))

    options = [_text(c.get(col)) for col in OPTION_COLS]
    while options and not options[-1]:
        options.pop()
    gap = next((i for i, o in enumerate(options) if not o), None)
    if gap is not None:
        problems.add(row.n, OPTION_COLS[gap], "选项为空，但后面还有选项（选项应从选项A起连续填写）")
        row.bad = True
    if options:
        entry["options"] = options

    key_text = _text(c.get("答案"))
    if qtype == "case":
        if key_text:
            problems.add(row.n, "答案", "案例行不填答案，答案写在各小题行")
            row.bad = True
    elif not key_text:
        problems.add(row.n, "答案", "缺少答案")
        row.bad = True
    else:
        try:
            entry["key"] = parse_key(qtype, c.get("答案"))
        except ValueError as e:
            problems.add(row.n, "答案", str(e))
            row.bad = True

    explanation = _text(c.get("解析"))
    if explanation or qtype != "case":
        entry["explanation"] = explanation

    points = c.get("分值")
    if points is not None and _text(points) != "":
        try:
            entry["points"] = float(points) if not isinstance(points, str) else float(points.strip())
        except ValueError:
            problems.add(row.n, "分值", f"“{_text(points)}”不是数字")
            row.bad = True
    elif qtype != "case":
        problems.add(row.n, "分值", "缺少分值")
        row.bad = True

    shuffle = _text(c.get("选项乱序")).upper()
    if shuffle:
        if shuffle in YES_WORDS:
            entry["shuffle"] = True
        elif shuffle in NO_WORDS:
            entry["shuffle"] = False
        else:
            problems.add(row.n, "选项乱序", f"“{_text(c.get('选项乱序'))}”应为 是 或 否")
            row.bad = True

    partial = _text(c.get("部分得分"))
    if partial:
        if partial in ZH_TO_PARTIAL:
            entry["partial"] = ZH_TO_PARTIAL[partial]
        else:
            problems.add(row.n, "部分得分", f"“{partial}”应为 {'、'.join(PARTIAL_TO_ZH.values())} 之一")
            row.bad = True

    if sub:
        for col in ("法律依据", "难度", "知识点"):
            if _text(c.get(col)):
                problems.add(row.n, col, f"小题不填{col}，写在所属案例 {row.case} 的一行")
                row.bad = True
    else:
        entry["legal_basis"] = _text(c.get("法律依据"))
        difficulty = _text(c.get("难度"))
        if difficulty:
            entry["difficulty"] = difficulty
        tags = [t.strip() for t in _TAG_SPLIT.split(_text(c.get("知识点"))) if t.strip()]
        entry["tags"] = tags
    row.entry = entry


def _headers(header: tuple, problems: _Problems) -> dict[str, int]:
    cols: dict[str, int] = {}
    for c, cell in enumerate(header, 1):
        name = _text(cell).replace(" ", "")
        if not name:
            continue
        if name not in COLUMNS:
            problems.add(1, get_column_letter(c) + "列", f"未知的列名“{name}”，列名应为 {'、'.join(COLUMNS)}")
        elif name in cols:
            problems.add(1, name, "列名重复")
        else:
            cols[name] = c
    for name in REQUIRED_COLUMNS:
        if name not in cols:
            problems.add(1, name, "缺少这一列（请使用 xuefa course bank export 导出的模板）")
    return cols


# parse_bank's messages name the bank.yaml field too (缺少题干 stem); the sheet names the column
_ENGLISH_FIELD = re.compile(r"\s?\b(?:stem|scenario|options|questions|key|explanation|points|partial|legal_basis)\b")


def _map_problem(where: str, msg: str, rows_by_id: dict[str, _Row],
                 subs_by_id: dict[tuple[str, str], _Row], problems: _Problems) -> None:
    """A ``parse_bank`` problem (``q03.key``, ``q12.questions.b.key``) on its sheet row and column."""
    parts = where.split(".")
    qid = parts[0]
    row = rows_by_id.get(qid)
    rest = parts[1:]
    if len(rest) >= 2 and rest[0] == "questions" and (qid, rest[1]) in subs_by_id:
        row = subs_by_id[(qid, rest[1])]
        rest = rest[2:]
    fname = rest[0] if rest else ""
    column = FIELD_COLUMN.get(fname, "题号" if not fname else fname)
    if fname == "options" and len(rest) > 1 and rest[1].isdigit() and int(rest[1]) < len(OPTION_COLS):
        column = OPTION_COLS[int(rest[1])]
    problems.add(row.n if row else None, column, _ENGLISH_FIELD.sub("", msg))


def check_zip(path: str | Path, what: str, max_bytes: int = 64 * 1024 * 1024, max_entries: int = 2000,
              error: type[BankXlsxError] = BankXlsxError) -> None:
    """Refuse an Office file (a zip) that would unpack to more than ``max_bytes``: a few
    hundred kB of upload can otherwise inflate to gigabytes in the hub's memory. zipfile
    reads no member past the size its header states, so the headers are the budget."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        raise error(path, [f"[文件] 无法读取：请上传{what}"]) from None
    if len(infos) > max_entries or sum(i.file_size for i in infos) > max_bytes:
        raise error(path, [f"[文件] 文件解压后超过 {max_bytes // (1024 * 1024)} MB，无法导入"])


def import_xlsx(path: str | Path) -> Bank:
    """The bank in workbook ``path``; :class:`BankXlsxError` lists every problem, by row and
    column, if any row is wrong (nothing is returned then)."""
    path = Path(path)
    if not path.exists():
        raise BankXlsxError(path, ["[文件] 文件不存在"])
    unreadable = "Excel 的 .xlsx 文件（不支持 .xls、.csv 或 WPS 的 .et）"
    check_zip(path, unreadable)
    try:
        # not data_only: a formula cell is read as its text (=1+1 stays "=1+1"), never evaluated
        wb = load_workbook(path, read_only=True, data_only=False)
    except Exception:  # noqa: BLE001 (zip, XML and openpyxl errors all mean "not a workbook we can read")
        raise BankXlsxError(path, [f"[文件] 无法读取：请上传{unreadable}"]) from None
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        values = ws.iter_rows(values_only=True)
        return import_rows(path, next(values, ()), enumerate(values, 2))
    finally:
        wb.close()


def import_rows(path: str | Path, header: tuple, numbered_rows: Iterable[tuple[int, tuple]],
                table: str = "") -> Bank:
    """The bank in a table laid out as the workbook's sheet: ``header`` is its first row,
    ``numbered_rows`` (row number as the trainer sees it, cell values) the rest. ``table`` names
    the table in messages when it is not a sheet (``Word 表格`` → ``Word 表格第3行 [答案] …``)."""
    problems = _Problems(table)
    cols = _headers(header, problems)
    if problems.lines:
        raise BankXlsxError(path, problems.lines)
    rows: list[_Row] = []
    for n, values in numbered_rows:
        if len(rows) >= MAX_ROWS:
            raise BankXlsxError(path, [f"{table}第{n}行 [题号] 题目超过 {MAX_ROWS} 行，请拆分题库"])
        cells = {name: values[c - 1] if c - 1 < len(values) else None for name, c in cols.items()}
        if all(_text(v) == "" for v in cells.values()):
            continue
        rows.append(_Row(n, cells, qid=_text(cells.get("题号")), case=_text(cells.get("所属案例"))))

    top: list[_Row] = []
    rows_by_id: dict[str, _Row] = {}
    subs_by_id: dict[tuple[str, str], _Row] = {}
    subs_of: dict[str, list[_Row]] = {}
    cases = {r.qid for r in rows if not r.case and ZH_TO_TYPE.get(_text(r.cells.get("题型"))) == "case"}
    for row in rows:
        if not row.qid:
            problems.add(row.n, "题号", "缺少题号")
            row.bad = True
        if row.case and row.case not in cases:
            # the rest of such a row is judged once it belongs to a case
            problems.add(row.n, "所属案例", f"没有题号为 {row.case} 的案例（题型为“案例”的一行）")
            row.bad = True
            continue
        if row.case:
            key = (row.case, row.qid)
            if row.qid and key in subs_by_id:
                problems.add(row.n, "题号", f"案例 {row.case} 中小题编号 {row.qid} 重复（第{subs_by_id[key].n}行已使用）")
                row.bad = True
            subs_by_id.setdefault(key, row)
            subs_of.setdefault(row.case, []).append(row)
            _read_row(row, problems, sub=True)
        else:
            if row.qid and row.qid in rows_by_id:
                problems.add(row.n, "题号", f"题号 {row.qid} 重复（第{rows_by_id[row.qid].n}行已使用）")
                row.bad = True
            rows_by_id.setdefault(row.qid, row)
            top.append(row)
            _read_row(row, problems, sub=False)

    entries = []
    for row in top:
        e = row.entry
        if row.bad:
            continue
        if e.get("type") == "case":
            subs = subs_of.get(row.qid, [])
            if any(s.bad for s in subs):
                continue  # its own rows' problems are listed; the case is checked once they are fixed
            e["questions"] = [s.entry for s in subs]
            if "points" not in e:
                e["points"] = sum(s.entry.get("points", 0) for s in subs)
        entries.append(e)

    if not rows:
        problems.add(2, "题号", "表格中没有题目")
    bank = None
    if entries:
        try:
            bank = parse_bank({"questions": entries}, path)
        except FormatError as e:
            for where, msg in e.problems:
                _map_problem(where, msg, rows_by_id, subs_by_id, problems)
    if problems.lines or bank is None:
        raise BankXlsxError(path, problems.lines or [f"{table}[题号] 表格中没有题目"])
    return bank


# --- a course's bank.yaml --------------------------------------------------------------------


@dataclass
class ImportReport:
    bank: Bank
    added: list[str]
    changed: list[str]
    removed: list[str]
    written: bool
    has_blueprint: bool = True

    def summary(self) -> str:
        def part(label: str, ids: list[str]) -> str:
            return f"{label} {len(ids)} 道" + (f"（{'、'.join(ids)}）" if ids else "")

        return "；".join([part("新增", self.added), part("修改", self.changed), part("删除", self.removed)])


def _plain(v: Any) -> Any:
    # 6.0 -> 6 so bank.yaml reads as trainers write it
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


class _BankDumper(yaml.SafeDumper):
    """bank.yaml as the shipped ones are written: a mapping per question, short lists such as
    ``options: [..]`` and ``tags: [..]`` on one line, long ones one item a line."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(x, dict) for x in data) and len(str(data)) <= 80
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)


_BankDumper.add_representer(list, _represent_list)
_BankDumper.add_representer(dict, _represent_dict)


def bank_yaml(bank: Bank, source: str = "") -> str:
    head = "# 题库（讲师维护）。每次考试按 course.yaml 的组卷规则 blueprint 从这里为每位学员抽题。\n"
    if source:
        head += f"# 由 xuefa course bank import 从 {source} 导入；也可以直接修改本文件后运行 xuefa course validate。\n"
    body = yaml.dump({"questions": _plain(bank.questions)}, Dumper=_BankDumper, allow_unicode=True,
                     sort_keys=False, width=1000)
    return head + body


def import_into_course(course_dir: str | Path, xlsx: str | Path, *, dry_run: bool = False) -> ImportReport:
    """Replace ``course_dir/bank.yaml`` by the bank in ``xlsx`` (a workbook, or a Word document
    when it ends in ``.docx``), atomically and only when the whole file is valid and the course's
    blueprint can still draw papers from it."""
    course_dir = Path(course_dir)
    if Path(xlsx).suffix.lower() == ".docx":
        from grading.content.bankdocx import import_docx

        bank = import_docx(xlsx)
    else:
        bank = import_xlsx(xlsx)
    spec = load_course(course_dir)
    if spec.blueprint is not None:
        short = check_blueprint(bank, spec.blueprint, spec.points)
        if short:
            raise BankXlsxError(xlsx, [f"[组卷规则] {msg}" for _, msg in short])
    target = course_dir / BANK_FILE
    old = load_bank(target).questions if target.exists() else []
    old_by_id = {q["id"]: q for q in old}
    new_ids = {q["id"] for q in bank.questions}
    added = [q["id"] for q in bank.questions if q["id"] not in old_by_id]
    changed = [q["id"] for q in bank.questions if q["id"] in old_by_id and old_by_id[q["id"]] != q]
    removed = [q["id"] for q in old if q["id"] not in new_ids]
    written = False
    if not dry_run and (added or changed or removed or not target.exists()):
        text = bank_yaml(bank, Path(xlsx).name)
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=".bank-", suffix=".yaml", dir=course_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, mode)
            if load_bank(tmp).questions != bank.questions:  # what we write must read back the same
                raise RuntimeError("bank.yaml would not read back as the imported bank")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written = True
    return ImportReport(Bank(bank.questions, target), added, changed, removed, written,
                        has_blueprint=spec.blueprint is not None)

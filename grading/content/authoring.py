"""Questions written as Markdown, the way trainers write them on paper (issue 15).

A trainer's lesson notebook may hold only Markdown cells: lesson text, and questions in the
syntax below. Everything that releases or checks a notebook (``xuefa course publish``,
``xuefa course validate``, the authoring pages' preview) first runs :func:`compile_notebook`,
which turns each question cell into the equivalent ``xf.<Class>(...)`` code cell and puts the
``xf.setup(...)`` cell in front when the notebook has none. The trainer's own file is never
rewritten: compilation works on a copy.

Question syntax (one Markdown cell per question)::

    【单选题 l1_q1】当事人要求听证的，应当在行政机关告知后（  ）内提出。
    A. 三日
    B. 五日
    C. 七日
    D. 十五日
    答案：B
    解析：当事人要求听证的，应当在行政机关告知后五日内提出。
    法律依据：《中华人民共和国行政处罚法》第六十四条
    分值：2

- The cell's first non-blank line starts with the type tag in 【】 (or ``[]``): 单选题, 多选题,
  判断题, 填空题, 排序题 (the trailing 题 may be left out). A cell whose first line is anything
  else (including 【注意】…) is ordinary Markdown. 案例分析题 and 简答题 cannot be written this
  way (they are an error, not Markdown): put cases in the bank (``bank.yaml`` / Excel), or keep an
  ``xf.CaseAnalysis``/``xf.Essay`` code cell, which keeps working as before.
- After the tag: an optional question id (lowercase letters, digits, ``_``; at most 32), separated
  by a space or colon. Without one the id is ``<notebook stem>_<n>``, n counting the notebook's
  question cells from 1 (stable while cells are not reordered); write an id to keep a question's
  saved answers when moving it.
- The stem follows the tag (and may go on over further lines) up to the first option or field line.
- Options (单选、多选、排序): one line each, ``A. text``, ``A、text``, ``A．text`` (also ``A：``,
  ``A)``), letters from A in order. 判断题 and 填空题 have no options. A line between options
  that is not an option is an error (options are one line each).
- Field lines ``名称：值`` (full- or half-width colon, any order, each once); a value may go on over
  the following lines (everything up to the next field line belongs to it):
  - 答案 (required): 单选 ``B``; 多选 ``ABD`` (also ``A、B、D``); 判断 ``对``/``错`` (正确/错误/√/×);
    填空: blanks separated by ``；``, accepted variants of one blank by ``|``, e.g.
    ``六十|60；六|6``; the stem marks each blank with ``____`` (or ``（  ）``) and the number of
    blanks must match; 排序 the letters in the right order, e.g. ``BCAD``.
  - 解析 (required), 法律依据 (required: 《法律名称》 and the article, as in bank.yaml).
  - 分值: a number > 0; default 1 (lesson questions are practice; the score only shows).
  - 难度: 易/中/难 (default 中); 知识点: tags separated by ``、``/``，``; 乱序：否 keeps options in
    the written order (default 是); 部分得分 (多选、填空、排序): ``subset`` / ``proportional`` or
    the Excel template's words 少选得一半分 / 按比例得分 / 全对才得分.
- ``**答案**：`` and list bullets (``- A. …``) are tolerated.

A parsed question is exactly a ``bank.yaml`` entry and is validated as one
(:class:`grading.content.bank.BankQuestion`); every problem is a (where, zh message) pair with
where like ``lesson1.ipynb 第3个单元格 [答案]`` (cells counted from 1, as JupyterLab shows them).
"""

from __future__ import annotations

import ast
import copy
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from pydantic import ValidationError

from grading.content.bank import LETTERS, QID_RE, BankQuestion, _nbg, _problem_field, normalise_key
from grading.content.bankxlsx import (
    _ENGLISH_FIELD,
    _TAG_SPLIT,
    NO_WORDS,
    PARTIAL_TO_ZH,
    YES_WORDS,
    ZH_TO_PARTIAL,
    parse_key,
)
from grading.content.courses import ASSIGNMENT, TYPE_LABELS_ZH, _validation_problems

TAGS = {**{label: t for t, label in TYPE_LABELS_ZH.items() if t != "case"},
        **{label.removesuffix("题"): t for t, label in TYPE_LABELS_ZH.items() if t != "case"}}
# tags a trainer may well write that this syntax does not cover: an error, not silently Markdown
UNSUPPORTED_TAGS = ("案例分析题", "案例分析", "案例题", "简答题", "论述题")
CLASSES = {"single": "SingleChoice", "multiple": "MultipleChoice", "truefalse": "TrueFalse",
           "fill": "FillBlank", "ordering": "Ordering"}
FIELDS = {"答案": "key", "解析": "explanation", "法律依据": "legal_basis", "分值": "points",
          "难度": "difficulty", "知识点": "tags", "乱序": "shuffle", "选项乱序": "shuffle", "部分得分": "partial"}
FIELD_ZH = {"id": "题号", "type": "题型", "stem": "题干", "options": "选项", "key": "答案", "explanation": "解析",
            "legal_basis": "法律依据", "points": "分值", "difficulty": "难度", "tags": "知识点",
            "shuffle": "乱序", "partial": "部分得分"}
DEFAULT_POINTS = 1
# the same blanks widgets.questions.BLANK_RE counts (grading does not import the widgets here)
BLANK_RE = re.compile(r"_{3,}|（\s*）|\(\s*\)")

_TAG_LINE = re.compile(r"^\s*(?:【([^】\n]*)】|\[([^\]\n]*)\])(.*)$")
_FIELD_LINE = re.compile(r"^\s*(?:[-*+]\s+)?\**\s*(" + "|".join(sorted(FIELDS, key=len, reverse=True))
                         + r")\s*\**\s*[:：]\s*\**\s*(.*)$")
_OPTION_LINE = re.compile(r"^\s*(?:[-*+]\s+)?\**([A-ZＡ-Ｚ])\**\s*[.．、:：)）]\s*(.*)$")
_KEY_SEPARATORS = re.compile(r"[\s、,，;；/→>－-]+")


class AuthoringError(ValueError):
    """Question cells that do not fit the syntax or the bank format: ``problems`` are
    (where, zh message), where like ``lesson1.ipynb 第3个单元格 [答案]``."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{w}：{m}" if w else m for w, m in problems))


def _where(prefix: str, fld: str) -> str:
    return f"{prefix} [{fld}]" if prefix else f"[{fld}]"


def _cell_where(notebook: str, cell: int | None) -> str:
    return notebook + (f" 第{cell}个单元格" if cell else "")


# --- one question cell ----------------------------------------------------------------------


def _tag(text: str) -> tuple[str, str, str, list[str]] | None:
    """(type tag, id text, rest of the first line, following lines) if ``text`` is a question cell."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return None
    m = _TAG_LINE.match(lines[0])
    if not m:
        return None
    inner = (m.group(1) if m.group(1) is not None else m.group(2)).strip()
    parts = re.split(r"[\s:：]+", inner, maxsplit=1)
    tag = parts[0]
    if tag not in TAGS and tag not in UNSUPPORTED_TAGS:
        return None
    return tag, (parts[1].strip() if len(parts) > 1 else ""), m.group(3), [ln.rstrip() for ln in lines[1:]]


def is_question(text: str) -> bool:
    """Whether a Markdown cell is meant as a question (its first line is a type tag)."""
    return _tag(text) is not None


def _parse_key(qtype: str, text: str) -> Any:
    if qtype in ("truefalse", "fill"):
        return parse_key(qtype, text)
    # letters: full-width Ａ and separators (A、B、D / B→C→A→D) as trainers type them
    return _KEY_SEPARATORS.sub("", unicodedata.normalize("NFKC", text.strip())).upper()


def parse_question(text: str, *, default_id: str, where: str = "") -> dict | None:
    """The bank-style question dict of a Markdown question cell, or None if ``text`` is not one.

    Raises :class:`AuthoringError` listing every problem (``where`` prefixes each, e.g.
    ``lesson1.ipynb 第3个单元格``)."""
    tagged = _tag(text)
    if tagged is None:
        return None
    tag, qid, first, rest = tagged
    problems: list[tuple[str, str]] = []

    def bad(fld: str, msg: str) -> None:
        problems.append((_where(where, fld), msg))

    if tag in UNSUPPORTED_TAGS:
        bad("题型", f"“{tag}”不能写成 Markdown 题目：案例分析题请写入题库（bank.yaml 或 Excel 题库），"
                   "或保留 xf.CaseAnalysis / xf.Essay 代码单元格；Markdown 题目支持单选题、多选题、判断题、填空题、排序题")
        raise AuthoringError(problems)
    qtype = TAGS[tag]
    qid = qid or default_id
    if not re.match(QID_RE, qid):
        bad("题号", f"题号“{qid}”应由小写字母、数字、下划线组成，最长 32 位，例如 l1_q1")

    stem_lines = [first.strip()] if first.strip() else []
    options: list[tuple[str, str]] = []
    values: dict[str, list[str]] = {}
    current = "stem"
    for line in rest:
        fm = _FIELD_LINE.match(line)
        if fm:
            current = FIELDS[fm.group(1)]
            if current in values:
                bad(fm.group(1), f"“{fm.group(1)}”写了两次，每项只写一次")
            values[current] = [fm.group(2)]
            continue
        om = _OPTION_LINE.match(line) if not values else None
        if om:
            options.append((unicodedata.normalize("NFKC", om.group(1)), om.group(2).strip()))
            current = "options"
            continue
        if current == "stem":
            stem_lines.append(line)
        elif current == "options":
            if line.strip():
                bad("选项", f"无法识别的行“{line.strip()[:30]}”：选项应写成“A. 选项内容”，每个选项一行，"
                           "选项之后是“答案：”等各项")
        else:
            values[current].append(line)
    value = {k: "\n".join(v).strip() for k, v in values.items()}

    entry: dict[str, Any] = {"id": qid, "type": qtype, "stem": "\n".join(stem_lines).strip()}
    if not entry["stem"]:
        bad("题干", "缺少题干（写在题型标签之后）")
    if options:
        if qtype in ("truefalse", "fill"):
            bad("选项", f"{TYPE_LABELS_ZH[qtype]}不应有选项")
        for i, (letter, _text) in enumerate(options):
            if letter != LETTERS[i]:
                bad("选项", f"选项字母应从 A 起依次排列，第{i + 1}个选项应为 {LETTERS[i]}，写的是 {letter}")
                break
        entry["options"] = [t for _, t in options]
    elif qtype in ("single", "multiple", "ordering"):
        bad("选项", f"{TYPE_LABELS_ZH[qtype]}缺少选项（每个选项一行，例如“A. 选项内容”）")

    if not value.get("key"):
        bad("答案", "缺少答案（例如“答案：B”）")
    else:
        try:
            entry["key"] = _parse_key(qtype, value["key"])
        except ValueError as e:
            bad("答案", str(e))
    if "key" in entry and not any(w.endswith("[选项]") for w, _ in problems):
        try:
            normalise_key(qtype, entry.get("options", []), entry["key"])
        except ValueError as e:
            bad("答案", str(e))
    if qtype == "fill" and isinstance(entry.get("key"), list) and entry["stem"]:
        blanks = len(BLANK_RE.findall(entry["stem"]))
        if not blanks:
            bad("题干", "填空题的题干应用 ____（至少三个下划线）标出每个空")
        elif blanks != len(entry["key"]):
            bad("答案", f"题干中有 {blanks} 个空，答案写了 {len(entry['key'])} 个（各空的答案之间用“；”分隔）")
    for k in ("explanation", "legal_basis"):
        if not value.get(k):
            bad(FIELD_ZH[k], f"缺少{FIELD_ZH[k]}")
        else:
            entry[k] = value[k]
    if value.get("points"):
        raw = unicodedata.normalize("NFKC", value["points"]).strip().removesuffix("分").strip()
        try:
            entry["points"] = float(raw)
            if not entry["points"] > 0 or entry["points"] != entry["points"] or entry["points"] == float("inf"):
                raise ValueError
        except ValueError:
            bad("分值", f"分值“{value['points']}”应为大于 0 的数字")
    else:
        entry["points"] = DEFAULT_POINTS
    if value.get("difficulty"):
        if value["difficulty"] not in ("易", "中", "难"):
            bad("难度", f"难度“{value['difficulty']}”应为 易、中、难 之一")
        entry["difficulty"] = value["difficulty"]
    if "tags" in value:
        entry["tags"] = [t.strip() for t in _TAG_SPLIT.split(value["tags"]) if t.strip()]
    if value.get("shuffle"):
        word = unicodedata.normalize("NFKC", value["shuffle"]).upper()
        if word in YES_WORDS or word == "是":
            entry["shuffle"] = True
        elif word in NO_WORDS or word == "否":
            entry["shuffle"] = False
        else:
            bad("乱序", f"乱序“{value['shuffle']}”应为 是 或 否")
    if value.get("partial"):
        p = value["partial"].strip()
        if p in ZH_TO_PARTIAL:
            entry["partial"] = ZH_TO_PARTIAL[p]
        else:
            bad("部分得分", f"部分得分“{p}”应为 subset（少选得一半分）、proportional（按比例得分）或 全对才得分")
    if problems:
        raise AuthoringError(problems)
    try:
        q = BankQuestion.model_validate(entry)
    except ValidationError as e:
        for loc, msg in _validation_problems(e):
            fld = _problem_field("q", loc, msg, entry).split(".")
            name = FIELD_ZH.get(fld[1], "题目") if len(fld) > 1 else "题目"
            bad(name, _ENGLISH_FIELD.sub("", msg).replace(" shuffle: false", "").strip())
        raise AuthoringError(problems) from None
    return q.as_dict()


def _num(v: Any) -> Any:
    v = float(v)
    return int(v) if v.is_integer() else v


def _key_text(q: dict) -> str:
    key = q["key"]
    if q["type"] == "truefalse":
        return "对" if key else "错"
    if q["type"] == "fill":
        for variants in key:
            for v in variants:
                if re.search(r"[；;|｜\n]", v):
                    raise ValueError(f"题目 {q['id']} 的填空答案“{v}”含有分隔符 ； 或 |，无法写成 Markdown 题目")
        return "；".join("|".join(variants) for variants in key)
    return str(key)


def question_markdown(item: dict) -> str:
    """The Markdown question cell of a bank-style question (inverse of :func:`parse_question`)."""
    qtype = item["type"]
    if qtype not in CLASSES:
        raise ValueError(f"题目 {item.get('id')}：{TYPE_LABELS_ZH.get(qtype, qtype)}不能写成 Markdown 题目")
    lines = [f"【{TYPE_LABELS_ZH[qtype]} {item['id']}】{item['stem']}"]
    for letter, text in zip(LETTERS, item.get("options") or []):
        lines.append(f"{letter}. {text}")
    lines.append(f"答案：{_key_text(item)}")
    lines.append(f"解析：{item['explanation']}")
    lines.append(f"法律依据：{item['legal_basis']}")
    lines.append(f"分值：{_num(item['points'])}")
    lines.append(f"难度：{item.get('difficulty', '中')}")
    if item.get("tags"):
        lines.append("知识点：" + "、".join(item["tags"]))
    if item.get("shuffle") is False:
        lines.append("乱序：否")
    if item.get("partial") is not None:
        lines.append(f"部分得分：{PARTIAL_TO_ZH[item['partial']]}")
    return "\n".join(lines)


# --- notebooks ------------------------------------------------------------------------------


def default_id(notebook: str, n: int) -> str:
    """``<notebook stem>_<n>``: the id of the n-th question cell that names none."""
    stem = notebook.rsplit("/", 1)[-1].removesuffix(".ipynb")
    base = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_") or "q"
    suffix = f"_{n}"
    return base[:32 - len(suffix)] + suffix


def _lit(v: Any, indent: str) -> str:
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v) and sum(map(len, v)) > 40:
        inner = indent + "    "
        return "[\n" + "".join(f"{inner}{x!r},\n" for x in v) + indent + "]"
    return repr(v)


def _call(fn: str, kwargs: dict) -> str:
    return f"{fn}(\n" + "".join(f"    {k}={_lit(v, '    ')},\n" for k, v in kwargs.items()) + ")"


def question_code(item: dict, mode: str = "practice") -> tuple[str, str | None]:
    """(question cell source, hidden test cell source or None) of a bank-style question: practice
    questions carry key and 解析; an assessment's live in an nbgrader hidden test."""
    kw: dict[str, Any] = {"id": item["id"], "stem": item["stem"]}
    if item.get("options"):
        kw["options"] = list(item["options"])
    if mode != "assessment":
        kw["key"] = item["key"]
    kw["points"] = _num(item["points"])
    if item.get("partial") is not None:
        kw["partial"] = item["partial"]
    if mode != "assessment":
        kw["explanation"] = item["explanation"]
    kw["legal_basis"] = item["legal_basis"]
    if item.get("shuffle") is False:
        kw["shuffle"] = False
    src = _call(f"xf.{CLASSES[item['type']]}", kw)
    if mode != "assessment":
        return src, None
    test = (f"### BEGIN HIDDEN TESTS\nxf.grade({item['id']!r},\n         key={item['key']!r},\n"
            f"         explanation={item['explanation']!r})\n### END HIDDEN TESTS")
    return src, test


def _calls(src: str) -> list[str]:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            out.append(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return out


def has_setup(nb: Any) -> bool:
    return any(c.cell_type == "code" and "setup" in _calls(c.source) for c in nb.cells)


def setup_source(course_id: str, notebook: str, mode: str = "practice") -> str:
    lesson = "assessment" if mode == "assessment" else notebook.removesuffix(".ipynb")

    def lit(v: str) -> str:  # a file name is the trainer's text: always a string literal
        return json.dumps(v, ensure_ascii=False)

    return (f"import widgets as xf\n\nxf.setup(course={lit(course_id)}, assignment={lit(ASSIGNMENT)}, "
            f"mode={lit(mode)},\n         notebook={lit(notebook)}, lesson={lit(lesson)})")


@dataclass
class Compiled:
    """A compiled notebook, its problems (trainer's cell numbers) and, per compiled cell, the
    trainer's cell number it came from (None: the setup cell compilation put in front)."""

    nb: Any
    problems: list[tuple[int | None, str, str]] = field(default_factory=list)  # (cell, 字段, message)
    cell_map: list[int | None] = field(default_factory=list)

    def where(self, notebook: str) -> list[tuple[str, str]]:
        return [(_where(_cell_where(notebook, c), f), m) for c, f, m in self.problems]


def _question_cells(nb: Any, notebook: str) -> list[tuple[int, Any, dict | None, AuthoringError | None]]:
    """(cell number, cell, item or None, error or None) of every Markdown question cell."""
    out = []
    n = 0
    for i, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "markdown" or not is_question(cell.source):
            continue
        n += 1
        try:
            item = parse_question(cell.source, default_id=default_id(notebook, n))
            out.append((i, cell, item, None))
        except AuthoringError as e:
            out.append((i, cell, None, e))
    return out


def _field_of(where: str) -> str:
    m = re.search(r"\[([^\]]*)\]$", where)
    return m.group(1) if m else ""


def compile_checked(nb: Any, *, course_id: str, notebook: str, mode: str = "practice") -> Compiled:
    """:func:`compile_notebook` without raising: a question cell with problems stays Markdown
    and its problems are listed (``xuefa course validate`` reports them with the rest)."""
    out = copy.deepcopy(nb)
    with_ids = all("id" in c for c in nb.cells) and (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    parsed = {i: (item, err) for i, _c, item, err in _question_cells(nb, notebook)}
    res = Compiled(out)
    seen: dict[str, int] = {}
    cells, cmap = [], []
    for i, cell in enumerate(nb.cells, 1):
        if i not in parsed:
            cells.append(out.cells[i - 1])
            cmap.append(i)
            continue
        item, err = parsed[i]
        if err is not None:
            res.problems += [(i, _field_of(w), m) for w, m in err.problems]
        elif item["id"] in seen:
            res.problems.append((i, "题号", f"题号 {item['id']} 重复（第{seen[item['id']]}个单元格已使用）"))
        if err is not None or item["id"] in seen:
            cells.append(out.cells[i - 1])
            cmap.append(i)
            continue
        seen[item["id"]] = i
        src, test = question_code(item, mode)
        meta = copy.deepcopy(dict(cell.get("metadata", {})))
        meta["xuefa"] = {"authored": "markdown", "difficulty": item.get("difficulty", "中"),
                         "tags": list(item.get("tags", []))}
        if mode == "assessment":
            meta.update(_nbg(f"{item['id']}_question"))
        qcell = new_code_cell(src, metadata=meta)
        if "id" in cell:
            qcell["id"] = cell["id"]
        cells.append(qcell)
        cmap.append(i)
        if test is not None:
            tcell = new_code_cell(test, metadata=_nbg(item["id"], grade=True, points=_num(item["points"])))
            tcell["id"] = f"{cell.get('id', item['id'])}-grade"
            cells.append(tcell)
            cmap.append(i)
    if not has_setup(nb):
        meta = _nbg("setup") if mode == "assessment" else {}
        scell = new_code_cell(setup_source(course_id, notebook, mode), metadata=meta)
        ids = {c.get("id") for c in cells}
        scell["id"] = next(x for x in ("xf-setup", *(f"xf-setup-{k}" for k in range(1, 1000))) if x not in ids)
        cells.insert(0, scell)
        cmap.insert(0, None)
    for c in cells:
        if not with_ids:
            c.pop("id", None)
    out.cells = cells
    out.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"})
    out.metadata.setdefault("language_info", {"name": "python"})
    res.cell_map = cmap
    return res


def compile_notebook(nb: Any, *, course_id: str, notebook: str, mode: str = "practice") -> nbformat.NotebookNode:
    """A copy of ``nb`` with every Markdown question cell as its ``xf.<Class>(...)`` code cell
    (``mode="assessment"``: without key/解析, plus an nbgrader hidden test cell) and the
    ``xf.setup`` cell in front if the notebook has none. Existing code cells are kept as they are.
    Raises :class:`AuthoringError` naming notebook, cell and field of every problem."""
    res = compile_checked(nb, course_id=course_id, notebook=notebook, mode=mode)
    if res.problems:
        raise AuthoringError(res.where(notebook))
    return res.nb


# --- preview --------------------------------------------------------------------------------


def _code_items(nb: Any, notebook: str) -> dict[int, list[dict]]:
    """Question dicts of ``xf.<Question>(...)`` code cells by cell number (keys from hidden tests)."""
    from grading.content.validate import _NONLITERAL, parse_notebook  # validate imports this module

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not _NONLITERAL}
        if isinstance(v, list):
            return [clean(x) for x in v if x is not _NONLITERAL]
        return v

    info = parse_notebook(nb, notebook)
    grades = {g.qid: g.kwargs for g in info.grades if isinstance(g.qid, str)}
    out: dict[int, list[dict]] = {}
    for q in info.questions:
        item = clean({k: v for k, v in q.kwargs.items() if v is not _NONLITERAL})
        item["type"] = q.type
        for k, v in clean(grades.get(q.id, {})).items():
            if k in ("key", "explanation", "legal_basis", "points", "partial") and v is not None:
                item.setdefault(k, v)
        out.setdefault(q.cell, []).append(item)
    return out


def preview_blocks(nb: Any, *, notebook: str) -> list[dict]:
    """What a lesson shows, block by block, for the authoring pages' preview: ``{"kind":
    "markdown", "text"}``, ``{"kind": "question", "item"}`` (Markdown question cells and
    ``xf.<Question>(...)`` code cells alike; items hold keys: the page decides what to show) or
    ``{"kind": "code"}`` for other code (互动内容). A question cell with problems is shown as its
    Markdown text with ``problems`` (where, message). The setup cell and nbgrader hidden tests are
    left out. Every block has ``cell`` (the trainer's cell number)."""
    blocks: list[dict] = []
    code_items = _code_items(nb, notebook)
    n = 0
    for i, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "markdown":
            if is_question(cell.source):
                n += 1
                try:
                    item = parse_question(cell.source, default_id=default_id(notebook, n),
                                          where=_cell_where(notebook, i))
                    blocks.append({"kind": "question", "item": item, "cell": i})
                except AuthoringError as e:
                    blocks.append({"kind": "markdown", "text": cell.source, "problems": e.problems, "cell": i})
                continue
            blocks.append({"kind": "markdown", "text": cell.source, "cell": i})
        elif cell.cell_type == "code":
            if i in code_items:
                blocks += [{"kind": "question", "item": item, "cell": i} for item in code_items[i]]
                continue
            calls = _calls(cell.source)
            if "setup" in calls or "grade" in cell.source and "BEGIN HIDDEN TESTS" in cell.source:
                continue
            blocks.append({"kind": "code", "cell": i})
    return blocks


# --- bank <-> notebooks (round trip) --------------------------------------------------------


def bank_notebook(bank: Any, course_id: str) -> nbformat.NotebookNode:
    """Every question of ``bank`` (a :class:`grading.content.bank.Bank` or a list of dicts) that the
    Markdown syntax covers, one question cell each, after a heading. Cases are left out (they stay
    in the bank: bank -> xlsx -> bank)."""
    questions = getattr(bank, "questions", bank)
    cells = [new_markdown_cell(f"# {course_id} 题库")]
    cells += [new_markdown_cell(question_markdown(q)) for q in questions if q["type"] in CLASSES]
    for i, c in enumerate(cells, 1):
        c["id"] = f"bank-{i:03d}"
    return new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})


def notebook_items(nb: Any, *, notebook: str = "notebook.ipynb") -> list[dict]:
    """The questions of ``nb``'s Markdown question cells, in order, as bank-style dicts.
    Raises :class:`AuthoringError` listing every problem."""
    items, problems = [], []
    for i, _cell, item, err in _question_cells(nb, notebook):
        if err is not None:
            problems += [(_where(_cell_where(notebook, i), _field_of(w)), m) for w, m in err.problems]
        else:
            items.append(item)
    if problems:
        raise AuthoringError(problems)
    return items

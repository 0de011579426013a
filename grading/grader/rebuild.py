"""Score from data: the notebook that is executed is the course's, the learner gives only data.

For each notebook of the assignment the grader builds a fresh notebook from the course's
released version (what nbgrader generated for learners: no keys, no model solutions) and takes
from the learner's submission only

- the answers file ``<notebook>.answers.json`` (what the quiz widgets write), parsed as JSON and
  checked against the course's questions: known ids only, values of the right shape, bounded
  sizes. Anything else is dropped with a note to the learner;
- essays: the text of a manually graded markdown cell comes from the answers file and is
  written escaped (HTML and Markdown), so formgrader shows it as text and never as markup;
- plain nbgrader assignments (no widgets): the learner's code in solution cells (that is the
  answer there; it runs in the sandboxed kernel), matched by nbgrader ``grade_id``.

Every other cell, output and metadata of the learner's notebook is ignored: a cell the learner
added is not in the course and is dropped; a changed course cell is replaced by the course's
version. nbgrader's autograde then restores locked and grade cells (with their hidden tests)
from the gradebook, as it always does.
"""

from __future__ import annotations

import functools
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat


SUFFIX = ".answers.json"  # widgets.answers.SUFFIX (grading does not import widgets)
MAX_ANSWERS_BYTES = 1024 * 1024
MAX_TEXT = 20_000  # an essay: 1500 字 asked, ten times that accepted
MAX_SHORT = 200  # one blank of a fill-in question
MAX_BLANKS = 50
MAX_SOLUTION_CHARS = 200_000  # one solution cell of a plain nbgrader assignment

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


@dataclass
class Rebuilt:
    notebook: Any  # nbformat.NotebookNode
    answers: dict | None  # sanitised answers (None: a notebook without an answers file)
    notes: list[str] = field(default_factory=list)  # zh-CN, for the learner's result
    dropped_cells: int = 0
    replaced_cells: int = 0


def escape_text(text: str) -> str:
    """Learner text for a Markdown cell: shown exactly as typed, never interpreted as HTML or
    Markdown (headings, links, images, raw ``<script>``/``<img onerror>``)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for line in text.split("\n"):
        line = html.escape(line, quote=True)
        line = _MD_SPECIAL.sub(r"\\\1", line)
        lines.append(line)
    # keep the writer's line breaks (a Markdown hard break is two trailing spaces)
    return "  \n".join(lines)


# --- the answers file ---------------------------------------------------------------------------

def question_schema(*course_nbs: Path) -> dict[str, dict]:
    """qid -> {"type", "options", "subs"} from the course notebooks' question calls (the
    released one) and ``xf.grade`` calls (the source one, with its hidden tests). Empty for a
    notebook that does not use the widgets."""
    schema: dict[str, dict] = {}
    for path in course_nbs:
        if path is None or not Path(path).is_file():
            continue
        st = Path(path).stat()
        info = _course_notebook(str(path), st.st_mtime_ns, st.st_size)
        for q in info.questions:
            if isinstance(q.id, str):
                schema[q.id] = _spec(q.type, q.kwargs)
        for g in info.grades:  # a grade call without a question cell: small values only
            if isinstance(g.qid, str) and g.qid not in schema:
                schema[g.qid] = {"type": None}
    return schema


@functools.lru_cache(maxsize=256)
def _course_notebook(path: str, mtime_ns: int, size: int):
    """The parsed course notebook, once per version: every job of a course needs the same two,
    and they change only when the course is published again (new mtime/size, new entry)."""
    from grading.content.validate import read_notebook

    return read_notebook(Path(path))


def _spec(qtype: str, kw: dict) -> dict:
    opts = kw.get("options")
    spec = {"type": qtype, "options": len(opts) if isinstance(opts, list) else 26}
    if qtype == "case":
        subs = {}
        for sq in kw.get("questions") or []:
            if isinstance(sq, dict) and isinstance(sq.get("id"), str):
                subs[sq["id"]] = _spec(str(sq.get("type")), sq)
        spec["subs"] = subs
    return spec


def _check_value(spec: dict, v: Any) -> Any:
    """The value when it has a shape the question can take, else raise ValueError (zh-CN)."""
    t = spec.get("type")
    if v is None:
        return None
    if t in ("single", "multiple", "ordering"):
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            v = "".join(v)
        if not isinstance(v, str) or len(v) > max(26, spec.get("options", 26)) * 2:
            raise ValueError("应为选项字母")
        return v
    if t == "truefalse":
        if isinstance(v, bool) or (isinstance(v, str) and len(v) <= 10):
            return v
        raise ValueError("应为“对”或“错”")
    if t == "fill":
        if isinstance(v, str):
            v = [v]
        if (not isinstance(v, list) or len(v) > MAX_BLANKS
                or not all(x is None or (isinstance(x, str) and len(x) <= MAX_SHORT)
                           or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v)):
            raise ValueError("应为不超过 200 字的填空")
        return v
    if t == "essay":
        if not isinstance(v, str) or len(v) > MAX_TEXT:
            raise ValueError(f"应为不超过 {MAX_TEXT} 字的文字")
        return v
    if t == "case":
        if not isinstance(v, dict):
            raise ValueError("应为各小题的答案")
        subs = spec.get("subs") or {}
        out = {}
        for k, sv in v.items():
            if k in subs:
                out[k] = _check_value(subs[k], sv)
        return out
    # type unknown (grade call without a question cell): small JSON scalars and lists only
    if isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= MAX_SHORT):
        return v
    if isinstance(v, list) and len(v) <= MAX_BLANKS and all(
            isinstance(x, str) and len(x) <= MAX_SHORT for x in v):
        return v
    raise ValueError("格式无效")


def sanitize_answers(raw: bytes | None, schema: dict[str, dict], name: str) -> tuple[dict, list[str]]:
    """(answers to grade from, zh-CN notes). Never raises."""
    if raw is None:
        return {}, []
    if len(raw) > MAX_ANSWERS_BYTES:
        return {}, [f"答案文件 {name} 超过 {MAX_ANSWERS_BYTES // 1024} KB，未计分。"]
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}, [f"答案文件 {name} 无法解析，其中的答案未计分。"]
    if not isinstance(data, dict):
        return {}, [f"答案文件 {name} 格式无效，其中的答案未计分。"]
    out, unknown, bad = {}, [], []
    for k, v in data.items():
        if schema and k not in schema:
            unknown.append(k)
            continue
        if not schema and (len(k) > 64 or len(out) >= 500):
            # a plain nbgrader notebook whose tests read the file: no question list to check
            # ids against, so generic bounds (short ids, small JSON values)
            unknown.append(k)
            continue
        try:
            checked = _check_value(schema.get(k, {"type": None}), v)
        except (ValueError, TypeError, RecursionError):
            bad.append(k)
            continue
        if checked is not None:
            out[k] = checked
    notes = []
    if unknown:
        notes.append(f"答案文件中有 {len(unknown)} 个本测试没有的题号，已忽略。")
    if bad:
        notes.append(f"题目 {'、'.join(sorted(bad)[:20])} 的答案格式无效，按未作答计。")
    return out, notes


# --- the notebook ---------------------------------------------------------------------------------

def _nbmeta(cell) -> dict:
    m = cell.get("metadata", {}).get("nbgrader", {})
    return m if isinstance(m, dict) else {}


def _learner_cells(path: Path | None) -> dict[str, Any]:
    """The learner's cells by nbgrader grade_id (anything unreadable: none)."""
    if path is None or not path.is_file():
        return {}
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - a learner's file may be anything: then it gives nothing
        return {}
    out = {}
    for cell in nb.cells:
        gid = _nbmeta(cell).get("grade_id")
        if isinstance(gid, str) and gid not in out:
            out[gid] = cell
    return out


def _foreign_cells(path: Path | None, course) -> int:
    """How many of the learner's cells the course does not have (by nbgrader grade_id, else
    cell id, else identical source: lessons have plain cells without nbgrader metadata)."""
    try:
        nb = nbformat.read(str(path), as_version=4) if path and path.is_file() else None
    except Exception:  # noqa: BLE001 - an unreadable notebook adds no cells
        return 0
    if nb is None:
        return 0
    gids = {_nbmeta(c).get("grade_id") for c in course.cells} - {None}
    ids = {c.get("id") for c in course.cells} - {None}
    sources = {c.get("source") for c in course.cells}
    n = 0
    for cell in nb.cells:
        gid = _nbmeta(cell).get("grade_id")
        if gid in gids or (gid is None and (cell.get("id") in ids or cell.get("source") in sources)):
            continue
        n += 1
    return n


def rebuild(course_nb: Path, learner_nb: Path | None, answers_raw: bytes | None,
            schema: dict[str, dict] | None = None) -> Rebuilt:
    """The notebook to grade: ``course_nb``'s cells (the released version), the learner's data.
    ``schema``: :func:`question_schema` of the course notebook (default: from ``course_nb``)."""
    course = nbformat.read(str(course_nb), as_version=4)
    schema = question_schema(course_nb) if schema is None else schema
    widgets_nb = bool(schema)  # questions are widgets: every answer comes from the answers file
    answers, notes = (sanitize_answers(answers_raw, schema, course_nb.stem + SUFFIX)
                      if widgets_nb or answers_raw is not None else (None, []))
    mine = _learner_cells(learner_nb)
    out = nbformat.v4.new_notebook(metadata={
        "kernelspec": course.metadata.get("kernelspec",
                                          {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}),
        "language_info": course.metadata.get("language_info", {"name": "python"})})
    for cell in course.cells:
        new = nbformat.from_dict(json.loads(json.dumps(cell)))
        new.pop("outputs", None)
        new.pop("execution_count", None)
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
        meta = _nbmeta(cell)
        gid = meta.get("grade_id")
        if meta.get("solution") and isinstance(gid, str):
            theirs = mine.get(gid)
            if new.cell_type == "markdown":
                if widgets_nb:
                    text = (answers or {}).get(gid)
                    if isinstance(text, str) and text.strip():
                        new.source = escape_text(text)
                elif theirs is not None and isinstance(theirs.get("source"), str):
                    new.source = escape_text(theirs.source[:MAX_TEXT])
            elif theirs is not None and theirs.get("cell_type") == "code" and not widgets_nb:
                src = theirs.get("source")
                if isinstance(src, str) and len(src) <= MAX_SOLUTION_CHARS:
                    new.source = src
        out.cells.append(new)
    r = Rebuilt(out, answers, notes)
    r.dropped_cells = _foreign_cells(learner_nb, course)
    if r.dropped_cells:
        r.notes.append(f"提交的笔记本中有 {r.dropped_cells} 个课程以外的单元格，未运行、不计分。")
    return r

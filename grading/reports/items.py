"""Item analysis for trainers (题目分析): how each question of a course's assessment behaved.

Per question, over the FIRST counted attempt of every learner (later attempts are practice on a
known paper, and with drawn papers a retake is a different paper: counting them would measure
memory, not the item):

* ``n``: learners whose first attempt held this question (drawn papers: not everyone's);
* facility (得分率): mean of points / max points;
* discrimination D (区分度) = facility in the upper 27% - facility in the lower 27%, the groups
  taken by the attempt's total score percent among ALL first attempts of the assessment (group
  size ``max(1, round(0.27 * N))``; ties at a boundary go by submission order, earlier first,
  so the result is reproducible);
* for single and multiple choice, how often each option letter was chosen (a multiple-choice
  answer "ABD" counts once for A, B and D), in the published bank's option order (a paper drawn
  before the options were reordered is mapped back by option text);
* flags (Chinese, shown to trainers): 无人答错 (facility 1 with n >= 5), 高分组反而答错 (D < 0),
  无人选择的干扰项 (a wrong option nobody chose, n >= 5).

The stem, options and key come from the published bank (``<course_root>/bank.yaml``) or, for a
course with a fixed assessment notebook, from that notebook's question calls; the learners'
answers from ``item_results.answer`` (else from the result's full server-side details).
Nothing here is shown to learners: it holds keys.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from grading.records.db import session_scope
from grading.records.exams import COUNTED as COUNTED_OUTCOMES
from grading.records.models import Course, ItemResult, Paper, Result
from grading.records.sheets import set_cell

GROUP_SHARE = 0.27
MIN_N_FOR_FLAGS = 5
CHOICE_TYPES = ("single", "multiple")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

FLAG_NONE_WRONG = "无人答错"
FLAG_NEGATIVE_D = "高分组反而答错"
FLAG_UNPICKED = "无人选择的干扰项"

TYPE_LABELS = {"single": "单选题", "multiple": "多选题", "truefalse": "判断题", "fill": "填空题",
               "ordering": "排序题", "case": "案例分析题", "essay": "简答题"}


@dataclass
class OptionStats:
    letter: str
    text: str
    count: int
    correct: bool


@dataclass
class ItemStats:
    question_id: str
    stem: str
    type: str | None
    n: int
    max_points: float
    facility: float | None
    discrimination: float | None
    upper_facility: float | None
    lower_facility: float | None
    options: list[OptionStats] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    legal_basis: str = ""
    difficulty: str = ""
    tags: list[str] = field(default_factory=list)

    @property
    def unpicked(self) -> list[str]:
        """Letters of the wrong options nobody chose."""
        return [o.letter for o in self.options if not o.correct and o.count == 0]


# --- where the questions come from ----------------------------------------------------------


def _bank_questions(bank: Any) -> tuple[list[dict], str | None]:
    """(question dicts, the bank's digest when known)."""
    if bank is None:
        return [], None
    if isinstance(bank, (str, Path)):
        from grading.content.bank import load_bank

        bank = load_bank(Path(bank))
    return [dict(q) for q in getattr(bank, "questions", bank)], getattr(bank, "digest", None)


def _notebook_questions(nb_path: Path) -> list[dict]:
    """Question dicts (bank shape) from a fixed assessment notebook's ``xf.<Question>(...)`` and
    ``xf.grade(...)`` calls (literal arguments only, as the validator reads them)."""
    from grading.content.validate import read_notebook

    info = read_notebook(nb_path)
    keys = {g.qid: g.kwargs for g in info.grades}
    out = []
    for q in info.questions:
        d = {k: v for k, v in q.kwargs.items() if isinstance(k, str)}
        d["type"] = q.type
        g = keys.get(q.id) or {}
        for k in ("key", "points", "legal_basis"):
            if g.get(k) is not None:
                d[k] = g[k]
        out.append(d)
    return out


def course_questions(course_id: str, *, course_root: Path | None = None,
                     assessment_file: str = "assessment.ipynb") -> tuple[list[dict], str | None]:
    """The published questions of a course (its bank, else its assessment notebook) and the
    bank's digest."""
    from grading.content.courses import ASSIGNMENT

    if course_root is None:
        from grading.host.datadir import DataDir

        course_root = DataDir.from_env().course_root(course_id)
    bank_file = Path(course_root) / "bank.yaml"
    if bank_file.exists():
        return _bank_questions(bank_file)
    nb = Path(course_root) / "source" / ASSIGNMENT / assessment_file
    return (_notebook_questions(nb) if nb.exists() else []), None


# --- reading the attempts -----------------------------------------------------------------------


@dataclass
class _Attempt:
    result_id: int
    percent: float
    items: dict[str, dict]  # qid -> {"ratio", "answer", "slot"}
    options: dict[str, list[str]]  # qid -> options as the learner's paper showed them


def _letters_of(answer: Any) -> list[str]:
    if isinstance(answer, list):
        answer = "".join(str(x) for x in answer)
    if not isinstance(answer, str):
        return []
    return sorted({c for c in answer.upper() if c in LETTERS})


def _first_attempts(s, course_id: str, assignment: str, digest: str | None = None) -> list[_Attempt]:
    """Each learner's first counted attempt, best first. Reads the item rows (one query, not one
    per result: a city has tens of thousands) and a result's JSON details only for rows graded
    before ``item_results.answer`` existed; paper snapshots only when drawn from another bank
    version than ``digest`` (the only papers whose option letters may differ)."""
    cols = (Result.id, Result.learner_id, Result.score, Result.max_score)
    counted = (Result.course_id == course_id, Result.assignment == assignment,
               Result.outcome.in_(COUNTED_OUTCOMES))
    first: dict[int, tuple] = {}
    for row in s.execute(select(*cols).where(*counted).order_by(Result.learner_id, Result.attempt)):
        first.setdefault(row.learner_id, row)
    first_ids = {row.id for row in first.values()}
    items_by: dict[int, dict[str, dict]] = defaultdict(dict)
    old: set[int] = set()
    for rid, qid, points, maxp, answer in s.execute(
            select(ItemResult.result_id, ItemResult.question_id, ItemResult.points,
                   ItemResult.max_points, ItemResult.answer)
            .join(Result, Result.id == ItemResult.result_id).where(*counted)):
        if rid not in first_ids or not maxp:
            continue
        items_by[rid][qid] = {"ratio": float(points or 0) / float(maxp), "answer": answer}
        if answer is None:
            old.add(rid)
    need = sorted(first_ids - set(items_by) | old)
    details = {}
    for i in range(0, len(need), 500):  # bounded IN lists (SQLite's host-parameter limit)
        details.update(s.execute(select(Result.id, Result.details)
                                 .where(Result.id.in_(need[i:i + 500]))).all())
    for rid in need:
        for d in details.get(rid) or []:
            qid, maxp = str(d.get("id")), float(d.get("max_points") or 0)
            if maxp <= 0:
                continue
            it = items_by[rid].setdefault(qid, {"ratio": float(d.get("points") or 0) / maxp, "answer": None})
            if it["answer"] is None:
                it["answer"] = d.get("answer")
    # a learner's k-th counted attempt answered the paper of attempt k: the first one, paper 1
    papers: dict[int, list] = {}
    q = select(Paper.learner_id, Paper.questions).where(
        Paper.course_id == course_id, Paper.assignment == assignment, Paper.attempt == 1)
    if digest:
        q = q.where(Paper.bank_digest != digest)
    for learner_id, questions in s.execute(q):
        papers[learner_id] = questions or []
    out = []
    for learner_id, row in first.items():
        options = {str(q.get("id")): [str(o) for o in q.get("options") or []]
                   for q in papers.get(learner_id, []) if isinstance(q, dict)}
        percent = row.score / row.max_score if row.max_score else 0.0
        out.append(_Attempt(row.id, percent, dict(items_by.get(row.id, {})), options))
    # ties at a group boundary: earlier results (lower ids) first
    out.sort(key=lambda a: (-a.percent, a.result_id))
    return out


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def item_analysis(url: str, course_id: str, assignment: str = "module", bank=None, *,
                  course_root: Path | None = None) -> list[ItemStats]:
    """Per-question statistics of ``course_id``'s assessment (see the module docstring).

    ``bank``: a loaded bank, a list of question dicts or the path of a ``bank.yaml``; by default
    the course's published bank or assessment notebook under ``course_root`` (default: the data
    dir's course root)."""
    with session_scope(url) as s:
        if bank is None:
            c = s.get(Course, course_id)
            nb_file = ((c.meta or {}).get("assessment") or {}).get("file") if c else None
            questions, digest = course_questions(course_id, course_root=course_root,
                                                 assessment_file=nb_file or "assessment.ipynb")
        else:
            questions, digest = _bank_questions(bank)
        attempts = _first_attempts(s, course_id, assignment, digest)
    by_id = {str(q.get("id")): q for q in questions}
    order = [str(q.get("id")) for q in questions]
    for a in attempts:  # questions graded but gone from the bank since: still reported, last
        order += [qid for qid in a.items if qid not in by_id and qid not in order]

    n_all = len(attempts)
    g = max(1, round(GROUP_SHARE * n_all)) if n_all else 0
    upper, lower = attempts[:g], attempts[n_all - g:] if g else []

    out = []
    for qid in order:
        q = by_id.get(qid, {})
        qtype = q.get("type")
        ratios = [a.items[qid]["ratio"] for a in attempts if qid in a.items]
        n = len(ratios)
        if n == 0 and not q:
            continue
        up = _mean([a.items[qid]["ratio"] for a in upper if qid in a.items])
        lo = _mean([a.items[qid]["ratio"] for a in lower if qid in a.items])
        d = up - lo if up is not None and lo is not None else None
        facility = _mean(ratios)
        options: list[OptionStats] = []
        if qtype in CHOICE_TYPES and q.get("options"):
            bank_opts = [str(o) for o in q["options"]]
            key = set(_letters_of(q.get("key")))
            counts = defaultdict(int)
            for a in attempts:
                if qid not in a.items:
                    continue
                shown = a.options.get(qid)
                for letter in _letters_of(a.items[qid]["answer"]):
                    i = LETTERS.index(letter)
                    # papers keep the bank's option order, but a paper drawn before the trainer
                    # reordered a question's options speaks the old letters: map them by text
                    if shown and i < len(shown) and shown[i] in bank_opts:
                        i = bank_opts.index(shown[i])
                    counts[i] += 1
            options = [OptionStats(LETTERS[i], text, counts[i], LETTERS[i] in key)
                       for i, text in enumerate(bank_opts)]
        flags = []
        if facility is not None and n >= MIN_N_FOR_FLAGS and facility >= 1 - 1e-9:
            flags.append(FLAG_NONE_WRONG)
        if d is not None and d < -1e-9:
            flags.append(FLAG_NEGATIVE_D)
        if n >= MIN_N_FOR_FLAGS and any(not o.correct and o.count == 0 for o in options):
            flags.append(FLAG_UNPICKED)
        out.append(ItemStats(
            question_id=qid, stem=str(q.get("stem") or q.get("scenario") or ""), type=qtype, n=n,
            max_points=float(q.get("points") or 0), facility=facility, discrimination=d,
            upper_facility=up, lower_facility=lo, options=options, flags=flags,
            legal_basis=str(q.get("legal_basis") or ""), difficulty=str(q.get("difficulty") or ""),
            tags=[str(t) for t in q.get("tags") or []]))
    return out


def learners_counted(url: str, course_id: str, assignment: str = "module") -> int:
    """How many learners have a counted first attempt (the N of the analysis)."""
    with session_scope(url) as s:
        return len(set(s.scalars(select(Result.learner_id).where(
            Result.course_id == course_id, Result.assignment == assignment,
            Result.outcome.in_(COUNTED_OUTCOMES)))))


# --- who may read a course's analysis ---------------------------------------------------------


def may_view(url: str, username: str, course_id: str, *, admin: bool) -> bool:
    """Administrators see every course; a trainer only the courses whose ``trainers`` list
    (course.yaml, copied to the records DB on publish) names them."""
    if admin:
        return True
    with session_scope(url) as s:
        c = s.get(Course, course_id)
        return c is not None and username in ((c.meta or {}).get("trainers") or [])


def viewable_courses(url: str, username: str, *, admin: bool) -> list[tuple[str, str]]:
    """(course id, title) of the published courses ``username`` may analyse."""
    with session_scope(url) as s:
        rows = s.execute(select(Course).where(Course.published_at.is_not(None))
                         .order_by(Course.id)).scalars()
        return [(c.id, c.title) for c in rows
                if admin or username in ((c.meta or {}).get("trainers") or [])]


# --- presenting -------------------------------------------------------------------------------


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.0f}%"


def fmt_d(x: float | None) -> str:
    return "—" if x is None else f"{x:+.2f}"


def options_text(it: ItemStats) -> str:
    return "；".join(f"{o.letter}{'（正确）' if o.correct else ''} {o.count} 人" for o in it.options)


HEADERS = ["题号", "题型", "题干", "法律依据", "难度", "作答人数", "分值", "得分率",
           "高分组得分率", "低分组得分率", "区分度（D）", "选项分布", "提示"]


def rows(stats: list[ItemStats]) -> list[list]:
    out = []
    for it in stats:
        out.append([
            it.question_id, TYPE_LABELS.get(it.type or "", it.type or ""), it.stem, it.legal_basis,
            it.difficulty, it.n, it.max_points,
            None if it.facility is None else round(it.facility, 4),
            None if it.upper_facility is None else round(it.upper_facility, 4),
            None if it.lower_facility is None else round(it.lower_facility, 4),
            None if it.discrimination is None else round(it.discrimination, 4),
            options_text(it),
            "；".join(f + (f"（{'、'.join(it.unpicked)}）" if f == FLAG_UNPICKED else "")
                     for f in it.flags),
        ])
    return out


def write_xlsx(stats: list[ItemStats], path: str | Path, *, title: str = "") -> Path:
    """The analysis as a workbook: 题目分析 (one row per question) and 选项分布 (one row per
    option). Every cell goes through the formula-safe writer: stems and options are typed by
    trainers and may start with "=" or "-"."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "题目分析"
    set_cell(ws, 1, 1, f"{title} 题目分析（每位学员第一次计分的考试）").font = Font(bold=True, size=13)
    for j, h in enumerate(HEADERS, 1):
        set_cell(ws, 3, j, h).font = Font(bold=True)
    for i, row in enumerate(rows(stats), 4):
        for j, v in enumerate(row, 1):
            c = set_cell(ws, i, j, v)
            if HEADERS[j - 1] in ("得分率", "高分组得分率", "低分组得分率") and v is not None:
                c.number_format = "0%"
            if HEADERS[j - 1] in ("题干", "选项分布"):
                c.alignment = Alignment(wrap_text=True, vertical="top")
    for col, width in zip("ABCDEFGHIJKLM", (8, 10, 50, 28, 6, 9, 6, 9, 12, 12, 11, 36, 30)):
        ws.column_dimensions[col].width = width
    opt = wb.create_sheet("选项分布")
    for j, h in enumerate(["题号", "选项", "选项内容", "选择人数", "正确答案"], 1):
        set_cell(opt, 1, j, h).font = Font(bold=True)
    r = 2
    for it in stats:
        for o in it.options:
            for j, v in enumerate([it.question_id, o.letter, o.text, o.count, "是" if o.correct else ""], 1):
                set_cell(opt, r, j, v)
            r += 1
    if hasattr(path, "write"):  # a file object (the dashboard's download button)
        wb.save(path)
        return path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def xlsx_bytes(stats: list[ItemStats], *, title: str = "") -> bytes:
    import io

    buf = io.BytesIO()
    write_xlsx(stats, buf, title=title)
    return buf.getvalue()

"""Essay grading on the platform's own Chinese page (阅卷, issue 15).

Trainers grade 述法 reports and other essays (manually graded Markdown cells of an assessment)
without nbgrader's English formgrader. Everything here works on the same data formgrader does:

* **who may grade**: administrators (city-wide only: a unit administrator is not a grader) and
  the trainers named by the course's ``course.yaml`` ``trainers`` list, read at each request from
  the trainers' workspace copy (``DATA/workspace/<id>/course.yaml``, through
  :func:`grading.content.workspace.listed_trainers`, as the authoring pages read it) when there
  is one, else from the published copy in the course root (``DATA/courses/<id>/course.yaml``),
  else from the shipped course, else from the records DB (copied there at publish). Learners
  and everyone else: nothing.
* **what is waiting**: nbgrader's gradebook holds one submission per learner (the attempt it
  graded last); its essay grades (``Grade`` of Markdown grade cells) say 待评阅 or 已评阅.
* **the text**: the manually graded cells of the grader's own rebuilt notebook in
  ``autograded/<learner>/module/`` (read as data, never executed; the page escapes it); the
  stem, rubric and maximum come from the released notebook (``xf.Essay(...)`` read with
  :mod:`ast`, never run) and the gradebook.
* **saving** writes ``Grade.manual_score`` and ``Comment.manual_comment`` exactly as formgrader's
  API does, then finalises the attempt through :func:`grading.grader.manual.finalize` (the path
  of the periodic sync: Result, feedback HTML, audit ``grade_manual``), with the trainer as actor.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from grading.exchange.names import valid_id, valid_username
from grading.host.datadir import DataDir
from grading.records.exams import ASSIGNMENT

MAX_COMMENT = 2000
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_YAML_BYTES = 256 * 1024
TRAINER_RE = re.compile(r"^[a-z][a-z0-9_]{2,31}$")

WAITING, GRADED = "待评阅", "已评阅"
MSG_FORBIDDEN = "只有本课程的讲师和管理员可以评阅本课程的答卷。"
MSG_NO_SUBMISSION = "没有找到这位学员待评阅的答卷。"
MSG_NO_RESULT = "这份答卷的成绩记录尚未生成（评分服务可能仍在处理），请稍后再试。"
MSG_RESUBMITTED = "该学员已重新提交答卷，页面显示的不是最新一次，请重新打开后再评阅。"


class GradeError(ValueError):
    """A refused score or comment; the message (zh-CN) names the field."""


# --- who may grade ----------------------------------------------------------------------------


def _regular_file(path: Path) -> bool:
    """A plain file, reached without symlinks (workspace files are written by trainers)."""
    try:
        for p in [path, *path.parents[:2]]:
            if p.is_symlink():
                return False
        return path.is_file() and path.stat().st_size <= MAX_YAML_BYTES
    except OSError:
        return False


def _yaml_trainers(path: Path) -> list[str] | None:
    import yaml

    if not _regular_file(path):
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    names = data.get("trainers") if isinstance(data, dict) else None
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and TRAINER_RE.match(n)]


def course_trainers(datadir: DataDir, course_id: str) -> list[str]:
    """The course's listed trainers (see the module doc for which course.yaml counts)."""
    if not valid_id(course_id):
        return []
    from grading.content import workspace
    from grading.content.courses import courses_dir

    # the authoring pages' own reading of a workspace course.yaml (no links followed; while a
    # trainer's edit leaves it unreadable, the last valid list holds)
    if workspace.exists(datadir, course_id):
        return workspace.listed_trainers(datadir, course_id)

    # shipped courses (``courses/<id>``) count before their first publish (their formgrader
    # exists from the start)
    for path in (datadir.course_root(course_id) / "course.yaml",
                 courses_dir() / course_id / "course.yaml"):
        if path.exists() or path.is_symlink():
            names = _yaml_trainers(path)
            return names if names is not None else []
    from grading.records.results import course_trainers as published_trainers

    return published_trainers(datadir.records_db_url, course_id)


def grader_role(url: str, username: str) -> str | None:
    """``"admin"`` (city-wide administrator), ``"trainer"`` or None, from the records DB."""
    from grading.records import people, scopes
    from grading.records.models import Role

    info = people.learner_info(url, username)
    if not info or not info["active"]:
        return None
    if info["role"] == Role.admin:
        return "admin" if scopes.scope_of(url, username).city_wide else None
    if info["role"] == Role.trainer:
        return "trainer"
    return None


def may_grade(datadir: DataDir, course_id: str, username: str, role: str | None) -> bool:
    if role == "admin":
        return valid_id(course_id)
    return role == "trainer" and username in course_trainers(datadir, course_id)


# --- the gradebook ----------------------------------------------------------------------------


def _gradebook_exists(datadir: DataDir, course_id: str) -> bool:
    url = datadir.gradebook_url(course_id)
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).is_file()
    return True


def _essay_grades(sub) -> list:
    """The Grade rows of manually graded Markdown cells (essays), in notebook order."""
    out = []
    for nb in sub.notebooks:
        for g in nb.grades:
            if g.cell_type == "markdown":
                out.append(g)
    return out


def _same_time(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return False
    return abs((a.replace(tzinfo=None) - b.replace(tzinfo=None)).total_seconds()) <= 1


def _stamp(t: datetime | None) -> str:
    return t.replace(tzinfo=None).isoformat(timespec="microseconds") if t is not None else ""


def submissions(datadir: DataDir, course_id: str) -> list[dict]:
    """The course's submissions with essays, as nbgrader holds them: 待评阅 first."""
    from nbgrader.api import Gradebook, MissingEntry

    if not valid_id(course_id) or not _gradebook_exists(datadir, course_id):
        return []
    from grading.records import people

    rows = []
    with Gradebook(datadir.gradebook_url(course_id), course_id) as gb:
        try:
            assignment = gb.find_assignment(ASSIGNMENT)
        except MissingEntry:
            return []
        for sub in assignment.submissions:
            grades = _essay_grades(sub)
            if not grades:
                continue
            waiting = any(g.needs_manual_grade for g in grades)
            rows.append({"username": sub.student.id, "submitted_at": sub.timestamp,
                         "status": WAITING if waiting else GRADED,
                         "essay_score": None if waiting else sum(float(g.score) for g in grades),
                         "essay_max": sum(float(g.max_score) for g in grades),
                         "score": float(sub.score), "max_score": float(sub.max_score)})
    for r in rows:
        info = people.learner_info(datadir.records_db_url, r["username"]) or {}
        r["name"] = info.get("name") or r["username"]
        r["unit_path"] = info.get("unit_path") or ""
    rows.sort(key=lambda r: (r["status"] != WAITING, r["submitted_at"] or datetime.min))
    return rows


def gradable_courses(datadir: DataDir, username: str, role: str | None) -> list[dict]:
    """The published courses with essays ``username`` may grade, with 待评阅/已评阅 counts."""
    from grading.records.results import manual_courses

    out = []
    if role not in ("admin", "trainer"):
        return out
    for course_id, title in manual_courses(datadir.records_db_url):
        if not may_grade(datadir, course_id, username, role):
            continue
        subs = submissions(datadir, course_id)
        out.append({"course_id": course_id, "title": title,
                    "waiting": sum(1 for s in subs if s["status"] == WAITING),
                    "graded": sum(1 for s in subs if s["status"] == GRADED)})
    return out


# --- one submission ---------------------------------------------------------------------------


@dataclass
class Item:
    id: str
    notebook: str
    max_points: float
    stem: str = ""
    rubric: str = ""
    text: str = ""
    score: float | None = None
    comment: str = ""


@dataclass
class Essay:
    course_id: str
    username: str
    name: str
    unit_path: str
    submitted_at: datetime | None
    status: str
    items: list[Item] = field(default_factory=list)

    @property
    def stamp(self) -> str:
        return _stamp(self.submitted_at)


def _read_notebook(path: Path):
    import nbformat

    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - a broken file shows as no text, never as a crash
        return None


def _answers(course_root: Path, username: str, notebook: str) -> dict[str, str]:
    """grade id -> the learner's essay text, from the grader's rebuilt notebook."""
    from grading.records.law_review import _unescape  # inverse of rebuild.escape_text

    for sub in ("autograded", "submitted"):
        base = course_root / sub / username / ASSIGNMENT
        if base.is_symlink() or any(p.is_symlink() for p in (course_root / sub, course_root / sub / username)):
            continue
        nb = _read_notebook(base / f"{notebook}.ipynb")
        if nb is None:
            continue
        out = {}
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
                out[str(meta.get("grade_id"))] = _unescape(cell.source).strip()
        return out
    return {}


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _questions(course_root: Path, notebook: str) -> dict[str, dict]:
    """grade id -> {stem, rubric} from the released notebook (``xf.Essay(...)`` keywords read
    with ast; the ``<id>_rubric`` Markdown cell when the call has none)."""
    out: dict[str, dict] = {}
    for sub in ("release", "source"):
        nb = _read_notebook(course_root / sub / ASSIGNMENT / f"{notebook}.ipynb")
        if nb is None:
            continue
        for cell in nb.cells:
            gid = str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or "")
            if cell.cell_type == "code" and gid.endswith("_question"):
                try:
                    tree = ast.parse(cell.source)
                except (SyntaxError, ValueError, MemoryError, RecursionError):
                    continue
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call):
                        kw = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
                        qid = kw.get("id") if isinstance(kw.get("id"), str) else gid[:-len("_question")]
                        info = out.setdefault(qid, {})
                        for key in ("stem", "rubric"):
                            if isinstance(kw.get(key), str) and kw[key].strip():
                                info[key] = kw[key].strip()
                        break
            elif cell.cell_type == "markdown" and gid.endswith("_rubric"):
                info = out.setdefault(gid[:-len("_rubric")], {})
                text = cell.source.strip()
                info.setdefault("rubric_cell", re.sub(r"^\*\*评分要点\*\*[^：:]*[：:]\s*", "", text))
        return out
    return out


def essay(datadir: DataDir, course_id: str, username: str) -> Essay | None:
    """The learner's submission as nbgrader holds it, with every essay's text, stem, rubric,
    maximum and current score and comment; None when there is none."""
    from nbgrader.api import Gradebook, MissingEntry

    from grading.records import people

    if not (valid_id(course_id) and valid_username(username)) or not _gradebook_exists(datadir, course_id):
        return None
    root = datadir.course_root(course_id)
    with Gradebook(datadir.gradebook_url(course_id), course_id) as gb:
        try:
            sub = gb.find_submission(ASSIGNMENT, username)
        except MissingEntry:
            return None
        grades = _essay_grades(sub)
        if not grades:
            return None
        items, waiting = [], False
        for g in grades:
            comment = ""
            try:
                comment = gb.find_comment(g.name, g.notebook.name, ASSIGNMENT, username).manual_comment or ""
            except MissingEntry:
                pass
            waiting = waiting or g.needs_manual_grade
            items.append(Item(id=g.name, notebook=g.notebook.name, max_points=float(g.max_score),
                              score=None if g.needs_manual_grade else float(g.score),
                              comment=comment))
        submitted_at = sub.timestamp
    texts: dict[tuple[str, str], str] = {}
    questions: dict[tuple[str, str], dict] = {}
    for nb in {i.notebook for i in items}:
        for k, v in _answers(root, username, nb).items():
            texts[(nb, k)] = v
        for k, v in _questions(root, nb).items():
            questions[(nb, k)] = v
    for it in items:
        it.text = texts.get((it.notebook, it.id), "")
        q = questions.get((it.notebook, it.id), {})
        it.stem = q.get("stem", "")
        it.rubric = q.get("rubric") or q.get("rubric_cell", "")
    info = people.learner_info(datadir.records_db_url, username) or {}
    return Essay(course_id=course_id, username=username, name=info.get("name") or username,
                 unit_path=info.get("unit_path") or "", submitted_at=submitted_at,
                 status=WAITING if waiting else GRADED, items=items)


# --- saving -----------------------------------------------------------------------------------


def parse_score(raw: str, max_points: float, label: str) -> float:
    """A score typed by a trainer: a number from 0 to the item's maximum (else GradeError)."""
    text = (raw or "").strip().replace("，", ".").replace("。", ".")
    if not text:
        raise GradeError(f"请填写“{label}”的得分。")
    try:
        value = float(text)
    except ValueError:
        raise GradeError(f"“{label}”的得分必须是数字（0–{max_points:g} 分）。") from None
    if not math.isfinite(value) or value < 0 or value > max_points + 1e-9:
        raise GradeError(f"“{label}”的得分必须在 0 到 {max_points:g} 分之间。")
    return round(value, 2)


def item_label(index: int, item: Item, count: int) -> str:
    return "得分" if count == 1 else f"第{index}篇 得分"


def save_grade(datadir: DataDir, course_id: str, username: str, scores: dict[str, str],
               comments: dict[str, str], *, actor: str, stamp: str = "",
               client: str | None = None) -> dict:
    """Store the trainer's scores and comments in the gradebook and finalise the attempt.

    ``scores``/``comments`` are keyed by grade id (the essay cells of :func:`essay`); every
    essay needs a score. ``stamp`` (the submission time the page showed) refuses a grade typed
    while looking at an older attempt. Returns ``{"score", "max_score"}`` of the attempt."""
    from nbgrader.api import Gradebook, MissingEntry

    from grading.grader.manual import finalize
    from grading.records.results import attempts

    current = essay(datadir, course_id, username)
    if current is None:
        raise GradeError(MSG_NO_SUBMISSION)
    if stamp and stamp != current.stamp:
        raise GradeError(MSG_RESUBMITTED)
    parsed: dict[str, tuple[float, str]] = {}
    for i, it in enumerate(current.items, 1):
        label = item_label(i, it, len(current.items))
        value = parse_score(scores.get(it.id, ""), it.max_points, label)
        comment = (comments.get(it.id) or "").replace("\r\n", "\n").strip()
        if len(comment) > MAX_COMMENT:
            raise GradeError(f"“评语”不能超过 {MAX_COMMENT} 个字（现有 {len(comment)} 个字）。")
        parsed[it.id] = (value, comment)
    row = next((r for r in attempts(datadir.records_db_url, username, course_id, ASSIGNMENT)
                if _same_time(r.submitted_at, current.submitted_at) and r.outcome != "refused"), None)
    if row is None:
        raise GradeError(MSG_NO_RESULT)
    with Gradebook(datadir.gradebook_url(course_id), course_id) as gb:
        sub = gb.find_submission(ASSIGNMENT, username)
        if not _same_time(sub.timestamp, current.submitted_at):
            raise GradeError(MSG_RESUBMITTED)
        for it in current.items:
            value, comment = parsed[it.id]
            g = gb.find_grade(it.id, it.notebook, ASSIGNMENT, username)
            g.manual_score = value
            g.needs_manual_grade = False
            try:
                c = gb.find_comment(it.id, it.notebook, ASSIGNMENT, username)
                c.manual_comment = comment or None
            except MissingEntry:
                pass
        gb.db.commit()
    done = finalize(datadir, row.id, course_id, ASSIGNMENT, username, row.submitted_at,
                    actor=actor, client=client, only_pending=False)
    if done is None:
        raise GradeError(MSG_NO_RESULT)
    return done

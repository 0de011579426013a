"""``xuefa course validate``: check a course folder before it is published.

Built like nbgrader's converters: :data:`CHECKS` is a list of small checks, each doing one
thing to a :class:`CourseContext` and returning :class:`Problem` rows that name the file,
the cell (1-based, as JupyterLab counts) and the field, with a zh-CN message a trainer can
act on. Static checks read question cells with :mod:`ast` (question kwargs must be literals,
which is also what keeps them readable); the slow checks run every notebook with nbclient and
generate the learner version with nbgrader in a temp course.

A course with ``bank.yaml`` has no hand-written assessment: its bank and blueprint are checked
(:mod:`grading.content.bank`), and the slow checks run and release the notebook publish would
generate from the blueprint, with a sample paper beside it as the grading service puts one.

Notebooks are checked as publish releases them: compiled first
(:func:`grading.content.authoring.compile_checked`: Markdown question cells become ``xf.<Class>``
cells, a missing ``xf.setup`` cell is put in front), so every check also applies to questions
written in Markdown; a question cell's syntax problems are problems like any other, and cell
numbers are mapped back to the trainer's notebook (:func:`trainer_cell`).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat
from pydantic import Field, ValidationError, field_validator

from grading.content.authoring import compile_checked
from grading.content.bank import BANK_FILE, Bank, BlueprintError, check_blueprint, draw, load_bank, slot_notebook
from grading.content.courses import (
    ASSIGNMENT,
    CourseSpec,
    FormatError,
    Strict,
    _read_yaml,
    _validation_problems,
    load_course,
)

QUESTION_CLASSES = {
    "SingleChoice": "single", "MultipleChoice": "multiple", "TrueFalse": "truefalse",
    "FillBlank": "fill", "Ordering": "ordering", "CaseAnalysis": "case", "Essay": "essay",
}
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
LAW_RE = re.compile(r"《[^》]{2,}》")
EXEC_TIMEOUT = 180


@dataclass(frozen=True)
class Problem:
    file: str
    cell: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file + (f" 第{self.cell}个单元格" if self.cell else "")
        return f"{where} [{self.field}]: {self.message}" if self.field else f"{where}: {self.message}"


# --- reading notebooks ----------------------------------------------------------------------

_NONLITERAL = object()


@dataclass
class QuestionCall:
    """One ``xf.<Question>(...)`` in a code cell, with its literal keyword arguments."""

    cls: str
    kwargs: dict[str, Any]
    cell: int

    @property
    def type(self) -> str:
        return QUESTION_CLASSES[self.cls]

    @property
    def id(self) -> Any:
        return self.kwargs.get("id")


@dataclass
class GradeCall:
    qid: Any
    kwargs: dict[str, Any]
    cell: int


@dataclass
class NotebookInfo:
    name: str
    nb: Any
    mode: str | None = None
    questions: list[QuestionCall] = field(default_factory=list)
    grades: list[GradeCall] = field(default_factory=list)
    syntax: list[Problem] = field(default_factory=list)

    def grade_cells(self) -> list[tuple[int, dict, Any]]:
        """(cell number, nbgrader metadata, cell) of every graded cell."""
        out = []
        for i, cell in enumerate(self.nb.cells, 1):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                out.append((i, meta, cell))
        return out


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        pass
    if isinstance(node, ast.Call):  # a sub-question written as xf.SingleChoice(...)
        name = _call_name(node)
        if name in QUESTION_CLASSES:
            d = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
            d["type"] = QUESTION_CLASSES[name]
            return d
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    return _NONLITERAL


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return None


def read_notebook(path: Path, name: str | None = None) -> NotebookInfo:
    return parse_notebook(nbformat.read(path, as_version=4), name or path.name)


def parse_notebook(nb: Any, name: str) -> NotebookInfo:
    info = NotebookInfo(name=name, nb=nb)
    for i, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "code":
            continue
        src = cell.source
        try:
            tree = ast.parse(src)
        except SyntaxError as e:
            info.syntax.append(Problem(info.name, i, "source", f"Python 语法错误（第 {e.lineno} 行）：{e.msg}"))
            continue
        # only outermost question calls: sub-questions belong to their case
        nested: set[int] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or id(node) in nested:
                continue
            name = _call_name(node)
            if name in QUESTION_CLASSES:
                for sub in ast.walk(node):
                    if sub is not node:
                        nested.add(id(sub))
                kwargs = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
                info.questions.append(QuestionCall(name, kwargs, i))
            elif name == "grade":
                args = [_literal(a) for a in node.args]
                kwargs = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
                for pos, kw in zip(args[1:], ("key", "explanation")):
                    kwargs.setdefault(kw, pos)
                info.grades.append(GradeCall(args[0] if args else kwargs.get("qid"), kwargs, i))
            elif name == "setup":
                for k in node.keywords:
                    if k.arg == "mode":
                        info.mode = _literal(k.value)
                if info.mode is None:
                    info.mode = "practice"
    return info


# --- the context the checks share -----------------------------------------------------------


@dataclass
class CourseContext:
    path: Path
    spec: CourseSpec | None = None
    notebooks: dict[str, NotebookInfo] = field(default_factory=dict)
    workdir: Path | None = None  # temp dir for slow checks
    bank: Bank | None = None
    # the assessment publish generates from the blueprint (bank courses), by file name
    generated: dict[str, NotebookInfo] = field(default_factory=dict)
    # notebooks are checked as publish compiles them (Markdown questions -> xf.<Class> cells, setup
    # cell in front): per notebook, the trainer's cell number of each compiled cell
    cell_maps: dict[str, list[int | None]] = field(default_factory=dict)
    # problems that already name the trainer's cells (question syntax)
    source_numbered: set = field(default_factory=set)
    # where the other courses are, for the duplicate-stem check (default: beside ``path``); a
    # snapshot in a temp folder is compared with the published courses instead
    siblings: Path | None = None
    course_id: str | None = None

    @property
    def bank_file(self) -> Path:
        return self.path / BANK_FILE

    @property
    def has_bank(self) -> bool:
        return self.bank_file.exists()

    @property
    def module_dir(self) -> Path:
        return self.path / "source" / ASSIGNMENT

    def rel(self, name: str) -> str:
        return f"{self.path.name}/source/{ASSIGNMENT}/{name}"

    @property
    def assessments(self) -> list[NotebookInfo]:
        return [n for n in self.notebooks.values() if n.mode == "assessment"]


Check = Callable[[CourseContext], list[Problem]]


def check_yaml(ctx: CourseContext) -> list[Problem]:
    """course.yaml parses and fits :class:`grading.content.courses.CourseSpec`."""
    try:
        ctx.spec = load_course(ctx.path / "course.yaml")
    except FormatError as e:
        return [Problem(f"{ctx.path.name}/course.yaml", None, f, m) for f, m in e.problems]
    return []


def check_layout(ctx: CourseContext) -> list[Problem]:
    """The notebooks course.yaml lists exist, and nothing unlisted hides in the module."""
    out: list[Problem] = []
    if not ctx.module_dir.is_dir():
        return [Problem(f"{ctx.path.name}/source", None, "", f"缺少目录 source/{ASSIGNMENT}/")]
    present = sorted(p.name for p in ctx.module_dir.glob("*.ipynb"))
    listed = ctx.spec.notebooks if ctx.spec else present
    generated = ctx.spec.assessment.file if ctx.spec and ctx.has_bank else None
    if generated in present:
        out.append(Problem(ctx.rel(generated), None, "",
                           "有题库 bank.yaml 的课程，结业测试由组卷规则自动生成，请删除手写的结业测试笔记本"))
        present.remove(generated)
    for name in listed:
        if name == generated:
            continue
        if name not in present:
            out.append(Problem(f"{ctx.path.name}/course.yaml", None, "lessons",
                               f"列出的 {name} 在 source/{ASSIGNMENT}/ 中不存在"))
    for name in present:
        if ctx.spec and name not in listed:
            out.append(Problem(ctx.rel(name), None, "", "course.yaml 中没有列出这个笔记本"))
    for name in present:
        try:
            nb = nbformat.read(ctx.module_dir / name, as_version=4)
        except Exception as e:  # noqa: BLE001 - not JSON, not a notebook: any parse error is the trainer's message
            out.append(Problem(ctx.rel(name), None, "", f"不是有效的笔记本文件：{e}"))
            continue
        mode = "assessment" if ctx.spec and name == ctx.spec.assessment.file else "practice"
        compiled = compile_checked(nb, course_id=ctx.spec.id if ctx.spec else ctx.path.name, notebook=name, mode=mode)
        info = parse_notebook(compiled.nb, ctx.rel(name))
        ctx.cell_maps[info.name] = compiled.cell_map
        syntax = [Problem(info.name, cell, fld, msg) for cell, fld, msg in compiled.problems]
        ctx.source_numbered.update(syntax)
        out += syntax
        ctx.notebooks[name] = info
        out += info.syntax
        if info.mode is None:
            out.append(Problem(info.name, 1, "xf.setup", "第一个代码单元格应调用 xf.setup(course=..., mode=...)"))
    if ctx.spec:
        a = ctx.notebooks.get(ctx.spec.assessment.file)
        if a is not None and a.mode != "assessment":
            out.append(Problem(a.name, 1, "mode", '结业测试笔记本的 xf.setup 应为 mode="assessment"'))
        for lesson in ctx.spec.lessons:
            n = ctx.notebooks.get(lesson.file)
            if n is not None and n.mode == "assessment":
                out.append(Problem(n.name, 1, "mode", '课程笔记本的 xf.setup 应为 mode="practice"'))
    return out


def check_bank(ctx: CourseContext) -> list[Problem]:
    """bank.yaml fits its format and the blueprint can draw papers from it; a blueprint needs a
    bank and a bank needs a blueprint. Courses without a bank are not concerned."""
    yaml_file = f"{ctx.path.name}/course.yaml"
    bank_file = f"{ctx.path.name}/{BANK_FILE}"
    bp = ctx.spec.blueprint if ctx.spec else None
    if not ctx.has_bank:
        if bp is not None:
            return [Problem(yaml_file, None, "blueprint", f"有组卷规则 blueprint，但课程目录中没有题库 {BANK_FILE}")]
        return []
    try:
        ctx.bank = load_bank(ctx.bank_file)
    except FormatError as e:
        return [Problem(bank_file, None, f, m) for f, m in e.problems]
    if ctx.spec is None:
        return []
    if bp is None:
        return [Problem(yaml_file, None, "blueprint",
                        f"有题库 {BANK_FILE} 的课程需要组卷规则 blueprint（每份试卷抽哪些题型、各几道、每道几分）")]
    out = [Problem(yaml_file, None, f, m) for f, m in check_blueprint(ctx.bank, bp, ctx.spec.points)]
    if bp.count < 10:
        out.append(Problem(yaml_file, None, "blueprint.sections", f"结业测试至少需要 10 道题，组卷规则只抽 {bp.count} 道"))
    if ctx.spec.assessment.manual:
        out.append(Problem(yaml_file, None, "assessment.manual", "题库中没有人工评阅的题目，manual 应为 false"))
    if not out:
        name = ctx.spec.assessment.file
        ctx.generated[name] = parse_notebook(slot_notebook(ctx.spec), ctx.rel(name))
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or v == {} or v == []


def _build_question(q: QuestionCall, key: Any) -> str | None:
    """Let the widgets' own data model judge options, key shape and points; zh-CN error or None."""
    from widgets import model  # here: validating needs it, importing this module does not

    kw = {k: v for k, v in q.kwargs.items() if v is not _NONLITERAL}
    try:
        subs = []
        for s in kw.get("questions") or []:
            if not isinstance(s, dict):
                return "案例分析题的小题应写成字典或题目类"
            s = {k: v for k, v in s.items() if v is not _NONLITERAL}
            subs.append(model.Question(**s))
        model.Question(
            type=q.type, id=kw.get("id", ""), stem=kw.get("stem", ""),
            options=kw.get("options") or [], points=kw.get("points", 1.0), key=key,
            questions=subs, blanks=kw.get("blanks", 1) or 1)
    except (ValueError, TypeError) as e:
        return str(e)
    return None


def _question_points(q: QuestionCall) -> float:
    if q.type == "case":
        return float(sum((s.get("points", 1) if isinstance(s, dict) else 1)
                         for s in q.kwargs.get("questions") or []))
    p = q.kwargs.get("points", 1)
    return float(p) if isinstance(p, (int, float)) else 0.0


def check_questions(ctx: CourseContext) -> list[Problem]:
    """Every question has id, key, points, explanation and legal basis; ids are unique;
    assessment keys live only in hidden autograder tests whose points match the question."""
    out: list[Problem] = []
    for info in ctx.notebooks.values():
        seen: dict[str, int] = {}
        for q in info.questions:
            qid = q.id
            where = f"{q.cls}.id"
            for k, v in q.kwargs.items():
                if v is _NONLITERAL and k != "questions":
                    out.append(Problem(info.name, q.cell, f"{qid}.{k}", "请直接写出取值（字面量），校验器才能检查"))
            if not isinstance(qid, str) or not re.match(r"^[a-z0-9_]+$", qid):
                out.append(Problem(info.name, q.cell, where, f"题号 {qid!r} 缺失或不合规（小写字母、数字、下划线）"))
                continue
            if qid in seen:
                out.append(Problem(info.name, q.cell, f"{qid}.id",
                                   f"题号 {qid} 重复（第{seen[qid]}个单元格已使用）"))
            seen.setdefault(qid, q.cell)
            if info.mode == "assessment":
                out += _assessment_question(info, q)
            else:
                out += _practice_question(info, q)
        if info.mode == "assessment":
            asked = {q.id for q in info.questions}
            for cell_no, meta, _cell in info.grade_cells():
                if meta.get("grade_id") not in asked:
                    out.append(Problem(info.name, cell_no, "grade_id",
                                       f"评分单元格 {meta.get('grade_id')} 没有对应的题目"))
        elif info.grade_cells():
            cell_no = info.grade_cells()[0][0]
            out.append(Problem(info.name, cell_no, "nbgrader", "课程（练习）笔记本中不应有评分单元格"))
    return out


def _practice_question(info: NotebookInfo, q: QuestionCall) -> list[Problem]:
    out: list[Problem] = []
    qid = q.id
    kw = q.kwargs
    if q.type == "case":
        subs = [s for s in kw.get("questions") or [] if isinstance(s, dict)]
        has_key = not _missing(kw.get("key")) or (subs and all("key" in s for s in subs if s.get("type") != "essay"))
        key = kw.get("key")
    else:
        has_key = q.type == "essay" or "key" in kw and kw["key"] is not None
        key = kw.get("key")
    if not has_key:
        out.append(Problem(info.name, q.cell, f"{qid}.key", "缺少标准答案 key"))
    if q.type != "essay" and _missing(kw.get("explanation")):
        out.append(Problem(info.name, q.cell, f"{qid}.explanation", "缺少解析 explanation"))
    if q.type == "essay" and _missing(kw.get("rubric")):
        out.append(Problem(info.name, q.cell, f"{qid}.rubric", "简答题缺少评分要点 rubric"))
    out += _legal_basis(info, q.cell, qid, kw.get("legal_basis"))
    if has_key:
        err = _build_question(q, key if q.type != "essay" else None)
        if err:
            out.append(Problem(info.name, q.cell, f"{qid}.key", err))
    return out


def _legal_basis(info: NotebookInfo, cell: int, qid: str, lb: Any) -> list[Problem]:
    if _missing(lb):
        return [Problem(info.name, cell, f"{qid}.legal_basis", "缺少法律依据 legal_basis")]
    if not LAW_RE.search(str(lb)):
        return [Problem(info.name, cell, f"{qid}.legal_basis",
                        "法律依据应写明法律名称（加书名号）和条款，例如《中华人民共和国行政诉讼法》第三条")]
    return []


def _assessment_question(info: NotebookInfo, q: QuestionCall) -> list[Problem]:
    out: list[Problem] = []
    qid, kw = q.id, q.kwargs
    subs_with_key = [s for s in kw.get("questions") or [] if isinstance(s, dict) and "key" in s]
    for leak in ("key", "explanation"):
        if leak in kw or (leak == "key" and subs_with_key):
            out.append(Problem(info.name, q.cell, f"{qid}.{leak}",
                               f"结业测试的题目单元格不能写 {leak}（学员可见），请移到隐藏的评分单元格 xf.grade(...) 中"))
    qmeta = info.nb.cells[q.cell - 1].get("metadata", {}).get("nbgrader", {})
    if not qmeta.get("locked"):
        out.append(Problem(info.name, q.cell, "nbgrader.locked", "结业测试的题目单元格应设为只读（locked）"))
    want = _question_points(q)
    cells = [(n, m, c) for n, m, c in info.grade_cells() if m.get("grade_id") == qid]
    if not cells:
        kind = "人工评分答案单元格（Manually graded answer）" if q.type == "essay" else "自动评分测试单元格"
        out.append(Problem(info.name, q.cell, f"{qid}.key", f"缺少 grade_id 为 {qid} 的{kind}（标准答案）"))
        return out
    cell_no, meta, cell = cells[0]
    if abs(float(meta.get("points") or 0) - want) > 1e-9:
        out.append(Problem(info.name, cell_no, f"{qid}.points",
                           f"评分单元格分值 {meta.get('points')} 与题目分值 {want:g} 不一致"))
    if q.type == "essay":
        if cell.cell_type != "markdown" or not meta.get("solution"):
            out.append(Problem(info.name, cell_no, "nbgrader", f"简答题 {qid} 的答案单元格应为人工评分的 Markdown 答案单元格"))
        if _missing(kw.get("rubric")):
            out.append(Problem(info.name, q.cell, f"{qid}.rubric", "简答题缺少评分要点 rubric"))
        out += _legal_basis(info, q.cell, qid, kw.get("legal_basis"))
        return out
    if meta.get("solution") or cell.cell_type != "code":
        out.append(Problem(info.name, cell_no, "nbgrader", f"{qid} 的评分单元格应为自动评分测试单元格"))
    if not meta.get("locked"):
        out.append(Problem(info.name, cell_no, "nbgrader.locked", "评分单元格应设为只读（locked）"))
    src = cell.source
    begin, end = src.find(HIDDEN_BEGIN), src.find(HIDDEN_END)
    outside = (src[:begin] + src[end + len(HIDDEN_END):]) if 0 <= begin < end else src
    if begin < 0 or end < begin:
        out.append(Problem(info.name, cell_no, f"{qid}.key",
                           f"标准答案必须放在 {HIDDEN_BEGIN} … {HIDDEN_END} 之间，否则会发布给学员"))
    elif outside.strip():
        out.append(Problem(info.name, cell_no, f"{qid}.key", "隐藏区域之外不能有代码（会发布给学员）"))
    grades = [g for g in info.grades if g.cell == cell_no and g.qid == qid]
    if not grades:
        out.append(Problem(info.name, cell_no, f"{qid}.key", f'评分单元格应调用 xf.grade("{qid}", key=..., explanation=...)'))
        return out
    g = grades[0].kwargs
    if _missing(g.get("key")):
        out.append(Problem(info.name, cell_no, f"{qid}.key", "缺少标准答案 key"))
    else:
        err = _build_question(q, g["key"])
        if err:
            out.append(Problem(info.name, cell_no, f"{qid}.key", err))
    if _missing(g.get("explanation")):
        out.append(Problem(info.name, cell_no, f"{qid}.explanation", "缺少解析 explanation"))
    lb = g.get("legal_basis") or kw.get("legal_basis")
    out += _legal_basis(info, q.cell, qid, lb)
    return out


def check_points(ctx: CourseContext) -> list[Problem]:
    """The assessment's graded cells add up to ``points`` in course.yaml."""
    if not ctx.spec:
        return []
    info = ctx.notebooks.get(ctx.spec.assessment.file)
    if info is None:
        return []
    total = sum(float(m.get("points") or 0) for _, m, _ in info.grade_cells())
    out = []
    if abs(total - ctx.spec.points) > 1e-6:
        out.append(Problem(f"{ctx.path.name}/course.yaml", None, "points",
                           f"course.yaml 写的总分是 {ctx.spec.points:g}，结业测试各题分值合计 {total:g}"))
    n = len(info.questions)
    if n < 10:
        out.append(Problem(info.name, None, "questions", f"结业测试至少需要 10 道题，现在只有 {n} 道"))
    has_essay = any(q.type == "essay" for q in info.questions)
    if has_essay != ctx.spec.assessment.manual:
        out.append(Problem(f"{ctx.path.name}/course.yaml", None, "assessment.manual",
                           f"结业测试{'有' if has_essay else '没有'}人工评阅的简答题，manual 应为 {str(has_essay).lower()}"))
    return out


def check_execute(ctx: CourseContext) -> list[Problem]:
    """Every notebook runs top to bottom without an error (as a learner's kernel would)."""
    from nbclient import NotebookClient

    out: list[Problem] = []
    run = _workdir(ctx) / "run"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(ctx.module_dir, run)
    for name, info in ctx.notebooks.items():  # as compiled for publish
        nbformat.write(info.nb, run / name)
    for name, info in ctx.generated.items():
        # a sample paper beside the notebook, as the grading service puts the learner's
        nbformat.write(info.nb, run / name)
        try:
            paper = draw(ctx.bank, ctx.spec.blueprint, 0)
        except BlueprintError as e:
            out.append(Problem(info.name, None, "blueprint", str(e)))
            continue
        (run / f"{Path(name).stem}.paper.json").write_text(
            json.dumps({"token": "validate", "questions": paper}, ensure_ascii=False), encoding="utf-8")
    for name in sorted({**ctx.notebooks, **ctx.generated}):
        nb = nbformat.read(run / name, as_version=4)
        client = NotebookClient(nb, timeout=EXEC_TIMEOUT, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(run)}})
        try:
            client.execute()
        except Exception as e:  # noqa: BLE001 - whatever the course code raises is reported, not raised
            out.append(Problem(ctx.rel(name), None, "执行", f"笔记本无法运行：{type(e).__name__}: {e}"))
            continue
        for i, cell in enumerate(nb.cells, 1):
            for o in cell.get("outputs", []):
                if o.get("output_type") == "error":
                    out.append(Problem(ctx.rel(name), i, "执行", f"运行出错：{o.get('ename')}: {o.get('evalue')}"))
    return out


def check_nbgrader(ctx: CourseContext) -> list[Problem]:
    """nbgrader accepts the module, and the learner version holds no keys or explanations."""
    from grading.exchange.nbconfig import nbgrader_api

    course_id = ctx.spec.id if ctx.spec else ctx.path.name
    root = _workdir(ctx) / "nbgrader"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(ctx.module_dir, root / "source" / ASSIGNMENT)
    for name, info in {**ctx.notebooks, **ctx.generated}.items():  # as compiled for publish
        nbformat.write(info.nb, root / "source" / ASSIGNMENT / name)
    api = nbgrader_api(root, course_id, f"sqlite:///{root / 'gradebook.sqlite'}", root / "exchange")
    res = api.generate_assignment(ASSIGNMENT, force=True, create=True)
    if not res.get("success"):
        tail = (res.get("error") or res.get("log") or "").strip().splitlines()[-3:]
        return [Problem(f"{ctx.path.name}/source/{ASSIGNMENT}", None, "nbgrader",
                        "nbgrader 无法生成学员版本：" + " / ".join(tail))]
    return release_leaks(ctx, root / "release" / ASSIGNMENT) + bank_leaks(ctx, root / "release" / ASSIGNMENT)


def bank_secrets(bank: Bank) -> list[tuple[str, str, str]]:
    """(question id, field, text) of every bank text no learner file may hold: stems, scenarios,
    explanations (long enough to be unmistakable; options are often words any page uses)."""
    out = []
    for q in bank.questions:
        for k in ("stem", "scenario", "explanation"):
            v = q.get(k)
            if isinstance(v, str) and len(v.strip()) >= 6:
                out.append((q["id"], k, v.strip()))
        for s in q.get("questions") or []:
            for k in ("stem", "explanation"):
                v = s.get(k)
                if isinstance(v, str) and len(v.strip()) >= 6:
                    out.append((q["id"], f"questions.{s['id']}.{k}", v.strip()))
    return out


def bank_leaks(ctx: CourseContext, release_dir: Path) -> list[Problem]:
    """Bank text or grading code in any file of the learner version ``release_dir``."""
    if ctx.bank is None:
        return []
    out: list[Problem] = []
    # a lesson may teach the very sentence an explanation uses: text the author published is no leak
    lessons = "\n".join(c.source for info in ctx.notebooks.values() for c in info.nb.cells)
    secrets = [s for s in bank_secrets(ctx.bank) if s[2] not in lessons]
    for f in sorted(p for p in release_dir.rglob("*") if p.is_file()):
        text = f.read_text(encoding="utf-8", errors="replace")
        rel = f"{ctx.path.name}/release/{f.relative_to(release_dir)}"
        if HIDDEN_BEGIN in text or "grade_slot" in text:
            out.append(Problem(rel, None, "release", "学员版本中仍有评分代码"))
        for qid, k, v in secrets:
            if v in text:
                out.append(Problem(rel, None, f"{qid}.{k}", "学员版本中出现了题库内容（泄露）"))
    return out


def release_leaks(ctx: CourseContext, release_dir: Path) -> list[Problem]:
    """Keys, grading code or explanations that reached the learner version in ``release_dir``."""
    out: list[Problem] = []
    for info in ctx.assessments:
        released = release_dir / Path(info.name).name
        if not released.exists():
            out.append(Problem(info.name, None, "nbgrader", "学员版本中缺少这个笔记本"))
            continue
        secrets = []
        for g in info.grades:
            for k in ("explanation",):
                v = g.kwargs.get(k)
                if isinstance(v, str) and len(v) >= 8:
                    secrets.append((g.qid, k, v))
                elif isinstance(v, dict):
                    secrets += [(g.qid, k, s) for s in v.values() if isinstance(s, str) and len(s) >= 8]
        # text the author meant learners to see: everything outside hidden-test regions
        public = "\n".join(re.sub(re.escape(HIDDEN_BEGIN) + r".*?" + re.escape(HIDDEN_END), "", c.source, flags=re.S)
                           for c in info.nb.cells)
        secrets = [s for s in secrets if s[2] not in public]
        rinfo = read_notebook(released, info.name)
        for i, cell in enumerate(rinfo.nb.cells, 1):
            src = cell.source
            if HIDDEN_BEGIN in src or re.search(r"\bgrade\s*\(", src):
                out.append(Problem(info.name, i, "release", "学员版本中仍有评分代码（标准答案会泄露）"))
            for qid, k, v in secrets:
                if v in src:
                    out.append(Problem(info.name, i, f"{qid}.{k}", "学员版本中出现了解析内容（泄露）"))
        for q in rinfo.questions:
            if "key" in q.kwargs or "explanation" in q.kwargs:
                out.append(Problem(info.name, q.cell, f"{q.id}.key", "学员版本的题目单元格中含有标准答案或解析（泄露）"))
    return out


# --- item quality (issue 17) ----------------------------------------------------------------

ARTICLE_RE = re.compile(r"第[一二三四五六七八九十百千零〇两\d]+条")
# "无条文" must come with its reason: 无条文：<why no article fits>
NO_ARTICLE_RE = re.compile(r"无条文[：:（(]\s*\S{4,}")
_NUM = r"[一二三四五六七八九十百千万零〇两半\d.]+"


@dataclass
class Item:
    """One question of a course, in either form (bank entry or notebook call), for the quality checks."""

    file: str
    cell: int | None
    qid: str
    type: str
    stem: str
    options: list[str]
    key: Any
    legal_basis: Any
    assessment: bool
    shuffle: bool = True


def _letters_of(key: Any) -> str:
    return "".join(ch for ch in str(key) if ch.isalpha()).upper() if key is not None else ""


def course_items(ctx: CourseContext) -> list[Item]:
    """Every question of the course: bank entries (case sub-questions by their own id) and the
    question calls of every notebook, with the key from the hidden test for hand-written papers."""
    out: list[Item] = []
    if ctx.bank is not None:
        bank_file = f"{ctx.path.name}/{BANK_FILE}"
        for q in ctx.bank.questions:
            lb, shuffle = q.get("legal_basis"), q.get("shuffle", True) is not False
            if q["type"] == "case":
                out.append(Item(bank_file, None, q["id"], "case", q.get("scenario", ""), [], None, lb, True, shuffle))
                for s in q.get("questions") or []:
                    sub_shuffle = shuffle if s.get("shuffle") is None else s["shuffle"] is not False
                    out.append(Item(bank_file, None, f"{q['id']}.questions.{s['id']}", s["type"], s.get("stem", ""),
                                    list(s.get("options") or []), s.get("key"), lb, True, sub_shuffle))
            else:
                out.append(Item(bank_file, None, q["id"], q["type"], q.get("stem", ""), list(q.get("options") or []),
                                q.get("key"), lb, True, shuffle))
    for info in ctx.notebooks.values():
        assessment = info.mode == "assessment"
        keys = {g.qid: g.kwargs for g in info.grades}
        for q in info.questions:
            kw = q.kwargs
            g = keys.get(q.id, {}) if assessment else kw
            lb = g.get("legal_basis") or kw.get("legal_basis")
            shuffle = kw.get("shuffle", True) is not False
            qid = str(q.id)

            def text(v: Any) -> str:
                return v if isinstance(v, str) else ""

            def opts(v: Any) -> list[str]:
                return [str(o) for o in v] if isinstance(v, list) else []

            out.append(Item(info.name, q.cell, qid, q.type, text(kw.get("stem")) or text(kw.get("scenario")),
                            opts(kw.get("options")), g.get("key"), lb, assessment, shuffle))
            if q.type == "case":
                case_key = g.get("key") if isinstance(g.get("key"), dict) else {}
                for s in kw.get("questions") or []:
                    if not isinstance(s, dict) or not isinstance(s.get("id"), str):
                        continue
                    sub_key = s.get("key", case_key.get(s["id"]))
                    out.append(Item(info.name, q.cell, f"{qid}.{s['id']}", s.get("type", ""), text(s.get("stem")),
                                    opts(s.get("options")), sub_key, lb, assessment,
                                    shuffle and s.get("shuffle", True) is not False))
    return out


@dataclass(frozen=True)
class Citation:
    """One law named in a ``legal_basis``: the articles cited after its name, or 无条文 and why."""

    law: str  # with its 书名号
    articles: tuple[str, ...]
    no_article: bool


def _reason_spans(lb: str) -> list[tuple[int, int]]:
    """Where the reasons after "无条文：" run: to the bracket that closes around them, else to the
    next "；". A reason may mention articles or laws ("民法典第二百七十七条只规定…"); they are not cited."""
    spans = []
    # every 无条文 on its own: NO_ARTICLE_RE's greedy reason would swallow a second one
    for m in re.finditer("无条文", lb):
        if not NO_ARTICLE_RE.match(lb, m.start()):
            continue
        depth, end = 0, len(lb)
        for i in range(m.start(), len(lb)):
            ch = lb[i]
            if ch in "（(":
                depth += 1
            elif ch in "）)":
                if depth == 0:
                    end = i
                    break
                depth -= 1
            elif ch in "；;" and depth == 0:
                end = i
                break
        spans.append((m.start(), end))
    return spans


def parse_citations(lb: Any) -> list[Citation]:
    """The laws a ``legal_basis`` cites, each with the articles written after it up to the next law
    (《A》第三条、第五条；《B》第二条)."""
    if not isinstance(lb, str):
        return []
    spans = _reason_spans(lb)

    def in_reason(pos: int) -> bool:
        return any(a <= pos < b for a, b in spans)

    marks = [m for m in LAW_RE.finditer(lb) if not in_reason(m.start())]
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(lb)
        articles = tuple(a.group() for a in ARTICLE_RE.finditer(lb, m.end(), end) if not in_reason(a.start()))
        no_article = any(m.end() <= a < end for a, _ in spans)
        out.append(Citation(m.group(), articles, no_article))
    return out


def check_citations(ctx: CourseContext) -> list[Problem]:
    """Every question cites a law and an article of it, or says 无条文 and why."""
    out = []
    for it in course_items(ctx):
        if "." in it.qid:
            continue  # a case's sub-questions share the case's legal basis
        cites = parse_citations(it.legal_basis)
        if not cites:
            continue  # missing or nameless: check_questions / the bank format already say so
        if not any(c.articles or c.no_article for c in cites):
            out.append(Problem(it.file, it.cell, f"{it.qid}.legal_basis",
                               "法律依据应写明具体条文（第几条），不能只写法律名称或章节；确实没有对应条文的，"
                               "写“无条文：原因”"))
    return out


def check_all_correct(ctx: CourseContext) -> list[Problem]:
    """No multiple-choice question whose key is every option (it tests nothing)."""
    out = []
    for it in course_items(ctx):
        if it.type == "multiple" and it.options and len(set(_letters_of(it.key))) >= len(it.options):
            out.append(Problem(it.file, it.cell, f"{it.qid}.key",
                               "多选题的标准答案包含全部选项，起不到区分作用；请把一个选项改为似是而非的错误选项"))
    return out


def _norm_stem(stem: str) -> str:
    return re.sub(r"[\s\W_（）()【】“”‘’《》、，。；：？！…—·]+", "", stem)


MIN_STEM = 10  # shorter stems ("下列说法正确的是") are common wording, not a copied question


def check_duplicate_stems(ctx: CourseContext) -> list[Problem]:
    """No question stem (case: its scenario) also appears in another course under the same root,
    also not inside a longer stem there (the same item with "根据《…》，" put in front)."""
    mine = [it for it in course_items(ctx) if len(_norm_stem(it.stem)) >= MIN_STEM]
    if not mine:
        return []
    others: dict[str, str] = {}
    root = ctx.siblings or ctx.path.parent
    for other in sorted(root.iterdir()) if root.is_dir() else []:
        if other == ctx.path or other.name == ctx.course_id or not (other / "course.yaml").is_file():
            continue
        octx = CourseContext(path=other)
        try:  # a broken sibling reports its own problems when it is validated
            check_yaml(octx)
            check_bank(octx)
            check_layout(octx)
        except Exception:  # noqa: BLE001
            continue
        for it in course_items(octx):
            if len(_norm_stem(it.stem)) >= MIN_STEM:
                others.setdefault(_norm_stem(it.stem), f"{it.file}（{it.qid}）")
    out = []
    for it in mine:
        stem = _norm_stem(it.stem)
        where = others.get(stem) or next((w for o, w in others.items() if stem in o or o in stem), None)
        if where:
            out.append(Problem(it.file, it.cell, f"{it.qid}.stem", f"题干与其他课程的题目重复：{where}"))
    return out


MAX_LONGEST_KEY_SHARE = 0.25


def check_longest_key(ctx: CourseContext) -> list[Problem]:
    """In at most a quarter of a course's assessment single-choice questions is the key the
    uniquely longest option (otherwise "pick the longest" passes the test)."""
    singles = [it for it in course_items(ctx) if it.assessment and it.type == "single" and len(it.options) >= 2]
    hits = []
    for it in singles:
        letters = _letters_of(it.key)
        if len(letters) != 1 or ord(letters) - 65 >= len(it.options):
            continue
        lengths = [len(o.strip()) for o in it.options]
        k = lengths[ord(letters) - 65]
        if all(k > n for i, n in enumerate(lengths) if i != ord(letters) - 65):
            hits.append(it)
    if singles and len(hits) > MAX_LONGEST_KEY_SHARE * len(singles):
        files = sorted({it.file for it in hits})
        return [Problem(f, None, "options",
                        f"{len(singles)} 道单选题中有 {len(hits)} 道的正确答案是唯一最长的选项（最多允许四分之一）："
                        f"{'、'.join(it.qid for it in hits if it.file == f)}；请缩短答案或加长干扰项")
                for f in files]
    return []


# an amount, a period, an age or an article number: 三日, 未满十八周岁, 百分之三, 151 户, 第五条;
# not a label that happens to end in a numeral (选项一)
_QUANTITY_RE = re.compile(rf"^(未满|不满|不超过|超过|不少于|百分之|第)?{_NUM}(分之{_NUM})?个?"
                          r"(工作日|周岁|岁|日|天|年|个月|月|周|小时|分钟|万元|元|倍|%|户|人|分|条|次|件|项)?$")


def _ordered(options: list[str]) -> bool:
    """Options that are all quantities (期限、年龄、金额、比例): they have a natural order."""
    return len(options) >= 2 and all(_QUANTITY_RE.match(re.sub(r"\s+", "", o)) for o in options)


def check_ordered_options(ctx: CourseContext) -> list[Problem]:
    """Options that are numbers, periods or amounts in order keep that order (shuffle: false)."""
    out = []
    for it in course_items(ctx):
        if it.assessment and it.type in ("single", "multiple") and it.shuffle and _ordered(it.options):
            field = f"{it.qid}.shuffle"
            out.append(Problem(it.file, it.cell, field,
                               "选项是有先后的数字、期限或金额，不应打乱顺序，请写 shuffle: false（笔记本中 shuffle=False）"))
    return out


def _workdir(ctx: CourseContext) -> Path:
    if ctx.workdir is None:
        ctx.workdir = Path(tempfile.mkdtemp(prefix=f"xuefa-validate-{ctx.path.name}-"))
    return ctx.workdir


# --- statute table (issue 17): statutes.yaml lists every cited law, its current version and articles

STATUTES_FILE = "statutes.yaml"
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def article_number(article: str) -> int | None:
    """第一百一十七条 / 第117条 -> 117, so the table and a citation may write the number either way."""
    m = ARTICLE_RE.search(article)
    if not m:
        return None
    num = m.group()[1:-1]
    if num.isdigit():
        return int(num)
    total = cur = 0
    for ch in num:
        if ch in _CN_DIGITS:
            cur = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (cur or 1) * _CN_UNITS[ch]
            cur = 0
        else:
            return None
    return total + cur


class StatuteRow(Strict):
    law: str = Field(min_length=3)
    version: str
    articles: list[str] = Field(default_factory=list)

    @field_validator("law")
    @classmethod
    def _book_title(cls, v: str) -> str:
        if not LAW_RE.fullmatch(v):
            raise ValueError("法律名称应加书名号，并与题目法律依据中的写法一致，例如《中华人民共和国行政处罚法》")
        return v

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> str:
        # a bare year is a version too (YAML reads it as a number)
        v = "" if v is None else str(v).strip()
        if not v:
            raise ValueError("现行版本不能为空，写明公布或最近一次修订、修正的年份，例如 2021年修订")
        return v

    @field_validator("articles", mode="before")
    @classmethod
    def _articles(cls, v: Any) -> Any:
        for a in v or []:
            if not isinstance(a, str) or article_number(a) is None:
                raise ValueError(f"条文“{a}”应写成“第X条”，例如 第二十四条")
        return v or []


class StatuteTable(Strict):
    statutes: list[StatuteRow]


def load_statutes(path: Path) -> StatuteTable:
    """Read ``statutes.yaml``. Raises :class:`FormatError` (fields like ``statutes.0.version``)."""
    data = _read_yaml(path)
    try:
        return StatuteTable.model_validate(data)
    except ValidationError as e:
        raise FormatError(path, _validation_problems(e)) from None


def check_statutes(ctx: CourseContext) -> list[Problem]:
    """Every cited law is in ``statutes.yaml`` with a current version, and every cited article is
    listed under it (an explicit 无条文 citation needs no row); a course citing any article needs
    the table."""
    table_file = f"{ctx.path.name}/{STATUTES_FILE}"
    needed = []  # (item, citation) that need a row
    for it in course_items(ctx):
        if "." in it.qid:
            continue  # a case's sub-questions share the case's legal basis
        needed += [(it, c) for c in parse_citations(it.legal_basis) if not (c.no_article and not c.articles)]
    path = ctx.path / STATUTES_FILE
    if not path.exists():
        if not needed:
            return []
        laws = "、".join(dict.fromkeys(c.law for _, c in needed))
        return [Problem(table_file, None, "",
                        f"缺少法条表 {STATUTES_FILE}：本课程的题目引用了{laws}，请列出每部法律法规的现行版本和引用的条文")]
    try:
        table = load_statutes(path)
    except FormatError as e:
        return [Problem(table_file, None, f, m) for f, m in e.problems]
    out: list[Problem] = []
    rows: dict[str, set[int]] = {}
    for i, row in enumerate(table.statutes):
        if row.law in rows:
            out.append(Problem(table_file, None, f"statutes.{i}.law", f"{row.law}重复列出，请合并为一行"))
        rows.setdefault(row.law, set()).update(article_number(a) for a in row.articles)
    for it, c in needed:
        field = f"{it.qid}.legal_basis"
        if c.law not in rows:
            out.append(Problem(it.file, it.cell, field,
                               f"引用的{c.law}不在法条表 {STATUTES_FILE} 中，请在表中列出它的现行版本和引用的条文"))
            continue
        missing = [a for a in dict.fromkeys(c.articles) if article_number(a) not in rows[c.law]]
        if missing:
            out.append(Problem(it.file, it.cell, field,
                               f"引用的{c.law}{'、'.join(missing)}不在法条表 {STATUTES_FILE} 该法律的 articles 中，"
                               "请核对条文后补入表中"))
    return out


QUALITY_CHECKS: list[Check] = [check_citations, check_statutes, check_all_correct, check_duplicate_stems,
                               check_longest_key, check_ordered_options]
STATIC_CHECKS: list[Check] = [check_yaml, check_bank, check_layout, check_questions, check_points, *QUALITY_CHECKS]
SLOW_CHECKS: list[Check] = [check_nbgrader, check_execute]
CHECKS: list[Check] = STATIC_CHECKS + SLOW_CHECKS


def validate_course(path: str | Path, *, execute: bool = True, checks: list[Check] | None = None,
                    siblings: Path | None = None, course_id: str | None = None) -> list[Problem]:
    """All problems of the course folder ``path`` (empty list: ready to publish).

    ``execute=False`` skips running notebooks and nbgrader (quick authoring feedback).
    ``siblings``/``course_id``: the folder of the other courses and this course's id, when ``path``
    is a copy elsewhere (the authoring pages check a snapshot against the published courses).
    """
    ctx = CourseContext(path=Path(path).resolve(), siblings=siblings, course_id=course_id)
    if not ctx.path.is_dir():
        return [Problem(str(path), None, "", "课程目录不存在")]
    todo = checks or (CHECKS if execute else STATIC_CHECKS)
    problems: list[Problem] = []
    skip_slow = False
    try:
        for check in todo:
            if skip_slow and check in SLOW_CHECKS:
                continue
            found = check(ctx)
            problems += found
            # running unreadable notebooks would only repeat what the static checks said
            if check is check_layout and (not ctx.notebooks or any(p.field == "source" for p in found)):
                skip_slow = True
    finally:
        if ctx.workdir is not None:
            shutil.rmtree(ctx.workdir, ignore_errors=True)
    return [trainer_cell(ctx, p) for p in problems]


def trainer_cell(ctx: CourseContext, p: Problem) -> Problem:
    """``p`` with the cell number of the trainer's notebook (checks see the compiled one, which
    may have a setup cell in front and a hidden test after a Markdown question)."""
    cmap = ctx.cell_maps.get(p.file)
    if not p.cell or cmap is None or p in ctx.source_numbered or p.cell > len(cmap):
        return p
    return dataclasses.replace(p, cell=cmap[p.cell - 1])


def answer_key(notebook: str | Path) -> dict[str, Any]:
    """A fully correct answers file for an assessment notebook (from its hidden tests), in the
    stored-answer shape ``xf.grade`` reads. Used by tests and by trainers' dry runs."""
    info = read_notebook(Path(notebook))
    out: dict[str, Any] = {}
    for g in info.grades:
        key = g.kwargs.get("key")
        out[g.qid] = _first_variant(key)
    return out


def _first_variant(key: Any) -> Any:
    if isinstance(key, dict):
        return {k: _first_variant(v) for k, v in key.items()}
    if isinstance(key, list):  # fill: accepted variants per blank
        return [b[0] if isinstance(b, list) else b for b in key]
    return key


def validate_campaign(path: str | Path, courses_root: str | Path | None = None) -> list[Problem]:
    """A campaign plan fits its schema and plans only existing courses for their audiences."""
    from grading.content.courses import courses_dir, load_campaign_file

    path = Path(path)
    try:
        spec = load_campaign_file(path)
    except FormatError as e:
        return [Problem(path.name, None, f, m) for f, m in e.problems]
    root = Path(courses_root) if courses_root else courses_dir()
    out: list[Problem] = []
    for aud, plan in spec.plans.items():
        for kind, ids in (("required", plan.required), ("elective", plan.elective)):
            for cid in ids:
                try:
                    course = load_course(root / cid / "course.yaml")
                except FormatError as e:
                    out.append(Problem(path.name, None, f"plans.{aud.label}.{kind}",
                                       f"课程 {cid} 不存在或 course.yaml 有误：{e.problems[0][1]}"))
                    continue
                if aud not in course.audience:
                    out.append(Problem(path.name, None, f"plans.{aud.label}.{kind}",
                                       f"课程 {cid} 不面向{aud.label}（course.yaml audience）"))
    for cid in spec.hours:
        if cid not in spec.course_ids():
            out.append(Problem(path.name, None, f"hours.{cid}", "计划中没有这门课程"))
    return out


def course_context(path: str | Path) -> CourseContext:
    """A course folder read (course.yaml and notebooks) for callers that run checks themselves."""
    ctx = CourseContext(path=Path(path).resolve())
    check_yaml(ctx)
    check_bank(ctx)
    check_layout(ctx)
    return ctx

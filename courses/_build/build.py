"""Write course folders from the content modules beside this file (one ``c_<course>.py`` each).

Used once to bootstrap the shipped curriculum: the committed notebooks and course.yaml are the
source of truth that trainers edit in JupyterLab and check with ``xuefa course validate``.
Re-running this script overwrites a course's notebooks with the Python data, so after a
trainer has edited a notebook, edit the notebook (or the data and rebuild, never both).

    .venv/bin/python courses/_build/build.py [COURSE_ID ...]
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
COURSES = HERE.parent

CLASSES = {
    "single": "SingleChoice", "multiple": "MultipleChoice", "truefalse": "TrueFalse",
    "fill": "FillBlank", "ordering": "Ordering", "case": "CaseAnalysis", "essay": "Essay",
}
KW_ORDER = ["id", "scenario", "stem", "options", "questions", "key", "points", "partial",
            "rubric", "explanation", "legal_basis"]


def _lit(v, indent: str) -> str:
    if isinstance(v, list) and v and isinstance(v[0], dict):
        inner = indent + "    "
        return "[\n" + "".join(f"{inner}{_lit(x, inner)},\n" for x in v) + indent + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {x!r}" for k, x in v.items()) + "}"
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v) and sum(map(len, v)) > 40:
        inner = indent + "    "
        return "[\n" + "".join(f"{inner}{x!r},\n" for x in v) + indent + "]"
    return repr(v)


def call(fn: str, kwargs: dict) -> str:
    keys = [k for k in KW_ORDER if k in kwargs] + [k for k in kwargs if k not in KW_ORDER]
    body = "".join(f"    {k}={_lit(kwargs[k], '    ')},\n" for k in keys)
    return f"{fn}(\n{body})"


def nbg(grade_id: str, *, grade=False, solution=False, locked=True, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def question_kwargs(q: dict, *, practice: bool) -> dict:
    kw = {k: v for k, v in q.items() if k != "type"}
    if q["type"] == "case":
        subs = []
        for s in q["questions"]:
            s = dict(s)
            if not practice:
                s.pop("key", None)
            subs.append(s)
        kw["questions"] = subs
        kw.pop("points", None)
        if practice:
            kw["key"] = {s["id"]: s["key"] for s in q["questions"] if "key" in s}
        else:
            kw.pop("key", None)
    if not practice:
        kw.pop("key", None)
        kw.pop("explanation", None)
        kw.pop("partial", None)
    return kw


def points_of(q: dict) -> float:
    if q["type"] == "case":
        return sum(s.get("points", 1) for s in q["questions"])
    return q.get("points", 1)


def kernel_meta() -> dict:
    return {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}


def lesson_notebook(cid: str, stem: str, lesson: dict) -> nbformat.NotebookNode:
    cells = [new_code_cell(
        f'import widgets as xf\n\nxf.setup(course="{cid}", assignment="module", mode="practice",\n'
        f'         notebook="{stem}.ipynb", lesson="{stem}")')]
    cells.append(new_markdown_cell(f"# {lesson['title']}\n\n{lesson['intro']}"))
    sections = [c[1] for c in lesson["cells"] if c[0] == "section"]
    if sections:
        cells.append(new_code_cell(call("xf.ReadingProgress", {"sections": sections})))
    for kind, body in lesson["cells"]:
        if kind == "md":
            cells.append(new_markdown_cell(body.strip()))
        elif kind == "section":
            cells.append(new_code_cell(f"xf.Section({body!r})"))
        elif kind == "code":
            cells.append(new_code_cell(body.strip()))
        elif kind == "q":
            cells.append(new_code_cell(call(f"xf.{CLASSES[body['type']]}",
                                            question_kwargs(body, practice=True))))
        else:
            raise ValueError(kind)
    return new_notebook(cells=cells, metadata=kernel_meta())


def assessment_notebook(cid: str, spec: dict, a: dict) -> nbformat.NotebookNode:
    total = sum(points_of(q) for q in a["questions"])
    cells = [new_code_cell(
        f'import widgets as xf\n\nxf.setup(course="{cid}", assignment="module", mode="assessment",\n'
        f'         notebook="assessment.ipynb", lesson="assessment")',
        metadata=nbg("setup"))]
    manual = any(q["type"] == "essay" for q in a["questions"])
    note = ("其中简答题由讲师人工评阅，评阅完成后显示最终成绩。" if manual else
            "提交后几秒钟内即可看到得分、每题解析和法律依据。")
    cells.append(new_markdown_cell(
        f"# {spec['title']} · 结业测试\n\n{a.get('intro', '')}\n\n"
        f"- 共 {len(a['questions'])} 题，满分 {total:g} 分，{spec.get('pass_mark', 60):g} 分合格。\n"
        "- 答案随作答自动保存，可以关闭页面稍后继续。\n"
        f"- 全部作答后，点击页面底部的 **提交**。{note}\n"
        "- 未合格可以复习课程后再次提交，以最高成绩为准。",
        metadata=nbg("instructions")))
    for q in a["questions"]:
        qid = q["id"]
        cells.append(new_code_cell(call(f"xf.{CLASSES[q['type']]}", question_kwargs(q, practice=False)),
                                   metadata=nbg(f"{qid}_question")))
        if q["type"] == "essay":
            cells.append(new_markdown_cell(f"**评分要点**（讲师据此人工评阅）：{q.get('rubric', '')}",
                                           metadata=nbg(f"{qid}_rubric")))
            cells.append(new_markdown_cell(
                "（提交时，上方作答框中的内容会自动填入此处，供讲师评阅。）",
                metadata=nbg(qid, grade=True, solution=True, locked=False, points=points_of(q))))
            continue
        args = [repr(qid), f"key={_lit(q['key'] if q['type'] != 'case' else {s['id']: s['key'] for s in q['questions']}, '')}"]
        args.append(f"explanation={q['explanation']!r}")
        if q["type"] == "multiple" and q.get("partial"):
            args.append(f"partial={q['partial']!r}")
        src = ("### BEGIN HIDDEN TESTS\nxf.grade(" + ",\n         ".join(args) + ")\n"
               "### END HIDDEN TESTS")
        cells.append(new_code_cell(src, metadata=nbg(qid, grade=True, points=points_of(q))))
    cells.append(new_code_cell("xf.Submit()", metadata=nbg("submit")))
    return new_notebook(cells=cells, metadata=kernel_meta())


def stable_ids(nb: nbformat.NotebookNode, stem: str) -> nbformat.NotebookNode:
    """Deterministic cell ids, so rebuilding unchanged content gives an unchanged file."""
    for i, cell in enumerate(nb.cells, 1):
        cell["id"] = f"{stem}-{i:02d}"
    return nb


def build(cid: str) -> Path:
    mod = importlib.import_module(f"c_{cid}")
    spec, lessons, a = mod.COURSE, mod.LESSONS, mod.ASSESSMENT
    root = COURSES / cid
    src = root / "source" / "module"
    src.mkdir(parents=True, exist_ok=True)
    total = sum(points_of(q) for q in a["questions"])
    meta = dict(spec)
    meta["id"] = cid
    meta["points"] = total
    meta["lessons"] = [{"file": f"lesson{i}.ipynb", "title": l["title"]}
                       for i, l in enumerate(lessons, 1)]
    meta["assessment"] = {"file": "assessment.ipynb", "title": a.get("title", "结业测试"),
                          "manual": any(q["type"] == "essay" for q in a["questions"])}
    order = ["id", "title", "summary", "audience", "hours", "points", "pass_mark", "order",
             "lessons", "assessment", "trainers", "laws"]
    meta = {k: meta[k] for k in order if k in meta}
    (root / "course.yaml").write_text(
        "# 课程元数据（由讲师维护；修改后运行 xuefa course validate " + cid + "）\n"
        + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=100), encoding="utf-8")
    for i, lesson in enumerate(lessons, 1):
        nbformat.write(stable_ids(lesson_notebook(cid, f"lesson{i}", lesson), f"lesson{i}"),
                       src / f"lesson{i}.ipynb")
    nbformat.write(stable_ids(assessment_notebook(cid, spec, a), "assessment"), src / "assessment.ipynb")
    return root


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    ids = argv or sorted(p.stem[2:] for p in HERE.glob("c_*.py"))
    for cid in ids:
        print("wrote", build(cid))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Write course folders from the content modules beside this file (one ``c_<course>.py`` each).

Used once to bootstrap the shipped curriculum: the committed notebooks, ``course.yaml`` and
``bank.yaml`` are the source of truth that trainers edit (JupyterLab, or the bank file) and check
with ``xuefa course validate``. Existing files are never overwritten unless ``--force`` (the
script says what it skipped), so a trainer's edits survive a rebuild.

Courses in :data:`BANK_COURSES` get a question bank (``bank.yaml``) and a blueprint in
``course.yaml`` that draws every bank question (papers differ in order only) instead of a
hand-written ``assessment.ipynb``: publish generates that notebook from the blueprint.

    .venv/bin/python courses/_build/build.py [--force] [COURSE_ID ...]
"""

from __future__ import annotations

import importlib
import re
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
# Shipped courses whose assessment is drawn from a bank; pingtai_rumen, fazhi_zhengfu and shufa
# (essay) keep fixed notebooks, which many tests rely on.
BANK_COURSES = {"falv_yuanzhu", "jiceng_zhili", "tiaojie", "weichengnian", "xingzheng_zhifa"}
BANK_ORDER = ["id", "type", "scenario", "stem", "options", "questions", "key", "explanation",
              "legal_basis", "points", "difficulty", "tags", "shuffle", "partial"]
# Options that are amounts, durations or ages read in their natural order: 三日 五日 七日 ...
ORDERED_OPTION = re.compile(r"^(未满|不满|不超过)?[0-9一二三四五六七八九十百千万两半]+(分之[一二三四五六七八九十]+)?"
                            r"(个)?(周岁|岁|日|天|年|个月|月|小时|元|倍|%)?$")
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


def short_law(name: str) -> str:
    """《中华人民共和国未成年人保护法》 -> 未成年人保护法 (the tag trainers and learners say)."""
    return name.strip("《》").removeprefix("中华人民共和国")


def ordered_options(options: list) -> bool:
    """All options but at most one are numbers/durations (the odd one: "与村委会相同")."""
    hits = sum(bool(ORDERED_OPTION.match(str(o).strip())) for o in options)
    return bool(options) and hits >= max(2, len(options) - 1)


def default_difficulty(q: dict) -> str:
    return {"case": "难", "multiple": "中", "ordering": "中", "fill": "中"}.get(q["type"], "易")


def bank_question(q: dict) -> dict:
    """An assessment question of a c_<course>.py module as a bank.yaml entry."""
    d = {k: v for k, v in q.items()}
    if q["type"] == "case":
        expl = q.get("explanation") or {}
        subs = []
        for s in q["questions"]:
            s = dict(s)
            if isinstance(expl, dict) and s["id"] in expl:
                s["explanation"] = expl[s["id"]]
            if s.get("options") and ordered_options(s["options"]):
                s["shuffle"] = False
            subs.append(s)
        d["questions"] = subs
        if isinstance(expl, dict):  # moved into the sub-questions above
            d.pop("explanation", None)
        d["points"] = points_of(q)
    d.setdefault("difficulty", default_difficulty(q))
    d.setdefault("tags", list(dict.fromkeys(short_law(m) for m in re.findall(r"《[^》]+》", q["legal_basis"]))))
    d.setdefault("shuffle", not (q["type"] == "ordering" or ordered_options(q.get("options") or [])))
    return {k: d[k] for k in BANK_ORDER if k in d} | {k: v for k, v in d.items() if k not in BANK_ORDER}


def blueprint_for(spec: dict, questions: list[dict]) -> dict:
    """Sections (type, points) in the order questions first appear, drawing every question."""
    sections: list[dict] = []
    for q in questions:
        sec = next((s for s in sections if s["type"] == q["type"] and s["points"] == q["points"]), None)
        if sec is None:
            sections.append({"type": q["type"], "count": 1, "points": q["points"]})
        else:
            sec["count"] += 1
    tags = {t for q in questions for t in q["tags"]}
    laws = [short_law(law["name"]) for law in spec.get("laws", [])]
    difficulty = {level: sum(q["difficulty"] == level for q in questions) for level in ("易", "中", "难")}
    return {"sections": sections, "require_tags": [t for t in laws if t in tags],
            "difficulty": {k: v for k, v in difficulty.items() if v}}


class _FlowList(list):
    """Short string lists (options, tags, blanks) on one line in bank.yaml."""


def _yaml_dump(data) -> str:
    class Dumper(yaml.SafeDumper):
        pass

    def flow(dumper, value):
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)

    Dumper.add_representer(_FlowList, flow)

    def mark(v):
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            items = [mark(x) for x in v]
            if all(not isinstance(x, (dict, list)) for x in v) and sum(len(str(x)) for x in v) <= 60:
                return _FlowList(items)
            if all(isinstance(x, list) for x in v):
                return _FlowList(items)
            return items
        return v

    return yaml.dump(mark(data), Dumper=Dumper, allow_unicode=True, sort_keys=False, width=100)


class Writer:
    def __init__(self, force: bool):
        self.force = force

    def write(self, path: Path, text: str | None = None, nb: nbformat.NotebookNode | None = None) -> None:
        if path.exists() and not self.force:
            print("skipped (exists; --force to overwrite)", path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if nb is not None:
            nbformat.write(nb, path)
        else:
            path.write_text(text, encoding="utf-8")
        print("wrote", path)


def build(cid: str, force: bool = False) -> Path:
    mod = importlib.import_module(f"c_{cid}")
    spec, lessons, a = mod.COURSE, mod.LESSONS, mod.ASSESSMENT
    out = Writer(force)
    root = COURSES / cid
    src = root / "source" / "module"
    total = sum(points_of(q) for q in a["questions"])
    meta = dict(spec)
    meta["id"] = cid
    meta["points"] = total
    meta["lessons"] = [{"file": f"lesson{i}.ipynb", "title": lesson["title"]}
                       for i, lesson in enumerate(lessons, 1)]
    meta["assessment"] = {"file": "assessment.ipynb", "title": a.get("title", "结业测试"),
                          "manual": any(q["type"] == "essay" for q in a["questions"])}
    bank = None
    if cid in BANK_COURSES:
        bank = [bank_question(q) for q in a["questions"]]
        meta["blueprint"] = blueprint_for(spec, bank)
    order = ["id", "title", "summary", "audience", "hours", "points", "pass_mark", "order",
             "lessons", "assessment", "blueprint", "exam", "trainers", "laws"]
    meta = {k: meta[k] for k in order if k in meta}
    out.write(root / "course.yaml",
              "# 课程元数据（由讲师维护；修改后运行 xuefa course validate " + cid + "）\n"
              + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=100))
    for i, lesson in enumerate(lessons, 1):
        out.write(src / f"lesson{i}.ipynb",
                  nb=stable_ids(lesson_notebook(cid, f"lesson{i}", lesson), f"lesson{i}"))
    if bank is None:
        out.write(src / "assessment.ipynb", nb=stable_ids(assessment_notebook(cid, spec, a), "assessment"))
        return root
    out.write(root / "bank.yaml",
              "# 题库（讲师维护）。每次考试按 course.yaml 的组卷规则 blueprint 从这里为每位学员抽题。\n"
              "# 修改后运行 xuefa course validate " + cid + "\n" + _yaml_dump({"questions": bank}))
    stale = src / "assessment.ipynb"
    if stale.exists():
        if force:
            stale.unlink()
            print("removed", stale, "(the paper notebook is generated at publish)")
        else:
            print("skipped removing", stale, "(a bank course has no hand-written assessment; --force removes it)")
    return root


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    force = "--force" in argv
    ids = [a for a in argv if a != "--force"] or sorted(p.stem[2:] for p in HERE.glob("c_*.py"))
    for cid in ids:
        build(cid, force=force)


if __name__ == "__main__":
    main(sys.argv[1:])

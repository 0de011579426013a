"""Question banks (``courses/<id>/bank.yaml``) and the per-learner papers drawn from them.

A bank course has no hand-written assessment notebook: publish writes :func:`slot_notebook`
(setup, instructions, ``xf.Paper()``, one hidden ``xf.grade_slot('sNN')`` test per slot,
``xf.Submit()``), so the released and fetched files hold no question at all. The records service
draws each learner's paper with :func:`draw` from a seed :func:`paper_seed` derives from the
platform secret, the learner and the attempt, stores the full questions (keys included) and hands
the learner only :func:`public` copies.

Question dicts are plain data, exactly one ``questions:`` entry of ``bank.yaml`` with the key
normalised to the stored-answer shape ``xf.grade`` takes (see ``widgets/model.py``); options keep
the author's order and letters (the widgets shuffle the display per learner unless
``shuffle: false``), so answers and item analysis always speak the bank's letters.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from pydantic import Field, ValidationError, field_validator, model_validator

from grading.records.exams import PRIVATE_FIELDS, public_question
from grading.content.courses import (  # noqa: F401 (Blueprint, ExamSpec, Section: re-exported, callers name them here)
    BANK_TYPES,
    DIFFICULTIES,
    TYPE_LABELS_ZH,
    Blueprint,
    CourseSpec,
    ExamSpec,
    FormatError,
    Section,
    Strict,
    _read_yaml,
    _validation_problems,
)

BANK_FILE = "bank.yaml"
QID_RE = r"^[a-z0-9_]{1,32}$"
LAW_RE = re.compile(r"《[^》]{2,}》")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SECRET_FIELDS = PRIVATE_FIELDS
DRAW_TRIES = 500
CHECK_SEEDS = 50


class BlueprintError(ValueError):
    """No paper meets the blueprint with this bank (message in zh-CN, for trainers)."""


# --- the bank format ------------------------------------------------------------------------


def _letters(n: int) -> str:
    return LETTERS[:n]


def normalise_key(qtype: str, options: list[str], key: Any) -> Any:
    """The key in the stored-answer shape; ValueError with a zh-CN message if it does not fit."""
    letters = _letters(len(options))
    if qtype == "single":
        k = str(key).strip().upper() if isinstance(key, str) else None
        if not k or k not in letters:
            raise ValueError(f"单选题的答案 {key!r} 应为 {letters} 中的一个字母")
        return k
    if qtype == "multiple":
        if isinstance(key, list):
            key = "".join(str(x) for x in key)
        if not isinstance(key, str):
            raise ValueError(f"多选题的答案 {key!r} 应写成选项字母，例如 ABD")
        k = "".join(sorted(set(key.upper().replace(",", "").replace("，", "").replace(" ", ""))))
        if len(k) < 1 or any(c not in letters for c in k):
            raise ValueError(f"多选题的答案 {key!r} 应由 {letters} 中的字母组成")
        return k
    if qtype == "truefalse":
        if not isinstance(key, bool):
            raise ValueError(f"判断题的答案 {key!r} 应为 true（正确）或 false（错误）")
        return key
    if qtype == "fill":
        if isinstance(key, str):
            key = [[key]]
        if not isinstance(key, list) or not key:
            raise ValueError("填空题的答案应为每空一项的列表，例如 [[六十日, 60日]]")
        out = []
        for i, blank in enumerate(key, 1):
            variants = [blank] if isinstance(blank, (str, int, float)) else blank
            if not isinstance(variants, list) or not variants or any(
                    not str(v).strip() for v in variants):
                raise ValueError(f"填空题第 {i} 空至少需要一个可接受的答案")
            out.append([str(v) for v in variants])
        return out
    if qtype == "ordering":
        k = str(key).strip().upper() if isinstance(key, str) else ""
        if sorted(k) != list(letters):
            raise ValueError(f"排序题的答案 {key!r} 应把 {letters} 每个字母各排一次，例如 {letters[::-1]}")
        return k
    raise ValueError(f"题型 {qtype} 没有标准答案")


def _options_fit(qtype: str, options: list[str]) -> None:
    if qtype in ("single", "multiple", "ordering"):
        if len(options) < 2:
            raise ValueError(f"{TYPE_LABELS_ZH[qtype]}至少需要两个选项 options")
        if len(options) > len(LETTERS):
            raise ValueError(f"选项不能超过 {len(LETTERS)} 个")
        if len({o.strip() for o in options}) != len(options):
            raise ValueError("选项有重复")
        if any(not o.strip() for o in options):
            raise ValueError("选项不能为空")
    elif options:
        raise ValueError(f"{TYPE_LABELS_ZH[qtype]}不应有选项 options")


def _str_options(v: Any) -> Any:
    # YAML reads options such as 3、5、15 as numbers; they are option texts
    if isinstance(v, list):
        return [str(o) if isinstance(o, (int, float)) and not isinstance(o, bool) else o for o in v]
    return v


class SubQuestion(Strict):
    """A case's sub-question (``questions:`` inside a ``type: case`` entry)."""

    id: str = Field(pattern=QID_RE)
    type: Literal["single", "multiple", "truefalse", "fill", "ordering"]
    stem: str = Field(min_length=1)
    options: list[str] = Field(default_factory=list)
    key: Any
    explanation: str = Field(min_length=1)
    points: float = Field(gt=0)
    partial: Literal["none", "subset", "proportional"] | None = None
    shuffle: bool | None = None

    _options = field_validator("options", mode="before")(lambda v: _str_options(v))

    @model_validator(mode="after")
    def _shape(self) -> "SubQuestion":
        _options_fit(self.type, self.options)
        self.key = normalise_key(self.type, self.options, self.key)
        return self


class BankQuestion(Strict):
    """One ``questions:`` entry of ``bank.yaml``."""

    id: str = Field(pattern=QID_RE)
    type: Literal["single", "multiple", "truefalse", "fill", "ordering", "case"]
    stem: str = ""
    scenario: str = ""
    options: list[str] = Field(default_factory=list)
    questions: list[SubQuestion] = Field(default_factory=list)
    key: Any = None
    explanation: str = ""
    legal_basis: str = Field(min_length=1)
    points: float = Field(gt=0)
    difficulty: Literal["易", "中", "难"] = "中"
    tags: list[str] = Field(default_factory=list)
    shuffle: bool = True
    partial: Literal["none", "subset", "proportional"] | None = None

    _options = field_validator("options", mode="before")(lambda v: _str_options(v))

    @field_validator("legal_basis")
    @classmethod
    def _law(cls, v: str) -> str:
        if not LAW_RE.search(v):
            raise ValueError("法律依据应写明法律名称（加书名号）和条款，例如《中华人民共和国行政诉讼法》第三条")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        v = [t.strip() for t in v]
        if any(not t for t in v):
            raise ValueError("标签不能为空")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _shape(self) -> "BankQuestion":
        if self.type == "case":
            if not self.scenario.strip():
                raise ValueError("案例分析题缺少案情 scenario")
            if not self.questions:
                raise ValueError("案例分析题缺少小题 questions")
            ids = [s.id for s in self.questions]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"小题编号重复：{', '.join(dup)}")
            if self.key is not None:
                raise ValueError("案例分析题的答案写在各小题的 key 中，不要在案例上写 key")
            total = sum(s.points for s in self.questions)
            if abs(total - self.points) > 1e-9:
                raise ValueError(f"案例分析题分值 points {self.points:g} 与各小题分值合计 {total:g} 不一致")
            if self.options:
                raise ValueError("案例分析题不应有选项 options（选项写在小题中）")
            return self
        if self.questions or self.scenario:
            raise ValueError(f"只有案例分析题才有 scenario 和 questions，本题题型为 {self.type}")
        if not self.stem.strip():
            raise ValueError("缺少题干 stem")
        if not self.explanation.strip():
            raise ValueError("缺少解析 explanation")
        if self.key is None:
            raise ValueError("缺少标准答案 key")
        _options_fit(self.type, self.options)
        self.key = normalise_key(self.type, self.options, self.key)
        if self.partial is not None and self.type not in ("multiple", "fill", "ordering"):
            raise ValueError("只有多选、填空、排序题可以设置部分得分 partial")
        return self

    def as_dict(self) -> dict:
        d = self.model_dump(exclude_none=True)
        if self.type == "case":
            for k in ("stem", "options", "key"):
                d.pop(k, None)
            if not self.explanation:
                d.pop("explanation", None)
            d["questions"] = []
            for s in self.questions:
                sd = s.model_dump(exclude_none=True)
                if s.type in ("truefalse", "fill"):
                    sd.pop("options", None)
                d["questions"].append(sd)
        else:
            d.pop("scenario", None)
            d.pop("questions", None)
            if self.type in ("truefalse", "fill"):
                d.pop("options", None)
        return d


# Which field a model-level problem is about, so the message can name it: the first field name
# the message mentions, else the thing it talks about.
_FIELDS = ("scenario", "questions", "points", "stem", "explanation", "key", "options", "partial")
_FIELD_HINTS = (("答案", "key"), ("选项", "options"), ("小题", "questions"))


def _problem_field(qid: str, loc: str, msg: str, entry: dict) -> str:
    m = re.fullmatch(r"questions\.(\d+)(\..+)?", loc)
    if m:  # a case's sub-question: name it by its own id, as trainers do
        subs = entry.get("questions") if isinstance(entry.get("questions"), list) else []
        n = int(m.group(1))
        sub = subs[n].get("id") if n < len(subs) and isinstance(subs[n], dict) else None
        prefix = f"questions.{sub}" if isinstance(sub, str) and sub else f"questions.第{n + 1}小题"
        if m.group(2):
            return f"{qid}.{prefix}{m.group(2)}"
        return _problem_field(f"{qid}.{prefix}", "", msg, {})
    if not loc:
        hits = sorted((msg.find(f), f) for f in _FIELDS if re.search(rf"\b{f}\b", msg))
        loc = hits[0][1] if hits else next((f for hint, f in _FIELD_HINTS if hint in msg), "")
    return f"{qid}.{loc}" if loc else qid


@dataclass
class Bank:
    """A course's bank: ``questions`` are plain dicts (keys included)."""

    questions: list[dict]
    path: Path | None = None
    _index: dict[str, dict] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {q["id"]: q for q in self.questions}

    def by_id(self, qid: str) -> dict:
        return self._index[qid]

    @property
    def digest(self) -> str:
        """sha256 of the questions as data (comments and layout of the YAML do not count)."""
        blob = json.dumps(self.questions, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def tags(self) -> set[str]:
        return {t for q in self.questions for t in q.get("tags", [])}


def _stem_text(q: dict) -> str:
    return re.sub(r"\s+", "", q.get("scenario") or q.get("stem") or "")


def parse_bank(data: Any, path: Path | str = BANK_FILE) -> Bank:
    """A bank from YAML data; FormatError lists every problem as (``<qid>.<field>``, zh message)."""
    path = Path(path)
    if not isinstance(data, dict):
        raise FormatError(path, [("", "内容应为“questions: [...]”")])
    extra = sorted(set(data) - {"questions"})
    problems: list[tuple[str, str]] = [(k, "未知字段（拼写错误？）") for k in extra]
    raw = data.get("questions")
    if not isinstance(raw, list) or not raw:
        raise FormatError(path, problems + [("questions", "题库中没有题目（questions 应为题目列表）")])
    out: list[dict] = []
    seen_ids: dict[str, int] = {}
    seen_stems: dict[str, str] = {}
    for i, entry in enumerate(raw, 1):
        qid = entry.get("id") if isinstance(entry, dict) else None
        name = qid if isinstance(qid, str) and qid else f"第{i}题"
        if not isinstance(entry, dict):
            problems.append((name, "每道题应为“字段: 值”的映射"))
            continue
        try:
            q = BankQuestion.model_validate(entry)
        except ValidationError as e:
            for loc, msg in _validation_problems(e):
                problems.append((_problem_field(name, loc, msg, entry), msg))
            continue
        if q.id in seen_ids:
            problems.append((f"{q.id}.id", f"题号 {q.id} 重复（第{seen_ids[q.id]}题已使用）"))
            continue
        seen_ids[q.id] = i
        d = q.as_dict()
        stem = _stem_text(d)
        if stem in seen_stems:
            problems.append((f"{q.id}.{'scenario' if q.type == 'case' else 'stem'}",
                             f"题干与 {seen_stems[stem]} 重复"))
        seen_stems.setdefault(stem, q.id)
        out.append(d)
    if problems:
        raise FormatError(path, problems)
    return Bank(out, path)


def load_bank(path: str | Path) -> Bank:
    """Read ``bank.yaml`` (or a course dir holding it). Raises :class:`FormatError`."""
    path = Path(path)
    if path.is_dir():
        path = path / BANK_FILE
    return parse_bank(_read_yaml(path), path)


# --- papers ---------------------------------------------------------------------------------


def paper_seed(secret: bytes, course_id: str, assignment: str, username: str, attempt: int) -> int:
    """The draw seed of one learner's attempt: unguessable without the platform secret, and the
    same on every reload (so a paper can be re-derived, though the records DB keeps a snapshot)."""
    msg = "\0".join([course_id, assignment, username, str(int(attempt))]).encode()
    return int.from_bytes(hmac.new(secret, msg, hashlib.sha256).digest()[:8], "big")


def _eligible(bank: Bank, section: Section) -> list[dict]:
    return [q for q in bank.questions
            if q["type"] == section.type and abs(float(q["points"]) - section.points) < 1e-9]


def _shortfalls(bank: Bank, blueprint: Blueprint) -> list[str]:
    """Why no paper can ever meet the blueprint (pool sizes and tags), in zh-CN."""
    out = []
    need: dict[tuple[str, float], int] = {}
    for s in blueprint.sections:
        need[(s.type, s.points)] = need.get((s.type, s.points), 0) + s.count
    for (qtype, pts), n in need.items():
        have = len(_eligible(bank, Section(type=qtype, count=1, points=pts)))
        if have < n:
            out.append(f"需要 {n} 道 {pts:g} 分的{TYPE_LABELS_ZH[qtype]}，题库中只有 {have} 道")
    drawable = [q for s in blueprint.sections for q in _eligible(bank, s)]
    tags = {t for q in drawable for t in q.get("tags", [])}
    for tag in blueprint.require_tags:
        if tag not in tags:
            out.append(f"require_tags 要求的“{tag}”在可抽取的题目中没有出现（检查题目的 tags）")
    if blueprint.difficulty:
        for level, n in blueprint.difficulty.items():
            have = len({q["id"] for q in drawable if q.get("difficulty", "中") == level})
            if have < n:
                out.append(f"需要 {n} 道难度为“{level}”的题，可抽取的只有 {have} 道")
    return out


def _meets(paper: list[dict], blueprint: Blueprint) -> bool:
    tags = {t for q in paper for t in q.get("tags", [])}
    if any(t not in tags for t in blueprint.require_tags):
        return False
    if blueprint.difficulty:
        for level in DIFFICULTIES:
            if sum(q.get("difficulty", "中") == level for q in paper) != blueprint.difficulty.get(level, 0):
                return False
    return True


def draw(bank: Bank, blueprint: Blueprint, seed: int) -> list[dict]:
    """One paper: full question dicts (keys included) with ``slot`` s01, s02 ... in section order,
    random order within a section. Deterministic for (bank, blueprint, seed)."""
    short = _shortfalls(bank, blueprint)
    if short:
        raise BlueprintError("无法按组卷规则抽题：" + "；".join(short))
    rng = random.Random(seed)
    pools = [_eligible(bank, s) for s in blueprint.sections]
    for _ in range(DRAW_TRIES):
        used: set[str] = set()
        paper: list[dict] = []
        for section, pool in zip(blueprint.sections, pools):
            free = [q for q in pool if q["id"] not in used]
            if len(free) < section.count:
                break
            picked = rng.sample(free, section.count)
            used.update(q["id"] for q in picked)
            paper += picked
        else:
            if _meets(paper, blueprint):
                out = []
                for i, q in enumerate(paper, 1):
                    q = copy.deepcopy(q)
                    q["slot"] = f"s{i:02d}"
                    out.append(q)
                return out
    wants = []
    if blueprint.require_tags:
        wants.append("每份试卷覆盖 " + "、".join(blueprint.require_tags))
    if blueprint.difficulty:
        wants.append("难度 " + "、".join(f"{k}{v}道" for k, v in blueprint.difficulty.items()))
    raise BlueprintError(f"试了 {DRAW_TRIES} 次也抽不出满足组卷规则（{'；'.join(wants)}）的试卷，"
                         "请在题库中增加相应标签或难度的题目，或放宽组卷规则")


def public(q: dict) -> dict:
    """What a learner may see of a drawn question: no key, explanation or partial-credit rule
    (the records service hands out exactly this; one definition, in the records room)."""
    return copy.deepcopy(public_question(q))


def correct_answers(paper: list[dict]) -> dict[str, Any]:
    """A fully correct answers file for ``paper`` (stored-answer shape, by bank id): for tests,
    benches and trainers' dry runs."""
    def first(q: dict) -> Any:
        if q["type"] == "fill":
            return [variants[0] for variants in q["key"]]
        return q["key"]

    out: dict[str, Any] = {}
    for q in paper:
        out[q["id"]] = ({s["id"]: first(s) for s in q["questions"]} if q["type"] == "case" else first(q))
    return out


def check_blueprint(bank: Bank, blueprint: Blueprint, points: float) -> list[tuple[str, str]]:
    """(field, zh message) problems of ``blueprint`` against ``bank`` for ``xuefa course validate``."""
    out: list[tuple[str, str]] = []
    if abs(blueprint.total_points - points) > 1e-6:
        out.append(("blueprint.sections", f"各部分分值合计 {blueprint.total_points:g}，与总分 points {points:g} 不一致"))
    for i, s in enumerate(blueprint.sections):
        have = len(_eligible(bank, s))
        if have < s.count:
            out.append((f"blueprint.sections.{i}",
                        f"需要 {s.count} 道 {s.points:g} 分的{TYPE_LABELS_ZH[s.type]}，题库中只有 {have} 道"))
    for tag in blueprint.require_tags:
        if tag not in bank.tags:
            out.append(("blueprint.require_tags", f"题库中没有标签为“{tag}”的题目"))
    if out:
        return out
    for seed in range(CHECK_SEEDS):
        try:
            draw(bank, blueprint, seed)
        except BlueprintError as e:
            return [("blueprint", str(e))]
    return out


# --- the generated assessment notebook ------------------------------------------------------


def _nbg(grade_id: str, *, grade: bool = False, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": True, "schema_version": 3,
            "solution": False, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def slots(blueprint: Blueprint) -> list[tuple[str, Section]]:
    """(slot, section) in paper order: s01, s02 ..."""
    out = []
    for s in blueprint.sections:
        for _ in range(s.count):
            out.append((f"s{len(out) + 1:02d}", s))
    return out


def rules_text(exam: ExamSpec) -> list[str]:
    """The exam rules as a learner reads them (zh-CN bullet lines)."""
    lines = [f"每次提交都计为一次考试，共 {exam.attempts} 次机会，"
             + ("以最高一次成绩为准。" if exam.counts == "best" else "以最后一次成绩为准。")]
    if exam.cooldown_minutes:
        lines.append(f"两次提交之间至少间隔 {exam.cooldown_minutes} 分钟。")
    if exam.opens or exam.closes:
        fmt = "%Y-%m-%d %H:%M"
        win = (f"{exam.opens.strftime(fmt) if exam.opens else '发布时'} 至 "
               f"{exam.closes.strftime(fmt) if exam.closes else '不限'}")
        lines.append(f"考试时间：{win}（北京时间），时间以外不能答题和提交。")
    lines.append("提交后显示得分" + ("。" if exam.show == "score" else "和答错的题目。"))
    lines.append({"after": "合格后、用完全部考试机会后或学习活动结束后，可查看正确答案和解析。",
                  "always": "每次提交后都可查看正确答案和解析。",
                  "never": "本测试不公布正确答案和解析。"}[exam.key])
    lines.append("每次考试的题目由系统从题库中为您单独抽取；答案随作答自动保存，可以关闭页面稍后继续。")
    # a campaign's exam: block may change these after publish; the paper shows the rules in force
    lines.append("剩余考试次数和截止时间以试卷上方显示的为准。")
    return lines


def slot_notebook(spec: CourseSpec, exam: ExamSpec | None = None) -> nbformat.NotebookNode:
    """The source ``assessment.ipynb`` of a bank course, generated from its blueprint: it holds no
    question, only one hidden ``xf.grade_slot`` test per slot, scored from the paper file the
    grading service puts beside the notebook."""
    if spec.blueprint is None:
        raise BlueprintError(f"课程 {spec.id} 没有组卷规则 blueprint")
    exam = exam or spec.exam
    bp = spec.blueprint
    cells = [new_code_cell(
        f'import widgets as xf\n\nxf.setup(course="{spec.id}", assignment="module", mode="assessment",\n'
        f'         notebook="{spec.assessment.file}", lesson="assessment")', metadata=_nbg("setup"))]
    parts = "、".join(f"{TYPE_LABELS_ZH[s.type]} {s.count} 道（每道 {s.points:g} 分）" for s in bp.sections)
    bullets = [f"共 {bp.count} 题：{parts}；满分 {spec.points:g} 分，{spec.pass_mark:g} 分合格。",
               *rules_text(exam), "全部作答后，点击页面底部的 **提交**。"]
    cells.append(new_markdown_cell(
        f"# {spec.title} · {spec.assessment.title}\n\n" + "\n".join(f"- {b}" for b in bullets),
        metadata=_nbg("instructions")))
    cells.append(new_code_cell("xf.Paper()", metadata=_nbg("paper")))
    for slot, section in slots(bp):
        cells.append(new_code_cell(
            f"### BEGIN HIDDEN TESTS\nxf.grade_slot('{slot}')\n### END HIDDEN TESTS",
            metadata=_nbg(slot, grade=True, points=section.points)))
    cells.append(new_code_cell("xf.Submit()", metadata=_nbg("submit")))
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells, 1):
        cell["id"] = f"assessment-{i:02d}"
    return nb

"""Course and campaign formats: ``courses/<id>/course.yaml`` and ``courses/campaigns/<id>.yaml``.

Plain pydantic models (content is data). Loading never raises a bare pydantic or YAML error:
:class:`FormatError` carries the file and one (field, message) pair per problem, in zh-CN,
so a trainer can fix the file without reading a traceback.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grading.records.learner_home import ASSIGNMENT  # noqa: F401 (re-exported: content names it)
from grading.records.models import AUDIENCE_LABELS, Audience

ID_RE = r"^[a-z][a-z0-9_]{1,63}$"
USERNAME_RE = r"^[a-z][a-z0-9_]{2,19}$"

# Trainers write audiences in Chinese or as codes; both mean the same thing.
_AUDIENCE_BY_LABEL = {label: aud for aud, label in AUDIENCE_LABELS.items()}
ALL_AUDIENCES = list(Audience)


def parse_audience(value: Any) -> Audience:
    if isinstance(value, Audience):
        return value
    s = str(value).strip()
    if s in _AUDIENCE_BY_LABEL:
        return _AUDIENCE_BY_LABEL[s]
    try:
        return Audience(s)
    except ValueError:
        labels = "、".join(AUDIENCE_LABELS.values())
        raise ValueError(f"未知的学员类别“{s}”，应为：{labels}（或 全体）") from None


def parse_audiences(value: Any) -> list[Audience]:
    if value in ("全体", "all"):
        return list(ALL_AUDIENCES)
    if isinstance(value, (str, Audience)):
        value = [value]
    out: list[Audience] = []
    for v in value or []:
        if v in ("全体", "all"):
            out.extend(a for a in ALL_AUDIENCES if a not in out)
            continue
        a = parse_audience(v)
        if a not in out:
            out.append(a)
    return out


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Law(Strict):
    """A law the course cites, with the version (year of enactment/last amendment) it follows."""

    name: str = Field(min_length=2)
    version: int = Field(ge=1949, le=2100, description="施行/修订版本年份")

    @field_validator("name")
    @classmethod
    def _book_title(cls, v: str) -> str:
        if not (v.startswith("《") and v.endswith("》")):
            raise ValueError("法律名称应加书名号，例如《中华人民共和国行政处罚法》")
        return v


class Lesson(Strict):
    file: str = Field(pattern=r"^[A-Za-z0-9_\-]+\.ipynb$")
    title: str = Field(min_length=1)


class AssessmentSpec(Strict):
    file: str = Field(default="assessment.ipynb", pattern=r"^[A-Za-z0-9_\-]+\.ipynb$")
    title: str = "结业测试"
    manual: bool = False  # has manually graded (essay) questions


class CourseSpec(Strict):
    """``course.yaml``."""

    id: str = Field(pattern=ID_RE)
    title: str = Field(min_length=2)
    summary: str = ""
    audience: list[Audience] = Field(min_length=1)
    hours: float = Field(gt=0, le=100, description="学时")
    points: float = Field(gt=0, description="结业测试总分")
    pass_mark: float = Field(default=60, gt=0, le=100, description="合格线（百分制）")
    lessons: list[Lesson] = Field(min_length=1)
    assessment: AssessmentSpec = Field(default_factory=AssessmentSpec)
    trainers: list[str] = Field(default_factory=list)
    laws: list[Law] = Field(default_factory=list)
    order: int = 100  # position on 我的学习 among equals

    @field_validator("audience", mode="before")
    @classmethod
    def _audience(cls, v: Any) -> list[Audience]:
        return parse_audiences(v)

    @field_validator("trainers")
    @classmethod
    def _trainers(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.match(USERNAME_RE, name):
                raise ValueError(f"讲师账号“{name}”格式不对（小写字母开头，3–20 位小写字母、数字或下划线）")
        return v

    @model_validator(mode="after")
    def _unique_files(self) -> "CourseSpec":
        files = [lesson.file for lesson in self.lessons] + [self.assessment.file]
        dup = sorted({f for f in files if files.count(f) > 1})
        if dup:
            raise ValueError(f"文件重复：{', '.join(dup)}")
        return self

    @property
    def notebooks(self) -> list[str]:
        return [lesson.file for lesson in self.lessons] + [self.assessment.file]


class CampaignPlan(Strict):
    required: list[str] = Field(default_factory=list)
    elective: list[str] = Field(default_factory=list)


class CampaignSpec(Strict):
    """``courses/campaigns/<id>.yaml``: a learning month."""

    id: str = Field(pattern=ID_RE)
    name: str = Field(min_length=2)
    start: date
    end: date
    pass_mark: float = Field(default=60, gt=0, le=100)
    # audience (label or code) -> required/elective course ids
    plans: dict[Audience, CampaignPlan]
    # course id -> 学时 credited when passed in this campaign (default: the course's own hours)
    hours: dict[str, float] = Field(default_factory=dict)

    @field_validator("plans", mode="before")
    @classmethod
    def _plans(cls, v: Any) -> dict:
        if not isinstance(v, dict):
            raise ValueError("plans 应为“学员类别: {required: [...], elective: [...]}”")
        return {parse_audience(k): plan for k, plan in v.items()}

    @model_validator(mode="after")
    def _period(self) -> "CampaignSpec":
        if self.end < self.start:
            raise ValueError(f"结束日期 {self.end} 早于开始日期 {self.start}")
        for aud, plan in self.plans.items():
            both = set(plan.required) & set(plan.elective)
            if both:
                raise ValueError(f"{aud.label}：课程 {', '.join(sorted(both))} 既是必修又是选修")
        return self

    def course_ids(self) -> list[str]:
        seen: list[str] = []
        for plan in self.plans.values():
            for cid in plan.required + plan.elective:
                if cid not in seen:
                    seen.append(cid)
        return seen


class FormatError(ValueError):
    """A course/campaign file that does not fit its format; ``problems`` are (field, message)."""

    def __init__(self, file: Path, problems: list[tuple[str, str]]):
        self.file = Path(file)
        self.problems = problems
        lines = "\n".join(f"  {f or '(文件)'}: {m}" for f, m in problems)
        super().__init__(f"{self.file}:\n{lines}")


def _read_yaml(path: Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(path, [("", "文件不存在")]) from None
    except UnicodeDecodeError:
        raise FormatError(path, [("", "文件不是 UTF-8 编码")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise FormatError(path, [("", f"YAML 语法错误 {where}：{problem}")]) from None
    if not isinstance(data, dict):
        raise FormatError(path, [("", "内容应为“字段: 值”的映射")])
    return data


def _field(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _validation_problems(e: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in e.errors():
        msg = err.get("msg", "")
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "missing":
            msg = "缺少必填字段"
        elif err.get("type") == "extra_forbidden":
            msg = "未知字段（拼写错误？）"
        out.append((_field(err.get("loc", ())), msg))
    return out


def load_course(path: str | Path) -> CourseSpec:
    """Read ``course.yaml`` (or a course dir). Raises :class:`FormatError`."""
    path = Path(path)
    if path.is_dir():
        path = path / "course.yaml"
    data = _read_yaml(path)
    try:
        spec = CourseSpec.model_validate(data)
    except ValidationError as e:
        raise FormatError(path, _validation_problems(e)) from None
    if spec.id != path.parent.name:
        raise FormatError(path, [("id", f"课程编号 {spec.id} 与目录名 {path.parent.name} 不一致")])
    return spec


def load_campaign_file(path: str | Path) -> CampaignSpec:
    """Read a campaign plan. Raises :class:`FormatError`."""
    path = Path(path)
    data = _read_yaml(path)
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as e:
        raise FormatError(path, _validation_problems(e)) from None


def courses_dir() -> Path:
    """The shipped ``courses/`` folder (next to the packages in a source checkout)."""
    return Path(__file__).resolve().parents[2] / "courses"


def course_dirs(root: str | Path | None = None) -> list[Path]:
    """Every course folder under ``root`` (a folder holding ``course.yaml``)."""
    root = Path(root) if root else courses_dir()
    return sorted(p.parent for p in root.glob("*/course.yaml"))

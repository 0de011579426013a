"""Course and campaign formats: ``courses/<id>/course.yaml`` and ``courses/campaigns/<id>.yaml``.

Plain pydantic models (content is data). Loading never raises a bare pydantic or YAML error:
:class:`FormatError` carries the file and one (field, message) pair per problem, in zh-CN,
so a trainer can fix the file without reading a traceback.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

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


# Question types a blueprint may draw (essays are graded by hand and not in banks yet).
BANK_TYPES = ("single", "multiple", "truefalse", "fill", "ordering", "case")
DIFFICULTIES = ("易", "中", "难")
TYPE_LABELS_ZH = {"single": "单选题", "multiple": "多选题", "truefalse": "判断题", "fill": "填空题",
                  "ordering": "排序题", "case": "案例分析题", "essay": "简答题"}
# Trainers write exam times without a zone; they mean the city's clock.
LOCAL_TZ = timezone(timedelta(hours=8))


class Section(Strict):
    """One line of a blueprint: draw ``count`` questions of ``type`` worth exactly ``points`` each."""

    type: Literal["single", "multiple", "truefalse", "fill", "ordering", "case"]
    count: int = Field(ge=1, le=200)
    points: float = Field(gt=0)


class Blueprint(Strict):
    """组卷规则 (``blueprint:`` in course.yaml): how a paper is drawn from ``bank.yaml``."""

    sections: list[Section] = Field(min_length=1)
    require_tags: list[str] = Field(default_factory=list)
    difficulty: dict[Literal["易", "中", "难"], int] | None = None

    @field_validator("difficulty")
    @classmethod
    def _difficulty(cls, v: dict | None) -> dict | None:
        if v is not None and any(n < 0 for n in v.values()):
            raise ValueError("各难度的题数不能为负数")
        return v

    @model_validator(mode="after")
    def _difficulty_total(self) -> "Blueprint":
        if self.difficulty is not None and sum(self.difficulty.values()) != self.count:
            raise ValueError(f"difficulty 各难度题数合计 {sum(self.difficulty.values())}，"
                             f"与各题型题数合计 {self.count} 不一致")
        return self

    @property
    def count(self) -> int:
        return sum(s.count for s in self.sections)

    @property
    def total_points(self) -> float:
        return float(sum(s.count * s.points for s in self.sections))


def _exam_time(v: Any, end_of_day: bool) -> Any:
    if v is None or v == "":
        return None
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
        v = date.fromisoformat(v.strip())
    if isinstance(v, date) and not isinstance(v, datetime):
        # a bare date: the whole day counts (opens at 00:00, closes at 24:00)
        v = datetime.combine(v, time(0)) + (timedelta(days=1) if end_of_day else timedelta(0))
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"时间“{v}”格式不对，应写成 2026-12-01 08:00 或 2026-12-01T08:00:00+08:00") from None
    if isinstance(v, datetime) and v.tzinfo is None:
        v = v.replace(tzinfo=LOCAL_TZ)
    return v


class TimeWindow(Strict):
    """``opens``/``closes`` as exam rules and 述法评议 take them: a date alone opens at 00:00 and
    closes at the end of that day (Beijing time); closes after opens."""

    opens: datetime | None = None
    closes: datetime | None = None

    @field_validator("opens", mode="before")
    @classmethod
    def _opens(cls, v: Any) -> Any:
        return _exam_time(v, end_of_day=False)

    @field_validator("closes", mode="before")
    @classmethod
    def _closes(cls, v: Any) -> Any:
        return _exam_time(v, end_of_day=True)

    @model_validator(mode="after")
    def _window(self) -> "TimeWindow":
        if self.opens and self.closes and self.closes <= self.opens:
            raise ValueError(f"closes（{self.closes:%Y-%m-%d %H:%M}）应晚于 opens（{self.opens:%Y-%m-%d %H:%M}）")
        return self


class ExamSpec(TimeWindow):
    """考试规则 (``exam:`` in course.yaml or a campaign plan). Every field optional."""

    attempts: int = Field(default=3, ge=1, le=100, description="最多计分提交次数")
    cooldown_minutes: int = Field(default=0, ge=0, le=60 * 24 * 30, description="两次提交的最短间隔")
    counts: Literal["best", "last"] = "best"
    show: Literal["score", "wrong"] = "wrong"
    key: Literal["after", "always", "never"] = "after"

    @property
    def policy(self) -> str:
        """``Assessment.policy`` for these rules."""
        return "best" if self.counts == "best" else "latest"

    def rules(self) -> dict:
        """The resolved rules as JSON data (what the records DB stores)."""
        return self.model_dump(mode="json")


def resolve_exam(course: "CourseSpec", campaign: "CampaignSpec | None" = None) -> ExamSpec:
    """Course values win over campaign values over the defaults (only fields a file set count)."""
    merged: dict[str, Any] = {}
    for layer in ([campaign.exam] if campaign is not None and campaign.exam is not None else []) + [course.exam]:
        merged.update(layer.model_dump(include=layer.model_fields_set))
    return ExamSpec.model_validate(merged)


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
    blueprint: Blueprint | None = None  # only with bank.yaml: papers drawn per learner and attempt
    exam: ExamSpec = Field(default_factory=ExamSpec)
    # the city's programme the course belongs to (海陵大学堂, 向上学堂, 政法融学堂, 法治微讲堂)
    programme: str = Field(default="", max_length=64)
    # 谁执法谁讲法: the law-enforcing department whose head teaches the course
    department: str = Field(default="", max_length=64)

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
        if self.blueprint is not None and abs(self.blueprint.total_points - self.points) > 1e-6:
            raise ValueError(f"组卷规则 blueprint 各部分分值合计 {self.blueprint.total_points:g}，"
                             f"与总分 points {self.points:g} 不一致")
        return self

    @property
    def notebooks(self) -> list[str]:
        return [lesson.file for lesson in self.lessons] + [self.assessment.file]


class CampaignPlan(Strict):
    required: list[str] = Field(default_factory=list)
    elective: list[str] = Field(default_factory=list)


class CampaignGuidance(Strict):
    """市领导导学: a short note from the campaign's leader, shown atop every learner's 我的学习."""

    leader: str = Field(min_length=1, max_length=64)  # 姓名/职务
    title: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)


class RubricItem(Strict):
    """One line of the 述法评议 rubric: what is judged and its maximum points."""

    item: str = Field(min_length=2, max_length=100)
    points: float = Field(gt=0, le=100)


class ReviewSpec(TimeWindow):
    """述法评议 (``review:`` in a campaign plan): a panel of reviewers scores, on ``rubric``, the
    述法 report of every learner who submitted ``course`` in this campaign. The reviewers must
    be people on the roster; ``xuefa campaign load`` checks that against the records DB
    (grading.records.law_review.store_panel)."""

    course: str = Field(pattern=ID_RE)
    reviewers: list[str] = Field(min_length=1, max_length=20)
    rubric: list[RubricItem] = Field(min_length=1, max_length=20)

    @field_validator("reviewers")
    @classmethod
    def _reviewers(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.match(USERNAME_RE, name):
                raise ValueError(f"评议人账号“{name}”格式不对（小写字母开头，3–20 位小写字母、数字或下划线）")
        dup = sorted({n for n in v if v.count(n) > 1})
        if dup:
            raise ValueError(f"评议人重复：{', '.join(dup)}")
        return v

    @property
    def total_points(self) -> float:
        return float(sum(r.points for r in self.rubric))


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
    # defaults for its courses' exam rules (a course's own exam: values win)
    exam: ExamSpec | None = None
    # 市领导导学 (optional; loading a plan without it removes the stored note)
    guidance: CampaignGuidance | None = None
    # 述法评议 panel (optional; see ReviewSpec)
    review: ReviewSpec | None = None

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

    @model_validator(mode="after")
    def _review_course(self) -> "CampaignSpec":
        if self.review is not None and self.review.course not in self.course_ids():
            raise ValueError(f"review.course：述法评议的课程 {self.review.course} 不在本次学习活动的计划中")
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


# pydantic's own messages are English; trainers get these instead (by error type).
_ZH_ERRORS = {
    "missing": lambda c: "缺少必填字段",
    "extra_forbidden": lambda c: "未知字段（拼写错误？）",
    "literal_error": lambda c: f"取值应为 {c.get('expected', '')} 之一".replace("' or '", "', '"),
    "enum": lambda c: f"取值应为 {c.get('expected', '')} 之一".replace("' or '", "', '"),
    "string_too_short": lambda c: "不能为空",
    "string_too_long": lambda c: f"不能超过 {c.get('max_length')} 个字",
    "date_from_datetime_parsing": lambda c: "应为日期，例如 2026-12-01",
    "date_type": lambda c: "应为日期，例如 2026-12-01",
    "too_short": lambda c: f"至少需要 {c.get('min_length', 1)} 项",
    "string_pattern_mismatch": lambda c: "格式不对（小写字母、数字、下划线）",
    "string_type": lambda c: "应为文字",
    "list_type": lambda c: "应为列表",
    "dict_type": lambda c: "应为“名称: 值”的映射",
    "bool_type": lambda c: "应为 true 或 false",
    "bool_parsing": lambda c: "应为 true 或 false",
    "int_type": lambda c: "应为整数",
    "int_parsing": lambda c: "应为整数",
    "int_from_float": lambda c: "应为整数",
    "float_type": lambda c: "应为数字",
    "float_parsing": lambda c: "应为数字",
    "greater_than": lambda c: f"应大于 {c.get('gt')}",
    "greater_than_equal": lambda c: f"应不小于 {c.get('ge')}",
    "less_than_equal": lambda c: f"应不大于 {c.get('le')}",
    "datetime_type": lambda c: "应为日期时间，例如 2026-12-01 08:00",
    "datetime_parsing": lambda c: "应为日期时间，例如 2026-12-01 08:00",
    "datetime_from_date_parsing": lambda c: "应为日期时间，例如 2026-12-01 08:00",
    "date_parsing": lambda c: "应为日期，例如 2026-12-01",
}


def _validation_problems(e: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in e.errors():
        msg = err.get("msg", "")
        msg = msg.removeprefix("Value error, ")
        zh = _ZH_ERRORS.get(err.get("type", ""))
        if zh is not None:
            msg = zh(err.get("ctx") or {})
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

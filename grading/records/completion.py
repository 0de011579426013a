"""Completion rules of a learning month (学习月), as SQL evaluated inside the records DB.

The rules (the only place they are written down in code):

- **In scope**: active people on the roster, except administrators, whose audience (身份) has at
  least one required course in the campaign.
- **Participating** (参学): any learning event or any assessment submission from the campaign's
  start to the end of its last day; a learner who has completed also counts.
- **Passed course**: the learner's best attempt at the course's assessment reaches the campaign's
  pass mark (percent of the maximum score). Attempts submitted before the start do not count;
  attempts after the end do (they make the completion late).
- **Complete** (完成): every required course for the learner's audience is passed. The completion
  time is when the last of them was first passed; **late** (逾期完成) when that is after the end date.
- **Credited hours** (学时): ``Course.hours`` for every passed course of the campaign (required or
  elective for the learner's audience).

Mastery only: nothing here looks at time on page, check-ins or points rankings
(国办函〔2026〕12号). SQL stays in ``grading``; callers get plain rows or DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import DateTime, Float, String, bindparam, select, text
from sqlalchemy.engine import Connection

from grading.records.db import get_engine
from grading.records.models import AUDIENCE_LABELS, Audience, Campaign, CampaignCourse, Course

# Status codes of a person in a campaign; labels are what administrators read.
COMPLETE = "complete"
LATE = "late"
FAILED = "failed"  # 未合格: took a required assessment and has not reached the pass mark
IN_PROGRESS = "in_progress"  # 未完成: participating, no failed course, not complete yet
NOT_STARTED = "not_started"  # 未开始

STATUS_LABELS = {
    COMPLETE: "已完成",
    LATE: "逾期完成",
    FAILED: "未合格",
    IN_PROGRESS: "未完成",
    NOT_STARTED: "未开始",
}
LAGGARD_STATUSES = (NOT_STARTED, IN_PROGRESS, FAILED)


class CampaignNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CampaignCourseInfo:
    course_id: str
    title: str
    hours: float
    audience: str
    required: bool


@dataclass(frozen=True)
class CampaignInfo:
    """A campaign with its course plan, loaded once per query."""

    id: str
    name: str
    start: date
    end: date
    pass_mark: float
    courses: list[CampaignCourseInfo] = field(default_factory=list)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min)

    @property
    def end_at(self) -> datetime:
        """First instant after the last day of the campaign."""
        return datetime.combine(self.end + timedelta(days=1), time.min)

    def required_courses(self, audience: str | Audience) -> list[CampaignCourseInfo]:
        code = audience.value if isinstance(audience, Audience) else audience
        return [c for c in self.courses if c.audience == code and c.required]

    def course_titles(self) -> dict[str, str]:
        return {c.course_id: c.title for c in self.courses}

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def days_left(self, today: date | None = None) -> int:
        """Days still open for learning, today included; 0 once the campaign is over."""
        today = today or date.today()
        if today > self.end:
            return 0
        return (self.end - max(today, self.start)).days + 1


def load_campaign(conn: Connection, campaign_id: str) -> CampaignInfo:
    camp = conn.execute(
        select(Campaign.id, Campaign.name, Campaign.start, Campaign.end, Campaign.pass_mark).where(
            Campaign.id == campaign_id
        )
    ).first()
    if camp is None:
        raise CampaignNotFound(f"没有编号为 {campaign_id} 的学习活动")
    rows = conn.execute(
        select(
            CampaignCourse.course_id,
            Course.title,
            Course.hours,
            CampaignCourse.audience,
            CampaignCourse.required,
        )
        .join(Course, Course.id == CampaignCourse.course_id)
        .where(CampaignCourse.campaign_id == campaign_id)
        .order_by(CampaignCourse.course_id, CampaignCourse.audience)
    ).all()
    courses = [
        CampaignCourseInfo(
            r.course_id,
            r.title,
            float(r.hours or 0),
            r.audience.value if isinstance(r.audience, Audience) else str(r.audience),
            bool(r.required),
        )
        for r in rows
    ]
    return CampaignInfo(camp.id, camp.name, camp.start, camp.end, float(camp.pass_mark), courses)


def campaign_rows(conn: Connection) -> list[tuple[str, str, date, date]]:
    return [
        (r.id, r.name, r.start, r.end)
        for r in conn.execute(
            select(Campaign.id, Campaign.name, Campaign.start, Campaign.end).order_by(Campaign.start.desc())
        )
    ]


# One row per (learner in scope, campaign course for their audience): the building block of
# every report. ``pop`` is who is counted, ``plan`` what they must/may take, ``best`` their best
# attempt per course since the start.
_COURSE_ROWS = """
plan AS (
    SELECT cc.audience, cc.course_id, c.hours,
           CASE WHEN cc.required THEN 1 ELSE 0 END AS required
    FROM campaign_courses cc JOIN courses c ON c.id = cc.course_id
    WHERE cc.campaign_id = :campaign_id
),
pop AS (
    SELECT l.id AS learner_id, l.unit_id, l.audience
    FROM learners l
    WHERE l.active AND l.role = 'learner'
      AND l.audience IN (SELECT audience FROM plan WHERE required = 1)
      {pop_filter}
),
best AS (
    SELECT r.learner_id, r.course_id,
           MAX(100.0 * r.score / r.max_score) AS best_pct,
           MIN(CASE WHEN 100.0 * r.score / r.max_score >= :pass_mark - 1e-9 THEN r.submitted_at END)
               AS passed_at,
           MAX(CASE WHEN r.submitted_at < :end_at THEN 1 ELSE 0 END) AS in_period
    FROM results r JOIN pop ON pop.learner_id = r.learner_id
    WHERE r.submitted_at >= :start_at AND r.max_score > 0
      AND r.course_id IN (SELECT course_id FROM plan)
    GROUP BY r.learner_id, r.course_id
),
course_rows AS (
    SELECT pop.learner_id, pop.unit_id, plan.course_id, plan.required, plan.hours,
           best.best_pct, best.passed_at, best.in_period
    FROM pop
    JOIN plan ON plan.audience = pop.audience
    LEFT JOIN best ON best.learner_id = pop.learner_id AND best.course_id = plan.course_id
)
"""

# One row per learner in scope with everything the status rules need.
_LEARNER_ROWS = (
    _COURSE_ROWS
    + """,
per_learner AS (
    SELECT learner_id, unit_id,
           SUM(required) AS n_required,
           SUM(CASE WHEN required = 1 AND passed_at IS NOT NULL THEN 1 ELSE 0 END) AS n_passed,
           SUM(CASE WHEN required = 1 AND best_pct IS NOT NULL THEN 1 ELSE 0 END) AS n_tested,
           SUM(CASE WHEN required = 1 AND best_pct IS NOT NULL AND passed_at IS NULL
                    THEN 1 ELSE 0 END) AS n_failed,
           SUM(CASE WHEN required = 1 THEN best_pct END) AS sum_pct,
           MAX(CASE WHEN required = 1 THEN passed_at END) AS last_passed_at,
           SUM(CASE WHEN passed_at IS NOT NULL THEN hours ELSE 0 END) AS hours,
           MAX(COALESCE(in_period, 0)) AS submitted_in_period{missing}
    FROM course_rows
    GROUP BY learner_id, unit_id
),
-- MATERIALIZED: the events look-up runs once per learner, however often the status is used
learner_flags AS MATERIALIZED (
    SELECT p.*,
           CASE WHEN p.n_passed = p.n_required THEN p.last_passed_at END AS completed_at,
           CASE WHEN p.n_passed = p.n_required THEN 1
                WHEN p.submitted_in_period = 1 THEN 1
                WHEN EXISTS (SELECT 1 FROM learning_events e
                             WHERE e.learner_id = p.learner_id
                               AND e.created_at >= :start_at AND e.created_at < :end_at) THEN 1
                ELSE 0 END AS participating
    FROM per_learner p
),
learner_rows AS (
    SELECT f.*,
           CASE WHEN f.completed_at IS NOT NULL AND f.completed_at >= :end_at THEN '{late}'
                WHEN f.completed_at IS NOT NULL THEN '{complete}'
                WHEN f.participating = 0 THEN '{not_started}'
                WHEN f.n_failed > 0 THEN '{failed}'
                ELSE '{in_progress}' END AS status
    FROM learner_flags f
)
"""
)

# The status of a learner (a ``learner_rows`` row aliased ``lr``).
STATUS_SQL = "lr.status"


_MISSING_AGG = {
    "sqlite": "group_concat(CASE WHEN required = 1 AND passed_at IS NULL THEN course_id END, '|')",
    "postgresql": "string_agg(CASE WHEN required = 1 AND passed_at IS NULL THEN course_id END, '|')",
}


def with_learner_rows(body: str, *, unit_ids: bool = False, missing_for: str | None = None):
    """A ``text()`` query: the completion CTEs followed by ``body`` (which selects from
    ``learner_rows`` / ``course_rows``). ``unit_ids`` limits the population to those units;
    ``missing_for`` (a dialect name) adds ``missing``: the required course ids not yet passed,
    '|'-separated."""
    pop_filter = "AND l.unit_id IN :unit_ids" if unit_ids else ""
    missing = f",\n           {_MISSING_AGG[missing_for]} AS missing" if missing_for else ""
    sql = "WITH " + _LEARNER_ROWS.format(
        pop_filter=pop_filter, missing=missing, late=LATE, complete=COMPLETE,
        not_started=NOT_STARTED, failed=FAILED, in_progress=IN_PROGRESS,
    ) + body
    params = [
        bindparam("campaign_id", type_=String),
        bindparam("pass_mark", type_=Float),
        bindparam("start_at", type_=DateTime),
        bindparam("end_at", type_=DateTime),
    ]
    if unit_ids:
        params.append(bindparam("unit_ids", expanding=True))
    return text(sql).bindparams(*params)


def with_course_rows(body: str):
    sql = "WITH " + _COURSE_ROWS.format(pop_filter="") + body
    return text(sql).bindparams(
        bindparam("campaign_id", type_=String),
        bindparam("pass_mark", type_=Float),
        bindparam("start_at", type_=DateTime),
        bindparam("end_at", type_=DateTime),
    )


def params(camp: CampaignInfo, **extra) -> dict:
    return {
        "campaign_id": camp.id,
        "pass_mark": camp.pass_mark,
        "start_at": camp.start_at,
        "end_at": camp.end_at,
        **extra,
    }


def as_datetime(value) -> datetime | None:
    """SQLite hands back aggregated timestamps as strings; PostgreSQL as datetimes."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, float):  # pandas' NaN for "not completed"
        return None
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class LearnerProgress:
    """Where one person stands in a campaign (for certificates and the learner's own page)."""

    username: str
    name: str
    unit_path: str
    audience: str
    status: str
    n_required: int
    n_passed: int
    hours: float
    completed_at: datetime | None
    passed_courses: list[str]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def audience_label(self) -> str:
        return AUDIENCE_LABELS[Audience(self.audience)]

    @property
    def complete(self) -> bool:
        return self.status in (COMPLETE, LATE)


def progress(url: str, campaign_id: str, usernames: list[str] | None = None) -> list[LearnerProgress]:
    """Progress of every person in scope (or of ``usernames``), ordered by unit path and name."""
    with get_engine(url).connect() as conn:
        camp = load_campaign(conn, campaign_id)
        q = with_learner_rows(
            f"""
            SELECT l.username, l.name, u.path AS unit_path, l.audience, {STATUS_SQL} AS status,
                   lr.n_required, lr.n_passed, lr.hours, lr.completed_at
            FROM learner_rows lr
            JOIN learners l ON l.id = lr.learner_id
            JOIN units u ON u.id = lr.unit_id
            ORDER BY u.path, l.name, l.username
            """
        )
        rows = conn.execute(q, params(camp)).all()
        passed = conn.execute(
            with_course_rows(
                """SELECT l.username, course_rows.course_id FROM course_rows
                   JOIN learners l ON l.id = course_rows.learner_id
                   WHERE course_rows.passed_at IS NOT NULL ORDER BY course_rows.course_id"""
            ),
            params(camp),
        ).all()
    by_user: dict[str, list[str]] = {}
    titles = camp.course_titles()
    for username, course_id in passed:
        by_user.setdefault(username, []).append(titles.get(course_id, course_id))
    wanted = set(usernames) if usernames is not None else None
    return [
        LearnerProgress(
            r.username,
            r.name,
            r.unit_path,
            r.audience.value if isinstance(r.audience, Audience) else str(r.audience),
            r.status,
            int(r.n_required),
            int(r.n_passed),
            float(r.hours or 0),
            as_datetime(r.completed_at),
            by_user.get(r.username, []),
        )
        for r in rows
        if wanted is None or r.username in wanted
    ]

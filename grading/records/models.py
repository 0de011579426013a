"""SQLAlchemy models of the records database.

Units form a tree (city → township/department → village/community). People come from the
administrators' roster; credentials are kept apart from the learner row so report queries
never touch password hashes. Completion is judged from results (passed assessments), never
from time on page (国办函〔2026〕12号): there is deliberately no duration column anywhere.
"""

from __future__ import annotations

import enum
from typing import Any
from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Audience(str, enum.Enum):
    """Who a learner is (身份). Values are stable codes; labels are what the roster says."""

    cadre = "cadre"
    young_cadre = "young_cadre"
    legal_staff = "legal_staff"
    volunteer = "volunteer"

    @property
    def label(self) -> str:
        return AUDIENCE_LABELS[self]


AUDIENCE_LABELS = {
    Audience.cadre: "干部",
    Audience.young_cadre: "年轻干部",
    Audience.legal_staff: "政法干警",
    Audience.volunteer: "法律明白人",
}


class Role(str, enum.Enum):
    """What a person may do on the platform (角色)."""

    learner = "learner"
    trainer = "trainer"
    admin = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {Role.learner: "学员", Role.trainer: "讲师", Role.admin: "管理员"}


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(255), unique=True)  # 海安市/城东镇/新城社区
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer)  # 0 city, 1 township/department, 2 village
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)

    parent: Mapped["Unit | None"] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Unit"]] = relationship(back_populates="parent")
    learners: Mapped[list["Learner"]] = relationship(back_populates="unit")


class Learner(Base):
    """A person on the roster (any role: learners, trainers and admins are all people)."""

    __tablename__ = "learners"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    audience: Mapped[Audience] = mapped_column(Enum(Audience, native_enum=False, length=20))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # issue 16: an administrator's 管理范围, the unit whose subtree they manage (None:
    # city-wide). No foreign key on purpose: a second FK to units would make ``unit`` ambiguous;
    # grading.records.scopes checks the id against the tree.
    admin_scope_unit_id: Mapped[int | None] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(String(120))  # roster 邮箱, for reminders
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(back_populates="learners")
    credential: Mapped["Credential | None"] = relationship(
        back_populates="learner", uselist=False, cascade="all, delete-orphan"
    )


class Credential(Base):
    """Password hash and lock-out state, checked by the hub's authenticator."""

    __tablename__ = "credentials"

    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # hash of the last 初始密码 the roster gave: re-importing the same sheet must not reset a
    # password the person has since changed; only a different 初始密码 is an admin's reset
    roster_password_hash: Mapped[str | None] = mapped_column(String(255))

    learner: Mapped[Learner] = relationship(back_populates="credential")


class Course(Base):
    """A published course (metadata copied from ``courses/<id>/course.yaml`` on publish)."""

    __tablename__ = "courses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    hours: Mapped[float] = mapped_column(Float, default=0)  # 学时 credited when passed
    pass_mark: Mapped[float] = mapped_column(Float, default=60)  # percent
    audiences: Mapped[list] = mapped_column(JSON, default=list)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)


class Assessment(Base):
    """A graded nbgrader assignment of a course."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("course_id", "assignment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(ForeignKey("courses.id"), index=True)
    assignment: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    max_score: Mapped[float] = mapped_column(Float, default=0)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)  # has essay questions
    policy: Mapped[str] = mapped_column(String(10), default="best")  # best | latest attempt
    due: Mapped[datetime | None] = mapped_column(DateTime)
    # resolved 考试规则 (attempts, cooldown_minutes, counts, opens, closes, show, key) stored by
    # publish; None means the defaults of grading.records.exams apply
    rules: Mapped[dict | None] = mapped_column(JSON)


class Campaign(Base):
    """A learning month (学习月): period, pass mark, required/elective courses per audience."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    pass_mark: Mapped[float] = mapped_column(Float, default=60)
    # the campaign YAML's ``exam:`` block: defaults for its courses (course values win)
    rules: Mapped[dict | None] = mapped_column(JSON)

    courses: Mapped[list["CampaignCourse"]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan"
    )


class CampaignCourse(Base):
    __tablename__ = "campaign_courses"
    __table_args__ = (UniqueConstraint("campaign_id", "course_id", "audience"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    course_id: Mapped[str] = mapped_column(ForeignKey("courses.id"))
    audience: Mapped[Audience] = mapped_column(Enum(Audience, native_enum=False, length=20))
    required: Mapped[bool] = mapped_column(Boolean, default=True)

    campaign: Mapped[Campaign] = relationship(back_populates="courses")


class LearningEvent(Base):
    """Evidence of learning (lesson opened, section read, practice answered) — never durations."""

    __tablename__ = "learning_events"
    __table_args__ = (
        UniqueConstraint("learner_id", "client_id"),
        Index("ix_events_course_time", "course_id", "created_at"),
        Index("ix_events_learner_course", "learner_id", "course_id"),
        # participation ("any event in the campaign period") is one seek per learner
        Index("ix_events_learner_time", "learner_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"))
    # Widgets make a uuid per event so a retried post is recorded once.
    client_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # lesson_opened | section_read | practice_answered
    course_id: Mapped[str | None] = mapped_column(String(64))
    lesson: Mapped[str | None] = mapped_column(String(128))
    item: Mapped[str | None] = mapped_column(String(128))
    correct: Mapped[bool | None] = mapped_column(Boolean)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class GradingJob(Base):
    """Durable queue of submissions to grade: one row per nbgrader submission timestamp."""

    __tablename__ = "grading_jobs"
    __table_args__ = (
        UniqueConstraint("course_id", "assignment", "username", "submitted_at"),
        Index("ix_jobs_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64))
    assignment: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    # queued -> running -> done | failed ; a running job whose worker died is re-queued
    state: Mapped[str] = mapped_column(String(16), default="queued")
    worker: Mapped[str | None] = mapped_column(String(64))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Result(Base):
    """One graded attempt of an assessment."""

    __tablename__ = "results"
    __table_args__ = (
        UniqueConstraint("learner_id", "course_id", "assignment", "attempt"),
        Index("ix_results_course", "course_id", "assignment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    course_id: Mapped[str] = mapped_column(String(64))
    assignment: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("grading_jobs.id"), unique=True)
    score: Mapped[float] = mapped_column(Float, default=0)
    max_score: Mapped[float] = mapped_column(Float, default=0)
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    # ok | needs_manual | bad_notebook | missing_notebook | timeout | too_large | error
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    message: Mapped[str | None] = mapped_column(Text)  # learner-readable (zh-CN)
    # per question, for the learner's feedback: id, correct, points, max_points,
    # explanation, legal_basis, answer (what they gave), key (shown after grading)
    details: Mapped[list] = mapped_column(JSON, default=list)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    graded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    items: Mapped[list["ItemResult"]] = relationship(
        back_populates="result", cascade="all, delete-orphan"
    )


class ItemResult(Base):
    """Per-question outcome of a result, for item analysis by question and statute."""

    __tablename__ = "item_results"
    __table_args__ = (
        Index("ix_items_question", "course_id", "question_id"),
        # item analysis reads a course's results, then their items from this index alone
        Index("ix_items_result_cover", "result_id", "question_id", "correct", "legal_basis"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"), index=True)
    course_id: Mapped[str] = mapped_column(String(64))
    question_id: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(255))
    points: Mapped[float] = mapped_column(Float, default=0)
    max_points: Mapped[float] = mapped_column(Float, default=0)
    correct: Mapped[bool] = mapped_column(Boolean, default=False)
    # what the learner chose (distractor analysis) and the paper slot the question sat in
    answer: Mapped[Any] = mapped_column(JSON, nullable=True)
    slot: Mapped[str | None] = mapped_column(String(16))

    result: Mapped[Result] = relationship(back_populates="items")


class Paper(Base):
    """A learner's drawn exam paper for one attempt.

    ``questions`` is a snapshot of the full bank questions (keys included, each with its slot)
    taken when drawn, so republishing the bank never changes a paper already handed out; it
    never leaves the server except as the public form."""

    __tablename__ = "papers"
    __table_args__ = (UniqueConstraint("learner_id", "course_id", "assignment", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    course_id: Mapped[str] = mapped_column(String(64))
    assignment: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    questions: Mapped[list] = mapped_column(JSON, default=list)
    bank_digest: Mapped[str] = mapped_column(String(128), default="")
    drawn_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """One administrative act (who, when, what, from where), append-only: the application only
    inserts and reads (:mod:`grading.records.audit`); the migration also makes the database
    refuse UPDATE and DELETE. ``detail`` never holds a password or a hash."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_target", "target"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)
    client: Mapped[str | None] = mapped_column(String(64))


# --- issue 16, administration content: 导学 notes and 通知公告 ----------------------


class CampaignGuidance(Base):
    """市领导导学: the short guidance note a campaign's leader gives learners (one per campaign,
    shown at the top of 我的学习). Kept apart from ``campaigns`` so a plan reload without a
    ``guidance:`` block is an explicit removal, not a schema concern of the plan rows."""

    __tablename__ = "campaign_guidance"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    leader: Mapped[str] = mapped_column(String(64))  # 姓名/职务
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class Notice(Base):
    """通知公告 posted by an administrator; withdrawn notices stay (who withdrew, when)."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_live", "withdrawn_at", "posted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # None: everyone; else an Audience code (the roster's 身份)
    audience: Mapped[str | None] = mapped_column(String(20))
    expires_on: Mapped[date | None] = mapped_column(Date)  # last day shown
    posted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    posted_by: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))


# --- issue 16, certificates and reminders -------------------------------------------


class IssuedCertificate(Base):
    """A 结业证书 issued to a learner for a campaign: its public number (unguessable, shown on
    the PDF and checked by the public verification page) and what it certifies, frozen at issue."""

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("learner_id", "campaign_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    name: Mapped[str] = mapped_column(String(64))  # as on the certificate, even if renamed later
    courses: Mapped[list] = mapped_column(JSON, default=list)  # course titles passed
    hours: Mapped[float] = mapped_column(Float, default=0)
    issued_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReminderSent(Base):
    """One reminder reached a person on a day (by email or in their unit's group message):
    at most one per person per day, enforced by the unique key."""

    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("learner_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    channels: Mapped[str] = mapped_column(String(40))  # "email", "webhook" or "email,webhook"
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_by: Mapped[str] = mapped_column(String(64))


# --- 述法评议 (issue 17): a campaign's review panel scores its leaders' 述法 reports ---------------
# grading.records.law_review is the only code that reads or writes these tables.


class LawReviewPanel(Base):
    """The ``review:`` block of a campaign plan: which course's report is reviewed, by whom
    (account names, in the plan's order) and on which rubric (``[{"item", "points"}]``)."""

    __tablename__ = "law_review_panels"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64))
    reviewers: Mapped[list] = mapped_column(JSON, default=list)
    rubric: Mapped[list] = mapped_column(JSON, default=list)
    opens: Mapped[datetime | None] = mapped_column(DateTime)  # UTC
    closes: Mapped[datetime | None] = mapped_column(DateTime)  # UTC


class LawReviewReport(Base):
    """The report text a panel scores, frozen when a reviewer first opens it: nbgrader keeps
    only a learner's latest submission, and every reviewer must score the same text."""

    __tablename__ = "law_review_reports"
    __table_args__ = (UniqueConstraint("campaign_id", "learner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)  # of the attempt it came from
    captured_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LawReview(Base):
    """One reviewer's score of one leader's report; final once written (see law_review)."""

    __tablename__ = "law_reviews"
    __table_args__ = (
        UniqueConstraint("campaign_id", "learner_id", "reviewer_id"),
        Index("ix_law_reviews_reviewer", "reviewer_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"))  # the leader reviewed
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("learners.id"))
    scores: Mapped[list] = mapped_column(JSON, default=list)  # per rubric item, in rubric order
    total: Mapped[float] = mapped_column(Float, default=0)
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

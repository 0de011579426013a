"""What a learner's 我的学习 page shows: the current campaign's modules for their audience.

Records-DB queries only (the page is rendered by the learner's own server,
``hub_config.home.server_ext``, which asks the records service; the service calls
:func:`my_learning` as the token's user). Status of a module follows the completion
rules in :mod:`grading.records.completion` — mastery, not time:

========  ================================================================
未开始    no learning event, no submission for the course
学习中    learning events (lesson opened, practice answered) but no graded attempt yet
已提交    a submission is waiting to be graded, or its essay awaits a trainer
已合格    the best attempt since the campaign started reaches the pass mark
未合格    graded attempts exist and none reaches the pass mark
========  ================================================================
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import func, select

from grading.records import certs, exams, law_review, notices
from grading.records.db import session_scope
from grading.records.models import (
    AUDIENCE_LABELS,
    Campaign,
    CampaignCourse,
    Course,
    GradingJob,
    Learner,
    LearningEvent,
    Result,
)

NOT_STARTED, STUDYING, SUBMITTED, PASSED, FAILED = "未开始", "学习中", "已提交", "已合格", "未合格"
ASSIGNMENT = "module"


def current_campaign(session, today: date) -> Campaign | None:
    """The campaign running today (the latest-starting one if several overlap), else the next
    one to start, else the one that ended last."""
    running = session.scalars(
        select(Campaign).where(Campaign.start <= today, Campaign.end >= today)
        .order_by(Campaign.start.desc(), Campaign.id)
    ).first()
    if running:
        return running
    upcoming = session.scalars(
        select(Campaign).where(Campaign.start > today).order_by(Campaign.start, Campaign.id)
    ).first()
    if upcoming:
        return upcoming
    return session.scalars(select(Campaign).order_by(Campaign.end.desc(), Campaign.id)).first()


def _days_left(camp: Campaign, today: date) -> int:
    if today > camp.end:
        return 0
    return (camp.end - max(today, camp.start)).days + 1


def my_learning(url: str, username: str, today: date | None = None) -> dict:
    """The 我的学习 data of ``username`` (JSON-ready)."""
    # the exam rules are judged at the moment asked, or at the end of the day asked about
    now = None if today is None else datetime.combine(today, time(23, 59, 59), tzinfo=exams.LOCAL_TZ)
    today = today or date.today()
    with session_scope(url) as s:
        learner = s.scalars(select(Learner).where(Learner.username == username)).first()
        if learner is None or not learner.active:
            return {"username": username, "learner": False, "campaign": None, "modules": [],
                    "message": "名册中没有您的学习档案，请联系管理员。",
                    "guidance": None, "notices": [], "certificate": None, "law_review": None}
        out = {
            "username": username,
            "learner": True,
            "name": learner.name,
            "audience": learner.audience.value,
            "audience_label": AUDIENCE_LABELS[learner.audience],
            "campaign": None,
            "modules": [],
            "required_total": 0,
            "required_passed": 0,
            "credited_hours": 0.0,
            "complete": False,
            # Optional 我的学习 blocks, rendered by hub_config.home.page when set and not at all
            # when None/[], each from the module that owns its data (notices, certs, law_review):
            #   guidance     {"leader", "title", "text"}            市领导导学 (top of the page)
            #   notices      [{"title", "body", "posted_at"}, ...]   通知公告
            #   certificate  {"number", "url"}                       下载结业证书 (when complete)
            #   law_review   {"status", "mean", "url"}               述法评议
            # (url values must be site paths starting with "/"; others are not linked)
            "guidance": None,
            "notices": [],
            "certificate": None,
            "law_review": None,
        }
        out["notices"] = [{"title": n["title"], "body": n["body"], "posted_at": _day(n["posted_at"])}
                          for n in notices.home_notices(s, learner, today)]
        out["law_review"] = law_review.home_review(s, username)
        camp = current_campaign(s, today)
        if camp is None:
            out["message"] = "目前没有进行中的学习活动。"
            return out
        out["guidance"] = notices.home_guidance(s, camp)
        out["campaign"] = {
            "id": camp.id, "name": camp.name, "start": camp.start.isoformat(),
            "end": camp.end.isoformat(), "deadline": camp.end.isoformat(),
            "pass_mark": camp.pass_mark, "days_left": _days_left(camp, today),
            "running": camp.start <= today <= camp.end,
        }
        plan = s.execute(
            select(CampaignCourse.course_id, CampaignCourse.required, Course)
            .join(Course, Course.id == CampaignCourse.course_id)
            .where(CampaignCourse.campaign_id == camp.id, CampaignCourse.audience == learner.audience)
        ).all()
        ids = [r.course_id for r in plan]
        start_at = datetime.combine(camp.start, time.min)
        results: dict[str, list[Result]] = {cid: [] for cid in ids}
        for r in s.scalars(
            select(Result).where(Result.learner_id == learner.id, Result.course_id.in_(ids),
                                 Result.assignment == ASSIGNMENT, Result.submitted_at >= start_at)
            .order_by(Result.submitted_at)
        ):
            results[r.course_id].append(r)
        events = dict(s.execute(
            select(LearningEvent.course_id, func.count()).where(
                LearningEvent.learner_id == learner.id, LearningEvent.course_id.in_(ids))
            .group_by(LearningEvent.course_id)
        ).all())
        pending = set(s.scalars(
            select(GradingJob.course_id).where(
                GradingJob.username == username, GradingJob.course_id.in_(ids),
                GradingJob.state.in_(("queued", "running")))
        ))
        modules = []
        for cid, required, course in plan:
            m = _module(course, bool(required), results[cid], events.get(cid, 0), cid in pending,
                        camp.pass_mark)
            # 考试规则: "已提交 1/3 次", the next possible try, the exam's deadline, what is shown
            m.update(exams.home_info(s, username, cid, ASSIGNMENT, now))
            modules.append(m)
        modules.sort(key=lambda m: (not m["required"], m["order"], m["course_id"]))
        out["modules"] = modules
        req = [m for m in modules if m["required"]]
        out["required_total"] = len(req)
        out["required_passed"] = sum(1 for m in req if m["status"] == PASSED)
        out["credited_hours"] = round(sum(m["hours"] for m in modules if m["status"] == PASSED), 2)
        out["complete"] = bool(req) and out["required_passed"] == len(req)
        if out["complete"]:  # certs re-checks with the completion rules before offering it
            cert = certs.home_certificate(s, username, camp.id)
            out["certificate"] = {"number": cert["number"], "url": cert["url"]} if cert else None
        return out


def _day(v) -> str:
    return v.strftime("%Y-%m-%d") if isinstance(v, (date, datetime)) else str(v or "")


def _module(course: Course, required: bool, results: list[Result], n_events: int, pending: bool,
            pass_mark: float) -> dict:
    meta = course.meta or {}

    def percent(r: Result) -> float:
        return 100.0 * r.score / r.max_score if r.max_score else 0.0

    # a submission the exam rules refused was never graded: it changes no status
    results = [r for r in results if r.outcome != "refused"]
    graded = [r for r in results if r.outcome != "needs_manual"]
    best = max(graded, key=percent, default=None)
    passed = best is not None and percent(best) >= pass_mark
    latest = results[-1] if results else None
    if passed:
        status = PASSED
    elif pending or (latest is not None and latest.outcome == "needs_manual"):
        status = SUBMITTED
    elif graded:
        status = FAILED
    elif n_events:
        status = STUDYING
    else:
        status = NOT_STARTED
    return {
        "course_id": course.id,
        "title": course.title,
        "summary": meta.get("summary", ""),
        "required": required,
        "hours": float(course.hours or 0),
        "order": int(meta.get("order", 100)),
        "lessons": [lesson.get("file") for lesson in meta.get("lessons", [])],
        "manual": bool((meta.get("assessment") or {}).get("manual")),
        "status": status,
        "score": round(percent(best), 1) if best else None,
        "points": best.score if best else None,
        "max_score": best.max_score if best else None,
        "attempts": len(results),
        "graded_at": latest.graded_at.isoformat() if latest and latest.graded_at else None,
        "feedback": bool(results),
    }


# --- issue 15: a course published from the authoring page joins the campaign as an elective ----

def add_elective(url: str, course_id: str, *, actor: str, client: str | None = None,
                 today: date | None = None) -> tuple[str, list[str]] | None:
    """Offer the published course ``course_id`` as an elective to each of its audiences in the
    current campaign (:func:`current_campaign`), unless that audience already has it (required or
    elective: an existing plan entry is never downgraded). Returns (campaign name, audience labels
    added), or None when there is no campaign. Audited as ``campaign_elective``."""
    from grading.records import audit
    from grading.records.models import Audience

    with session_scope(url) as s:
        course = s.get(Course, course_id)
        camp = current_campaign(s, today or date.today())
        if course is None or camp is None:
            return None
        have = {row.audience for row in s.scalars(select(CampaignCourse).where(
            CampaignCourse.campaign_id == camp.id, CampaignCourse.course_id == course_id))}
        added = []
        for code in course.audiences or []:
            try:
                aud = Audience(code)
            except ValueError:
                continue
            if aud in have:
                continue
            s.add(CampaignCourse(campaign_id=camp.id, course_id=course_id, audience=aud, required=False))
            added.append(AUDIENCE_LABELS[aud])
        if added:
            audit.add(s, actor=actor, action="campaign_elective", client=client, target=course_id,
                      detail={"campaign": camp.id, "course": course_id, "audience": "、".join(added)})
        return camp.name, added


def course_exists(url: str, course_id: str) -> bool:
    """Whether a course of that id was ever published (a new workspace course must not take it)."""
    with session_scope(url) as s:
        return s.get(Course, course_id) is not None

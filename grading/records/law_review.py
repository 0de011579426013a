"""述法评议 (issue 17): a campaign's panel scores its leaders' 述法 reports on a rubric.

A campaign plan's ``review:`` block (grading.content.courses.ReviewSpec) names the course whose
essay is the 述法 report, the reviewers (roster accounts) and the rubric; ``xuefa campaign load``
stores it with :func:`store_panel`, which refuses reviewers who are not active on the roster.

Who is reviewed: every active person whose audience has the course in the campaign's plan and
who has a counted attempt of it (outcome ``ok`` or ``needs_manual``, i.e. graded or waiting
for the trainer's essay grade) submitted since the campaign started. A reviewer never scores
their own report: their panel is the others.

The text the panel scores is the essay of the leader's latest submission as nbgrader holds it
(the autograded notebook, where the grader wrote it escaped), frozen in ``law_review_reports``
the first time a reviewer opens it, so every reviewer scores the same text even if the leader
hands in again later.

Rules of the panel:

- **Final once submitted.** A reviewer's scores and comment cannot be changed by anyone: after
  submitting, the reviewer sees the other reviewers' scores, so a later change would no longer
  be an independent judgement. (The act and its total are in the audit log.)
- **Blind until submitted.** A reviewer sees another reviewer's scores or comment for a leader
  only after submitting their own for that leader.
- **The leader sees the outcome when it is final**: when every panel member has submitted, or
  when the review window (``closes``) has ended with at least one review. Before that they see
  only how many reviewers have submitted. The leader sees the reviewers as 评议人1, 评议人2, ...
  (in the order they submitted), not by name: reviewers judge colleagues and superiors and
  write more candidly when comments are not attributable by the person judged; administrators
  find the names in the audit log.

Everything here is blocking SQL; the hub page calls it off the event loop.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grading.records import audit
from grading.records.db import session_scope
from grading.records.exams import ASSIGNMENT
from grading.records.models import (
    Campaign,
    CampaignCourse,
    LawReview,
    LawReviewPanel,
    LawReviewReport,
    Learner,
    Result,
    Unit,
    utcnow,
)

ACTION = "law_review"  # audit action of a submitted review
PAGE_URL = "/hub/xuefa/review"
MAX_COMMENT = 2000
MIN_COMMENT = 5
COUNTED = ("ok", "needs_manual")

STATUS_WAITING = "待评议"
STATUS_REVIEWING = "评议中"
STATUS_DONE = "已完成"

MSG_NOT_YOURS = "您不是这份述法报告的评议人。"
MSG_FINAL = "您已提交过对这份述法报告的评议，提交后不能修改。"
MSG_NOT_OPEN = "述法评议尚未开始。"
MSG_CLOSED = "述法评议已截止。"
MSG_NO_TEXT = "没有找到这份述法报告的正文（可能尚未评分完成），请稍后再试。"

# (course id, username) -> (report text, submitted_at) or None: how the caller reads an essay
ReportLoader = Callable[[str, str], "tuple[str, datetime | None] | None"]


# --- the panel (from the campaign plan) -----------------------------------------------------------

def _utc(v) -> datetime | None:
    if v is None or v == "":
        return None
    t = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def _now(now: datetime | None) -> datetime:
    return _utc(now) if now is not None else utcnow()


@contextmanager
def _scope(url_or_session: str | Session) -> Iterator[Session]:
    if isinstance(url_or_session, Session):
        yield url_or_session  # the caller's transaction: the caller commits
    else:
        with session_scope(url_or_session) as s:
            yield s


def store_panel(url_or_session: str | Session, campaign_id: str, review: dict | None, *,
                strict: bool = True) -> list[str]:
    """Store a campaign plan's ``review:`` block (``ReviewSpec.model_dump(mode="json")``, or
    None for a plan without one). Raises ValueError (zh-CN, naming the field) when a reviewer
    is not an active person on the roster, or when the plan would change the rubric of, or
    drop, a panel that has reviews already. Inside the caller's session it changes nothing
    on error (the caller's transaction rolls back).

    ``strict=False`` (a plan loaded into a platform with another roster, e.g. a test or load
    platform loading the shipped plan) keeps only the reviewers on the roster instead of
    refusing; returns the accounts left out."""
    with _scope(url_or_session) as s:
        panel = s.get(LawReviewPanel, campaign_id)
        has_reviews = s.scalar(select(LawReview.id).where(LawReview.campaign_id == campaign_id)
                               .limit(1)) is not None
        if review is None:
            if panel is not None:
                if has_reviews:
                    raise ValueError("review：本次学习活动已有述法评议记录，计划中不能删去 review 段")
                s.delete(panel)
            return []
        reviewers = [str(r) for r in review.get("reviewers") or []]
        found = {u: active for u, active in s.execute(
            select(Learner.username, Learner.active).where(Learner.username.in_(reviewers)))}
        missing = [u for u in reviewers if not found.get(u)]
        if missing and not strict:
            reviewers = [u for u in reviewers if u not in missing]
        elif missing:
            raise ValueError(f"review.reviewers：评议人账号 {'、'.join(missing)} 不在花名册中或已停用"
                             "（请先导入花名册，或改正账号）")
        rubric = [{"item": str(r["item"]), "points": float(r["points"])} for r in review.get("rubric") or []]
        if not rubric:
            raise ValueError("review.rubric：至少需要一项评分细则")
        if panel is not None and has_reviews and panel.rubric != rubric:
            raise ValueError("review.rubric：已有评议人按原评分细则提交了评议，不能再修改评分细则")
        if panel is None:
            panel = LawReviewPanel(campaign_id=campaign_id)
            s.add(panel)
        panel.course_id = str(review["course"])
        panel.reviewers = reviewers
        panel.rubric = rubric
        panel.opens = _utc(review.get("opens"))
        panel.closes = _utc(review.get("closes"))
    return missing


def _window(panel: LawReviewPanel, now: datetime) -> str:
    if panel.opens is not None and now < panel.opens:
        return "not_yet"
    if panel.closes is not None and now >= panel.closes:
        return "closed"
    return "open"


def _total_points(panel: LawReviewPanel) -> float:
    return float(sum(float(r["points"]) for r in panel.rubric))


# --- who is reviewed ------------------------------------------------------------------------------

def _leaders(s: Session, panel: LawReviewPanel, learner_id: int | None = None) -> list[Learner]:
    """The panel's leaders (or only ``learner_id``, if they are one: 我的学习 asks for one
    person on every load and must not list a city's leaders to find them)."""
    camp = s.get(Campaign, panel.campaign_id)
    audiences = select(CampaignCourse.audience).where(
        CampaignCourse.campaign_id == panel.campaign_id, CampaignCourse.course_id == panel.course_id)
    # a report belongs to the campaign it was handed in during: last year's panel must not grow
    # when this year's reports arrive, nor this year's count last year's
    start = datetime.combine(camp.start, datetime.min.time()) if camp is not None else datetime.min
    end = (datetime.combine(camp.end + timedelta(days=1), datetime.min.time())
           if camp is not None and camp.end is not None else datetime.max)
    submitted = select(Result.learner_id).where(
        Result.course_id == panel.course_id, Result.assignment == ASSIGNMENT,
        Result.outcome.in_(COUNTED), Result.submitted_at >= start, Result.submitted_at < end)
    q = select(Learner).where(Learner.active.is_(True), Learner.audience.in_(audiences),
                              Learner.id.in_(submitted))
    if learner_id is not None:
        q = q.where(Learner.id == learner_id)
    return list(s.scalars(q.order_by(Learner.username)))


def _panel_of(panel: LawReviewPanel, leader: str) -> list[str]:
    """The reviewers of ``leader``'s report (nobody reviews their own)."""
    return [r for r in panel.reviewers if r != leader]


def _reviews(s: Session, campaign_id: str, leader_id: int) -> list[tuple[LawReview, str, str]]:
    """(review, reviewer's username, reviewer's name), in the order submitted."""
    rows = s.execute(select(LawReview, Learner.username, Learner.name)
                     .join(Learner, Learner.id == LawReview.reviewer_id)
                     .where(LawReview.campaign_id == campaign_id, LawReview.learner_id == leader_id)
                     .order_by(LawReview.submitted_at, LawReview.id))
    return [(r, u, n) for r, u, n in rows]


@dataclass
class _State:
    panel: list[str]
    reviews: list[tuple[LawReview, str, str]]  # of panel members only

    @property
    def n_submitted(self) -> int:
        return len(self.reviews)

    @property
    def complete(self) -> bool:
        return bool(self.panel) and self.n_submitted >= len(self.panel)

    @property
    def mean(self) -> float | None:
        if not self.reviews:
            return None
        return round(sum(r.total for r, _, _ in self.reviews) / len(self.reviews), 1)


def _state(s: Session, panel: LawReviewPanel, leader: Learner) -> _State:
    members = _panel_of(panel, leader.username)
    reviews = [t for t in _reviews(s, panel.campaign_id, leader.id) if t[1] in members]
    return _State(members, reviews)


def _final(panel: LawReviewPanel, st: _State, now: datetime) -> bool:
    """Whether the outcome is final (and shown to the leader)."""
    return st.complete or (st.n_submitted > 0 and _window(panel, now) == "closed")


def _status(panel: LawReviewPanel, st: _State, now: datetime) -> str:
    if _final(panel, st, now):
        return STATUS_DONE
    return STATUS_REVIEWING if st.n_submitted else STATUS_WAITING


def _scored_items(panel: LawReviewPanel, review: LawReview) -> list[dict]:
    return [{"item": r["item"], "points": float(r["points"]),
             "score": float(review.scores[i]) if i < len(review.scores) else 0.0}
            for i, r in enumerate(panel.rubric)]


# --- the reviewer's side --------------------------------------------------------------------------

def _panels(s: Session) -> list[tuple[LawReviewPanel, Campaign]]:
    return list(s.execute(select(LawReviewPanel, Campaign)
                          .join(Campaign, Campaign.id == LawReviewPanel.campaign_id)
                          .order_by(Campaign.start.desc(), Campaign.id)).all())


def reviewer_queue(url: str, reviewer: str, now: datetime | None = None) -> list[dict]:
    """Every panel ``reviewer`` sits on, with its leaders and whether ``reviewer`` has scored
    each (no one else's scores here)."""
    now = _now(now)
    out = []
    with session_scope(url) as s:
        me = s.scalar(select(Learner).where(Learner.username == reviewer))
        if me is None or not me.active:
            return []
        for panel, camp in _panels(s):
            if reviewer not in panel.reviewers:
                continue
            mine = set(s.scalars(select(LawReview.learner_id).where(
                LawReview.campaign_id == panel.campaign_id, LawReview.reviewer_id == me.id)))
            leaders = []
            for leader in _leaders(s, panel):
                if leader.username == reviewer:
                    continue
                st = _state(s, panel, leader)
                leaders.append({"username": leader.username, "name": leader.name,
                                "unit_path": leader.unit.path, "done": leader.id in mine,
                                "n_submitted": st.n_submitted, "n_panel": len(st.panel)})
            out.append({"campaign_id": camp.id, "campaign_name": camp.name,
                        "course_id": panel.course_id, "window": _window(panel, now),
                        "opens": panel.opens, "closes": panel.closes,
                        "rubric": list(panel.rubric), "total_points": _total_points(panel),
                        "leaders": leaders,
                        "n_done": sum(1 for x in leaders if x["done"])})
    return out


def _reviewer_context(s: Session, campaign_id: str, reviewer: str, leader: str):
    """(panel, reviewer row, leader row) when ``reviewer`` sits on the panel that reviews
    ``leader``; PermissionError otherwise (the same for an unknown leader or campaign, so the
    page tells a non-member nothing about who is reviewed)."""
    panel = s.get(LawReviewPanel, campaign_id)
    if panel is None or reviewer not in panel.reviewers or reviewer == leader:
        raise PermissionError(MSG_NOT_YOURS)
    me = s.scalar(select(Learner).where(Learner.username == reviewer))
    if me is None or not me.active:
        raise PermissionError(MSG_NOT_YOURS)
    target = next((x for x in _leaders(s, panel) if x.username == leader), None)
    if target is None:
        raise PermissionError(MSG_NOT_YOURS)
    return panel, me, target


def _report(s: Session, panel: LawReviewPanel, leader: Learner) -> LawReviewReport | None:
    return s.scalar(select(LawReviewReport).where(LawReviewReport.campaign_id == panel.campaign_id,
                                                  LawReviewReport.learner_id == leader.id))


def _capture(url: str, campaign_id: str, reviewer: str, leader: str,
             loader: ReportLoader | None) -> None:
    """Freeze ``leader``'s report through ``loader`` unless it is frozen already (own
    transaction, so two reviewers opening it at once leave one text: the first)."""
    if loader is None:
        return
    try:
        with session_scope(url) as s:
            panel, _, target = _reviewer_context(s, campaign_id, reviewer, leader)
            if _report(s, panel, target) is not None:
                return
            got = loader(panel.course_id, target.username)
            if not got or not got[0].strip():
                return
            s.add(LawReviewReport(campaign_id=campaign_id, learner_id=target.id, text=got[0],
                                  submitted_at=_utc(got[1]), captured_at=utcnow()))
    except IntegrityError:
        pass


def review_detail(url: str, campaign_id: str, reviewer: str, leader: str,
                  loader: ReportLoader | None = None, now: datetime | None = None) -> dict:
    """What ``reviewer`` may see of ``leader``'s review: the report, the rubric, their own
    review; the other reviewers' scores and comments only once their own is in.
    PermissionError when ``reviewer`` is not on that leader's panel."""
    now = _now(now)
    # the permission check (in _capture and below) comes before any file is read
    _capture(url, campaign_id, reviewer, leader, loader)
    with session_scope(url) as s:
        panel, me, target = _reviewer_context(s, campaign_id, reviewer, leader)
        camp = s.get(Campaign, campaign_id)
        rep = _report(s, panel, target)
        st = _state(s, panel, target)
        mine = next((r for r, u, _ in st.reviews if u == reviewer), None)
        others = []
        if mine is not None:
            others = [{"reviewer": u, "name": n, "total": r.total, "comment": r.comment,
                       "items": _scored_items(panel, r), "submitted_at": r.submitted_at}
                      for r, u, n in st.reviews if u != reviewer]
        return {
            "campaign_id": campaign_id, "campaign_name": camp.name if camp else campaign_id,
            "leader": {"username": target.username, "name": target.name, "unit_path": target.unit.path},
            "report": rep.text if rep is not None else None,
            "report_submitted_at": rep.submitted_at if rep is not None else None,
            "rubric": list(panel.rubric), "total_points": _total_points(panel),
            "window": _window(panel, now),
            "mine": None if mine is None else {"total": mine.total, "comment": mine.comment,
                                               "items": _scored_items(panel, mine),
                                               "submitted_at": mine.submitted_at},
            "others": others,
            "n_submitted": st.n_submitted, "n_panel": len(st.panel),
            "mean": st.mean if mine is not None else None,
        }


def _parse_scores(panel: LawReviewPanel, scores: list) -> list[float]:
    if len(scores) != len(panel.rubric):
        raise ValueError("请为每一项评分细则打分。")
    out = []
    for i, (raw, r) in enumerate(zip(scores, panel.rubric), start=1):
        label = f"第{i}项“{r['item']}”"
        if raw is None or str(raw).strip() == "":
            raise ValueError(f"{label}还没有打分。")
        try:
            v = float(str(raw).strip())
        except ValueError:
            raise ValueError(f"{label}的得分应为数字。") from None
        mx = float(r["points"])
        if not math.isfinite(v) or v < 0 or v > mx:
            raise ValueError(f"{label}的得分应在 0 到 {mx:g} 分之间。")
        out.append(round(v, 2))
    return out


def submit_review(url: str, campaign_id: str, reviewer: str, leader: str, scores: list,
                  comment: str, *, client: str | None = None, loader: ReportLoader | None = None,
                  now: datetime | None = None) -> dict:
    """Record ``reviewer``'s scores (one per rubric item, in rubric order) and comment for
    ``leader``, with its audit row, in one transaction. Final: a second submission is refused.
    PermissionError when not on the panel; ValueError (zh-CN) for anything else refused."""
    now = _now(now)
    comment = (comment or "").replace("\r\n", "\n").strip()
    _capture(url, campaign_id, reviewer, leader, loader)
    with session_scope(url) as s:
        panel, me, target = _reviewer_context(s, campaign_id, reviewer, leader)
        window = _window(panel, now)
        if window != "open":
            raise ValueError(MSG_NOT_OPEN if window == "not_yet" else MSG_CLOSED)
        if s.scalar(select(LawReview.id).where(LawReview.campaign_id == campaign_id,
                                               LawReview.learner_id == target.id,
                                               LawReview.reviewer_id == me.id)) is not None:
            raise ValueError(MSG_FINAL)
        # a review is of the text every reviewer sees: never of a report nobody could read
        if _report(s, panel, target) is None:
            raise ValueError(MSG_NO_TEXT)
        values = _parse_scores(panel, list(scores))
        if len(comment) < MIN_COMMENT:
            raise ValueError(f"请填写评议意见（至少 {MIN_COMMENT} 个字）。")
        if len(comment) > MAX_COMMENT:
            raise ValueError(f"评议意见最多 {MAX_COMMENT} 个字。")
        total = round(sum(values), 2)
        s.add(LawReview(campaign_id=campaign_id, learner_id=target.id, reviewer_id=me.id,
                        scores=values, total=total, comment=comment, submitted_at=now))
        audit.add(s, actor=reviewer, action=ACTION, target=leader,
                  detail={"campaign": campaign_id, "review_total": total}, client=client)
        try:
            s.flush()
        except IntegrityError:  # the same reviewer in two tabs at once: the first one counts
            raise ValueError(MSG_FINAL) from None
    return {"total": total}


# --- the leader's side ----------------------------------------------------------------------------

def my_outcomes(url_or_session: str | Session, username: str,
                now: datetime | None = None) -> list[dict]:
    """``username``'s own reviews as a leader, newest campaign first: status, how many of the
    panel have submitted, and once final the mean and each review as 评议人N."""
    now = _now(now)
    out = []
    with _scope(url_or_session) as s:
        me = s.scalar(select(Learner).where(Learner.username == username))
        if me is None or not me.active:
            return []
        for panel, camp in _panels(s):
            if not _leaders(s, panel, learner_id=me.id):
                continue
            st = _state(s, panel, me)
            final = _final(panel, st, now)
            out.append({
                "campaign_id": camp.id, "campaign_name": camp.name, "course_id": panel.course_id,
                "status": _status(panel, st, now), "complete": st.complete,
                "n_submitted": st.n_submitted, "n_panel": len(st.panel),
                "total_points": _total_points(panel),
                "mean": st.mean if final else None,
                "reviews": [{"label": f"评议人{i}", "total": r.total, "comment": r.comment,
                             "items": _scored_items(panel, r)}
                            for i, (r, _, _) in enumerate(st.reviews, start=1)] if final else [],
            })
    return out


def home_review(url_or_session: str | Session, username: str,
                now: datetime | None = None) -> dict | None:
    """For 我的学习: the newest campaign's review of ``username`` as a leader, or None when
    nobody reviews them. ``mean`` only once the outcome is final."""
    found = my_outcomes(url_or_session, username, now)
    if not found:
        return None
    o = found[0]
    return {"status": o["status"], "mean": o["mean"], "url": PAGE_URL}


# --- dashboards -----------------------------------------------------------------------------------

def leader_rows(url_or_session: str | Session, campaign_id: str,
                now: datetime | None = None) -> list[dict]:
    """One row per leader under review in ``campaign_id`` (for the per-unit dashboard): unit,
    how many of their panel submitted, whether complete, the mean of the submitted totals."""
    now = _now(now)
    with _scope(url_or_session) as s:
        panel = s.get(LawReviewPanel, campaign_id)
        if panel is None:
            return []
        rows = []
        for leader in _leaders(s, panel):
            st = _state(s, panel, leader)
            rows.append({"username": leader.username, "name": leader.name,
                         "unit_id": leader.unit_id, "unit_path": s.get(Unit, leader.unit_id).path,
                         "n_panel": len(st.panel), "n_submitted": st.n_submitted,
                         "complete": st.complete, "final": _final(panel, st, now),
                         "mean": st.mean, "total_points": _total_points(panel)})
        return rows


# --- reading the report from the course root ------------------------------------------------------

def _unescape(source: str) -> str:
    """The inverse of grading.grader.rebuild.escape_text (HTML-escaped, Markdown-escaped, hard
    line breaks): the text as the leader typed it. The page escapes it again for HTML."""
    import html
    import re

    lines = source.split("  \n")
    return "\n".join(html.unescape(re.sub(r"\\(.)", r"\1", line)) for line in lines)


def essay_text(course_root: str | Path, username: str,
               assignment: str = ASSIGNMENT) -> tuple[str, datetime | None] | None:
    """The manually graded answers (essays) of ``username``'s submission as nbgrader holds it
    in ``course_root/autograded``, as plain text, with the time of that submission; None when
    there is none. Only the grader's own rebuilt notebook is read, never a learner's file."""
    import nbformat

    base = Path(course_root) / "autograded" / username / assignment
    if not base.is_dir() or base.is_symlink():
        return None
    parts = []
    for path in sorted(base.glob("*.ipynb")):
        if path.is_symlink() or not path.is_file():
            continue
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "markdown" and meta.get("solution") and meta.get("grade"):
                text = _unescape(cell.source).strip()
                if text:
                    parts.append(text)
    if not parts:
        return None
    submitted_at = None
    stamp = base / "timestamp.txt"
    if stamp.is_file() and not stamp.is_symlink():
        try:
            raw = stamp.read_text(encoding="utf-8").strip().removesuffix(" UTC")
            submitted_at = datetime.strptime(raw, "%Y-%m-%d %H:%M:%S.%f")
        except (OSError, ValueError):
            submitted_at = None
    return "\n\n".join(parts), submitted_at

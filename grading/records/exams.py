"""考试规则: attempts, cool-down, time window, which attempt counts, and what a learner may see.

Rules are resolved per assessment: the course's ``exam:`` block (stored by publish in
``assessments.rules``) wins over the campaign's ``exam:`` block (``campaigns.rules``, defaults
for the courses the campaign lists), which wins over :data:`DEFAULTS`.

Everything here is decided server-side from the records DB: the records service asks before it
hands out a paper or a result, the grading service before it scores a submission, so a learner's
kernel never decides how many attempts are left or whether the key may be shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from grading.records.db import session_scope
from grading.records.models import Assessment, Campaign, CampaignCourse, Learner, Result

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
ASSIGNMENT = "module"  # grading.records.learner_home.ASSIGNMENT

DEFAULTS: dict = {
    "attempts": 3,
    "cooldown_minutes": 0,
    "counts": "best",
    "opens": None,
    "closes": None,
    "show": "wrong",
    "key": "after",
}
# attempts that use up one of the learner's chances: a service failure ("error") or a
# submission refused by these rules ("refused") does not
COUNTED = ("ok", "needs_manual", "timeout", "bad_notebook", "missing_notebook")
POLICY = {"best": "best", "last": "latest"}
LEVELS = ("score", "wrong", "key")

# what the "wrong" view of an item keeps (no key, explanation or legal basis)
WRONG_FIELDS = ("id", "slot", "stem", "type", "correct", "points", "max_points", "answer")


# --- rules ------------------------------------------------------------------------------------

def _clean(rules: dict | None) -> dict:
    """Known keys with a value given (None for opens/closes is a value only in DEFAULTS)."""
    out = {}
    for k, v in (rules or {}).items():
        if k in DEFAULTS and v is not None:
            out[k] = v.isoformat() if isinstance(v, (datetime, date)) else v
    return out


def store_rules(url: str, course_id: str, rules: dict, assignment: str = ASSIGNMENT) -> None:
    """Publish stores the course's ``exam:`` block here (the Assessment row must exist, i.e.
    call it after the course is upserted). Pass only the values the course sets
    (``model_dump(exclude_unset=True)``) so the campaign's values stay the defaults for the
    rest; a full dict works too (then the course wins on every key)."""
    with session_scope(url) as s:
        a = s.scalar(select(Assessment).filter_by(course_id=course_id, assignment=assignment))
        if a is None:
            a = Assessment(course_id=course_id, assignment=assignment)
            s.add(a)
        a.rules = _clean(rules)
        # which attempt counts is read by results.effective_result through the policy
        a.policy = POLICY.get(resolve(s, course_id, assignment)["counts"], "best")


def store_campaign_rules(url: str, campaign_id: str, rules: dict | None) -> None:
    """``xuefa campaign load`` stores the campaign's ``exam:`` block (defaults for its courses)."""
    with session_scope(url) as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise KeyError(campaign_id)
        c.rules = _clean(rules)
        s.flush()
        course_ids = set(s.scalars(select(CampaignCourse.course_id)
                                   .where(CampaignCourse.campaign_id == campaign_id)))
        for a in s.scalars(select(Assessment).where(Assessment.course_id.in_(course_ids))):
            a.policy = POLICY.get(resolve(s, a.course_id, a.assignment)["counts"], "best")


def _today(now: datetime | None = None) -> date:
    return _aware(now or datetime.now(timezone.utc)).astimezone(LOCAL_TZ).date()


def _aware(t: datetime) -> datetime:
    """Naive datetimes in the records DB are UTC."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t


def parse_time(v) -> datetime | None:
    """An ``opens``/``closes`` value: ISO text or datetime, local (+08:00) when it has no zone."""
    if v is None or v == "":
        return None
    t = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    return t.replace(tzinfo=LOCAL_TZ) if t.tzinfo is None else t


def course_campaign(s: Session, course_id: str, today: date) -> Campaign | None:
    """The campaign that lists the course and runs today, else the next one, else the one that
    ended last (the same choice 我的学习 makes among all campaigns)."""
    # (no DISTINCT over the row: PostgreSQL has no equality for a JSON column)
    listed = select(CampaignCourse.campaign_id).where(CampaignCourse.course_id == course_id)
    camps = list(s.scalars(select(Campaign).where(Campaign.id.in_(listed))))
    running = [c for c in camps if c.start <= today <= c.end]
    if running:
        return max(running, key=lambda c: (c.start, c.id))
    upcoming = [c for c in camps if c.start > today]
    if upcoming:
        return min(upcoming, key=lambda c: (c.start, c.id))
    return max(camps, key=lambda c: (c.end, c.id), default=None)


_UNSET = object()


def resolve(s: Session, course_id: str, assignment: str = ASSIGNMENT,
            now: datetime | None = None, camp=_UNSET) -> dict:
    """The rules in force: assessment > campaign > defaults (``camp``: the course's campaign,
    when the caller already looked it up)."""
    if camp is _UNSET:
        camp = course_campaign(s, course_id, _today(now))
    a = s.scalar(select(Assessment).filter_by(course_id=course_id, assignment=assignment))
    rules = dict(DEFAULTS)
    rules.update(_clean(camp.rules if camp is not None else None))
    rules.update(_clean(a.rules if a is not None else None))
    try:
        rules["attempts"] = max(1, int(rules["attempts"]))
    except (TypeError, ValueError):
        rules["attempts"] = DEFAULTS["attempts"]
    try:
        rules["cooldown_minutes"] = max(0.0, float(rules["cooldown_minutes"]))
    except (TypeError, ValueError):
        rules["cooldown_minutes"] = 0.0
    if rules["counts"] not in POLICY:
        rules["counts"] = "best"
    if rules["show"] not in ("score", "wrong"):
        rules["show"] = "wrong"
    if rules["key"] not in ("after", "always", "never"):
        rules["key"] = "after"
    return rules


# --- attempts ---------------------------------------------------------------------------------

@dataclass
class AttemptState:
    used: int
    max: int
    next_at: datetime | None  # cool-down: no submission before this (aware, UTC)
    opens: datetime | None
    closes: datetime | None
    passed: bool
    exhausted: bool
    closed: bool
    not_open: bool
    cooling: bool
    campaign_ended: bool
    may_draw: bool
    reason: str | None  # exhausted | cooldown | not_open | closed
    reason_zh: str
    rules: dict

    def as_json(self) -> dict:
        d = asdict(self)
        for k in ("next_at", "opens", "closes"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        return d


def counted_results(s: Session, learner_id: int, course_id: str, assignment: str,
                    before: datetime | None = None) -> list[Result]:
    q = (select(Result).where(Result.learner_id == learner_id, Result.course_id == course_id,
                              Result.assignment == assignment, Result.outcome.in_(COUNTED))
         .order_by(Result.submitted_at, Result.attempt))
    if before is not None:
        q = q.where(Result.submitted_at < before.astimezone(timezone.utc).replace(tzinfo=None))
    return list(s.scalars(q))


def _fmt_local(t: datetime) -> str:
    return t.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def attempt_state(s: Session, username: str, course_id: str, assignment: str = ASSIGNMENT,
                  now: datetime | None = None) -> AttemptState:
    """Where ``username`` stands with the assessment at ``now`` (default: the present).
    ``now`` may be naive (UTC, as in the records DB) or aware."""
    now = _aware(now or datetime.now(timezone.utc))
    camp = course_campaign(s, course_id, _today(now))
    rules = resolve(s, course_id, assignment, now, camp)
    learner = s.scalar(select(Learner).filter_by(username=username))
    results = counted_results(s, learner.id, course_id, assignment, now) if learner else []
    used, mx = len(results), rules["attempts"]
    passed = any(r.passed for r in results)
    exhausted = used >= mx
    opens, closes = parse_time(rules["opens"]), parse_time(rules["closes"])
    closed = closes is not None and now > closes
    not_open = opens is not None and now < opens
    next_at = None
    if results and rules["cooldown_minutes"] > 0:
        t = _aware(results[-1].submitted_at) + timedelta(minutes=rules["cooldown_minutes"])
        next_at = t if t > now else None
    campaign_ended = camp is not None and camp.end < _today(now)
    reason, zh = None, ""
    if exhausted:
        reason, zh = "exhausted", f"您已用完全部 {mx} 次考试机会。"
    elif closed:
        reason, zh = "closed", f"本次考试已于 {_fmt_local(closes)} 截止。"
    elif not_open:
        reason, zh = "not_open", f"本次考试将于 {_fmt_local(opens)} 开始，请届时再来。"
    elif next_at is not None:
        reason, zh = "cooldown", f"两次提交之间需间隔 {rules['cooldown_minutes']:g} 分钟，请于 {_fmt_local(next_at)} 后再试。"
    return AttemptState(used=used, max=mx, next_at=next_at, opens=opens, closes=closes,
                        passed=passed, exhausted=exhausted, closed=closed, not_open=not_open,
                        cooling=next_at is not None, campaign_ended=campaign_ended,
                        may_draw=reason is None, reason=reason, reason_zh=zh, rules=rules)


def refusal(s: Session, username: str, course_id: str, assignment: str,
            submitted_at: datetime) -> str | None:
    """The zh-CN reason a submission made at ``submitted_at`` does not count, else None."""
    st = attempt_state(s, username, course_id, assignment, submitted_at)
    if st.reason is None:
        return None
    if st.reason == "exhausted":
        return f"您已用完全部 {st.max} 次考试机会，本次提交未计分。"
    if st.reason == "closed":
        return f"本次考试已于 {_fmt_local(st.closes)} 截止，本次提交未计分。"
    if st.reason == "not_open":
        return f"本次考试 {_fmt_local(st.opens)} 才开始，本次提交未计分。"
    return (f"两次提交之间需间隔 {st.rules['cooldown_minutes']:g} 分钟，本次提交未计分，"
            f"请于 {_fmt_local(st.next_at)} 后再提交。")


# --- reveal -----------------------------------------------------------------------------------

def level_for(state: AttemptState, passed_now: bool = False) -> str:
    rules = state.rules
    if rules["key"] == "always":
        return "key"
    if rules["key"] == "after" and (passed_now or state.passed or state.exhausted
                                    or state.campaign_ended or state.closed):
        return "key"
    return rules["show"]


def reveal_level(s: Session, username: str, course_id: str, assignment: str = ASSIGNMENT,
                 now: datetime | None = None) -> str:
    """"score" | "wrong" | "key": what ``username`` may see of graded attempts now."""
    return level_for(attempt_state(s, username, course_id, assignment, now))


def result_view(details: list | None, level: str) -> list[dict]:
    """The part of a Result's full per-question details that may leave the server."""
    if level == "key":
        return [dict(d) for d in details or [] if isinstance(d, dict)]
    if level == "wrong":
        return [{k: d[k] for k in WRONG_FIELDS if k in d} for d in details or [] if isinstance(d, dict)]
    return []


def home_info(s: Session, username: str, course_id: str, assignment: str = ASSIGNMENT,
              now: datetime | None = None) -> dict:
    """What 我的学习 shows of the rules: ``已提交 1/3 次`` and when the next try is possible."""
    st = attempt_state(s, username, course_id, assignment, now)
    return {
        "attempts_used": st.used,
        "attempts_max": st.max,
        "next_at": st.next_at.isoformat() if st.next_at else None,
        "closes": st.closes.isoformat() if st.closes else None,
        "opens": st.opens.isoformat() if st.opens else None,
        "reveal": level_for(st),
        "may_submit": st.may_draw,
        "reason": st.reason_zh or None,
    }


def rules_for(url: str, course_id: str, assignment: str = ASSIGNMENT) -> dict:
    with session_scope(url) as s:
        return resolve(s, course_id, assignment)


# --- what leaves the server -------------------------------------------------------------------

PRIVATE_FIELDS = ("key", "explanation", "partial")


def public_question(q: dict) -> dict:
    """A question without key, explanation or partial-credit rule (also in case sub-questions);
    the same as ``grading.content.bank.public`` (records imports nothing from content)."""
    out = {k: v for k, v in q.items() if k not in PRIVATE_FIELDS}
    if isinstance(out.get("questions"), list):
        out["questions"] = [public_question(sq) if isinstance(sq, dict) else sq for sq in out["questions"]]
    return out


def results_view(url: str, username: str, course_id: str, assignment: str = ASSIGNMENT,
                 now: datetime | None = None) -> dict:
    """The learner's attempts as the records service returns them: details cut to the reveal
    level in force now, plus where they stand with the attempt rules."""
    from grading.records.events import results_for

    rows = results_for(url, username, course_id, assignment)
    with session_scope(url) as s:
        st = attempt_state(s, username, course_id, assignment, now)
    level = level_for(st)
    for r in rows:
        r["details"] = result_view(r.get("details"), level)
        r["reveal"] = level
    return {"results": rows, "reveal": level, "attempts": st.as_json() | {"rules": None}}


def wrongbook(url: str, username: str, now: datetime | None = None) -> list[dict]:
    """``username``'s wrong answers across courses, latest first, one per (course, question):
    the full question (key and 解析) where the course's reveal level is ``key``, else the
    public form."""
    from grading.records.models import Course, ItemResult, Paper

    with session_scope(url) as s:
        learner = s.scalar(select(Learner).filter_by(username=username))
        if learner is None:
            return []
        rows = s.execute(
            select(ItemResult, Result)
            .join(Result, Result.id == ItemResult.result_id)
            .where(Result.learner_id == learner.id, ItemResult.correct.is_(False),
                   Result.outcome.in_(COUNTED))
            .order_by(Result.submitted_at.desc(), Result.id.desc(), ItemResult.id)).all()
        levels: dict[tuple[str, str], str] = {}
        snapshots: dict[str, dict[str, dict]] = {}  # course -> qid -> question (latest paper wins)
        titles: dict[str, str] = {}
        seen, out = set(), []
        for item, result in rows:
            cid, qid = item.course_id, item.question_id
            if (cid, qid) in seen:
                continue
            seen.add((cid, qid))
            lk = (cid, result.assignment)
            if lk not in levels:
                levels[lk] = reveal_level(s, username, cid, result.assignment, now)
            if cid not in snapshots:
                snapshots[cid] = {}
                for p in s.scalars(select(Paper).filter_by(learner_id=learner.id, course_id=cid)
                                   .order_by(Paper.attempt)):
                    for q in p.questions or []:
                        if isinstance(q, dict) and "id" in q:
                            snapshots[cid][str(q["id"])] = q
                c = s.get(Course, cid)
                titles[cid] = c.title if c is not None else cid
            q = snapshots[cid].get(qid)
            if q is None:  # a fixed paper (no bank): the graded item is all there is
                q = next((d for d in result.details or [] if isinstance(d, dict)
                          and str(d.get("id")) == qid), {"id": qid})
                q = {k: v for k, v in q.items() if k not in ("answer", "points", "correct", "notebook")}
            revealed = levels[lk] == "key"
            out.append({"course_id": cid, "course_title": titles[cid],
                        "question": dict(q) if revealed else public_question(q),
                        "answer": item.answer, "revealed": revealed})
        return out


def submission_refusal(url: str, username: str, course_id: str, assignment: str,
                       submitted_at: datetime) -> str | None:
    """:func:`refusal` for a queued submission. The time in an inbound folder's name is the
    learner's to choose, so the later of it and the moment the grading service queued the job
    is what the window and the cool-down are checked against."""
    from grading.records.models import GradingJob

    with session_scope(url) as s:
        queued = s.scalar(select(GradingJob.created_at).filter_by(
            course_id=course_id, assignment=assignment, username=username, submitted_at=submitted_at))
        when = _aware(submitted_at)
        if queued is not None:
            when = max(when, _aware(queued))
        return refusal(s, username, course_id, assignment, when)


def paper_check(url: str, username: str, course_id: str, assignment: str, token) -> tuple[list | None, str | None]:
    """(the paper's full questions, None) for a submission carrying ``token``, else (None,
    zh-CN reason): unknown or another learner's token, or a paper whose attempt was already
    used by a counted submission."""
    from grading.records.papers import by_token

    with session_scope(url) as s:
        paper = by_token(s, token, username=username, course_id=course_id) if token else None
        if paper is None or paper.assignment != assignment:
            return None, "试卷已失效或不是您本人的试卷，本次提交未计分。请重新打开测试，按新抽取的试卷作答后提交。"
        learner = s.scalar(select(Learner).filter_by(username=username))
        used = len(counted_results(s, learner.id, course_id, assignment))
        if paper.attempt <= used:
            return None, "试卷已失效（这份试卷已经提交并计分过），本次提交未计分。请重新打开测试，按新抽取的试卷作答后提交。"
        return list(paper.questions or []), None


def grading_level(url: str, username: str, course_id: str, assignment: str, now: datetime,
                  counted: bool, passed_now: bool) -> tuple[str, AttemptState]:
    """The reveal level right after this attempt is recorded (it counts as used when
    ``counted``; a pass now reveals under key: after)."""
    with session_scope(url) as s:
        st = attempt_state(s, username, course_id, assignment, now)
    if counted:
        st.used += 1
        st.exhausted = st.used >= st.max
    st.passed = st.passed or passed_now
    return level_for(st), st

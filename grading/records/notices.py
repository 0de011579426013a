"""通知公告 and 市领导导学 (issue 16): what administrators post for learners to read.

Announcements are our own small table rather than jupyterhub-announcement: that package is a
separate hub-managed service with its own JSON store, English UI strings and no notion of the
roster's 身份, while xuefa needs notices per audience, an expiry date, the audit log in the same
transaction and one place (the records DB) that both the hub home and 我的学习 read.

Every text is stored as typed and escaped where it is shown (Jinja autoescape on hub pages,
``textContent`` on the hub home, the learner page's own escaping). Every change writes its
audit row in the same transaction (:mod:`grading.records.audit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select

from grading.records import audit
from grading.records.db import session_scope
from grading.records.models import (
    AUDIENCE_LABELS,
    Audience,
    Campaign,
    CampaignCourse,
    CampaignGuidance,
    Course,
    Learner,
    Notice,
    utcnow,
)

TITLE_MAX = 100
BODY_MAX = 2000
GUIDANCE_TEXT_MAX = 2000
LEADER_MAX = 64


@dataclass(frozen=True)
class NoticeItem:
    id: int
    title: str
    body: str
    audience: str | None
    expires_on: date | None
    posted_at: datetime
    posted_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None

    @property
    def audience_label(self) -> str:
        return AUDIENCE_LABELS[Audience(self.audience)] if self.audience else "全体人员"

    def live(self, today: date) -> bool:
        return self.withdrawn_at is None and (self.expires_on is None or self.expires_on >= today)


def _item(n: Notice) -> NoticeItem:
    return NoticeItem(n.id, n.title, n.body, n.audience, n.expires_on, n.posted_at, n.posted_by,
                      n.withdrawn_at, n.withdrawn_by)


def _clean_text(value: str, limit: int, label: str) -> str:
    value = (value or "").replace("\r\n", "\n").strip()
    if not value:
        raise ValueError(f"{label}不能为空。")
    if len(value) > limit:
        raise ValueError(f"{label}不能超过 {limit} 个字。")
    return value


def parse_audience(value: str | None) -> str | None:
    """'' (everyone), an Audience code or its Chinese label; ValueError (zh-CN) otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    for aud, label in AUDIENCE_LABELS.items():
        if value in (aud.value, label):
            return aud.value
    raise ValueError(f"未知的对象“{value[:20]}”，应为：全体人员、{'、'.join(AUDIENCE_LABELS.values())}。")


def post_notice(url: str, *, title: str, body: str, audience: str | None = None,
                expires_on: date | None = None, actor: str, client: str | None = None,
                today: date | None = None) -> int:
    title = _clean_text(title, TITLE_MAX, "标题")
    body = _clean_text(body, BODY_MAX, "正文")
    audience = parse_audience(audience)
    if expires_on is not None and expires_on < (today or date.today()):
        raise ValueError("截止日期不能早于今天。")
    with session_scope(url) as s:
        n = Notice(title=title, body=body, audience=audience, expires_on=expires_on,
                   posted_at=utcnow(), posted_by=actor[:64])
        s.add(n)
        s.flush()
        audit.add(s, actor=actor, action="notice_post", client=client,
                  detail={"notice": n.id, "title": title, "audience": audience or "all",
                          **({"expires_on": expires_on.isoformat()} if expires_on else {})})
        return n.id


def withdraw_notice(url: str, notice_id: int, *, actor: str, client: str | None = None) -> bool:
    """False when there is no such notice or it was already withdrawn (nothing recorded)."""
    with session_scope(url) as s:
        n = s.get(Notice, notice_id)
        if n is None or n.withdrawn_at is not None:
            return False
        n.withdrawn_at, n.withdrawn_by = utcnow(), actor[:64]
        audit.add(s, actor=actor, action="notice_withdraw", client=client,
                  detail={"notice": n.id, "title": n.title})
        return True


def list_notices(url: str, limit: int = 100) -> list[NoticeItem]:
    """Newest first, withdrawn ones included (the administrators' page)."""
    with session_scope(url) as s:
        return [_item(n) for n in s.scalars(select(Notice).order_by(Notice.id.desc()).limit(limit))]


def home_notices(session, person_or_username, today: date) -> list[dict]:
    """Live notices for one person (their audience's and everyone's), newest first, as
    ``{"title", "body", "posted_at"}``; [] for an unknown or deactivated person."""
    person = person_or_username
    if isinstance(person, str):
        person = session.scalar(select(Learner).where(Learner.username == person))
    if person is None or not person.active:
        return []
    audience = person.audience.value if isinstance(person.audience, Audience) else str(person.audience)
    q = (select(Notice).where(Notice.withdrawn_at.is_(None),
                              or_(Notice.expires_on.is_(None), Notice.expires_on >= today),
                              or_(Notice.audience.is_(None), Notice.audience == audience))
         .order_by(Notice.posted_at.desc(), Notice.id.desc()).limit(20))
    return [{"title": n.title, "body": n.body, "posted_at": n.posted_at} for n in session.scalars(q)]


def notices_for(url: str, username: str, today: date | None = None) -> list[dict]:
    """:func:`home_notices` in a session of its own, ``posted_at`` as ``YYYY-MM-DD``."""
    with session_scope(url) as s:
        return [{**n, "posted_at": n["posted_at"].strftime("%Y-%m-%d")}
                for n in home_notices(s, username, today or date.today())]


# --- 市领导导学 ------------------------------------------------------------------------------


def clean_guidance(leader: str, title: str, text: str) -> dict | None:
    """The three fields checked (all empty: no note); ValueError (zh-CN) naming the field."""
    leader, title, text = (v.replace("\r\n", "\n").strip() for v in (leader or "", title or "", text or ""))
    if not (leader or title or text):
        return None
    return {"leader": _clean_text(leader, LEADER_MAX, "导学署名（姓名/职务）"),
            "title": _clean_text(title, TITLE_MAX, "导学标题"),
            "text": _clean_text(text, GUIDANCE_TEXT_MAX, "导学正文")}


def store_guidance(session, campaign_id: str, guidance: dict | None, *, actor: str | None) -> bool:
    """Set (or with None remove) a campaign's note in ``session``; True when it changed."""
    row = session.get(CampaignGuidance, campaign_id)
    if guidance is None:
        if row is None:
            return False
        session.delete(row)
        return True
    if row is not None and (row.leader, row.title, row.text) == (
            guidance["leader"], guidance["title"], guidance["text"]):
        return False
    if row is None:
        row = CampaignGuidance(campaign_id=campaign_id)
        session.add(row)
    row.leader, row.title, row.text = guidance["leader"], guidance["title"], guidance["text"]
    row.updated_at, row.updated_by = utcnow(), (actor or "")[:64] or None
    return True


def home_guidance(session, campaign) -> dict | None:
    """The campaign's 导学 as ``{"leader", "title", "text"}`` or None (``campaign``: a
    :class:`Campaign` or its id)."""
    cid = campaign if isinstance(campaign, str) else getattr(campaign, "id", None)
    if not cid:
        return None
    row = session.get(CampaignGuidance, cid)
    return {"leader": row.leader, "title": row.title, "text": row.text} if row else None


# --- what the 学习活动 page reads ---------------------------------------------------------------


def published_courses(url: str) -> list[dict]:
    with session_scope(url) as s:
        return [{"id": c.id, "title": c.title, "audiences": list(c.audiences or [])}
                for c in s.scalars(select(Course).order_by(Course.id))]


def campaigns_overview(url: str) -> list[dict]:
    """Every campaign, newest start first, with its plan and note, as the page edits them:
    ``{"id","name","start","end","pass_mark","plans": {audience: {"required","elective"}},
    "guidance", "rules"}``."""
    with session_scope(url) as s:
        out = []
        for c in s.scalars(select(Campaign).order_by(Campaign.start.desc(), Campaign.id)):
            plans: dict[str, dict[str, list[str]]] = {}
            for cc in s.scalars(select(CampaignCourse).where(CampaignCourse.campaign_id == c.id)
                                .order_by(CampaignCourse.id)):
                aud = cc.audience.value if isinstance(cc.audience, Audience) else str(cc.audience)
                plan = plans.setdefault(aud, {"required": [], "elective": []})
                plan["required" if cc.required else "elective"].append(cc.course_id)
            out.append({"id": c.id, "name": c.name, "start": c.start, "end": c.end,
                        "pass_mark": c.pass_mark, "plans": plans, "rules": c.rules,
                        "guidance": home_guidance(s, c.id)})
        return out

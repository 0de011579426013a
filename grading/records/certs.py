"""结业证书 numbers (issue 16): issue once, look up for the public verification page.

A number is ``XF-<year>-<seq>-<random>``: the year and a running count make it readable on the
phone ("XF-2026-00042-…"), the eight random base32 characters (40 bits from ``secrets``) make
it unguessable, so the public page cannot be walked through by counting. A learner has at most
one certificate per campaign (unique key): whoever asks first (the learner's download, an
administrator's archive, ``xuefa report certificates``) issues it, everybody later gets the
same number. What a certificate states (name, courses, hours, date) is frozen at issue.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grading.records import audit
from grading.records.db import session_scope
from grading.records.models import Campaign, IssuedCertificate, Learner

NUMBER_RE = re.compile(r"^XF-\d{4}-\d{5,9}-[A-Z2-7]{8}$")
VERIFY_PATH = "/hub/xuefa/verify/{number}"
DOWNLOAD_PATH = "/hub/xuefa/certificate?campaign={campaign}"


@dataclass(frozen=True)
class CertInfo:
    number: str
    username: str
    name: str
    campaign_id: str
    campaign: str
    courses: list[str]
    hours: float
    issued_on: date


def _info(c: IssuedCertificate, username: str, campaign: str) -> CertInfo:
    return CertInfo(c.number, username, c.name, c.campaign_id, campaign, list(c.courses or []),
                    float(c.hours or 0), c.issued_on)


def _new_number(s: Session, year: int) -> str:
    seq = (s.scalar(select(func.count()).select_from(IssuedCertificate)
                    .where(IssuedCertificate.number.like(f"XF-{year}-%"))) or 0) + 1
    rand = base64.b32encode(secrets.token_bytes(5)).decode("ascii")
    return f"XF-{year}-{seq:05d}-{rand}"


def _issue_in(s: Session, learner: Learner, campaign: Campaign, *, name: str, courses: list[str],
              hours: float, issued_on: date) -> tuple[IssuedCertificate, bool]:
    have = s.scalar(select(IssuedCertificate).where(IssuedCertificate.learner_id == learner.id,
                                                    IssuedCertificate.campaign_id == campaign.id))
    if have is not None:
        return have, False
    cert = IssuedCertificate(number=_new_number(s, issued_on.year), learner_id=learner.id,
                             campaign_id=campaign.id, name=name[:64], courses=list(courses),
                             hours=float(hours), issued_on=issued_on)
    s.add(cert)
    s.flush()
    return cert, True


def issue(url: str, progress, campaign_id: str, *, actor: str | None = None,
          client: str | None = None) -> CertInfo:
    """The certificate of one completed learner (``progress``: a
    :class:`grading.records.completion.LearnerProgress`), issued now if it was not before.
    A new issue is audited (``issue_certificate``) when ``actor`` is given."""
    return issue_many(url, [progress], campaign_id, actor=actor, client=client)[progress.username]


def issue_many(url: str, progresses, campaign_id: str, *, actor: str | None = None,
               client: str | None = None, audit_each: bool = True) -> dict[str, CertInfo]:
    """:func:`issue` for many learners in one transaction (the archive, the CLI). Raises
    ValueError for anyone who has not completed."""
    for p in progresses:
        if not p.complete:
            raise ValueError(f"{p.username} 尚未完成学习，不能颁发结业证书。")
    for attempt in range(3):
        try:
            with session_scope(url) as s:
                campaign = s.get(Campaign, campaign_id)
                if campaign is None:
                    raise ValueError(f"没有找到学习活动 {campaign_id}。")
                names = [p.username for p in progresses]
                people = {p.username: p for p in s.scalars(select(Learner).where(Learner.username.in_(names)))}
                out = {}
                for p in progresses:
                    issued_on = p.completed_at.date() if p.completed_at else date.today()
                    cert, new = _issue_in(s, people[p.username], campaign, name=p.name,
                                          courses=list(p.passed_courses), hours=p.hours,
                                          issued_on=issued_on)
                    if new and actor and audit_each:
                        audit.add(s, actor=actor, action="issue_certificate", target=p.username,
                                  detail={"number": cert.number, "campaign": campaign_id}, client=client)
                    out[p.username] = _info(cert, p.username, campaign.name)
                return out
        except IntegrityError:
            # another request issued the same learner's (or took the same sequence number)
            # meanwhile: read theirs on the next round
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def lookup(url: str, number: str) -> CertInfo | None:
    """The certificate with this number, or None (also for anything not shaped like one, which
    never reaches the database)."""
    number = (number or "").strip().upper()
    if not NUMBER_RE.match(number):
        return None
    with session_scope(url) as s:
        row = s.execute(select(IssuedCertificate, Learner.username, Campaign.name)
                        .join(Learner, Learner.id == IssuedCertificate.learner_id)
                        .join(Campaign, Campaign.id == IssuedCertificate.campaign_id)
                        .where(IssuedCertificate.number == number)).first()
        return _info(*row) if row is not None else None


def of_learner(url: str, username: str, campaign_id: str) -> CertInfo | None:
    with session_scope(url) as s:
        return _of_learner(s, username, campaign_id)


def _of_learner(s: Session, username: str, campaign_id: str) -> CertInfo | None:
    row = s.execute(select(IssuedCertificate, Learner.username, Campaign.name)
                    .join(Learner, Learner.id == IssuedCertificate.learner_id)
                    .join(Campaign, Campaign.id == IssuedCertificate.campaign_id)
                    .where(Learner.username == username,
                           IssuedCertificate.campaign_id == campaign_id)).first()
    return _info(*row) if row is not None else None


def home_certificate(session: Session, username: str, campaign: str) -> dict | None:
    """For 我的学习: ``{"number", "url", "verify_url"}`` when ``username`` has completed
    ``campaign`` (``number`` None until the first download issues it), else None. ``url`` is
    the learner's own download link (hub-absolute path)."""
    from urllib.parse import quote

    from grading.records import completion

    have = _of_learner(session, username, campaign)
    if have is None:
        url = session.get_bind().url.render_as_string(hide_password=False)
        try:
            mine = completion.progress(url, campaign, [username])
        except completion.CampaignNotFound:
            return None
        if not mine or not mine[0].complete:
            return None
    return {"number": have.number if have else None,
            "url": DOWNLOAD_PATH.format(campaign=quote(campaign, safe="")),
            "verify_url": VERIFY_PATH.format(number=have.number) if have else None}

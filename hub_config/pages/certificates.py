"""结业证书 pages (issue 16): the learner's own download, the public verification page and the
administrators' unit archive.

- ``/hub/xuefa/certificate`` (anyone logged in): their OWN certificates only; the account is
  always the logged-in one, whatever the URL says. The first download issues the number
  (:mod:`grading.records.certs`, audited with the learner as actor).
- ``/hub/xuefa/verify/<number>`` (no login): name, course set, campaign and date of a
  certificate and nothing else (no 账号, unit or score). Unknown and malformed numbers get the
  same "查无此证书" page, so the page tells nothing beyond whether that exact number exists; the
  numbers carry 40 random bits, and each client address gets :data:`VERIFY_PER_MINUTE` lookups a
  minute (429 after), so walking the space is hopeless.
- ``/hub/xuefa/certificates`` (administrators): one zip of every completed learner's
  certificate in a unit of their scope (unit administrators: their subtree; 403 outside it).

The QR code points at ``$XUEFA_PUBLIC_URL`` when set, else at the address the browser used.
"""

from __future__ import annotations

import functools
import re
import time
from collections import deque

from tornado import web
from tornado.escape import url_escape

from grading.records import audit, certs, completion, scopes
from grading.records.db import get_engine
from grading.reports import certificates as pdfs
from hub_config.pages.accounts import admin_and_scope
from hub_config.pages.base import XuefaPage, client_ip, off_loop

VERIFY_PER_MINUTE = 30
MSG_NOT_COMPLETE = "您尚未完成该学习活动的全部必修课程并通过考核，暂时不能下载结业证书。"
MSG_NO_CAMPAIGN = "没有找到该学习活动。"
CAMPAIGN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def public_base(handler: XuefaPage) -> str:
    import os

    env = os.environ.get(pdfs.PUBLIC_URL_ENV, "").rstrip("/")
    return env or f"{handler.request.protocol}://{handler.request.host}"


def campaign_list(url: str, limit: int = 20) -> list[tuple[str, str]]:
    with get_engine(url).connect() as conn:
        return [(cid, name) for cid, name, *_ in completion.campaign_rows(conn)[:limit]]


def _pdf_headers(handler, filename: str, ascii_name: str, kind: str = "application/pdf") -> None:
    handler.set_header("Content-Type", kind)
    handler.set_header("Content-Disposition", f"attachment; filename={ascii_name}; "
                       f"filename*=UTF-8''{url_escape(filename, plus=False)}")
    handler.set_header("X-Content-Type-Options", "nosniff")


class CertificateHandler(XuefaPage):
    """我的结业证书: the logged-in person's own certificates."""

    @web.authenticated
    async def get(self):
        user = self.current_user
        if getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403)
        campaign = self.get_argument("campaign", "", strip=True)
        if not campaign:
            return await self._list(user.name)
        if not CAMPAIGN_RE.match(campaign):
            raise web.HTTPError(404, MSG_NO_CAMPAIGN)
        try:
            got = await off_loop(functools.partial(
                pdfs.learner_pdf, self.db_url, user.name, campaign,
                public_url=public_base(self), client=client_ip(self)))
        except completion.CampaignNotFound:
            raise web.HTTPError(404, MSG_NO_CAMPAIGN) from None
        if got is None:
            raise web.HTTPError(403, MSG_NOT_COMPLETE)
        number, pdf = got
        self.log.info("%s downloaded certificate %s", user.name, number)
        _pdf_headers(self, f"结业证书-{number}.pdf", f"{number}.pdf")
        self.finish(pdf)

    async def _list(self, username: str):
        def mine():
            out = []
            for cid, name in campaign_list(self.db_url, 5):
                have = certs.of_learner(self.db_url, username, cid)
                progress = completion.progress(self.db_url, cid, [username]) if have is None else []
                done = have is not None or bool(progress and progress[0].complete)
                out.append({"id": cid, "name": name, "done": done, "in_plan": have is not None or bool(progress),
                            "number": have.number if have else ""})
            return out

        self.finish(await self.render_template("xuefa_certificates.html", **self.page_ns(
            mode="learner", items=await off_loop(mine))))


_HITS: dict[str, deque] = {}


def _allowed(client: str, now: float | None = None) -> bool:
    """At most VERIFY_PER_MINUTE lookups per client address in any minute (hub memory)."""
    now = time.monotonic() if now is None else now
    hits = _HITS.setdefault(client, deque())
    while hits and hits[0] < now - 60:
        hits.popleft()
    if len(hits) >= VERIFY_PER_MINUTE:
        return False
    hits.append(now)
    if len(_HITS) > 10000:  # forget idle addresses so the table stays small
        for key in [k for k, v in _HITS.items() if not v or v[-1] < now - 60]:
            _HITS.pop(key, None)
    return True


class VerifyHandler(XuefaPage):
    """证书查验 (public, no login)."""

    def check_xsrf_cookie(self):  # GET only; nothing to protect
        return None

    async def get(self, number: str):
        if not _allowed(client_ip(self)):
            self.set_status(429)
            return self.finish(await self.render_template("xuefa_verify.html", **self.page_ns(
                cert=None, throttled=True)))
        cert = await off_loop(certs.lookup, self.db_url, number[:64])
        if cert is None:
            self.set_status(404)
        self.set_header("X-Robots-Tag", "noindex")
        self.finish(await self.render_template("xuefa_verify.html", **self.page_ns(
            cert=cert, throttled=False)))


class CertificatesArchiveHandler(XuefaPage):
    """结业证书 of a unit as one zip (administrators, within their scope)."""

    @web.authenticated
    async def get(self):
        admin, scope = await admin_and_scope(self)
        campaigns = await off_loop(campaign_list, self.db_url)
        units = await off_loop(scopes.units_in, self.db_url, scope)
        if self.get_argument("format", "") != "zip":
            return self.finish(await self.render_template("xuefa_certificates.html", **self.page_ns(
                mode="admin", campaigns=campaigns, units=units, scope_label=scope.label)))
        campaign = self.get_argument("campaign", "", strip=True)
        if campaign not in dict(campaigns):
            raise web.HTTPError(404, MSG_NO_CAMPAIGN)
        unit = self.get_argument("unit", "", strip=True)
        if unit:
            if not unit.isdigit() or not scope.covers(int(unit)):
                raise web.HTTPError(403, scopes.MSG_OUT_OF_SCOPE)
            unit_id = int(unit)
        else:
            unit_id = scope.unit_id
        unit_ids, label = await off_loop(self._subtree, unit_id, scope)
        count, data = await off_loop(functools.partial(
            pdfs.archive_bytes, self.db_url, campaign, unit_ids=unit_ids, public_url=public_base(self)))
        await off_loop(functools.partial(
            audit.record, self.db_url, actor=admin.name, action="download_certificates",
            detail={"campaign": campaign, "unit": label, "count": count}, client=client_ip(self)))
        self.log.info("%s downloaded %d certificates of %s (%s)", admin.name, count, label, campaign)
        _pdf_headers(self, f"结业证书-{campaign}-{label.replace('/', '-')}.zip",
                     f"certificates-{campaign}.zip", "application/zip")
        self.finish(data)

    def _subtree(self, unit_id, scope):
        from grading.records.db import session_scope

        if unit_id is None:
            return None, "全市"
        with session_scope(self.db_url) as s:
            sc = scopes.scope_in(s, unit_id)
        ids = sc.unit_ids if scope.city_wide else sc.unit_ids & scope.unit_ids
        return ids, sc.unit_path

"""通知公告 (issue 16): administrators post and withdraw notices; people read theirs.

``/hub/xuefa/notices`` is the administrators' page; ``/hub/xuefa/notices/current`` answers any
logged-in person with the live notices meant for them (JSON, read by the hub home's script,
which inserts them as text). Why our own rather than jupyterhub-announcement:
:mod:`grading.records.notices`.
"""

from __future__ import annotations

import functools
import json
from datetime import date

from tornado import web

from grading.records import notices
from grading.records.models import AUDIENCE_LABELS
from hub_config.pages.accounts import require_city_admin
from hub_config.pages.base import XuefaPage, client_ip, off_loop

AUDIENCES = [("", "全体人员")] + [(a.value, label) for a, label in AUDIENCE_LABELS.items()]


class NoticesHandler(XuefaPage):
    """通知公告 (administrators): list, post (title, body, audience, expiry), withdraw."""

    @web.authenticated
    async def get(self):
        await require_city_admin(self)
        await self._render()

    async def _render(self, *, error: str | None = None, message: str | None = None, form=None):
        items = await off_loop(notices.list_notices, self.db_url)
        self.finish(await self.render_template("xuefa_notices.html", **self.page_ns(
            notices=items, error=error, message=message, audiences=AUDIENCES, today=date.today(),
            form=form or {"title": "", "body": "", "audience": "", "expires_on": ""})))

    @web.authenticated
    async def post(self):
        admin = await require_city_admin(self)
        action = self.get_body_argument("action", "")
        client = client_ip(self)
        if action == "withdraw":
            try:
                notice_id = int(self.get_body_argument("notice", ""))
            except ValueError:
                notice_id = 0
            done = await off_loop(functools.partial(notices.withdraw_notice, self.db_url, notice_id,
                                                    actor=admin.name, client=client))
            if not done:
                self.set_status(400)
                return await self._render(error="该通知不存在或已撤回。")
            return await self._render(message="通知已撤回。")
        if action != "post":
            self.set_status(400)
            return await self._render(error="请求无效：操作未知。")
        form = {"title": self.get_body_argument("title", "", strip=True)[:500],
                "body": self.get_body_argument("body", "", strip=True)[:5000],
                "audience": self.get_body_argument("audience", "", strip=True)[:20],
                "expires_on": self.get_body_argument("expires_on", "", strip=True)[:20]}
        try:
            expires = date.fromisoformat(form["expires_on"]) if form["expires_on"] else None
        except ValueError:
            self.set_status(400)
            return await self._render(error="截止日期格式不对，应为例如 2026-12-31。", form=form)
        try:
            await off_loop(functools.partial(
                notices.post_notice, self.db_url, title=form["title"], body=form["body"],
                audience=form["audience"] or None, expires_on=expires, actor=admin.name, client=client))
        except ValueError as e:
            self.set_status(400)
            return await self._render(error=str(e), form=form)
        self.log.info("Notice posted by %s from %s", admin.name, client)
        await self._render(message="通知已发布。")


class CurrentNoticesHandler(XuefaPage):
    """The logged-in person's live notices as JSON (their own audience's and everyone's)."""

    @web.authenticated
    async def get(self):
        user = self.current_user
        items = [] if getattr(user, "kind", "user") != "user" else await off_loop(
            notices.notices_for, self.db_url, user.name)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(json.dumps({"notices": items}, ensure_ascii=False))

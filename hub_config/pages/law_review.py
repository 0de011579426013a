"""述法评议 (issue 17): ``/hub/xuefa/review``, one page for both sides of a review.

Reviewers see the leaders their panels review, open a report (the leader's text, escaped) and
score it on the rubric with a comment; a leader sees their own outcome once it is final. Who
may see what is decided in grading.records.law_review, here only asked for the logged-in
person: the page never takes a reviewer's or a leader's name from the request except as the
leader to open, and anyone not on that leader's panel gets 403 whatever they ask for.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

from tornado import web

from grading.host.datadir import DataDir
from grading.records import law_review
from hub_config.pages.base import XuefaPage, client_ip, off_loop

LOCAL_TZ = timezone(timedelta(hours=8))
WINDOW_LABELS = {"open": "评议中", "not_yet": "尚未开始", "closed": "已截止"}


def local_time(t: datetime | None) -> str:
    """A records-DB time (naive UTC) as the city's clock."""
    if t is None:
        return ""
    return t.replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


class ReviewHandler(XuefaPage):
    """评议: the reviewer's list and review form, the leader's outcome."""

    def _person(self):
        user = self.current_user
        if getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403, law_review.MSG_NOT_YOURS)
        return user

    def _loader(self):
        """Reads a leader's report from the course root (the hub runs as root, like the
        grading service that wrote it)."""
        datadir = DataDir.from_env(getattr(self.authenticator, "data_dir", None) or None)
        return lambda course_id, username: law_review.essay_text(datadir.course_root(course_id), username)

    @web.authenticated
    async def get(self):
        user = self._person()
        campaign = self.get_argument("campaign", "", strip=True)[:64]
        leader = self.get_argument("leader", "", strip=True)[:64]
        if campaign or leader:
            return await self._detail(user.name, campaign, leader)
        queue = await off_loop(law_review.reviewer_queue, self.db_url, user.name)
        outcomes = await off_loop(law_review.my_outcomes, self.db_url, user.name)
        self.finish(await self.render_template("xuefa_review.html", **self.page_ns(
            view="list", queue=queue, outcomes=outcomes, windows=WINDOW_LABELS,
            local_time=local_time)))

    async def _detail(self, reviewer: str, campaign: str, leader: str, *, message: str | None = None,
                      error: str | None = None, form: dict | None = None):
        try:
            detail = await off_loop(functools.partial(
                law_review.review_detail, self.db_url, campaign, reviewer, leader, self._loader()))
        except PermissionError:
            raise web.HTTPError(403, law_review.MSG_NOT_YOURS) from None
        self.finish(await self.render_template("xuefa_review.html", **self.page_ns(
            view="detail", d=detail, message=message, error=error, form=form or {},
            windows=WINDOW_LABELS, local_time=local_time)))

    @web.authenticated
    async def post(self):
        user = self._person()
        campaign = self.get_body_argument("campaign", "", strip=True)[:64]
        leader = self.get_body_argument("leader", "", strip=True)[:64]
        scores = [v[:20] for v in self.get_body_arguments("score", strip=True)][:50]
        comment = self.get_body_argument("comment", "", strip=False)[:law_review.MAX_COMMENT * 2]
        client = client_ip(self)
        try:
            result = await off_loop(functools.partial(
                law_review.submit_review, self.db_url, campaign, user.name, leader, scores, comment,
                client=client, loader=self._loader()))
        except PermissionError:
            raise web.HTTPError(403, law_review.MSG_NOT_YOURS) from None
        except ValueError as e:
            self.set_status(400)
            return await self._detail(user.name, campaign, leader, error=str(e),
                                      form={"scores": scores, "comment": comment})
        self.log.info("Law review: %s scored %s in %s (total %s) from %s", user.name, leader,
                      campaign, result["total"], client)
        await self._detail(user.name, campaign, leader,
                           message=f"评议已提交（总分 {result['total']:g}）。提交后不能修改。")

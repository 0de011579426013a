"""学习活动 (issue 16): list, create and edit learning months, with their 市领导导学 note.

The form becomes the same dict a ``courses/campaigns/<id>.yaml`` holds and goes through the
same :class:`grading.content.courses.CampaignSpec` validation and the same
:func:`grading.content.publish.store_campaign` as ``xuefa campaign load`` (courses published and
meant for the audience; audit row in the same transaction). What the form does not show is
kept: the campaign's ``exam:`` defaults are passed through unchanged, course hours untouched.
"""

from __future__ import annotations

import functools

from pydantic import ValidationError
from tornado import web

from grading.content.courses import CampaignSpec, _validation_problems
from grading.content.publish import PublishError, store_campaign
from grading.records import notices
from grading.records.models import AUDIENCE_LABELS
from hub_config.pages.accounts import require_city_admin
from hub_config.pages.base import XuefaPage, client_ip, off_loop

# CampaignSpec fields as the form names them (errors name the field in Chinese)
FIELD_LABELS = {
    "id": "活动编号", "name": "活动名称", "start": "开始日期", "end": "结束日期",
    "pass_mark": "合格线", "plans": "课程安排", "exam": "考试规则", "guidance": "市领导导学",
    "guidance.leader": "导学署名（姓名/职务）", "guidance.title": "导学标题", "guidance.text": "导学正文",
}
AUDIENCES = [(a.value, label) for a, label in AUDIENCE_LABELS.items()]


def field_label(loc: str) -> str:
    if loc in FIELD_LABELS:
        return FIELD_LABELS[loc]
    head = loc.split(".")[0]
    if head == "plans":
        return "课程安排"
    return FIELD_LABELS.get(head, "学习活动")


class CampaignsHandler(XuefaPage):
    """学习活动: ``GET ?edit=<id>`` opens a campaign in the form (``?edit=`` alone: a new one)."""

    @web.authenticated
    async def get(self):
        await require_city_admin(self)
        edit = self.get_argument("edit", None)
        campaigns = await off_loop(notices.campaigns_overview, self.db_url)
        form = None
        if edit is not None:
            form = next((self._form_of(c) for c in campaigns if c["id"] == edit), None) or self._blank()
        await self._render(campaigns=campaigns, form=form)

    @staticmethod
    def _blank() -> dict:
        return {"id": "", "name": "", "start": "", "end": "", "pass_mark": "60", "plan": {},
                "leader": "", "title": "", "text": "", "existing": False}

    @staticmethod
    def _form_of(c: dict) -> dict:
        plan = {}
        for aud, p in c["plans"].items():
            for cid in p["required"]:
                plan[f"{aud}:{cid}"] = "required"
            for cid in p["elective"]:
                plan[f"{aud}:{cid}"] = "elective"
        g = c["guidance"] or {}
        return {"id": c["id"], "name": c["name"], "start": c["start"].isoformat(),
                "end": c["end"].isoformat(), "pass_mark": f"{c['pass_mark']:g}", "plan": plan,
                "leader": g.get("leader", ""), "title": g.get("title", ""), "text": g.get("text", ""),
                "existing": True}

    async def _render(self, *, campaigns=None, form=None, errors=None, message=None):
        if campaigns is None:
            campaigns = await off_loop(notices.campaigns_overview, self.db_url)
        courses = await off_loop(notices.published_courses, self.db_url)
        titles = {c["id"]: c["title"] for c in courses}
        self.finish(await self.render_template("xuefa_campaigns.html", **self.page_ns(
            campaigns=campaigns, form=form, errors=errors, message=message, courses=courses,
            titles=titles, audiences=AUDIENCES, audience_labels=dict(AUDIENCES))))

    @web.authenticated
    async def post(self):
        admin = await require_city_admin(self)
        arg = functools.partial(self.get_body_argument, strip=True)
        courses = await off_loop(notices.published_courses, self.db_url)
        form = {"id": arg("id", "")[:64], "name": arg("name", "")[:200], "start": arg("start", "")[:20],
                "end": arg("end", "")[:20], "pass_mark": arg("pass_mark", "")[:10], "plan": {},
                "leader": arg("leader", "")[:200], "title": arg("title", "")[:300],
                "text": self.get_body_argument("text", "", strip=True)[:5000], "existing": False}
        plans: dict[str, dict[str, list[str]]] = {}
        for aud, _label in AUDIENCES:
            for c in courses:
                kind = arg(f"plan-{aud}-{c['id']}", "")
                if kind in ("required", "elective"):
                    form["plan"][f"{aud}:{c['id']}"] = kind
                    plans.setdefault(aud, {"required": [], "elective": []})[kind].append(c["id"])
        data = {k: form[k] for k in ("id", "name", "start", "end", "pass_mark")}
        data["plans"] = plans
        if form["leader"] or form["title"] or form["text"]:
            data["guidance"] = {"leader": form["leader"], "title": form["title"], "text": form["text"]}
        campaigns = await off_loop(notices.campaigns_overview, self.db_url)
        old = next((c for c in campaigns if c["id"] == form["id"]), None)
        if old and old["rules"]:
            data["exam"] = old["rules"]  # not on the form: keep the plan file's exam: defaults
        errors = []
        if not plans:
            errors.append("课程安排：至少为一类学员安排一门课程")
        try:
            spec = CampaignSpec.model_validate(data)
        except ValidationError as e:
            errors += [f"{field_label(f)}：{m}" for f, m in _validation_problems(e)]
        if errors:
            self.set_status(400)
            return await self._render(campaigns=campaigns, form=form, errors=errors)
        try:
            await off_loop(functools.partial(store_campaign, self.db_url, spec, actor=admin.name,
                                             client=client_ip(self), source="网页", keep_review=True))
        except PublishError as e:
            self.set_status(400)
            msg = str(e).split(": ", 1)[-1]
            return await self._render(campaigns=campaigns, form=form, errors=[f"课程安排：{msg}"])
        self.log.info("Campaign %s saved by %s", spec.id, admin.name)
        await self._render(message=f"已保存学习活动“{spec.name}”（{spec.start} 至 {spec.end}）。")

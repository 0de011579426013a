"""发送提醒 (issue 16): the 未完成名单 of a campaign within the administrator's scope, and a
form that reminds them through the configured notifiers (email, group robot).

One implementation with ``xuefa remind``: :func:`grading.reports.notify.send_reminders` (at most
one reminder per person per day, one audit row per send). Settings are read at each send from
the environment and ``DATA/notify.toml``, so configuring the mail server needs no restart.
"""

from __future__ import annotations

import functools

from tornado import web

from grading.records import completion, scopes
from grading.reports import notify
from grading.reports import queries as reports
from hub_config.pages.accounts import admin_and_scope
from hub_config.pages.base import XuefaPage, client_ip, off_loop
from hub_config.pages.certificates import MSG_NO_CAMPAIGN, campaign_list, public_base

SHOWN = 300


class RemindersHandler(XuefaPage):

    async def _args(self, get):
        admin, scope = await admin_and_scope(self)
        campaigns = await off_loop(campaign_list, self.db_url)
        campaign = get("campaign", "", strip=True) or (campaigns[0][0] if campaigns else "")
        if campaigns and campaign not in dict(campaigns):
            raise web.HTTPError(404, MSG_NO_CAMPAIGN)
        unit = get("unit", "", strip=True)
        unit_id = None
        if unit:
            if not unit.isdigit() or not scope.covers(int(unit)):
                raise web.HTTPError(403, scopes.MSG_OUT_OF_SCOPE)
            unit_id = int(unit)
        return admin, scope, campaigns, campaign, unit_id

    async def _render(self, scope, campaigns, campaign, unit_id, *, result=None, error=None):
        lag = None
        if campaign:
            lag = await off_loop(functools.partial(reports.laggards, self.db_url, campaign, unit_id,
                                                   scope=scope.unit_id if not scope.city_wide else None))
        units = await off_loop(scopes.units_in, self.db_url, scope)
        settings_ok = await off_loop(self._channels)
        self.finish(await self.render_template("xuefa_reminders.html", **self.page_ns(
            campaigns=campaigns, campaign=campaign, units=units, unit_id=unit_id,
            scope_label=scope.label, people=lag.head(SHOWN).to_dict("records") if lag is not None else [],
            total=len(lag) if lag is not None else 0, shown=SHOWN, result=result, error=error,
            channels=settings_ok)))

    def _channels(self) -> list[str]:
        try:
            s = notify.load_settings(self.authenticator.data_dir)
        except (ValueError, OSError):
            return []
        return (["个人邮件"] if s.smtp_host else []) + (["单位群机器人"] if s.webhook else [])

    @web.authenticated
    async def get(self):
        _, scope, campaigns, campaign, unit_id = await self._args(self.get_argument)
        await self._render(scope, campaigns, campaign, unit_id)

    @web.authenticated
    async def post(self):
        admin, scope, campaigns, campaign, unit_id = await self._args(self.get_body_argument)
        if not campaign:
            raise web.HTTPError(404, MSG_NO_CAMPAIGN)
        dry_run = self.get_body_argument("dry_run", "") == "1"
        try:
            settings = await off_loop(notify.load_settings, self.authenticator.data_dir)
            result = await off_loop(functools.partial(
                notify.send_reminders, self.db_url, campaign, actor=admin.name, unit_id=unit_id,
                scope=None if scope.city_wide else scope.unit_id, dry_run=dry_run,
                client=client_ip(self), settings=settings, link=public_base(self) + self.base_url))
        except reports.OutOfScope:
            raise web.HTTPError(403, scopes.MSG_OUT_OF_SCOPE) from None
        except (ValueError, OSError, completion.CampaignNotFound) as exc:
            self.set_status(400)
            return await self._render(scope, campaigns, campaign, unit_id,
                                      error=f"提醒设置有误，未发送：{exc}")
        self.log.info("%s sent reminders for %s (unit %s, dry run %s): %d emails, %d groups, %d skipped",
                      admin.name, campaign, unit_id, dry_run, len(result.emailed),
                      len(result.group_messages), len(result.skipped_today))
        await self._render(scope, campaigns, campaign, unit_id, result=result)

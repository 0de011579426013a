"""Account pages (issue 16): 账号管理, 审计日志 and 修改密码.

The records DB changes go through grading.records.accounts, the same functions as
``xuefa account``; every act writes its audit row in the same transaction.

Unit administrators (an administrator with a 管理范围, :mod:`grading.records.scopes`) find and
act on the people of their subtree only, and on no administrator (a reset of a city-wide
administrator's password would hand them the city); 变更角色 and 管理范围 are city-wide
administrators' acts, as is the whole audit log (it names people of every unit). Refusals are
403, checked here on the server whatever the form offered.
"""

from __future__ import annotations

import asyncio
import functools

from jupyterhub import orm
from jupyterhub.utils import new_token
from tornado import web
from tornado.escape import url_escape

from grading.records import accounts, audit, people, scopes
from grading.records.models import ROLE_LABELS, Role
from hub_config.pages.base import MSG_MISMATCH, XuefaPage, client_ip, off_loop

MSG_CITY_ONLY = "只有全市管理员可以使用此功能。"


async def admin_and_scope(handler: XuefaPage):
    """(the administrator, their :class:`grading.records.scopes.Scope`); 403 for anyone else."""
    admin = await handler.require_admin()
    return admin, await off_loop(scopes.scope_of, handler.db_url, admin.name)


async def require_city_admin(handler: XuefaPage):
    """The administrator if city-wide (no 管理范围); 403 for unit administrators too. Pages
    that change everyone (roster, campaigns, notices, the audit log) should call this."""
    admin, scope = await admin_and_scope(handler)
    if not scope.city_wide:
        raise web.HTTPError(403, MSG_CITY_ONLY)
    return admin

ACTION_DONE = {
    "unlock": "已解锁 {name}（{username}）：登录失败计数和暂停已清除。",
    "deactivate": "已停用 {name}（{username}）：已退出登录，学习空间已关闭，不能再登录。",
    "reactivate": "已恢复 {name}（{username}）：可以重新登录。",
    "role": "已将 {name}（{username}）的角色改为{role}。",
    "scope": "已将 {name}（{username}）的管理范围改为{scope}。",
}


class AccountsHandler(XuefaPage):
    """账号管理: search people; reset password, unlock, deactivate/reactivate, change role."""

    @web.authenticated
    async def get(self):
        _, self.scope = await admin_and_scope(self)
        await self._render(query=self.get_argument("q", "", strip=True)[:64])

    async def _render(self, *, query: str, message: str | None = None, error: str | None = None,
                      new_password: str | None = None, subject: accounts.Account | None = None):
        scope = self.scope
        found = await off_loop(functools.partial(accounts.search, self.db_url, query, 100,
                                                 unit_ids=scope.unit_ids))
        units = await off_loop(scopes.units_in, self.db_url, scope) if scope.city_wide else []
        self.finish(await self.render_template(
            "xuefa_accounts.html", **self.page_ns(
                query=query, people=found, message=message, error=error,
                new_password=new_password, subject=subject,
                roles=[(r.value, ROLE_LABELS[r]) for r in Role],
                city_admin=scope.city_wide, scope_label=scope.label,
                scope_units=[path for _, path in units if "/" in path])))

    @web.authenticated
    async def post(self):
        admin, self.scope = await admin_and_scope(self)
        username = self.get_body_argument("username", "", strip=True)[:64]
        action = self.get_body_argument("action", "", strip=True)
        query = self.get_body_argument("q", "", strip=True)[:64]
        client = client_ip(self)
        person = await off_loop(accounts.get_account, self.db_url, username)
        if person is None or action not in accounts.ACTIONS + ("scope",):
            self.set_status(400)
            return await self._render(query=query, error="请求无效：账号不存在或操作未知。")
        if not self.scope.city_wide:
            # the same 403 whether the person exists elsewhere or is an administrator: a unit
            # administrator learns nothing about people outside their subtree
            if action in ("role", "scope") or person.role == Role.admin.value or not await off_loop(
                    scopes.covers_person, self.db_url, self.scope, username):
                raise web.HTTPError(403, scopes.MSG_OUT_OF_SCOPE)
        try:
            new_password = None
            if action == "reset":
                new_password = await off_loop(functools.partial(
                    accounts.reset_password, self.db_url, username, actor=admin.name, client=client))
                self.authenticator.throttle.forget(username)
                self._end_sessions(username, tokens=False)
            elif action == "unlock":
                await off_loop(functools.partial(
                    accounts.unlock, self.db_url, username, actor=admin.name, client=client))
                self.authenticator.throttle.forget(username)
            elif action in ("deactivate", "reactivate"):
                await off_loop(functools.partial(
                    accounts.set_active, self.db_url, username, action == "reactivate",
                    actor=admin.name, client=client))
                if action == "deactivate":
                    await self._stop_server(username)
                    self._end_sessions(username, tokens=True)
                self._sync_groups(username, await off_loop(accounts.hub_groups_of, self.db_url, username))
            elif action == "scope":
                await off_loop(functools.partial(
                    accounts.set_scope, self.db_url, username,
                    self.get_body_argument("scope", "", strip=True)[:255], actor=admin.name, client=client))
            else:
                await off_loop(functools.partial(
                    accounts.set_role, self.db_url, username,
                    self.get_body_argument("role", "", strip=True), actor=admin.name, client=client))
                self._sync_groups(username, await off_loop(accounts.hub_groups_of, self.db_url, username))
        except ValueError as e:
            self.set_status(400)
            return await self._render(query=query or username, error=str(e))
        person = await off_loop(accounts.get_account, self.db_url, username)
        self.log.info("Account %s: %s by %s from %s", username, action, admin.name, client)
        message = None if action == "reset" else ACTION_DONE[action].format(
            name=person.name, username=person.username, role=person.role_label,
            scope=person.admin_scope or "全市")
        await self._render(query=query or username, message=message, new_password=new_password,
                           subject=person)

    def _end_sessions(self, username: str, *, tokens: bool) -> None:
        """Log the person out of the hub: a new cookie id voids every hub login cookie they
        hold. With ``tokens`` (deactivation) their API and OAuth tokens go too, so their
        servers' and services' sessions end at once; a reset keeps them, since a running
        server's own token is among them."""
        orm_user = orm.User.find(self.db, username)
        if orm_user is None:
            return
        orm_user.cookie_id = new_token()
        if tokens:
            for token in list(orm_user.api_tokens):
                self.db.delete(token)
        self.db.commit()

    async def _stop_server(self, username: str) -> None:
        user = self.find_user(username)
        if user is None:
            return
        spawner = user.spawners.get("")
        if spawner is not None and (spawner.active or spawner.ready):
            try:
                await self.stop_single_user(user, "")
            except Exception:  # the records DB already says inactive; login is refused anyway
                self.log.exception("Could not stop the server of deactivated %s", username)

    def _sync_groups(self, username: str, want: set[str]) -> None:
        """This person's managed groups as the roster sync would leave them
        (hub_config.hubsync.sync_hub: active people only; hand-made groups untouched)."""
        orm_user = orm.User.find(self.db, username)
        if orm_user is None:
            if not want:
                return
            orm_user = self.user_from_username(username).orm_user
        for group in list(orm_user.groups):
            if group.name.startswith(people.MANAGED_PREFIXES) and group.name not in want:
                orm_user.groups.remove(group)
        have = {g.name for g in orm_user.groups}
        for name in sorted(want - have):
            group = orm.Group.find(self.db, name)
            if group is None:
                group = orm.Group(name=name)
                self.db.add(group)
            orm_user.groups.append(group)
        self.db.commit()


class AuditHandler(XuefaPage):
    """审计日志: the newest acts, filtered by person or action; ``?format=csv|xlsx`` exports
    the filtered log (every row, not just the page's)."""

    PAGE = 200

    @web.authenticated
    async def get(self):
        await require_city_admin(self)
        person = self.get_argument("person", "", strip=True)[:64]
        action = self.get_argument("action", "", strip=True)
        action = action if action in audit.ACTION_LABELS else ""
        fmt = self.get_argument("format", "")
        if fmt in ("csv", "xlsx"):
            items = await off_loop(functools.partial(audit.entries, self.db_url, person=person,
                                                     action=action, limit=None))
            data = await off_loop(audit.csv_bytes if fmt == "csv" else audit.xlsx_bytes, items)
            self.set_header("Content-Type", "text/csv; charset=utf-8" if fmt == "csv" else
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            self.set_header("Content-Disposition",
                            f"attachment; filename=audit.{fmt}; filename*=UTF-8''"
                            f"{url_escape('审计日志.' + fmt, plus=False)}")
            self.set_header("X-Content-Type-Options", "nosniff")
            self.finish(data)
            return
        items = await off_loop(functools.partial(audit.entries, self.db_url, person=person,
                                                 action=action, limit=self.PAGE))
        self.finish(await self.render_template("xuefa_audit.html", **self.page_ns(
            entries=items, person=person, action=action, actions=audit.ACTION_LABELS,
            page_size=self.PAGE)))


class PasswordHandler(XuefaPage):
    """修改密码: anyone logged in changes their OWN password (the old one is required; the
    account is always the logged-in one, whatever the form says)."""

    @web.authenticated
    async def get(self):
        self.finish(await self._page())

    async def _page(self, error: str | None = None, done: bool = False):
        return await self.render_template("xuefa_password.html", **self.page_ns(
            username=self.current_user.name, error=error, done=done))

    @web.authenticated
    async def post(self):
        user = self.current_user
        if getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403)
        old = self.get_body_argument("old_password", "", strip=False)
        new = self.get_body_argument("new_password", "", strip=False)
        confirm = self.get_body_argument("confirm_password", "", strip=False)
        client = client_ip(self)
        refusal, delay = self.authenticator.throttle.check(user.name, client)
        if refusal:
            self.set_status(429)
            return self.finish(await self._page(error=accounts.GENERIC_FAILURE))
        if delay:
            await asyncio.sleep(delay)
        if new != confirm:
            self.set_status(400)
            return self.finish(await self._page(error=MSG_MISMATCH))
        try:
            await off_loop(functools.partial(accounts.change_password, self.db_url, user.name,
                                             old, new, client=client))
        except ValueError as e:
            if str(e) == "原密码不正确。":
                # a stolen session must not become an unthrottled password oracle
                self.authenticator.throttle.failed(user.name, client)
            self.set_status(400)
            return self.finish(await self._page(error=str(e)))
        self.log.info("%s changed their password from %s", user.name, client)
        self.finish(await self._page(done=True))

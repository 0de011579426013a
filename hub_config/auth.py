"""Login for xuefa: roster accounts checked against the records DB.

:class:`XuefaAuthenticator` asks :func:`grading.records.accounts.verify_login` (argon2 hashes,
deactivated people always refused) and answers in Simplified Chinese. A first login with the
initial password from the roster must change it *before* the hub sets its login cookie:
:class:`XuefaLoginHandler` then renders a change-password form instead of logging in, and logs
in only after :func:`grading.records.accounts.change_password` accepted the new password. The
initial password never leaves the hub again: the form carries a one-time nonce that maps, in hub
memory, to the verified (username, old password) for 10 minutes.

Every refusal reads the same (:data:`grading.records.accounts.GENERIC_FAILURE`): unknown
account, wrong password, deactivated, paused by the throttle. Throttling (:class:`LoginThrottle`,
hub memory, reset by a hub restart) works on the client's address, so that nobody can lock
somebody else out:

* per address: ``ip_max_failures`` failed logins within ``ip_window`` seconds and that address
  is refused (HTTP 429, same text) until the window has passed, for every account;
* per (account, address): ``pair_max_failures`` consecutive failures pause that account *from
  that address* for ``pair_lock`` seconds; the owner logging in from their own device is not
  affected;
* per account, from anywhere: after ``account_free_failures`` failures within ``ip_window`` each
  further attempt waits a delay that doubles up to ``account_max_delay`` seconds, slowing a
  guesser spread over many addresses without ever locking the owner out.

The client's address is the last hop added by our own proxy (configurable-http-proxy appends the
peer to ``X-Forwarded-For``), skipping ``JupyterHub.trusted_downstream_ips`` (a TLS proxy in
front); ``X-Real-Ip``, which Tornado would believe from anyone, is ignored.

argon2 and the records-DB calls run in a small thread pool, never on the hub's event loop.

Groups (unit, audience, role) are not managed here: they come from the roster, loaded at hub
start-up (``hub_config.config``) and pushed to a running hub by ``xuefa roster import``.

Switching to a city single sign-on (OAuth2/OIDC)
-------------------------------------------------
The roster stays the source of people, units and roles; only the password check moves to the
city's identity provider. ``oauthenticator`` is a dependency already. In a file of the
operator's ``DATA/jupyterhub_config.d/`` (run after the packaged config, docs/configuration.md)::

    c.JupyterHub.authenticator_class = "generic-oauth"
    c.GenericOAuthenticator.client_id = "xuefa"
    c.GenericOAuthenticator.client_secret = "..."            # from the city IdP
    c.GenericOAuthenticator.oauth_callback_url = "https://xuefa.example.gov.cn/hub/oauth_callback"
    c.GenericOAuthenticator.authorize_url = "https://sso.example.gov.cn/oauth2/authorize"
    c.GenericOAuthenticator.token_url = "https://sso.example.gov.cn/oauth2/token"
    c.GenericOAuthenticator.userdata_url = "https://sso.example.gov.cn/oauth2/userinfo"
    c.GenericOAuthenticator.username_claim = "preferred_username"  # must equal the roster 账号
    c.GenericOAuthenticator.scope = ["openid", "profile"]
    # only people in the roster (active) may log in; groups still come from the roster
    from grading.records.people import active_usernames
    from grading.host.datadir import DataDir
    c.GenericOAuthenticator.allowed_users = active_usernames(DataDir.from_env().records_db_url)

Lock-out and forced password change are then the IdP's business. The roles, groups, spawner and
services in ``hub_config`` do not depend on the authenticator.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from jupyterhub import orm
from jupyterhub.auth import Authenticator
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.handlers.login import LoginHandler
from jupyterhub.utils import new_token
from tornado import web
from tornado.escape import url_escape
from traitlets import Float, Integer, Unicode, default

from grading.host.datadir import DataDir
from grading.records import accounts, audit, people
from grading.records.models import ROLE_LABELS, Role
from hub_config.roles import ADMIN_GROUP

MSG_BAD_LOGIN = accounts.GENERIC_FAILURE
MSG_CHANGE_EXPIRED = "修改密码页面已过期，请重新登录"
MSG_MISMATCH = "两次输入的新密码不一致"
MSG_MUST_CHANGE = "首次登录须先修改初始密码"


# argon2 (19 MiB, ~0.1 s) and SQLite calls: a few threads, so a burst of logins queues here
# instead of freezing every page, API call and proxy check the hub serves meanwhile
_LOGIN_POOL = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)),
                                 thread_name_prefix="xuefa-login")


async def off_loop(func, *args):
    return await asyncio.get_running_loop().run_in_executor(_LOGIN_POOL, func, *args)


@dataclass
class _PendingChange:
    username: str
    old_password: str
    expires: float


class LoginThrottle:
    """Failed logins per address, per (account, address) and per account, in hub memory.

    ``check`` says before a password is verified whether to refuse at once (``"ip"`` or
    ``"pair"``) and how long to wait first (the per-account delay); ``failed``/``succeeded``
    record the outcome. Unknown usernames are counted like real ones (no enumeration).
    Old entries are dropped as they expire, so a flood of made-up names or addresses cannot
    grow it without bound."""

    MAX_KEYS = 100_000

    def __init__(self, *, ip_max_failures: int = 30, ip_window: float = 600,
                 pair_max_failures: int = 5, pair_lock: float = 900,
                 account_free_failures: int = 5, account_max_delay: float = 4.0,
                 clock=time.monotonic):
        self.ip_max_failures, self.ip_window = ip_max_failures, ip_window
        self.pair_max_failures, self.pair_lock = pair_max_failures, pair_lock
        self.account_free_failures, self.account_max_delay = account_free_failures, account_max_delay
        self.clock = clock
        self._ip: dict[str, deque[float]] = {}
        self._account: dict[str, deque[float]] = {}
        # (account, address) -> [consecutive failures, paused until]
        self._pair: dict[tuple[str, str], list[float]] = {}

    def _recent(self, table: dict, key, now: float) -> deque[float]:
        stamps = table.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self.ip_window:
            stamps.popleft()
        if not stamps:
            del table[key]
        return stamps

    def _prune(self, now: float) -> None:
        if len(self._ip) + len(self._account) + len(self._pair) < self.MAX_KEYS:
            return
        for table in (self._ip, self._account):
            for key in list(table):
                self._recent(table, key, now)
        for key, (count, until) in list(self._pair.items()):
            if until <= now and count < self.pair_max_failures:
                del self._pair[key]

    def check(self, username: str, ip: str) -> tuple[str | None, float]:
        """(refusal, delay): refusal is ``"ip"``, ``"pair"`` or None; delay in seconds."""
        now = self.clock()
        if len(self._recent(self._ip, ip, now)) >= self.ip_max_failures:
            return "ip", 0.0
        pair = self._pair.get((username, ip))
        if pair and pair[1] > now:
            return "pair", 0.0
        n = len(self._recent(self._account, username, now))
        over = n - self.account_free_failures
        delay = 0.0 if over < 0 else min(self.account_max_delay, 0.5 * 2 ** over)
        return None, delay

    def failed(self, username: str, ip: str) -> None:
        now = self.clock()
        self._prune(now)
        self._ip.setdefault(ip, deque()).append(now)
        self._account.setdefault(username, deque()).append(now)
        pair = self._pair.setdefault((username, ip), [0, 0.0])
        pair[0] += 1
        if pair[0] >= self.pair_max_failures:
            pair[:] = [0, now + self.pair_lock]

    def succeeded(self, username: str, ip: str) -> None:
        self._pair.pop((username, ip), None)
        self._account.pop(username, None)

    def forget(self, username: str) -> int:
        """解锁: drop the account's entries (its per-account delay and every paused
        (account, address) pair); per-address counts are about addresses, not accounts, and
        stay. Returns how many entries were dropped."""
        keys = [k for k in self._pair if k[0] == username]
        for k in keys:
            del self._pair[k]
        return len(keys) + (self._account.pop(username, None) is not None)


def client_ip(handler) -> str:
    """The address of the browser (see the module doc): the right-most ``X-Forwarded-For``
    entry not in ``JupyterHub.trusted_downstream_ips``, else the socket's peer."""
    ctx = handler.request.connection.context
    trusted = getattr(ctx, "trusted_downstream", None) or set()
    peer = getattr(ctx, "address", None)
    ip = peer[0] if isinstance(peer, tuple) and peer else ""
    forwarded = handler.request.headers.get("X-Forwarded-For", "")
    for cand in reversed([c.strip() for c in forwarded.split(",") if c.strip()]):
        ip = cand
        if cand not in trusted:
            break
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64] or "unknown"
    if getattr(addr, "ipv4_mapped", None):
        addr = addr.ipv4_mapped  # node's "::ffff:127.0.0.1"
    return str(addr)


class XuefaLoginHandler(LoginHandler):
    """The hub's login form plus the forced first-login password change.

    POST with ``username``/``password`` is a login; POST with ``change_nonce`` is the
    change-password form. The login cookie is set only by ``login_user`` after a successful,
    unforced login."""

    async def post(self):
        if self.get_body_argument("change_nonce", default=None) is not None:
            return await self._post_change()
        data = {
            "username": self.get_body_argument("username", default="", strip=True),
            "password": self.get_body_argument("password", default="", strip=False),
        }
        self._xuefa_status = 403
        self._xuefa_change_nonce = None
        user = await self.login_user(data)
        if user:
            self._jupyterhub_user = user
            self.redirect(self.get_next_url(user))
            return
        if self._xuefa_change_nonce:
            self.finish(await self._render_change(self._xuefa_change_nonce, data["username"]))
            return
        await self._refuse(data["username"])

    async def _refuse(self, username: str):
        # one status and one text for every cause; 429 only says "this address, slow down"
        self.set_status(self._xuefa_status)
        self.finish(await self._render(login_error=MSG_BAD_LOGIN, username=username[:32]))

    async def _post_change(self):
        nonce = self.get_body_argument("change_nonce", default="")
        new = self.get_body_argument("new_password", default="", strip=False)
        confirm = self.get_body_argument("confirm_password", default="", strip=False)
        pending = self.authenticator.peek_change(nonce)
        if pending is None:
            self.set_status(403)
            self.finish(await self._render(login_error=MSG_CHANGE_EXPIRED, username=""))
            return
        if new != confirm:
            self.set_status(400)
            self.finish(await self._render_change(nonce, pending.username, MSG_MISMATCH))
            return
        try:
            await off_loop(functools.partial(
                accounts.change_password, self.authenticator.db_url, pending.username,
                pending.old_password, new, client=client_ip(self)))
        except ValueError as e:
            self.set_status(400)
            self.finish(await self._render_change(nonce, pending.username, str(e)))
            return
        self.authenticator.drop_change(nonce)
        self._xuefa_status = 403
        self._xuefa_change_nonce = None
        user = await self.login_user({"username": pending.username, "password": new})
        if not user:  # e.g. deactivated in the meantime
            await self._refuse(pending.username)
            return
        self._jupyterhub_user = user
        self.redirect(self.get_next_url(user))

    async def _render_change(self, nonce: str, username: str, error: str | None = None):
        return await self.render_template(
            "xuefa_change_password.html",
            change_nonce=nonce,
            username=username,
            change_error=error,
            notice=MSG_MUST_CHANGE,
            xsrf=self.xsrf_token.decode("ascii"),
            action_url=self.settings["login_url"] + (
                f"?next={url_escape(self.get_argument('next', ''))}" if self.get_argument("next", "") else ""),
        )


class XuefaAuthenticator(Authenticator):
    """Roster accounts: username + password against the records DB (``grading.records.accounts``)."""

    data_dir = Unicode(help="Platform data dir (default: $XUEFA_DATA_DIR).").tag(config=True)

    @default("data_dir")
    def _default_data_dir(self):
        return str(DataDir.from_env().root)

    records_db_url = Unicode(
        help="Records database holding people and their credentials "
        "(default: the records DB of data_dir).",
    ).tag(config=True)

    @default("records_db_url")
    def _default_records_db_url(self):
        return DataDir.from_env(self.data_dir).records_db_url

    @property
    def db_url(self) -> str:
        return self.records_db_url

    change_timeout = Integer(
        600,
        help="Seconds a verified first login may take to choose its new password.",
    ).tag(config=True)

    ip_max_failures = Integer(
        30, help="Failed logins from one client address within ip_window before that address is "
        "refused (HTTP 429) for every account. Offices behind one NAT address share it.",
    ).tag(config=True)
    ip_window = Float(600, help="Seconds over which failures are counted.").tag(config=True)
    pair_max_failures = Integer(
        5, help="Consecutive failures of one account from one address before that account is "
        "paused from that address (only) for pair_lock seconds.",
    ).tag(config=True)
    pair_lock = Float(900, help="Seconds an (account, address) pair stays paused.").tag(config=True)
    account_free_failures = Integer(
        5, help="Failures of one account (from anywhere) within ip_window before each further "
        "attempt on it is delayed.",
    ).tag(config=True)
    account_max_delay = Float(
        4.0, help="Longest delay (seconds) of an attempt on a much-guessed account; it never locks.",
    ).tag(config=True)

    @default("allow_all")
    def _default_allow_all(self):
        # the roster is the allow-list: verify_login refuses anyone not in it or inactive
        return True

    @default("auth_refresh_age")
    def _default_refresh_age(self):
        return 300  # a deactivated person's cookie stops working within 5 minutes

    @default("refresh_pre_spawn")
    def _default_refresh_pre_spawn(self):
        return True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pending: dict[str, _PendingChange] = {}
        self.throttle = LoginThrottle(
            ip_max_failures=self.ip_max_failures, ip_window=self.ip_window,
            pair_max_failures=self.pair_max_failures, pair_lock=self.pair_lock,
            account_free_failures=self.account_free_failures,
            account_max_delay=self.account_max_delay)

    # --- the forced password change ----------------------------------------------------------
    def _remember_change(self, username: str, old_password: str) -> str:
        now = time.monotonic()
        self._pending = {k: v for k, v in self._pending.items() if v.expires > now}
        nonce = secrets.token_urlsafe(24)
        self._pending[nonce] = _PendingChange(username, old_password, now + self.change_timeout)
        return nonce

    def peek_change(self, nonce: str) -> _PendingChange | None:
        pending = self._pending.get(nonce or "")
        if pending is None or pending.expires < time.monotonic():
            self._pending.pop(nonce or "", None)
            return None
        return pending

    def drop_change(self, nonce: str) -> None:
        self._pending.pop(nonce, None)

    # --- Authenticator API -------------------------------------------------------------------
    async def authenticate(self, handler, data):
        username = (data or {}).get("username", "")
        password = (data or {}).get("password", "")
        if not username or not password:
            return None
        username = username[:64]  # a username is 20 characters at most; keys stay small
        ip = client_ip(handler) if handler is not None else "local"
        refusal, delay = self.throttle.check(username, ip)
        if refusal:
            self.log.warning("Login refused for %r from %s: throttled (%s)", username[:32], ip, refusal)
            if refusal == "ip" and handler is not None:
                handler._xuefa_status = 429
            else:
                self.throttle.failed(username, ip)
            return None
        if delay:
            await asyncio.sleep(delay)
        result = await off_loop(accounts.verify_login, self.db_url, username, password)
        if not result.ok:
            self.throttle.failed(username, ip)
            self.log.warning("Login refused for %r from %s: %s", username[:32], ip, result.cause)
            return None
        self.throttle.succeeded(username, ip)
        if result.must_change:
            if handler is not None and isinstance(handler, XuefaLoginHandler):
                handler._xuefa_change_nonce = self._remember_change(username, password)
            self.log.info("First login of %r: password change required", username)
            return None
        role = getattr(result.role, "value", result.role)
        return {"name": username, "admin": False, "auth_state": None,
                "user_info": {"role": role}}

    async def refresh_user(self, user, handler=None):
        """A person deactivated by a roster re-import loses their session."""
        try:
            return await off_loop(people.is_active, self.db_url, user.name)
        except Exception:  # the records DB being briefly unavailable must not log everyone out
            self.log.exception("Could not check whether %s is active", user.name)
            return True

    def get_handlers(self, app):
        return [("/login", XuefaLoginHandler),
                (r"/xuefa/accounts", AccountsHandler),
                (r"/xuefa/audit", AuditHandler),
                (r"/xuefa/password", PasswordHandler)]


# --- account pages (issue 16) ----------------------------------------------------------------
# Hub pages rather than a service: they need the hub's own state (the login throttle lives in
# hub memory, groups and servers in the hub DB) and its login cookie, XSRF check and templates.
# The records DB changes go through grading.records.accounts, the same functions as
# ``xuefa account``; every act writes its audit row in the same transaction.

MSG_FORBIDDEN = "只有管理员可以使用此页面。"
ACTION_DONE = {
    "unlock": "已解锁 {name}（{username}）：登录失败计数和暂停已清除。",
    "deactivate": "已停用 {name}（{username}）：已退出登录，学习空间已关闭，不能再登录。",
    "reactivate": "已恢复 {name}（{username}）：可以重新登录。",
    "role": "已将 {name}（{username}）的角色改为{role}。",
}


class _XuefaPage(BaseHandler):
    """A zh-CN hub page; nothing here may be cached (passwords shown once, personal data)."""

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    @property
    def db_url(self) -> str:
        return self.authenticator.db_url

    async def require_admin(self):
        """The logged-in person, if they are an administrator: member of the hub's ``role-admin``
        group (what hub_config.roles grants the admin rights to) *and* an active 管理员 in the
        records DB (a stale group never outlives the roster). 403 otherwise."""
        user = self.current_user
        if user is None:
            raise web.HTTPError(403, MSG_FORBIDDEN)
        if getattr(user, "kind", "user") != "user" or ADMIN_GROUP not in {g.name for g in user.groups}:
            raise web.HTTPError(403, MSG_FORBIDDEN)
        info = await off_loop(people.learner_info, self.db_url, user.name)
        if not info or not info["active"] or info["role"] != Role.admin:
            raise web.HTTPError(403, MSG_FORBIDDEN)
        return user

    def page_ns(self, **ns) -> dict:
        return {"xsrf": self.xsrf_token.decode("ascii"), **ns}


class AccountsHandler(_XuefaPage):
    """账号管理: search people; reset password, unlock, deactivate/reactivate, change role."""

    @web.authenticated
    async def get(self):
        await self.require_admin()
        await self._render(query=self.get_argument("q", "", strip=True)[:64])

    async def _render(self, *, query: str, message: str | None = None, error: str | None = None,
                      new_password: str | None = None, subject: accounts.Account | None = None):
        found = await off_loop(accounts.search, self.db_url, query, 100)
        self.finish(await self.render_template(
            "xuefa_accounts.html", **self.page_ns(
                query=query, people=found, message=message, error=error,
                new_password=new_password, subject=subject,
                roles=[(r.value, ROLE_LABELS[r]) for r in Role])))

    @web.authenticated
    async def post(self):
        admin = await self.require_admin()
        username = self.get_body_argument("username", "", strip=True)[:64]
        action = self.get_body_argument("action", "", strip=True)
        query = self.get_body_argument("q", "", strip=True)[:64]
        client = client_ip(self)
        person = await off_loop(accounts.get_account, self.db_url, username)
        if person is None or action not in accounts.ACTIONS:
            self.set_status(400)
            return await self._render(query=query, error="请求无效：账号不存在或操作未知。")
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
            name=person.name, username=person.username, role=person.role_label)
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


class AuditHandler(_XuefaPage):
    """审计日志: the newest acts, filtered by person or action; ``?format=csv|xlsx`` exports
    the filtered log (every row, not just the page's)."""

    PAGE = 200

    @web.authenticated
    async def get(self):
        await self.require_admin()
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


class PasswordHandler(_XuefaPage):
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
            return self.finish(await self._page(error=MSG_BAD_LOGIN))
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

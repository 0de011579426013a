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
import secrets
import time
from collections import deque
from dataclasses import dataclass

from jupyterhub.auth import Authenticator
from jupyterhub.handlers.login import LoginHandler
from tornado.escape import url_escape
from traitlets import Float, Integer, Unicode, default

from grading.host.datadir import DataDir
from grading.records import accounts, people
from hub_config import pages
from hub_config.pages.base import MSG_MISMATCH, client_ip, off_loop

MSG_BAD_LOGIN = accounts.GENERIC_FAILURE
MSG_CHANGE_EXPIRED = "修改密码页面已过期，请重新登录"
MSG_MUST_CHANGE = "首次登录须先修改初始密码"


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
        return [("/login", XuefaLoginHandler), *pages.HANDLERS]

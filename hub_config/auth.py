"""Login for xuefa: roster accounts checked against the records DB.

:class:`XuefaAuthenticator` asks :func:`grading.records.accounts.verify_login` (argon2 hashes, lock-out
after 5 consecutive failures for 15 minutes, deactivated people always refused) and answers in
Simplified Chinese. A first login with the initial password from the roster must change it
*before* the hub sets its login cookie: :class:`XuefaLoginHandler` then renders a change-password
form instead of logging in, and logs in only after :func:`grading.records.accounts.change_password`
accepted the new password. The initial password never leaves the hub again: the form carries a
one-time nonce that maps, in hub memory, to the verified (username, old password) for 10 minutes.

Groups (unit, audience, role) are not managed here: they come from the roster, loaded at hub
start-up (``hub_config.config``) and pushed to a running hub by ``xuefa roster import``.

Switching to a city single sign-on (OAuth2/OIDC)
-------------------------------------------------
The roster stays the source of people, units and roles; only the password check moves to the
city's identity provider. ``oauthenticator`` is a dependency already. In
``hub_config/jupyterhub_config.py`` (after ``apply_config(c)``)::

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

import secrets
import time
from dataclasses import dataclass

from jupyterhub.auth import Authenticator
from jupyterhub.handlers.login import LoginHandler
from tornado.escape import url_escape
from traitlets import Integer, Unicode, default

from grading.host.datadir import DataDir

MSG_BAD_LOGIN = "账号或密码错误"
MSG_CHANGE_EXPIRED = "修改密码页面已过期，请重新登录"
MSG_MISMATCH = "两次输入的新密码不一致"
MSG_MUST_CHANGE = "首次登录须先修改初始密码"


@dataclass
class _PendingChange:
    username: str
    old_password: str
    expires: float


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
        self._xuefa_error = None
        self._xuefa_change_nonce = None
        user = await self.login_user(data)
        if user:
            self._jupyterhub_user = user
            self.redirect(self.get_next_url(user))
            return
        if self._xuefa_change_nonce:
            self.finish(await self._render_change(self._xuefa_change_nonce, data["username"]))
            return
        self.set_status(403)
        username = data["username"][:32]
        self.finish(await self._render(login_error=self._xuefa_error or MSG_BAD_LOGIN,
                                       username=username))

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
        from grading.records import accounts

        try:
            accounts.change_password(self.authenticator.db_url, pending.username,
                                     pending.old_password, new)
        except ValueError as e:
            self.set_status(400)
            self.finish(await self._render_change(nonce, pending.username, str(e)))
            return
        self.authenticator.drop_change(nonce)
        self._xuefa_error = None
        self._xuefa_change_nonce = None
        user = await self.login_user({"username": pending.username, "password": new})
        if not user:  # e.g. deactivated in the meantime
            self.set_status(403)
            self.finish(await self._render(login_error=self._xuefa_error or MSG_BAD_LOGIN,
                                           username=pending.username))
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
        from grading.records import accounts

        username = (data or {}).get("username", "")
        password = (data or {}).get("password", "")
        if not username or not password:
            return None
        result = accounts.verify_login(self.db_url, username, password)
        if not result.ok:
            self.log.warning("Login refused for %r: %s", username[:32], result.reason)
            if handler is not None:
                handler._xuefa_error = result.reason or MSG_BAD_LOGIN
            return None
        if result.must_change:
            if handler is not None and isinstance(handler, XuefaLoginHandler):
                handler._xuefa_change_nonce = self._remember_change(username, password)
            elif handler is not None:
                handler._xuefa_error = MSG_MUST_CHANGE
            self.log.info("First login of %r: password change required", username)
            return None
        role = getattr(result.role, "value", result.role)
        return {"name": username, "admin": False, "auth_state": None,
                "user_info": {"role": role}}

    async def refresh_user(self, user, handler=None):
        """A person deactivated by a roster re-import loses their session."""
        try:
            from grading.records.people import active_usernames
        except ImportError:
            return True
        try:
            return user.name in active_usernames(self.db_url)
        except Exception:  # the records DB being briefly unavailable must not log everyone out
            self.log.exception("Could not check whether %s is active", user.name)
            return True

    def get_handlers(self, app):
        return [("/login", XuefaLoginHandler)]

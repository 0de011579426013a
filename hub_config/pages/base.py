"""What every xuefa hub page shares: the zh-CN page base class and the worker pool for blocking
calls (argon2 hashing, records-DB queries) so they never freeze the hub's event loop.

Hub pages rather than a service when a page needs the hub's own state (the login throttle lives
in hub memory, groups and servers in the hub DB) or its login cookie, XSRF check and templates.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from concurrent.futures import ThreadPoolExecutor

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from grading.records import people
from grading.records.models import Role
from hub_config.roles import ADMIN_GROUP

MSG_FORBIDDEN = "只有管理员可以使用此页面。"
MSG_MISMATCH = "两次输入的新密码不一致"

# argon2 (19 MiB, ~0.1 s) and SQLite calls: a few threads, so a burst of logins queues here
# instead of freezing every page, API call and proxy check the hub serves meanwhile
_POOL = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)),
                           thread_name_prefix="xuefa-pages")


async def off_loop(func, *args):
    return await asyncio.get_running_loop().run_in_executor(_POOL, func, *args)


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


class XuefaPage(BaseHandler):
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

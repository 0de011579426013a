"""Push the roster's users and groups to a running JupyterHub through its REST API.

The hub loads groups from the records DB at start-up (``hub_config.config``); this keeps a
running hub in step after ``xuefa roster import`` so the hub and the records DB agree.
Only groups with our prefixes (``role-``, ``audience-``, ``unit-``) are created, changed or
deleted; groups an administrator made by hand are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import requests

from grading.records import people
from grading.host.datadir import DataDir


@dataclass
class SyncReport:
    users_created: list[str] = field(default_factory=list)
    servers_stopped: list[str] = field(default_factory=list)
    groups_changed: list[str] = field(default_factory=list)
    groups_deleted: list[str] = field(default_factory=list)


class HubAPI:
    def __init__(self, api_url: str, token: str, timeout: float = 30):
        self.base = api_url.rstrip("/")
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"token {token}"
        self.timeout = timeout

    def __call__(self, method: str, path: str, **kw):
        r = self.s.request(method, f"{self.base}{path}", timeout=self.timeout, **kw)
        if r.status_code >= 400 and r.status_code != 404:
            raise RuntimeError(f"JupyterHub API {method} {path}: {r.status_code} {r.text[:200]}")
        return r

    def list_all(self, path: str) -> list[dict]:
        """Every item of a paginated list: the hub caps a page at ``api_page_max_limit`` (200 by
        default) whatever ``limit`` asks for, and a city roster has thousands of people."""
        items: list[dict] = []
        while True:
            page = self("GET", path, params={"offset": len(items), "limit": 200}).json()
            if isinstance(page, dict):  # paginated form
                page = page.get("items", [])
            if not page:
                return items
            items.extend(page)


def running_hub(datadir: DataDir) -> tuple[str, str] | None:
    """(api_url, token) of the hub running on this data dir, or None when none answers."""
    token_file, url_file = datadir.api_token_file, datadir.hub_url_file
    if not (token_file.exists() and url_file.exists()):
        return None
    url, token = url_file.read_text().strip(), token_file.read_text().strip()
    try:
        r = requests.get(url + "/", headers={"Authorization": f"token {token}"}, timeout=5)
    except requests.RequestException:
        return None
    return (url, token) if r.ok else None


def sync_hub(api_url: str, token: str, records_url: str) -> SyncReport:
    api = HubAPI(api_url, token)
    report = SyncReport()
    want_groups = people.hub_groups(records_url)
    props = people.group_properties(records_url)
    active = people.active_usernames(records_url)
    everyone = people.all_usernames(records_url)

    hub_users = {u["name"]: u for u in api.list_all("/users")}
    missing = sorted(active - hub_users.keys())
    if missing:
        api("POST", "/users", json={"usernames": missing})
        report.users_created = missing
    # 管理员 get their rights from the role-admin group (hub_config.roles: admin panel and
    # services, not learners' servers), never from JupyterHub's all-powerful admin flag, which
    # the authenticator also clears at every login; the xuefa-cli token may not grant it anyway.
    for name in sorted((everyone - active) & hub_users.keys()):
        # deactivated: stop the server now; the authenticator refuses their next login
        if hub_users[name].get("servers") or hub_users[name].get("server"):
            api("DELETE", f"/users/{quote(name)}/server")
            report.servers_stopped.append(name)

    hub_groups = {g["name"]: g for g in api.list_all("/groups")}
    for gname, members in want_groups.items():
        g = hub_groups.get(gname)
        if g is None:
            api("POST", f"/groups/{quote(gname)}", json={"users": members})
            report.groups_changed.append(gname)
        else:
            have = set(g.get("users", []))
            add, drop = sorted(set(members) - have), sorted(have - set(members))
            if add:
                api("POST", f"/groups/{quote(gname)}/users", json={"users": add})
            if drop:
                api("DELETE", f"/groups/{quote(gname)}/users", json={"users": drop})
            if add or drop:
                report.groups_changed.append(gname)
        if gname in props and (g is None or g.get("properties") != props[gname]):
            api("PUT", f"/groups/{quote(gname)}/properties", json=props[gname])
    for gname in hub_groups:
        if gname.startswith(people.MANAGED_PREFIXES) and gname not in want_groups:
            api("DELETE", f"/groups/{quote(gname)}")
            report.groups_deleted.append(gname)
    return report

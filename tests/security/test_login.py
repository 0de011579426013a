"""Attacks on the login form over real HTTP: account enumeration, password guessing from one
address, and locking an administrator out by typing their name with wrong passwords.

Different clients are real different source addresses: the platform listens on 127.0.0.1 and
every 127.x.y.z address is this machine's loopback, so a session bound to 127.0.0.24 reaches the
proxy as another peer. (Spoofed ``X-Forwarded-For``/``X-Real-Ip`` headers must NOT count as
another client: configurable-http-proxy appends the real peer and the hub reads only that.)
Each test uses its own addresses so that the throttle state of one never meets another, and
127.0.0.1 (every other test's address) is never throttled here.
"""

from __future__ import annotations

import re

import pytest
import requests
from requests.adapters import HTTPAdapter

from grading.records.accounts import GENERIC_FAILURE
from hub_config.auth import XuefaAuthenticator
from tests.security.conftest import INITIAL_PASSWORD, ROSTER, new_session, write_roster

pytestmark = pytest.mark.integration


class SourceAddress(HTTPAdapter):
    def __init__(self, ip: str, **kw):
        self.ip = ip
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self.ip, 0)
        return super().init_poolmanager(*args, **kw)


def client(ip: str) -> requests.Session:
    """A browser on another machine: its connections come from ``ip``."""
    s = new_session()
    s.mount("http://", SourceAddress(ip))
    return s


def attempt(target, ip: str, username: str, password: str, headers: dict | None = None):
    s = client(ip)
    # forged headers on both requests: JupyterHub ties an anonymous xsrf token to the address
    # Tornado believes (X-Real-Ip), so a forger keeps them consistent
    s.headers.update(headers or {})
    s.get(f"{target.url}/hub/login", timeout=30)
    return s.post(f"{target.url}/hub/login",
                  data={"username": username, "password": password,
                        "_xsrf": s.cookies.get("_xsrf") or ""},
                  timeout=60, allow_redirects=False)


def page_sans_echo(r: requests.Response) -> str:
    """The refusal page without what legitimately differs: the echoed username and the xsrf
    token (masked afresh for every response)."""
    text = re.sub(r'name="_xsrf" value="[^"]*"', "", r.text)
    text = re.sub(r'xsrf_token: "[^"]*"', "", text)
    return re.sub(r'(id="username_input"[^>]*?value=")[^"]*"', r'\1"', text)


def logged_in_or_asked_to_change(r: requests.Response) -> bool:
    return r.status_code == 302 or (r.status_code == 200 and 'name="change_nonce"' in r.text)


def trait_default(name: str):
    return XuefaAuthenticator.class_traits()[name].default_value


def test_refusals_are_identical_for_unknown_wrong_deactivated_and_paused_accounts(target):
    from sqlalchemy import update

    from grading.records.db import session_scope
    from grading.records.models import Learner
    from grading.records.roster import import_roster

    url = target.datadir.records_db_url
    gone = ["gone1", "已调离", "测试市/城东镇", "干部", "学员", "", INITIAL_PASSWORD]
    path = write_roster(target.roster_path.with_name("with-gone1.csv"), [*ROSTER, gone])
    assert import_roster(path, url, reports_dir=target.datadir.reports).ok
    with session_scope(url) as s:
        s.execute(update(Learner).where(Learner.username == "gone1").values(active=False))

    ip = "127.0.0.21"
    unknown = attempt(target, ip, "no_such_person", "Some-pass-1")
    wrong = attempt(target, ip, "learner2", "Wrong-pass-1")
    deactivated = attempt(target, ip, "gone1", INITIAL_PASSWORD)  # the right password
    for _ in range(trait_default("pair_max_failures")):
        attempt(target, ip, "spare1", "Wrong-pass-2")
    paused = attempt(target, ip, "spare1", target.passwords.get("spare1", INITIAL_PASSWORD))
    responses = {"unknown": unknown, "wrong": wrong, "deactivated": deactivated, "paused": paused}
    assert {k: r.status_code for k, r in responses.items()} == dict.fromkeys(responses, 403)
    assert all(GENERIC_FAILURE in r.text for r in responses.values())
    pages = {k: page_sans_echo(r) for k, r in responses.items()}
    assert len(set(pages.values())) == 1, "a refusal tells which accounts exist or why"
    assert not any(w in unknown.text + deactivated.text + paused.text for w in ("停用", "锁定", "再错"))


def test_one_address_guessing_many_accounts_is_throttled(target):
    limit = trait_default("ip_max_failures")
    ip = "127.0.0.22"
    codes = [attempt(target, ip, f"guess{i}", "Guess-pass-1").status_code for i in range(limit)]
    assert set(codes) == {403}, codes
    refused = attempt(target, ip, "guess_more", "Guess-pass-1")
    assert refused.status_code == 429 and GENERIC_FAILURE in refused.text
    # neither a right password nor a forged client address gets past it
    right = attempt(target, ip, "learner2", target.passwords.get("learner2", INITIAL_PASSWORD))
    assert right.status_code == 429
    forged = attempt(target, ip, "learner2", target.passwords.get("learner2", INITIAL_PASSWORD),
                     headers={"X-Forwarded-For": "198.51.100.7", "X-Real-Ip": "198.51.100.8"})
    assert forged.status_code == 429
    # another client is not affected
    other = attempt(target, "127.0.0.23", "learner2",
                    target.passwords.get("learner2", INITIAL_PASSWORD))
    assert logged_in_or_asked_to_change(other), (other.status_code, other.text[:300])


def test_guessing_admin1_from_one_client_does_not_lock_admin1_out_elsewhere(target):
    attacker_ip, admin_ip = "127.0.0.24", "127.0.0.25"
    for i in range(trait_default("pair_max_failures") + 3):
        assert attempt(target, attacker_ip, "admin1", f"Guess-pass-{i}").status_code == 403
    password = target.passwords.get("admin1", INITIAL_PASSWORD)
    # the guesser's own address is paused for admin1, even with the right password ...
    assert attempt(target, attacker_ip, "admin1", password).status_code == 403
    # ... but admin1 at their own desk logs in (after a short, bounded delay at most)
    r = attempt(target, admin_ip, "admin1", password)
    assert logged_in_or_asked_to_change(r), (r.status_code, r.text[:300])

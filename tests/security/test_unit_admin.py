"""Attacks on unit administrators' scopes, certificates and reminders (issue 16) over real HTTP
on the shared ``target`` platform.

A unit administrator (``unitadm``, 管理范围 测试市/司法局) asks for 城东镇's dashboards,
drill-down, export, accounts and certificates (403 each, nothing changed); learners reach no
admin page, cannot download another person's certificate, and the public verification page
shows four fields and escapes a hostile name (also drawn as text in the PDF). New people and
an old campaign only, so the other attack files see the platform as before.
"""

from __future__ import annotations

import time
from datetime import date, datetime

import pytest
from sqlalchemy import select

from grading.records import audit
from grading.records.accounts import hash_password
from grading.records.db import session_scope
from grading.records.models import (Campaign, CampaignCourse, Course, Credential, Learner, Result,
                                    Role, Unit)
from tests.security.conftest import INITIAL_PASSWORD, new_session

pytestmark = pytest.mark.integration

CAMPAIGN = "sec-units"
EVIL = '<script>alert("xf")</script>张"三'
SCOPED = ["xuefa/accounts", "xuefa/certificates", "xuefa/reminders"]


def xsrf(session) -> str:
    return next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))


@pytest.fixture(scope="module")
def world(target):
    """unitadm (admin scoped to 测试市/司法局), sfj_evil (司法局, hostile name, completed),
    cdz_done (城东镇, completed), cdz_lag (城东镇, not started); campaign sec-units (October)."""
    from hub_config.hubsync import running_hub, sync_hub

    url = target.datadir.records_db_url
    with session_scope(url) as s:
        units = {u.path: u for u in s.scalars(select(Unit))}
        sfj, cdz = units["测试市/司法局"], units["测试市/城东镇"]
        if s.get(Course, "sec_units") is None:
            s.add(Course(id="sec_units", title="单位范围测试课", hours=2))
        if s.get(Campaign, CAMPAIGN) is None:
            camp = Campaign(id=CAMPAIGN, name="单位管理员测试学习月", start=date(2026, 10, 1),
                            end=date(2026, 10, 31))
            camp.courses.append(CampaignCourse(course_id="sec_units", audience="cadre", required=True))
            s.add(camp)
        people = {}
        for username, name, unit, role in [("unitadm", "司法局管理员", sfj, Role.admin),
                                           ("sfj_evil", EVIL, sfj, Role.learner),
                                           ("cdz_done", "城东完成", cdz, Role.learner),
                                           ("cdz_lag", "城东未学", cdz, Role.learner)]:
            p = s.scalar(select(Learner).where(Learner.username == username))
            if p is None:
                p = Learner(username=username, name=name, unit_id=unit.id, audience="cadre", role=role,
                            active=True, admin_scope_unit_id=sfj.id if role == Role.admin else None)
                p.credential = Credential(password_hash=hash_password(INITIAL_PASSWORD), must_change=True)
                s.add(p)
            people[username] = p
        s.flush()
        for username in ("sfj_evil", "cdz_done"):
            lid = people[username].id
            if s.scalar(select(Result).where(Result.learner_id == lid, Result.course_id == "sec_units")) is None:
                s.add(Result(learner_id=lid, course_id="sec_units", assignment="module", attempt=1,
                             score=9, max_score=10, passed=True, submitted_at=datetime(2026, 10, 10, 9)))
        ids = {"sfj": sfj.id, "cdz": cdz.id}
    sync_hub(*running_hub(target.datadir), url)
    return ids


@pytest.fixture(scope="module")
def unitadm(target, world):
    return target.login("unitadm")


def test_unit_admin_gets_403_outside_their_subtree(target, world, unitadm):
    url = target.datadir.records_db_url
    before = len(audit.entries(url, limit=None))
    for page in [f"xuefa/certificates?format=zip&campaign={CAMPAIGN}&unit={world['cdz']}",
                 f"xuefa/reminders?campaign={CAMPAIGN}&unit={world['cdz']}",
                 "xuefa/audit", "xuefa/audit?format=csv"]:
        r = unitadm.get(f"{target.url}/hub/{page}", timeout=60)
        assert r.status_code == 403, (page, r.status_code)
    # 账号管理 lists only the subtree; acts on others, on administrators, role/scope changes: 403
    r = unitadm.get(f"{target.url}/hub/xuefa/accounts?q=", timeout=60)
    assert r.status_code == 200 and "sfj_evil" in r.text and "cdz_done" not in r.text
    assert "learner1" not in r.text and EVIL not in r.text  # escaped, never raw
    for username, action in [("cdz_lag", "reset"), ("learner1", "deactivate"), ("admin1", "reset"),
                             ("sfj_evil", "role"), ("unitadm", "scope"), ("sfj_evil", "scope")]:
        r = unitadm.post(f"{target.url}/hub/xuefa/accounts", timeout=60,
                         data={"username": username, "action": action, "role": "admin", "scope": "",
                               "_xsrf": xsrf(unitadm)})
        assert r.status_code == 403, (username, action, r.status_code)
    r = unitadm.post(f"{target.url}/hub/xuefa/reminders", timeout=60,
                     data={"campaign": CAMPAIGN, "unit": str(world["cdz"]), "_xsrf": xsrf(unitadm)})
    assert r.status_code == 403
    assert len(audit.entries(url, limit=None)) == before
    with session_scope(url) as s:
        assert s.scalar(select(Learner.admin_scope_unit_id).where(Learner.username == "unitadm")) == world["sfj"]


def test_unit_admins_archive_holds_only_their_people(target, world, unitadm):
    import io
    import zipfile

    r = unitadm.get(f"{target.url}/hub/xuefa/certificates",
                    params={"format": "zip", "campaign": CAMPAIGN, "unit": str(world["sfj"])}, timeout=120)
    assert r.status_code == 200, r.text[:300]
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert len(names) == 1 and "sfj_evil" in names[0] and "<" not in names[0] and "/" in names[0]
    # no unit given: their scope, never the city
    r = unitadm.get(f"{target.url}/hub/xuefa/certificates",
                    params={"format": "zip", "campaign": CAMPAIGN}, timeout=120)
    assert r.status_code == 200 and len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == 1


def _dashboard(target, session, page: str, **params):
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        r = session.get(f"{target.url}/services/dashboards/voila/render/{page}.ipynb", params=params,
                        timeout=180)
        if r.status_code not in (404, 502, 503):
            return r
        time.sleep(1)
    pytest.fail("dashboards never answered")


def test_unit_admin_dashboards_are_scoped(target, world, unitadm):
    from tests.integration.test_dashboards import outputs_text

    for page in ("by_unit", "laggards", "overview"):
        r = _dashboard(target, unitadm, page, campaign=CAMPAIGN, unit=str(world["cdz"]))
        assert r.status_code == 403, (page, r.status_code)
    r = _dashboard(target, unitadm, "by_unit", campaign=CAMPAIGN, unit="1 OR 1=1")
    assert r.status_code == 403
    r = _dashboard(target, unitadm, "laggards", campaign=CAMPAIGN)
    assert r.status_code == 200
    shown = outputs_text(r.text)
    assert "城东未学" not in shown and "cdz_lag" not in shown and "城东镇" not in shown, shown[-2000:]
    r = _dashboard(target, unitadm, "overview", campaign=CAMPAIGN)
    shown = outputs_text(r.text)
    assert r.status_code == 200 and "应学人数" in shown
    # one learner in 司法局 (sfj_evil), completed: 100%
    assert "100.0%" in shown or "100%" in shown, shown[-2000:]


def test_learners_reach_no_admin_page_and_no_one_elses_certificate(target, world):
    s = target.login("cdz_lag")
    for page in SCOPED + [f"xuefa/certificates?format=zip&campaign={CAMPAIGN}"]:
        r = s.get(f"{target.url}/hub/{page}", timeout=60)
        assert r.status_code == 403, (page, r.status_code)
    s.get(f"{target.url}/hub/home", timeout=30)
    r = s.post(f"{target.url}/hub/xuefa/reminders", data={"campaign": CAMPAIGN, "_xsrf": xsrf(s)}, timeout=60)
    assert r.status_code == 403
    # naming someone else anywhere in the URL: it is always the session's own (not complete)
    r = s.get(f"{target.url}/hub/xuefa/certificate",
              params={"campaign": CAMPAIGN, "username": "cdz_done", "user": "cdz_done"}, timeout=60)
    assert r.status_code == 403 and "尚未完成" in r.text and "%PDF" not in r.text
    r = s.get(f"{target.url}/hub/xuefa/certificate?campaign=../../etc/passwd", timeout=60)
    assert r.status_code == 404
    # no login: no certificate
    import requests

    r = requests.get(f"{target.url}/hub/xuefa/certificate?campaign={CAMPAIGN}", timeout=60,
                     allow_redirects=False)
    assert r.status_code in (302, 403)


def test_verify_page_shows_four_fields_and_escapes(target, world):
    import requests

    from tests.grading.test_exports import pdf_text

    s = target.login("sfj_evil")
    r = s.get(f"{target.url}/hub/xuefa/certificate", params={"campaign": CAMPAIGN}, timeout=120)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = pdf_text(r.content)
    assert EVIL in text  # drawn as text in the PDF, nothing to interpret there
    from grading.records import certs

    number = certs.of_learner(target.datadir.records_db_url, "sfj_evil", CAMPAIGN).number
    assert number in text
    anon = new_session()  # no login; decodes the pages as UTF-8
    r = anon.get(f"{target.url}/hub/xuefa/verify/{number}", timeout=60)
    assert r.status_code == 200 and "真实有效" in r.text
    assert EVIL not in r.text and "&lt;script&gt;" in r.text
    assert "sfj_evil" not in r.text and "司法局" not in r.text  # no account, no unit
    assert "单位范围测试课" in r.text and "单位管理员测试学习月" in r.text
    for bad in [number[:-1] + ("A" if number[-1] != "A" else "B"), "XF-2026-00001-AAAAAAAA",
                "<img src=x onerror=alert(1)>", "' OR '1'='1"]:
        r = anon.get(f"{target.url}/hub/xuefa/verify/{requests.utils.quote(bad, safe='')}", timeout=60)
        assert r.status_code == 404 and "查无此证书" in r.text, bad
        assert "onerror=alert" not in r.text

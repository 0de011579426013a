"""我的学习 against the real platform: each audience's learner sees exactly the modules of
their audience through the records service (their own hub token), and starting a module in
the learner's own server fetches the released notebooks into their home through nbgrader."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import requests

from grading.content.courses import course_dirs, load_campaign_file, load_course
from grading.records.models import Audience
from grading.content.publish import load_campaign, publish_course, upsert_course

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN = REPO / "courses" / "campaigns" / "xuexiyue_2026.yaml"
LEARNERS = {"learner1": Audience.cadre, "learner2": Audience.volunteer,
            "spare1": Audience.young_cadre, "spare2": Audience.legal_staff}


@pytest.fixture(scope="module")
def hub_env():
    return {"XUEFA_DISABLE_SERVICES": "dashboards,grading"}


@pytest.fixture(scope="module")
def platform(hub):
    url = hub.datadir.records_db_url
    for d in course_dirs(REPO / "courses"):
        upsert_course(url, load_course(d))
    publish_course(hub.datadir, "pingtai_rumen")
    load_campaign(hub.datadir, CAMPAIGN)
    return hub


def user_token(hub, username: str, session=None) -> str:
    """A token the learner makes for themself (logged in through the real form)."""
    session = session or hub.login(username)
    # after a spawn the user's server sets its own _xsrf cookie: take the hub's
    xsrf = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))
    r = session.post(f"{hub.url}/hub/api/users/{username}/tokens", json={"note": "test", "expires_in": 3600},
                     headers={"X-XSRFToken": xsrf}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()["token"]


def test_each_audience_sees_its_modules(platform):
    spec = load_campaign_file(CAMPAIGN)
    for username, audience in LEARNERS.items():
        token = user_token(platform, username)
        r = requests.get(f"{platform.url}/services/records/api/me/learning",
                         headers={"Authorization": f"token {token}"}, timeout=60)
        assert r.status_code == 200, (username, r.status_code, r.text[:300])
        data = r.json()
        assert data["campaign"]["name"] == "2026 干部学习月"
        plan = spec.plans[audience]
        got_req = {m["course_id"] for m in data["modules"] if m["required"]}
        got_ele = {m["course_id"] for m in data["modules"] if not m["required"]}
        assert got_req == set(plan.required), username
        assert got_ele == set(plan.elective), username
        assert all(m["status"] == "未开始" for m in data["modules"])


def run_in_kernel(http_base: str, token: str, code: str) -> tuple[str, str]:
    """``code`` in a new kernel of the learner's own server (REST + websocket, as a page's)."""
    import aiohttp

    from hub_config.tools.loadtest import run_code

    async def go():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
            return await run_code(http, http_base, {"Authorization": f"token {token}"}, code)

    return asyncio.run(go())


def test_start_fetches_module_into_learners_home(platform):
    hub = platform
    session = hub.login("learner1")
    status = hub.spawn(session, "learner1")
    assert status.status_code == 200, status.text[:300]
    token = user_token(hub, "learner1", session)
    http_base = f"{hub.url}/user/learner1"
    code = ("from widgets.home import fetch_module, MyLearning\n"
            "print(fetch_module('pingtai_rumen'))\n"
            "page = MyLearning()\n"
            "print('MODULES', sorted(page.cards))\n")
    out, errors = run_in_kernel(http_base, token, code)
    assert not errors, errors
    fetched = hub.datadir.home("learner1") / "pingtai_rumen" / "module"
    assert (fetched / "lesson1.ipynb").exists() and (fetched / "assessment.ipynb").exists()
    assert str(fetched) in out
    # the page inside the learner's kernel reads the same plan through the records service
    assert "pingtai_rumen" in out and "fazhi_zhengfu" in out and "tiaojie" not in out.split("MODULES")[1]
    # the lesson and the 我的学习 page render through Voila in the learner's own server
    r = session.get(f"{http_base}/voila/render/pingtai_rumen/module/lesson1.ipynb", timeout=180)
    assert r.status_code == 200, r.text[:300]
    assert (hub.datadir.home("learner1") / "我的学习.ipynb").exists()
    r = session.get(f"{http_base}/voila/render/%E6%88%91%E7%9A%84%E5%AD%A6%E4%B9%A0.ipynb", timeout=180)
    assert r.status_code == 200, r.text[:300]
    assert "Traceback" not in r.text

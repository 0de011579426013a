"""我的学习 against the real platform: each audience's learner sees exactly the modules of
their audience through the records service (their own hub token); the page is served by the
learner's own server without a kernel, and its 开始学习 fetches the released notebooks into
their home through nbgrader."""

from __future__ import annotations

import os
import re
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


def test_start_fetches_module_into_learners_home(platform):
    """我的学习 is served by the learner's server without a kernel; its 开始学习 form fetches
    the released notebooks into the learner's home through nbgrader (as the learner)."""
    hub = platform
    session = hub.login("learner1")
    status = hub.spawn(session, "learner1")
    assert status.status_code == 200, status.text[:300]
    http_base = f"{hub.url}/user/learner1"
    r = session.get(f"{http_base}/", timeout=180)
    assert r.status_code == 200 and r.url.endswith("/user/learner1/xuefa/learning"), (r.status_code, r.url)
    page = r.text
    assert "2026 干部学习月" in page and "学员丙" in page
    assert "平台入门" in page and "法治政府建设" in page
    assert "/xuefa/learning/start/pingtai_rumen" in page and "/start/tiaojie" not in page
    # the page needed no kernel
    token = user_token(hub, "learner1", session)
    kernels = requests.get(f"{http_base}/api/kernels", headers={"Authorization": f"token {token}"},
                           timeout=60)
    assert kernels.status_code == 200 and kernels.json() == [], kernels.text[:300]

    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    r = session.post(f"{http_base}/xuefa/learning/start/pingtai_rumen", data={"_xsrf": xsrf},
                     timeout=300)
    assert r.status_code == 200 and "ready=pingtai_rumen" in r.url, (r.status_code, r.url)
    assert "已准备好" in r.text and "点击进入第一课" in r.text
    assert "/user/learner1/voila/render/pingtai_rumen/module/lesson1.ipynb" in r.text
    fetched = hub.datadir.home("learner1") / "pingtai_rumen" / "module"
    assert (fetched / "lesson1.ipynb").exists() and (fetched / "assessment.ipynb").exists()
    home_owner = hub.datadir.home("learner1").stat().st_uid
    assert (fetched / "lesson1.ipynb").stat().st_uid == home_owner  # fetched as the learner
    # 开始学习 again never overwrites the learner's copy
    (fetched / "assessment.answers.json").write_text('{"q01": "A"}', encoding="utf-8")
    os.chown(fetched / "assessment.answers.json", home_owner, -1)
    r = session.post(f"{http_base}/xuefa/learning/start/pingtai_rumen", data={"_xsrf": xsrf}, timeout=300)
    assert r.status_code == 200
    assert (fetched / "assessment.answers.json").read_text(encoding="utf-8") == '{"q01": "A"}'

    # the lesson renders through Voila in the learner's own server
    r = session.get(f"{http_base}/voila/render/pingtai_rumen/module/lesson1.ipynb", timeout=180)
    assert r.status_code == 200, r.text[:300]
    # the old Voila address of 我的学习 (bookmarks, 我的错题本's back link) lands on the page
    r = session.get(f"{http_base}/voila/render/%E6%88%91%E7%9A%84%E5%AD%A6%E4%B9%A0.ipynb", timeout=180)
    assert r.status_code == 200 and r.url.endswith("/xuefa/learning"), (r.status_code, r.url)
    assert "Traceback" not in r.text and "继续学习" in r.text

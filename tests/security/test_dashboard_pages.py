"""Attack: markup smuggled into an administrator's dashboard page (security finding 6, issue 13).

A link like ``/services/dashboards/voila/render/overview.ipynb?campaign=<script>…`` sent to an
administrator used to come back with the value pasted unescaped into the page's ``<h2>`` and into
every navigation ``href``: script running with the administrator's dashboards session. Now an
unknown campaign id gets a Chinese message and nothing of the value, every echoed value is
escaped, and the service sends a Content-Security-Policy. Real HTTP through the real proxy and
hub OAuth on the shared ``target`` platform, admin1 logged in.
"""

from __future__ import annotations

import time
from datetime import date

import pytest
import requests

from tests.integration.test_dashboards import outputs_text

pytestmark = pytest.mark.integration

PAGES = ["overview", "by_unit", "laggards"]
SCRIPT = "<script>alert(document.cookie)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(document.domain)>'
UNKNOWN = "没有找到该学习活动"
# a campaign name an administrator's YAML could carry: stored markup must be shown, not run
STORED_NAME = "安全测试学习月<img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def campaign(target) -> str:
    from grading.records.db import session_scope
    from grading.records.models import Campaign, CampaignCourse, Course

    with session_scope(target.datadir.records_db_url) as s:
        if s.get(Course, "sec_dash") is None:
            s.add(Course(id="sec_dash", title="仪表盘安全测试课", hours=1))
        if s.get(Campaign, "sec-dash") is None:
            camp = Campaign(id="sec-dash", name=STORED_NAME, start=date(2026, 11, 1),
                            end=date(2026, 11, 30))
            camp.courses.append(CampaignCourse(course_id="sec_dash", audience="cadre", required=True))
            s.add(camp)
    return "sec-dash"


@pytest.fixture(scope="module")
def admin(target) -> requests.Session:
    return target.login("admin1")


def dashboard(target, session: requests.Session, page: str, campaign: str) -> requests.Response:
    url = f"{target.url}/services/dashboards/voila/render/{page}.ipynb"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # the service may still be warming its kernels
        r = session.get(url, params={"campaign": campaign}, timeout=180)
        if r.status_code not in (404, 502, 503):
            assert r.status_code == 200, (r.status_code, r.text[:500])
            return r
        time.sleep(1)
    pytest.fail("dashboards service never answered:\n" + target.log_text()[-4000:])


@pytest.mark.parametrize("payload", [SCRIPT, ATTRIBUTE], ids=["script", "attribute"])
def test_campaign_parameter_never_reaches_the_page_as_markup(target, admin, campaign, payload):
    for page in PAGES:
        r = dashboard(target, admin, page, payload)
        shown = outputs_text(r.text)
        # neither the raw page nor any output the browser renders carries the markup
        assert payload not in r.text, page
        assert "<script>alert" not in shown and "<img src=x" not in shown, (page, shown[-1500:])
        assert UNKNOWN in shown, (page, shown[-1500:])
        assert "参学率" not in shown and "下钻" not in shown  # the page stopped: no data


def test_unknown_campaign_gets_a_chinese_message(target, admin, campaign):
    r = dashboard(target, admin, "overview", "no-such-campaign")
    shown = outputs_text(r.text)
    assert UNKNOWN in shown, shown[-1500:]
    assert "no-such-campaign" not in shown  # never echoed back
    assert "There was an error" not in shown and "Error" not in shown.split("</style>")[-1]


def test_stored_markup_in_a_campaign_name_is_escaped(target, admin, campaign):
    r = dashboard(target, admin, "overview", campaign)
    shown = outputs_text(r.text)
    assert "安全测试学习月&lt;img src=x onerror=alert(2)&gt;" in shown, shown[-2000:]
    assert "<img src=x onerror=alert(2)>" not in shown
    assert "参学率" in shown  # a known campaign still shows its numbers
    assert f'href="by_unit.ipynb?campaign={campaign}"' in shown


def test_dashboards_send_a_content_security_policy(target, admin, campaign):
    r = dashboard(target, admin, "overview", campaign)
    csp = {d.split()[0]: d.split()[1:] for d in
           (part.strip() for part in r.headers.get("Content-Security-Policy", "").split(";")) if d}
    assert csp.get("default-src") == ["'self'"], csp
    assert "'unsafe-eval'" not in csp.get("script-src", []), csp
    assert csp.get("object-src") == ["'none'"] and csp.get("frame-ancestors") == ["'self'"], csp
    assert "connect-src" in csp and "base-uri" in csp and "form-action" in csp, csp

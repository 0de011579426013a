"""The dashboards through a real Voila (preheated kernels, as the service runs it): every
notebook renders with the figures the report queries give; behind a real JupyterHub an
administrator gets in and a learner is refused (the shared ``hub`` fixture: the real ``xuefa up``).
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from grading.records import migrate

from grading.reports import queries as reports

from hub_config.tools import synth
from grading.host.datadir import DataDir
from tests.conftest import free_port
from widgets import charts

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent
NOTEBOOKS = ["overview", "by_unit", "trend", "laggards", "items"]


def outputs_text(page: str) -> str:
    """The HTML/text outputs of a Voila page (Voila 0.5 embeds them as JSON script blocks)."""
    texts = []
    for block in re.findall(r'<script type="application/vnd.(?:voila.cell|jupyter)-?output\+json">(.*?)</script>', page, re.S):
        out = json.loads(htmllib.unescape(block) if "&quot;" in block else block)
        data = out.get("data", {})
        texts.append(data.get("text/html") or data.get("text/plain") or out.get("text", ""))
    return "\n".join(texts)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120, **kw) -> requests.Response:
    """GET ``url`` until it answers something other than "not there yet" (404/502/503)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("process exited:\n" + log.read_text()[-4000:])
        try:
            r = requests.get(url, timeout=60, **kw)
            if r.status_code not in (404, 502, 503):
                return r
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer:\n" + log.read_text()[-4000:])


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> DataDir:
    data = DataDir(tmp_path_factory.mktemp("dash") / "data").ensure()
    migrate.upgrade(data.records_db_url)
    synth.generate(data.records_db_url, 200, seed=11, events_per_participant=(1, 3))
    return data


@pytest.fixture(scope="module")
def voila(city, tmp_path_factory):
    """The dashboards service as the hub would start it, minus the hub (loopback, no auth)."""
    port = free_port()
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    env["XUEFA_DATA_DIR"] = str(city.root)
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub_config.dashboards_service", "--port", str(port)],
            env=env, stdout=f, stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/voila/files/plotly.min.js", proc, log)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def pages(voila):
    base, log = voila
    got = {}
    for nb in NOTEBOOKS:
        r = requests.get(f"{base}/voila/render/{nb}.ipynb", timeout=180)
        assert r.status_code == 200, (nb, r.status_code, log.read_text()[-3000:])
        got[nb] = outputs_text(r.text)
        assert "Traceback" not in got[nb] and "Error" not in got[nb].split("</style>")[-1], got[nb][-2000:]
    return got


def test_overview_shows_the_rates(city, pages):
    url = city.records_db_url
    ov = reports.overview(url, synth_campaign(url))
    text = pages["overview"]
    assert ov.campaign in text
    for label, value in [("应学人数", str(ov.learners)), ("参学率", charts.pct(ov.participation_rate)),
                         ("完成率", charts.pct(ov.completion_rate)), ("合格率", charts.pct(ov.pass_rate)),
                         ("平均成绩", f"{ov.avg_score:g}"), ("累计学时", f"{ov.hours:g}")]:
        assert re.search(label + r'</div><div class="v">' + re.escape(value) + "<", text), label
    assert "国办函〔2026〕12号" in text


def test_by_unit_table_and_chart(city, pages):
    units = reports.by_unit(city.records_db_url, synth_campaign(city.records_db_url))
    text = pages["by_unit"]
    for u in units.itertuples():
        assert f">{u.unit}</td>" in text
        assert charts.pct(u.completion_rate) in text
    assert "各单位完成率" in text  # the plotly chart (mime output, drawn by jupyterlab-plotly)


def test_trend_laggards_and_items(city, pages):
    url = city.records_db_url
    cid = synth_campaign(url)
    trend = reports.daily_trend(url, cid)
    assert f"<td>{int(trend['cumulative'].iloc[-1])}</td>" in pages["trend"]
    lag = reports.laggards(url, cid)
    assert f"共 {len(lag)} 人" in pages["laggards"]
    assert f">{lag.iloc[0]['name']}</td>" in pages["laggards"]
    ia = reports.item_analysis(url, cid, sorted({c for c in reports.item_analysis(url, cid).by_question["course_id"]})[0])
    hardest = ia.by_question.iloc[0]
    assert f">{hardest.question_id}</td>" in pages["items"]
    assert charts.pct(hardest.share_correct) in pages["items"]


def test_unknown_campaign_is_refused_in_chinese(voila):
    base, _ = voila
    for nb in ("overview", "items"):
        r = requests.get(f"{base}/voila/render/{nb}.ipynb", params={"campaign": "no-such"}, timeout=180)
        text = outputs_text(r.text)
        assert r.status_code == 200 and "没有找到该学习活动" in text, text[-1500:]
        assert "no-such" not in text and "There was an error" not in text


def test_only_plotly_is_served_as_a_file(voila):
    base, _ = voila
    assert requests.get(f"{base}/voila/files/overview.ipynb", timeout=30).status_code == 403
    assert requests.get(f"{base}/voila/files/../../records.sqlite", timeout=30).status_code in (403, 404)


def synth_campaign(url: str) -> str:
    return reports.campaigns(url)["id"].iloc[0]


# --- behind the hub (the shared ``hub`` fixture: the real ``xuefa up``) ------------------------


@pytest.fixture(scope="module")
def hub_env() -> dict[str, str]:
    return {"XUEFA_DISABLE_SERVICES": "grading,idle-culler"}


def seed_campaign(url: str) -> str:
    """A campaign over the fixture's roster (learner1 is a 干部, so in scope)."""
    from datetime import date

    from grading.records.db import session_scope
    from grading.records.models import Campaign, CampaignCourse, Course

    with session_scope(url) as s:
        if s.get(Course, "it_dash") is None:
            s.add(Course(id="it_dash", title="仪表盘测试课", hours=1))
        if s.get(Campaign, "it-dash") is None:
            camp = Campaign(id="it-dash", name="仪表盘测试学习月", start=date(2026, 11, 1), end=date(2026, 11, 30))
            camp.courses.append(CampaignCourse(course_id="it_dash", audience="cadre", required=True))
            s.add(camp)
    return "it-dash"


def open_dashboard(hub, session: requests.Session, campaign: str) -> requests.Response:
    url = f"{hub.url}/services/dashboards/voila/render/overview.ipynb?campaign={campaign}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the service may still be starting its kernels
        r = session.get(url, timeout=180)
        if r.status_code not in (404, 502, 503):
            return r
        time.sleep(1)
    pytest.fail("dashboards service never answered:\n" + hub.log_text()[-4000:])


def test_admin_in_learner_out(hub):
    campaign = seed_campaign(hub.datadir.records_db_url)
    anonymous = open_dashboard(hub, requests.Session(), campaign)
    assert "参学率" not in anonymous.text
    assert "/hub/login" in anonymous.url  # sent to the hub's login page

    r = open_dashboard(hub, hub.login("admin1"), campaign)
    assert r.status_code == 200, hub.log_text()[-3000:]
    text = outputs_text(r.text)
    assert "仪表盘测试学习月" in text and "参学率" in text

    r = open_dashboard(hub, hub.login("learner1"), campaign)
    assert r.status_code == 403
    assert "参学率" not in r.text and "仪表盘测试学习月" not in r.text


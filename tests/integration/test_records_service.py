"""The records service behind a real JupyterHub, over real HTTP through the proxy:
a learner's token records that learner's event (the username comes from the hub, not the
body), requests without a token or without access to the service are refused, a learner
reads only their own results, and rows land in the records DB.

Uses the hub helper's ``hub`` fixture shape when it lands; until then this file starts a
minimal hub of its own (DummyAuthenticator, the records service as a managed service).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from grading import migrate
from grading.datadir import DataDir
from grading.db import session_scope
from grading.models import Audience, Learner, LearningEvent, Result, Role, Unit
from tests.conftest import free_port

pytestmark = pytest.mark.integration

ADMIN_TOKEN = uuid.uuid4().hex
VENV_BIN = Path(sys.executable).parent


def http(method, url, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
    except OSError:  # not listening yet
        return 0, None


def seed(url: str) -> None:
    with session_scope(url) as s:
        unit = Unit(path="海安市", name="海安市", level=0)
        s.add(unit)
        s.flush()
        for name in ("ganbu1", "zhengfa1"):
            s.add(Learner(username=name, name=name, unit_id=unit.id, audience=Audience.cadre,
                          role=Role.learner))
        s.flush()
        ids = {l.username: l.id for l in s.scalars(select(Learner))}
        for name, score in (("ganbu1", 90.0), ("zhengfa1", 40.0)):
            s.add(Result(learner_id=ids[name], course_id="demo", assignment="module", attempt=1,
                         score=score, max_score=100, passed=score >= 60,
                         details=[{"id": "q1", "correct": score >= 60}],
                         submitted_at=datetime(2026, 11, 1)))


@pytest.fixture
def records_hub(tmp_path):
    if not (VENV_BIN / "configurable-http-proxy").exists() and not shutil.which(
            "configurable-http-proxy"):
        pytest.skip("configurable-http-proxy missing: run python3 -m hub_config.installer setup")
    data = DataDir(tmp_path / "data").ensure()
    migrate.upgrade(data.records_db_url)
    seed(data.records_db_url)
    port, hub_port, svc_port, api_port = free_port(), free_port(), free_port(), free_port()
    cfg = tmp_path / "jupyterhub_config.py"
    cfg.write_text(f"""
c = get_config()
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.JupyterHub.db_url = "sqlite:///{tmp_path / 'hub.sqlite'}"
c.JupyterHub.cookie_secret_file = "{tmp_path / 'cookie_secret'}"
c.JupyterHub.pid_file = "{tmp_path / 'hub.pid'}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.cleanup_servers = True
c.JupyterHub.services = [
    {{"name": "records", "url": "http://127.0.0.1:{svc_port}",
      "command": [{sys.executable!r}, "-m", "hub_config.records_service"],
      "environment": {{"XUEFA_DATA_DIR": {str(data.root)!r}}}}},
    {{"name": "test-admin", "api_token": "{ADMIN_TOKEN}"}},
]
c.JupyterHub.load_roles = [
    {{"name": "test-admin", "scopes": ["admin:users", "tokens"], "services": ["test-admin"]}},
    {{"name": "user", "scopes": ["self", "access:services!service=records"]}},
]
""")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(tmp_path / "hub.log", "wb")
    proc = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(cfg)], cwd=tmp_path,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("hub exited:\n" + (tmp_path / "hub.log").read_text()[-3000:])
            status, _ = http("GET", f"{base}/services/records/")
            if status == 200:
                break
            time.sleep(0.5)
        else:
            pytest.fail("records service not reachable:\n" + (tmp_path / "hub.log").read_text()[-3000:])
        yield {"url": base, "records_url": data.records_db_url, "log": tmp_path / "hub.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def user_token(base: str, name: str, scopes=None) -> str:
    status, _ = http("POST", f"{base}/hub/api/users/{name}", ADMIN_TOKEN)
    assert status in (201, 409)
    body = {"note": "test"} | ({"scopes": scopes} if scopes is not None else {})
    status, tok = http("POST", f"{base}/hub/api/users/{name}/tokens", ADMIN_TOKEN, body)
    assert status == 201, tok
    return tok["token"]


def events_of(url: str) -> list[tuple[str, str, str]]:
    with session_scope(url) as s:
        rows = s.execute(select(Learner.username, LearningEvent.kind, LearningEvent.client_id)
                         .join(Learner, Learner.id == LearningEvent.learner_id)).all()
        return [tuple(r) for r in rows]


def test_learner_records_own_events_only(records_hub):
    base, db = records_hub["url"], records_hub["records_url"]
    api = f"{base}/services/records/api/events"
    ganbu = user_token(base, "ganbu1", ["access:services!service=records"])
    event = {"client_id": "c-1", "kind": "section_read", "course_id": "demo",
             "lesson": "lesson1", "item": "一", "correct": None, "payload": {"seconds": 99},
             "username": "zhengfa1", "learner_id": 2}  # spoofing fields are ignored

    status, body = http("POST", api, ganbu, event)
    assert status == 201, body
    assert events_of(db) == [("ganbu1", "section_read", "c-1")]
    with session_scope(db) as s:
        row = s.scalar(select(LearningEvent))
        assert row.payload == {}  # no time-on-page evidence is stored

    # a retried post is recorded once
    status, body = http("POST", api, ganbu, event)
    assert status == 200 and body["created"] is False
    assert len(events_of(db)) == 1

    # refused: no token, a bad token, a token without access to the service
    assert http("POST", api, None, {**event, "client_id": "c-2"})[0] == 403
    assert http("POST", api, "not-a-token", {**event, "client_id": "c-3"})[0] == 403
    narrow = user_token(base, "ganbu1", ["read:users:name!user=ganbu1"])
    assert http("POST", api, narrow, {**event, "client_id": "c-4"})[0] == 403
    # a hub user who is not on the roster
    stranger = user_token(base, "stranger", ["access:services!service=records"])
    assert http("POST", api, stranger, {**event, "client_id": "c-5"})[0] == 403
    # malformed events are refused with a reason
    status, body = http("POST", api, ganbu, {"client_id": "c-6", "kind": "time_on_page"})
    assert status == 400 and "未知的事件类型" in body["error"]
    assert events_of(db) == [("ganbu1", "section_read", "c-1")]

    # another learner's token records under that learner
    zheng = user_token(base, "zhengfa1", ["access:services!service=records"])
    assert http("POST", api, zheng, {**event, "client_id": "c-1"})[0] == 201
    assert sorted(events_of(db)) == [("ganbu1", "section_read", "c-1"),
                                     ("zhengfa1", "section_read", "c-1")]


def test_learner_reads_own_results_only(records_hub):
    base = records_hub["url"]
    api = f"{base}/services/records/api/results?course=demo&assignment=module"
    ganbu = user_token(base, "ganbu1", ["access:services!service=records"])
    status, body = http("GET", api, ganbu)
    assert status == 200
    assert [r["score"] for r in body["results"]] == [90.0]
    assert http("GET", api + "&user=zhengfa1", ganbu)[1]["results"][0]["score"] == 90.0
    assert http("GET", api, None)[0] == 403
    status, _ = http("GET", f"{base}/services/records/api/me/learning", ganbu)
    assert status in (200, 404)

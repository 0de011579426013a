"""A learner floods the records service (the one platform service a learner's kernel may call):
a 10 MB event body is refused with 413 and a Chinese message, from the learner's own kernel
(straight to the service, as widgets do) and through the public proxy with their token, and the
service keeps answering; its answers cannot be rendered as pages on the hub's origin."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

pytestmark = pytest.mark.integration

FLOOD_FROM_KERNEL = r"""
import json, os, urllib.error, urllib.request
from widgets.events import records_url
base = records_url()
body = b'{"kind": "section_read", "client_id": "' + b"x" * (10 * 1024 * 1024) + b'"}'
req = urllib.request.Request(base + "api/events", data=body, method="POST",
                             headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"],
                                      "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=120) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode()[:300]}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()[:300]}))
"""


def records(target) -> str:
    return f"{target.url}/services/records/"


def still_answers(target, token: str) -> None:
    event = {"client_id": uuid.uuid4().hex, "kind": "section_read", "course_id": "pingtai_rumen",
             "lesson": "lesson1", "item": "s1"}
    r = requests.post(records(target) + "api/events", json=event,
                      headers={"Authorization": f"token {token}"}, timeout=60)
    assert r.status_code == 201, (r.status_code, r.text)


def test_a_10mb_event_from_the_learners_kernel_is_refused_with_413(target, attacker):
    stdout, err = attacker.run(FLOOD_FROM_KERNEL)
    assert stdout.strip(), err
    answer = json.loads(stdout.strip().splitlines()[-1])
    assert answer["status"] == 413, answer
    assert "请求体过大" in json.loads(answer["body"])["error"]
    still_answers(target, attacker.token)


def test_a_10mb_event_through_the_proxy_is_refused_and_the_service_keeps_answering(target, attacker):
    r = requests.post(records(target) + "api/events", data=b"x" * (10 * 1024 * 1024),
                      headers={"Authorization": f"token {attacker.token}",
                               "Content-Type": "application/json"}, timeout=120)
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert "请求体过大" in r.json()["error"]
    still_answers(target, attacker.token)


def test_records_answers_carry_a_strict_csp_and_nosniff(target, attacker):
    for r in (requests.get(records(target), timeout=30),
              requests.get(records(target) + "api/results?course=pingtai_rumen",
                           headers={"Authorization": f"token {attacker.token}"}, timeout=30),
              requests.post(records(target) + "api/events", data=b"<script>alert(1)</script>",
                            headers={"Authorization": f"token {attacker.token}"}, timeout=30)):
        assert r.headers.get("Content-Security-Policy", "").startswith("default-src 'none'"), r.headers
        assert r.headers.get("X-Content-Type-Options") == "nosniff"

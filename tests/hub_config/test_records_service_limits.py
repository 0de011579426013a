"""The records service's own guards, on a real Tornado server over HTTP (no hub needed: the size
check comes before authentication). The attack through the platform's proxy is in
``tests/security/test_records_service.py``."""

from __future__ import annotations

import asyncio
import threading

import pytest
import requests
from tornado.httpserver import HTTPServer

from hub_config.records_service import MAX_BODY, RecordsService
from tests.conftest import free_port


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    port = free_port()
    db = tmp_path_factory.mktemp("records") / "records.sqlite"
    ready = threading.Event()
    state = {}

    def serve():
        async def main():
            svc = RecordsService(db_url=f"sqlite:///{db}", prefix="/services/records/",
                                 port=port, ip="127.0.0.1")
            server = HTTPServer(svc.make_app(), xheaders=True)
            server.listen(port, "127.0.0.1")
            state["stop"] = asyncio.Event()
            state["loop"] = asyncio.get_running_loop()
            ready.set()
            await state["stop"].wait()
            server.stop()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}/services/records/"
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)


def assert_secure_headers(r):
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_a_body_over_the_cap_is_refused_with_413_in_chinese(service):
    r = requests.post(service + "api/events", data=b"x" * (10 * 1024 * 1024), timeout=60)
    assert r.status_code == 413 and "请求体过大" in r.json()["error"]
    assert_secure_headers(r)


def test_a_chunked_body_without_length_is_counted_too(service):
    chunks = (b"x" * 16384 for _ in range(MAX_BODY // 16384 + 4))
    r = requests.post(service + "api/events", data=chunks, timeout=60)
    assert r.status_code == 413 and "请求体过大" in r.json()["error"]


def test_every_answer_carries_the_security_headers(service):
    for r in (requests.get(service, timeout=10),
              requests.get(service + "no/such/api", timeout=10),
              requests.post(service + "api/events", json={"kind": "x"}, timeout=10)):
        assert_secure_headers(r)
    assert requests.get(service, timeout=10).status_code == 200
    nf = requests.get(service + "no/such/api", timeout=10)
    assert nf.status_code == 404 and "text/html" not in nf.headers["Content-Type"]


def test_a_plain_urllib_client_reads_the_413_not_a_broken_pipe(service):
    # the learner's kernel posts with urllib, which (unlike urllib3) gives up on a broken pipe:
    # the service must read the upload to its end before answering
    import urllib.error
    import urllib.request

    req = urllib.request.Request(service + "api/events", data=b"x" * (10 * 1024 * 1024),
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    assert e.value.code == 413 and "请求体过大" in e.value.read().decode()

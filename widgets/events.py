"""The records-service client of the learner's kernel, and the learning-event queue.

:func:`records_request` is the one way widgets talk to the hub-managed ``records`` service
(as the learner, with their ``JUPYTERHUB_API_TOKEN``): 我的学习 reads ``api/me/learning``,
提交 reads ``api/results``, and the event queue posts ``api/events``.

Learning events are evidence of learning (lesson opened, section read, practice answered).
They are appended to a jsonl queue on disk first and posted by a daemon thread with
retry, so the page never waits for the network and nothing is lost when the service is
down. Each event carries a uuid ``client_id``; the service records a client_id once, so a
re-post after a crash is harmless. Nothing here measures time on page (国办函〔2026〕12号).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

KINDS = ("lesson_opened", "section_read", "practice_answered")


def records_url() -> str | None:
    """Base URL of the records service as seen from the learner's kernel."""
    url = os.environ.get("XUEFA_RECORDS_URL")
    if url:
        return url.rstrip("/") + "/"
    public = os.environ.get("JUPYTERHUB_PUBLIC_URL") or os.environ.get("JUPYTERHUB_HOST")
    base = os.environ.get("JUPYTERHUB_BASE_URL", "/")
    if public:
        return public.rstrip("/") + base.rstrip("/") + "/services/records/"
    api = os.environ.get("JUPYTERHUB_API_URL")  # http://127.0.0.1:8081/hub/api
    if api:
        return _service_url_from_hub(api)
    return None


def _service_url_from_hub(api: str) -> str | None:
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    try:
        req = urllib.request.Request(api.rstrip("/") + "/services/records",
                                     headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            info = json.load(r)
        return info.get("url", "").rstrip("/") + "/" if info.get("url") else None
    except Exception:  # noqa: BLE001 - no hub answer: the caller queues and retries
        return None


class NoRecordsService(RuntimeError):
    """Not running on the platform: no way to find the records service."""


def records_request(path: str, *, query: dict | None = None, body: dict | None = None,
                    token: str | None = None, base: str | None = None, timeout: float = 10):
    """Call ``{records}/{path}`` as the learner: GET, or POST of ``body`` as JSON. Returns the
    decoded JSON answer (None for an empty one). Raises :class:`NoRecordsService` when there
    is no service to ask, ``urllib.error.HTTPError`` for a non-2xx answer, ``OSError`` or
    ``ValueError`` for the network or a garbled answer."""
    base = base or records_url()
    if not base:
        raise NoRecordsService("records service URL unknown (not running on the platform)")
    url = base + path + ("?" + urlencode(query) if query else "")
    token = token if token is not None else os.environ.get("JUPYTERHUB_API_TOKEN", "")
    headers = {"Authorization": f"token {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw.strip() else None


class EventClient:
    """Queue file + background sender. One per kernel."""

    def __init__(self, queue_dir: Path, url: str | None = None, token: str | None = None,
                 retry_seconds: float = 5.0):
        self.dir = Path(queue_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.queue = self.dir / "queue.jsonl"
        self.lockfile = self.dir / "queue.lock"
        self._url = url
        self.token = token if token is not None else os.environ.get("JUPYTERHUB_API_TOKEN", "")
        self.retry_seconds = retry_seconds
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @classmethod
    def for_learner(cls) -> "EventClient":
        # the home-level queue is shared by every kernel of this learner and is not swept
        # into nbgrader submissions (files beside the notebook would be)
        return cls(Path(os.environ.get("XUEFA_EVENTS_DIR", Path.home() / ".xuefa" / "events")))

    @property
    def url(self) -> str | None:
        if self._url is None:
            self._url = records_url()
        return self._url

    @contextmanager
    def _locked(self):
        with open(self.lockfile, "a") as lf:
            fcntl.flock(lf, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lf, fcntl.LOCK_UN)

    def send(self, kind: str, course_id=None, lesson=None, item=None, correct=None,
             payload: dict | None = None) -> str:
        event = {"client_id": uuid.uuid4().hex, "kind": kind, "course_id": course_id,
                 "lesson": lesson, "item": item, "correct": correct, "payload": payload or {},
                 "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with self._locked():
            with open(self.queue, "a", encoding="utf-8") as f:
                f.write(json.dumps(event, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
        self._ensure_thread()
        self._wake.set()
        return event["client_id"]

    def pending(self) -> list[dict]:
        with self._locked():
            return self._read()

    def _read(self) -> list[dict]:
        out = []
        try:
            lines = self.queue.read_text(encoding="utf-8").splitlines()
        except OSError:
            return out
        for line in lines:
            try:
                ev = json.loads(line)
                if isinstance(ev, dict) and ev.get("client_id"):
                    out.append(ev)
            except ValueError:
                continue  # a torn line from a crash: drop it
        return out

    def flush(self) -> int:
        """Post what is queued; keep what failed. Returns how many were sent."""
        events = self.pending()
        if not events or not self.url:
            return 0
        sent = set()
        for ev in events:
            if self._post(ev):
                sent.add(ev["client_id"])
            else:
                break
        if sent:
            with self._locked():
                rest = [e for e in self._read() if e["client_id"] not in sent]
                tmp = self.queue.with_suffix(".tmp")
                tmp.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in rest),
                               encoding="utf-8")
                os.replace(tmp, self.queue)
        return len(sent)

    def _post(self, ev: dict) -> bool:
        body = {k: ev.get(k) for k in ("client_id", "kind", "course_id", "lesson", "item",
                                       "correct", "payload")}
        try:
            records_request("api/events", body=body, token=self.token, base=self.url, timeout=10)
            ok = True
        except urllib.error.HTTPError as e:
            # a 4xx will never succeed: drop it instead of blocking the queue forever
            ok = 400 <= e.code < 500 and e.code not in (401, 403, 404, 429)
            self.last_error = f"HTTP {e.code}"
        except Exception as e:  # noqa: BLE001 - any failure keeps the event queued
            self.last_error = repr(e)
            ok = False
        return ok

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="xuefa-events", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        delay = self.retry_seconds
        while True:
            self._wake.wait(timeout=delay)
            self._wake.clear()
            try:
                self.flush()
                delay = self.retry_seconds if not self.pending() else min(delay * 2, 300)
            except Exception:  # noqa: BLE001 - the sender thread must never die
                delay = min(delay * 2, 300)

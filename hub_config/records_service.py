"""The ``records`` hub-managed service: learners' learning events in, their own results out.

Run by JupyterHub as ``python -m hub_config.records_service`` (see hub_config/services.py).
Every request is authenticated with a hub token (the learner's server token carries
``access:services!service=records`` through ``Spawner.server_token_scopes``); the username
always comes from the hub's answer about that token, never from the request body, so a
learner can record and read only their own events and results.

    POST {prefix}api/events        {client_id, kind, course_id, lesson, item, correct, payload}
    GET  {prefix}api/results?course=..&assignment=..   this learner's graded attempts, details cut
                                   to what the reveal rule allows now (grading.records.exams)
    GET  {prefix}api/paper?course=..&assignment=..     this learner's drawn paper of the next
                                   attempt (public form: no key, no 解析), or 403 with the reason
    GET  {prefix}api/wrongbook     this learner's wrong answers across courses (错题本)
    GET  {prefix}api/me/learning   grading.records.learner_home.my_learning(url, username), if present

Anything a learner's kernel can reach is an attacker's tool: a request body is kept only up to
:data:`MAX_BODY` (64 KB; beyond that the upload is drained without being stored and answered
with 413 and a Chinese message, and the service keeps answering), each event's text fields are
length-checked (``grading.records.events``) and its payload capped (:data:`MAX_PAYLOAD`), and every
response carries ``Content-Security-Policy: default-src 'none'`` and ``nosniff`` so no answer
can be rendered as a page on the hub's origin.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuthenticated
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Integer, Unicode, default
from traitlets.config import Configurable

# imported with the service, not at the first paper request: importing the bank's code
# (pydantic models, nbformat) took seconds on a loaded machine, longer than a learner waits
from grading.content import bank as banks
from grading.content.courses import FormatError, load_course
from grading.records import events as records
from grading.records.db import session_scope
from grading.records.models import Course, Learner
from grading.records import exams, learner_home, migrate, papers
from grading.host.datadir import DataDir
from grading.host.perms import private_umask

BIND_ENV = "XUEFA_SERVICE_BIND"

log = logging.getLogger("xuefa.records")

MAX_BODY = 64 * 1024
MAX_PAYLOAD = 16 * 1024  # an event's free-form payload, as JSON text
MSG_TOO_BIG = f"请求体过大（最多 {MAX_BODY // 1024} KB）"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SecureHeaders:
    """Mixin: the security headers on every response, errors included (``send_error`` clears
    headers and calls ``set_default_headers`` again)."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)


class BaseHandler(SecureHeaders, HubAuthenticated, web.RequestHandler):
    def initialize(self, db_url: str) -> None:
        self.db_url = db_url

    def learner(self) -> str:
        """The hub user behind the token; services and anonymous callers are refused."""
        user = self.current_user
        if not user or user.get("kind", "user") != "user" or not user.get("name"):
            raise web.HTTPError(403, "需要学员本人的登录凭据")
        return user["name"]

    def write_error(self, status_code: int, **kwargs) -> None:
        reason = self._reason
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            reason = exc.log_message
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": reason}, ensure_ascii=False))

    def send(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False))


@web.stream_request_body
class EventsHandler(BaseHandler):
    """Streams the body so a huge one is never held in memory: counted chunk by chunk, kept
    only up to :data:`MAX_BODY`, and refused with 413 once it has been read to the end.

    Answering before the upload ends would be quicker, but Tornado then closes the connection
    while the client is still sending: the client (or configurable-http-proxy, which turns it
    into a 503) sees a broken pipe instead of the 413. Draining costs bandwidth, not memory;
    beyond Tornado's ``max_body_size`` (100 MB) the connection is refused outright."""

    def prepare(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        length = self.request.headers.get("Content-Length", "")
        self._too_big = length.isdigit() and int(length) > MAX_BODY

    def data_received(self, chunk: bytes) -> None:
        if self._too_big:
            return
        self._size += len(chunk)
        if self._size <= MAX_BODY:
            self._chunks.append(chunk)
        else:  # chunked upload without Content-Length
            self._too_big, self._chunks = True, []

    async def post(self) -> None:
        if self._too_big:
            raise web.HTTPError(413, MSG_TOO_BIG)
        username = self.learner()
        try:
            body = json.loads(b"".join(self._chunks) or b"{}")
        except (ValueError, RecursionError):
            raise web.HTTPError(400, "请求体不是有效的 JSON") from None
        payload = body.get("payload") if isinstance(body, dict) else None
        if payload is not None and len(json.dumps(payload, ensure_ascii=False)) > MAX_PAYLOAD:
            raise web.HTTPError(400, f"字段 payload 过大（最多 {MAX_PAYLOAD // 1024} KB）")
        try:
            rec = await asyncio.to_thread(records.record_event, self.db_url, username, body)
        except records.BadEvent as e:
            raise web.HTTPError(400, str(e)) from None
        if rec is None:
            raise web.HTTPError(403, "学员名册中没有该账号")
        self.send({"id": rec.id, "created": rec.created}, 201 if rec.created else 200)


COURSE_RE = re.compile(r"[a-z0-9_]{1,64}")


def _course_args(handler: BaseHandler) -> tuple[str, str]:
    course = handler.get_argument("course", "")
    assignment = handler.get_argument("assignment", learner_home.ASSIGNMENT)
    if not course:
        raise web.HTTPError(400, "缺少参数 course")
    # the course id names a directory under the data dir: nothing but an id gets near a path
    if not COURSE_RE.fullmatch(course) or not COURSE_RE.fullmatch(assignment):
        raise web.HTTPError(400, "参数 course 或 assignment 格式无效")
    return course, assignment


class ResultsHandler(BaseHandler):
    async def get(self) -> None:
        username = self.learner()
        course, assignment = _course_args(self)
        # Result.details holds the full items (keys, 解析); only the view the reveal rule
        # allows at this moment leaves the server
        view = await asyncio.to_thread(exams.results_view, self.db_url, username, course, assignment)
        self.send({"course": course, "assignment": assignment, "results": view["results"],
                   "reveal": view["reveal"], "attempts": view["attempts"]})


class PaperError(Exception):
    def __init__(self, status: int, message: str, reason: str | None = None):
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


def draw_paper(db_url: str, datadir: DataDir, username: str, course: str, assignment: str) -> dict:
    """The learner's paper for their next attempt (drawn once, then the stored one)."""

    root = datadir.course_root(course)
    bank_file = root / banks.BANK_FILE
    if not bank_file.is_file():
        raise PaperError(404, "本课程的测试不是随机组卷，没有个人试卷。")
    with session_scope(db_url) as s:
        learner = s.query(Learner).filter_by(username=username).one_or_none()
        if learner is None or not learner.active:
            raise PaperError(403, "名册中没有您的学习档案，请联系管理员。", "not_enrolled")
        st = exams.attempt_state(s, username, course, assignment)
        if not st.may_draw:
            raise PaperError(403, st.reason_zh, st.reason)
        attempt = st.used + 1
        c = s.get(Course, course)
        title = c.title if c is not None else course
        digest: list[str] = []

        def draw() -> list[dict]:
            try:
                bank = banks.load_bank(bank_file)
                spec = load_course(root / "course.yaml")
            except (FormatError, OSError) as e:
                log.error("paper of %s/%s: the published bank or course.yaml is unreadable: %s",
                          course, username, e)
                raise PaperError(500, "题库暂时无法读取，请联系讲师或管理员。") from None
            if spec.blueprint is None:
                raise PaperError(404, "本课程没有组卷规则，无法生成个人试卷。")
            seed = banks.paper_seed(datadir.paper_secret_bytes(), course, assignment, username, attempt)
            try:
                qs = banks.draw(bank, spec.blueprint, seed)
            except banks.BlueprintError as e:
                log.error("paper of %s/%s: %s", course, username, e)
                raise PaperError(500, f"无法按组卷规则生成试卷：{e}") from None
            digest.append(bank.digest)
            return qs

        paper = papers.get_or_draw(s, learner, course, assignment, attempt, draw,
                                   bank_digest=lambda: digest[0] if digest else "")
        return {
            "token": paper.token,
            "attempt": attempt,
            "used": st.used,
            "max": st.max,
            "counts": st.rules["counts"],
            "closes": st.closes.isoformat() if st.closes else None,
            "next_at": st.next_at.isoformat() if st.next_at else None,
            "title": title,
            "questions": [exams.public_question(q) for q in paper.questions or []],
        }


class PaperHandler(BaseHandler):
    def initialize(self, db_url: str, datadir: DataDir) -> None:
        super().initialize(db_url)
        self.datadir = datadir

    async def get(self) -> None:
        username = self.learner()
        course, assignment = _course_args(self)
        try:
            data = await asyncio.to_thread(draw_paper, self.db_url, self.datadir, username,
                                           course, assignment)
        except PaperError as e:
            body = {"error": e.message}
            if e.reason:
                body["reason"] = e.reason
            self.send(body, e.status)
            return
        self.send(data)


class WrongBookHandler(BaseHandler):
    async def get(self) -> None:
        username = self.learner()
        items = await asyncio.to_thread(exams.wrongbook, self.db_url, username)
        self.send({"items": items})


class MyLearningHandler(BaseHandler):
    async def get(self) -> None:
        username = self.learner()
        data = await asyncio.to_thread(learner_home.my_learning, self.db_url, username)
        self.send(data)


class HealthHandler(SecureHeaders, web.RequestHandler):
    def get(self) -> None:
        self.finish({"ok": True})


class NotFoundHandler(SecureHeaders, web.RequestHandler):
    def prepare(self) -> None:
        raise web.HTTPError(404)

    def write_error(self, status_code: int, **kwargs) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": "没有这个接口"}, ensure_ascii=False))


class RecordsService(Configurable):
    """Configuration of the records service (defaults from the hub's service environment)."""

    db_url = Unicode(help="Records database URL (default: the data dir's records DB).").tag(config=True)
    prefix = Unicode(help="URL prefix (default: $JUPYTERHUB_SERVICE_PREFIX).").tag(config=True)
    port = Integer(help="Port to listen on (default: from $JUPYTERHUB_SERVICE_URL).").tag(config=True)
    ip = Unicode(help="Address to listen on (default: $XUEFA_SERVICE_BIND, else 127.0.0.1).").tag(config=True)

    @default("db_url")
    def _db_url(self):
        return DataDir.from_env().records_db_url

    @default("ip")
    def _ip(self):
        # loopback on one machine; on Kubernetes the proxy pod reaches us through the hub's
        # Service, so apply_k8s sets 0.0.0.0 (hub_config/k8s_config.py publish_services)
        return os.environ.get(BIND_ENV) or "127.0.0.1"

    @default("prefix")
    def _prefix(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/records/")

    @default("port")
    def _port(self):
        url = os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10102")
        return urlparse(url).port or 10102

    def make_app(self) -> web.Application:
        p = self.prefix if self.prefix.endswith("/") else self.prefix + "/"
        args = {"db_url": self.db_url}
        return web.Application([
            (p + "api/events", EventsHandler, args),
            (p + "api/results", ResultsHandler, args),
            (p + "api/paper", PaperHandler, {**args, "datadir": DataDir.from_env()}),
            (p + "api/wrongbook", WrongBookHandler, args),
            (p + "api/me/learning", MyLearningHandler, args),
            (p + r"?", HealthHandler),
        ], default_handler_class=NotFoundHandler)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s records %(levelname)s %(message)s")
    private_umask()  # the records DB and its WAL: root's alone
    svc = RecordsService()
    migrate.upgrade(svc.db_url)
    server = HTTPServer(svc.make_app(), xheaders=True)
    server.listen(svc.port, svc.ip)
    log.info("records service on %s:%s%s", svc.ip, svc.port, svc.prefix)
    # the hub stops its services with SIGTERM: a clean exit, not a KeyboardInterrupt traceback
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    log.info("records service stopped")


if __name__ == "__main__":
    asyncio.run(main())

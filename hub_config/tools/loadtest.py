"""``xuefa load``: N simulated learners against a real platform on loopback.

Each simulated learner does over HTTP what a person does in the browser, one asyncio task
each (aiohttp, its own cookie jar):

1. login -- the Chinese login form with its xsrf cookie, then the forced first-login
   password change (the roster gives everyone an initial password);
2. spawn -- ``/hub/spawn`` and the hub's progress event stream until the server is ready
   (what the spawn-pending page listens to);
3. home -- opening their server, which runs the OAuth hand-over and renders 我的学习 (plain
   HTML from the server itself, ``hub_config.home.server_ext``: no kernel);
4. start -- 开始学习 on 我的学习 (the page's form, with its _xsrf: the server fetches the
   module through nbgrader in a short-lived process);
5. answer + submit -- in a kernel of their own server (the same one Voila gives a page; kept
   open until every learner is through, as a quiz page left open): one answer-file write per
   question as the widgets do on each click, then the 提交 widget's own ``Submit().submit()``
   (nbgrader submit into the exchange);
6. score -- polling the records service's ``api/results`` (what 查看成绩 asks) until the
   grading service's score is there.

Learners arrive evenly over ``ramp`` seconds. Memory is the proportional set size (PSS) of
every process running as a simulated learner's system user, sampled every second; the peak
sum divided by the learners is ``mem_per_learner_mb`` (the hub, proxy and services are
reported beside it, not in it), split at that peak into the servers and their kernels. ``lost`` counts submissions nbgrader accepted that have no
Result row in the records DB at the end; ``errors`` counts 5xx responses and failed steps.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

NEW_PASSWORD = "Load-test-2026"
STEP_TIMEOUT = 300  # a page or step slower than this is a failure

KERNEL_CODE = """
import json, time
from widgets.home import fetch_module
import widgets as xf
from widgets.submit import Submit
_t0 = time.monotonic()
_d = fetch_module({course!r})
xf.setup(course={course!r}, assignment="module", mode="assessment",
         notebook=str(_d / "assessment.ipynb"))
_store = xf.current().store
for _qid, _value in json.loads({answers!r}).items():
    _store.set(_qid, _value)
_t1 = time.monotonic()
_w = Submit()
_info = _w.submit()
print("XUEFA-LOAD " + json.dumps({{"save_s": _t1 - _t0, "submit_s": time.monotonic() - _t1,
      "timestamp": str(_info["timestamp"]) if _info else None, "status": _w.status.value}},
      ensure_ascii=False))
"""


# --- what a learner answers ---------------------------------------------------------------------

def _answer_from_key(key: Any) -> Any:
    """The answer a learner who knows the key gives (fill-in: the first accepted variant)."""
    if isinstance(key, dict):
        return {k: _answer_from_key(v) for k, v in key.items()}
    if isinstance(key, list) and key and all(isinstance(v, list) for v in key):
        return [v[0] for v in key]
    return key


def course_answers(course_dir: Path, rng: random.Random) -> dict[str, Any]:
    """Answers for the course's assessment: mostly right, some wrong, as people do."""
    from grading.content.validate import read_notebook

    info = read_notebook(course_dir / "source" / "module" / "assessment.ipynb")
    keys = {g.qid: g.kwargs.get("key") for g in info.grades}
    answers: dict[str, Any] = {}
    for q in info.questions:
        if q.type == "essay":
            answers[q.id] = "依法履职，程序正当，保障当事人合法权益。"
        elif q.id in keys:
            right = _answer_from_key(keys[q.id])
            if q.type == "truefalse" and rng.random() < 0.2:
                right = not right
            answers[q.id] = right
    return answers


# --- measurements -------------------------------------------------------------------------------

@dataclass
class LearnerRun:
    username: str
    login_s: float | None = None
    spawn_s: float | None = None
    home_s: float | None = None
    save_s: float | None = None
    submit_s: float | None = None
    score_s: float | None = None
    submitted_at: str | None = None
    scored_at: float | None = None
    score: float | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Stats:
    server_errors: list[str] = field(default_factory=list)  # "<status> <method> <path>"
    requests: int = 0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


class MemorySampler(threading.Thread):
    """Peak summed PSS of the learners' processes (by uid) and of the rest of the platform."""

    def __init__(self, learner_uids: Callable[[], set[int]], platform_pids: Callable[[], list[int]],
                 every: float = 1.0):
        super().__init__(daemon=True, name="memory-sampler")
        self.learner_uids, self.platform_pids, self.every = learner_uids, platform_pids, every
        self.peak_learners_mb = 0.0
        self.peak_platform_mb = 0.0
        self.peak_learner_procs = 0
        # at the peak: the learners' single-user servers and their kernels (MB, summed)
        self.peak_split = {"server": 0.0, "kernel": 0.0, "other": 0.0}
        self._halt = threading.Event()

    def sample(self) -> None:
        import psutil

        uids = self.learner_uids()
        learners = platform = 0
        procs = 0
        split = {"server": 0, "kernel": 0, "other": 0}
        for pid in self.platform_pids():
            try:
                p = psutil.Process(pid)
                pss = p.memory_full_info().pss
                if p.uids().real in uids:
                    learners += pss
                    procs += 1
                    split[process_kind(p.cmdline())] += pss
                else:
                    platform += pss
            except (psutil.Error, OSError):
                continue
        if learners / 2**20 > self.peak_learners_mb:
            self.peak_learners_mb = learners / 2**20
            self.peak_learner_procs = procs
            self.peak_split = {k: v / 2**20 for k, v in split.items()}
        self.peak_platform_mb = max(self.peak_platform_mb, platform / 2**20)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


def process_kind(cmdline: list[str]) -> str:
    """"server" (jupyterhub-singleuser), "kernel" (ipykernel) or "other" (e.g. a fetch)."""
    text = " ".join(cmdline)
    if "ipykernel" in text:
        return "kernel"
    if "singleuser" in text:
        return "server"
    return "other"


# --- code in a learner's kernel ----------------------------------------------------------------

class HTTPFailure(RuntimeError):
    def __init__(self, status: int, what: str):
        super().__init__(f"{what} -> {status}")
        self.status, self.what = status, what


async def run_code(http, server_url: str, headers: dict, code: str,
                   keep: list | None = None) -> tuple[str, str]:
    """Run ``code`` in a new kernel of the single-user server at ``server_url`` (Jupyter REST
    + kernel websocket, as a page's kernel runs); returns (stdout, "ename: evalue" or "").
    The kernel is shut down afterwards, unless ``keep`` is a list: then its id is appended
    there and the kernel stays (a quiz page left open; :func:`shutdown_kernel` ends it)."""
    async with http.post(f"{server_url}/api/kernels", json={"name": "python3"}, headers=headers,
                         allow_redirects=False) as r:
        if r.status != 201:
            raise HTTPFailure(r.status, "POST api/kernels")
        kid = (await r.json())["id"]
    if keep is not None:
        keep.append(kid)
    try:
        return await _execute(http, f"{server_url}/api/kernels/{kid}/channels", headers, code)
    finally:
        if keep is None:
            await shutdown_kernel(http, server_url, headers, kid)


async def shutdown_kernel(http, server_url: str, headers: dict, kid: str) -> None:
    async with http.delete(f"{server_url}/api/kernels/{kid}", headers=headers):
        pass  # the kernel dies with the server anyway


async def _execute(http, url: str, headers: dict, code: str, reconnects: int = 3) -> tuple[str, str]:
    """Run ``code`` over the kernel's websocket. A websocket that drops is reconnected with the
    same ``session_id``, as a browser page does: jupyter_server keeps the session's messages
    meanwhile and replays them, so the code is sent once and its output is not lost."""
    import aiohttp

    msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
    out, err = "", ""
    ws_url = url.replace("http", "ws", 1) + f"?session_id={session}"
    request = json.dumps({
        "header": {"msg_id": msg_id, "username": "", "session": session,
                   "msg_type": "execute_request", "version": "5.3",
                   "date": datetime.now(timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}})
    sent = False
    for _attempt in range(reconnects + 1):
        async with http.ws_connect(ws_url, headers=headers, max_msg_size=0) as ws:
            if not sent:
                await ws.send_str(request)
                sent = True
            async for m in ws:
                if m.type != aiohttp.WSMsgType.TEXT:
                    break  # dropped (ERROR/CLOSE): reconnect and let the server replay
                msg = json.loads(m.data)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    out += msg["content"]["text"]
                elif kind == "error":
                    err = f"{msg['content']['ename']}: {msg['content']['evalue']}"
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    return out, err
        await asyncio.sleep(1.0)
    raise RuntimeError("kernel websocket closed before the code finished")


# --- one simulated learner ----------------------------------------------------------------------

class Learner:
    def __init__(self, base: str, username: str, password: str, course: str,
                 answers: dict[str, Any], stats: Stats, log: Callable[[str], None]):
        self.base, self.username, self.password = base, username, password
        self.course, self.answers, self.stats, self.log = course, answers, stats, log
        self.run = LearnerRun(username)
        self.token = ""
        self.location = ""  # of the last redirect
        # the quiz page's kernel stays open until every learner is done, so the peak memory
        # is "我的学习 and one quiz page open" for everyone at once
        self.kernels: list[str] = []
        self.home_html = ""

    def _xsrf(self, http) -> str:
        from yarl import URL

        c = http.cookie_jar.filter_cookies(URL(self.base + "/hub/"))
        return c["_xsrf"].value if "_xsrf" in c else ""

    async def _req(self, http, method: str, path: str, expect: tuple[int, ...] = (200,),
                   **kw) -> tuple[int, str]:
        self.stats.requests += 1
        kw.setdefault("allow_redirects", False)
        async with http.request(method, self.base + path, **kw) as r:
            text = await r.text(errors="replace")
            if r.status >= 500:
                self.stats.server_errors.append(f"{r.status} {method} {path.split('?')[0]}")
            if r.status not in expect:
                raise RuntimeError(f"{method} {path} -> {r.status}: {text[:200]}")
            loc = r.headers.get("Location", "")
            self.location = loc[len(self.base):] if loc.startswith(self.base) else loc
            return r.status, text

    async def login(self, http) -> None:
        t0 = time.monotonic()
        await self._req(http, "GET", "/hub/login")
        status, text = await self._req(
            http, "POST", "/hub/login", expect=(200, 302),
            data={"username": self.username, "password": self.password, "_xsrf": self._xsrf(http)})
        if status == 200:
            nonce = re.search(r'name="change_nonce" value="([^"]+)"', text)
            if not nonce:
                raise RuntimeError(f"login refused: {text[:200]}")
            await self._req(http, "POST", "/hub/login", expect=(302,),
                            data={"change_nonce": nonce.group(1), "new_password": NEW_PASSWORD,
                                  "confirm_password": NEW_PASSWORD, "_xsrf": self._xsrf(http)})
            self.password = NEW_PASSWORD
        self.run.login_s = time.monotonic() - t0

    async def spawn(self, http) -> None:
        t0 = time.monotonic()
        await self._req(http, "GET", f"/hub/spawn/{self.username}", expect=(302,))
        headers = {"X-XSRFToken": self._xsrf(http), "Accept": "text/event-stream"}
        url = f"{self.base}/hub/api/users/{self.username}/server/progress"
        self.stats.requests += 1
        async with http.get(url, headers=headers) as r:
            if r.status >= 500:
                self.stats.server_errors.append(f"{r.status} GET progress")
            if r.status != 200:
                raise RuntimeError(f"progress -> {r.status}")
            async for line in r.content:
                if not line.startswith(b"data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("failed"):
                    raise RuntimeError(f"spawn failed: {event.get('message')}")
                if event.get("ready"):
                    break
            else:
                raise RuntimeError("progress stream ended before the server was ready")
        self.run.spawn_s = time.monotonic() - t0

    async def open_home(self, http) -> None:
        t0 = time.monotonic()
        path = f"/user/{self.username}/"
        for _ in range(10):  # the OAuth hand-over is a few redirects
            status, text = await self._req(http, "GET", path, expect=(200, 302, 303))
            if status == 200:
                break
            path = self.location
        else:
            raise RuntimeError("too many redirects opening the home page")
        if "Traceback" in text or "我的学习" not in text:
            raise RuntimeError("我的学习 did not render")
        self.home_html = text
        self.run.home_s = time.monotonic() - t0

    async def start_module(self, http) -> None:
        """开始学习: the page's own form (a Voila 我的学习 had none: its kernel fetches below)."""
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', self.home_html)
        if not xsrf or "/xuefa/learning/start/" not in self.home_html:
            return
        await self._req(http, "POST", f"/user/{self.username}/xuefa/learning/start/{self.course}",
                        expect=(303,), data={"_xsrf": xsrf.group(1)})
        if "ready=" not in self.location:
            raise RuntimeError(f"开始学习 failed: {self.location}")

    async def new_token(self, http) -> None:
        _, text = await self._req(http, "POST", f"/hub/api/users/{self.username}/tokens",
                                  expect=(200, 201), json={"note": "load test", "expires_in": 7200},
                                  headers={"X-XSRFToken": self._xsrf(http)})
        self.token = json.loads(text)["token"]

    async def answer_and_submit(self, http) -> None:
        code = KERNEL_CODE.format(course=self.course, answers=json.dumps(self.answers))
        self.stats.requests += 3
        try:
            out, err = await run_code(http, f"{self.base}/user/{self.username}",
                                      {"Authorization": f"token {self.token}"}, code,
                                      keep=self.kernels)
        except HTTPFailure as e:
            if e.status >= 500:
                self.stats.server_errors.append(f"{e.status} {e.what}")
            raise
        if err:
            raise RuntimeError(f"kernel error: {err}")
        line = next((ln for ln in out.splitlines() if ln.startswith("XUEFA-LOAD ")), None)
        if line is None:
            raise RuntimeError(f"no result from the kernel: {out[-300:]}")
        info = json.loads(line[len("XUEFA-LOAD "):])
        if not info["timestamp"]:
            raise RuntimeError(f"submit failed: {re.sub('<[^>]+>', '', info['status'])[:200]}")
        self.run.save_s, self.run.submit_s = info["save_s"], info["submit_s"]
        self.run.submitted_at = info["timestamp"]

    async def wait_score(self, http, timeout: float) -> None:
        t0 = time.monotonic()
        auth = {"Authorization": f"token {self.token}"}
        path = f"/services/records/api/results?course={self.course}&assignment=module"
        while time.monotonic() - t0 < timeout:
            _, text = await self._req(http, "GET", path, headers=auth)
            results = json.loads(text).get("results") or []
            if results:
                self.run.score_s = time.monotonic() - t0
                self.run.scored_at = time.time()
                self.run.score = results[-1].get("score")
                return
            await asyncio.sleep(1.0)
        raise RuntimeError(f"no score after {timeout:.0f}s")

    async def journey(self, score_timeout: float, all_done=None) -> LearnerRun:
        import aiohttp

        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1 (an IP, not a domain)
        timeout = aiohttp.ClientTimeout(total=STEP_TIMEOUT)
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as http:
            try:
                return await self._steps(http, score_timeout)
            finally:
                if all_done is not None:
                    await all_done()
                for kid in self.kernels:  # the learner closes the quiz page
                    try:
                        await shutdown_kernel(http, f"{self.base}/user/{self.username}",
                                              {"Authorization": f"token {self.token}"}, kid)
                    except Exception:  # noqa: BLE001 - the kernel dies with the server anyway
                        pass

    async def _steps(self, http, score_timeout: float) -> LearnerRun:
        for step in (self.login, self.spawn, self.open_home, self.start_module, self.new_token,
                     self.answer_and_submit):
            try:
                # a page whose kernel never answers must count as a failure, not hang the run
                await asyncio.wait_for(step(http), STEP_TIMEOUT)
            except Exception as e:  # noqa: BLE001 - a simulated learner's failure is a figure
                self.run.errors.append(f"{step.__name__}: {e!r}"[:400])
                self.log(f"{self.username}: {self.run.errors[-1]}")
                return self.run
        try:
            await self.wait_score(http, score_timeout)
        except Exception as e:  # noqa: BLE001 - a simulated learner's failure is a figure
            self.run.errors.append(f"wait_score: {e!r}"[:400])
            self.log(f"{self.username}: {self.run.errors[-1]}")
        return self.run


# --- the whole run ------------------------------------------------------------------------------

@dataclass
class LoadReport:
    learners: int
    runs: list[LearnerRun]
    lost: int
    errors: int
    server_errors: list[str]
    wall_s: float
    graded_per_min: float
    mem_per_learner_mb: float
    platform_mb: float
    learner_procs: int
    mem_split_mb: dict = field(default_factory=dict)  # server/kernel/other at the peak, summed

    def figures(self, attr: str) -> list[float]:
        return [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]

    def lines(self) -> list[str]:
        out = []
        for attr, label in (("login_s", "login"), ("spawn_s", "spawn"), ("home_s", "我的学习 page"),
                            ("save_s", "fetch+answers"), ("submit_s", "nbgrader submit"),
                            ("score_s", "submit-to-score")):
            v = self.figures(attr)
            if v:
                out.append(f"{label:>16}: n={len(v)} p50={percentile(v, 50):.2f}s "
                           f"p95={percentile(v, 95):.2f}s max={max(v):.2f}s")
        out.append(f"graded per minute: {self.graded_per_min:.1f}; wall time {self.wall_s:.0f}s")
        out.append(f"peak memory: learners {self.mem_per_learner_mb * self.learners:.0f} MB in "
                   f"{self.learner_procs} processes ({self.mem_per_learner_mb:.1f} MB per learner), "
                   f"hub+proxy+services {self.platform_mb:.0f} MB")
        if self.mem_split_mb:
            n = max(self.learners, 1)
            out.append("  at the peak, per learner: " + ", ".join(
                f"{k} {v / n:.1f} MB" for k, v in self.mem_split_mb.items() if v))
        if self.server_errors:
            out.append("server errors: " + "; ".join(self.server_errors[:10]))
        for r in self.runs:
            for e in r.errors:
                out.append(f"error {r.username}: {e}")
        out.append(self.result_line())
        return out

    def result_line(self) -> str:
        def p95(attr):
            v = self.figures(attr)
            return f"{percentile(v, 95):.2f}" if v else "nan"

        return (f"RESULT learners={self.learners} lost={self.lost} errors={self.errors} "
                f"p95_login_s={p95('login_s')} p95_spawn_s={p95('spawn_s')} "
                f"p95_score_s={p95('score_s')} mem_per_learner_mb={self.mem_per_learner_mb:.1f}")


def load_roster(path: Path, usernames: list[str], password: str) -> Path:
    import csv

    audiences = ["干部", "年轻干部", "政法干警", "法律明白人"]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["账号", "姓名", "单位", "身份", "角色", "手机", "初始密码"])
        for i, u in enumerate(usernames):
            w.writerow([u, f"压测学员{i + 1}", f"压测市/第{i % 5 + 1}镇", audiences[i % 4], "学员", "",
                        password])
    return path


def graded_per_minute(runs: list[LearnerRun]) -> float:
    done = sorted(r.scored_at for r in runs if r.scored_at)
    if len(done) < 2:
        return float(len(done))
    return (len(done) - 1) / max(done[-1] - done[0], 1e-9) * 60


async def run_learners(base: str, usernames: list[str], password: str, course: str,
                       answers: Callable[[int], dict], ramp: float, score_timeout: float,
                       stats: Stats, log: Callable[[str], None]) -> list[LearnerRun]:
    finished = 0
    everyone = asyncio.Event()

    async def all_done() -> None:
        """Wait (a little beyond) until every learner is through, so the sampler sees them all."""
        nonlocal finished
        finished += 1
        if finished >= len(usernames):
            await asyncio.sleep(3)  # the memory sampler's next rounds
            everyone.set()
        await everyone.wait()

    async def one(i: int, username: str) -> LearnerRun:
        await asyncio.sleep(ramp * i / max(len(usernames), 1))
        learner = Learner(base, username, password, course, answers(i), stats, log)
        run = await learner.journey(score_timeout, all_done)
        log(f"{username}: login {run.login_s or 0:.1f}s spawn {run.spawn_s or 0:.1f}s "
            f"score {run.score_s if run.score_s is not None else float('nan'):.1f}s"
            + (" ERROR" if run.errors else ""))
        return run

    return list(await asyncio.gather(*(one(i, u) for i, u in enumerate(usernames))))


def inbound_usernames(exchange: Path, course: str) -> set[str]:
    from grading.exchange.names import parse_inbound

    inbound = exchange / course / "inbound"
    names = (parse_inbound(p.name) for p in inbound.iterdir()) if inbound.is_dir() else ()
    return {n.username for n in names if n}


def load(learners: int, *, course: str = "pingtai_rumen", ramp: float | None = None,
         score_timeout: float = 600, keep: bool = False, seed: int = 2026,
         log: Callable[[str], None] = print) -> LoadReport:
    """Start a throwaway platform (temp data dir, free loopback port), run ``learners``
    simulated learners against it, stop it; returns the figures."""
    import pwd
    import shutil
    import subprocess
    import tempfile

    from grading.records import migrate
    from grading.content.courses import course_dirs, load_course
    from grading.host.datadir import DataDir
    from grading.content.publish import load_campaign, publish_course, upsert_course
    from grading.records.roster import import_roster
    from hub_config.tools.platform import REPO, Platform, platform_pids
    from grading.host.sysusers import system_username, user_prefix

    ramp = 2.0 * learners if ramp is None else ramp
    courses_root = REPO / "courses"
    root = Path(tempfile.mkdtemp(prefix="xuefa-load-"))
    root.chmod(0o755)  # learners' servers run as xf-* users and must reach their homes
    datadir = DataDir(root / "data").ensure()
    url = datadir.records_db_url
    usernames = [f"load{i:03d}" for i in range(1, learners + 1)]
    prefix = user_prefix(datadir.root)  # the accounts this platform's spawner makes
    initial = "Load-init-2026"

    def existing_users() -> set[str]:
        return {system_username(u, prefix) for u in usernames if _has_user(system_username(u, prefix))}

    pre_existing = existing_users()
    platform = None
    try:
        migrate.upgrade(url)
        report = import_roster(load_roster(root / "roster.csv", usernames, initial), url,
                               reports_dir=datadir.reports)
        if report.errors:
            raise RuntimeError(f"load roster refused: {report.errors[:3]}")
        for d in course_dirs(courses_root):
            upsert_course(url, load_course(d))
        publish_course(datadir, course)
        load_campaign(datadir, courses_root / "campaigns" / "xuexiyue_2026.yaml")
        log(f"starting the platform in {root} ...")
        platform = Platform.start(datadir, timeout=300)
        log(f"platform up at {platform.url}; {learners} learners arriving over {ramp:.0f}s")

        def learner_uids() -> set[int]:
            uids = set()
            for u in usernames:
                try:
                    uids.add(pwd.getpwnam(system_username(u, prefix)).pw_uid)
                except KeyError:
                    pass
            return uids

        sampler = MemorySampler(learner_uids, lambda: platform_pids(datadir))
        sampler.start()
        stats = Stats()
        rng = random.Random(seed)
        answer_sets = [course_answers(courses_root / course, rng) for _ in usernames]
        t0 = time.monotonic()
        try:
            runs = asyncio.run(run_learners(platform.url, usernames, initial, course,
                                            lambda i: answer_sets[i], ramp, score_timeout,
                                            stats, log))
        finally:
            sampler.stop()
        wall = time.monotonic() - t0
        sent = {r.username for r in runs if r.submitted_at} | inbound_usernames(datadir.exchange, course)
        lost = len(sent - _graded(url, course))
        return LoadReport(
            learners=learners, runs=runs, lost=lost,
            errors=len(stats.server_errors) + sum(len(r.errors) for r in runs),
            server_errors=stats.server_errors, wall_s=wall, graded_per_min=graded_per_minute(runs),
            mem_per_learner_mb=sampler.peak_learners_mb / max(learners, 1),
            platform_mb=sampler.peak_platform_mb, learner_procs=sampler.peak_learner_procs,
            mem_split_mb=sampler.peak_split)
    finally:
        if platform is not None:
            left = platform.stop()
            if left:
                log(f"killed {len(left)} platform processes left after stopping")
        if not keep:
            for name in sorted(existing_users() - pre_existing):
                subprocess.run(["userdel", name], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"kept {root}")


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _graded(records_url: str, course: str) -> set[str]:
    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import Learner, Result

    with session_scope(records_url) as s:
        return set(s.scalars(select(Learner.username).join(Result, Result.learner_id == Learner.id)
                             .where(Result.course_id == course)))

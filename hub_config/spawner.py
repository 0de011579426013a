"""The xuefa spawner: one system user per person when the hub runs as root (like The Littlest
JupyterHub), one-user fallback otherwise.

As root, person ``<name>`` gets the system user ``<prefix><name>`` (created idempotently with
``useradd``) whose home is ``DataDir.home(<name>)``, owned by that user and closed to others, so
learners' files and their nbgrader exchange submissions are protected by unix permissions. The
prefix belongs to the platform (:mod:`grading.host.sysusers`: ``xf-`` for ``/var/lib/xuefa``
and existing platforms, ``xf<hash>-`` for another new data dir, or ``$XUEFA_USER_PREFIX``), so
two platforms on one host never share an account. The single-user server is started through
:class:`jupyterhub.spawner.LocalProcessSpawner`'s own machinery (setuid in ``preexec_fn``), only
with that account instead of the hub's.

Limits: one learner must not take the shared host down (a fork bomb, a 20 GB allocation). Each
server and everything it starts gets rlimits in ``preexec_fn`` (address space per process,
processes per account, file size), and, where a writable cgroup v2 hierarchy with the memory,
pids and cpu controllers exists, a cgroup per person (``xuefa/<account>``) with a memory,
process and CPU cap. All are traits, so an operator can tune them.

Without root every server runs as the hub's own unix user (a development or demo set-up): a loud
warning is logged at every spawn because learners could then read each other's files.

Bursts: a learning month's last morning brings a whole township at once, more server starts
than the CPUs can do together. JupyterHub's own answer (``concurrent_spawn_limit``) refuses the
excess with a 429 and its ``start_timeout`` gives up starts that were merely slow because of
the crowd. Here instead at most :attr:`XuefaSpawner.max_concurrent_starts` servers start at
once (:class:`StartQueue`, one per hub process, first come first served); the others wait in
:meth:`XuefaSpawner.run_pre_spawn_hook`, which JupyterHub awaits *before* it starts timing
``start()``, so waiting in the queue never counts against ``start_timeout``. A slot is held
until the server answers HTTP (the expensive part of a start happens after the process is
forked). Meanwhile the spawn-pending page shows, in Chinese, each person's place and an
estimate from a moving average of recent start durations (:meth:`XuefaSpawner.progress`).
"""

from __future__ import annotations

import asyncio
import heapq
import html
import inspect
import json
import math
import os
import pwd
import stat
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import ClassVar

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from tornado.httpclient import AsyncHTTPClient
from traitlets import Float, Integer, Unicode, default

from grading.host import sysusers
from grading.host.datadir import DataDir
from grading.host.priority import SERVER_NICE, set_priority
from grading.host.sysusers import is_root, system_username
from hub_config.roles import LEARNER_GROUP

SYSTEM_USER_PREFIX = sysusers.LEGACY_PREFIX  # the default data dir's (see grading.host.sysusers)
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "xuefa"
GiB = 1024 ** 3
RUN_ID_VAR = "XUEFA_RUN_ID"
LAB_LOCALE_PLUGIN = "@jupyterlab/translation-extension:plugin"
# Voila's "xuefa" template (Chinese loading texts) lives in this data dir (a JUPYTER_PATH entry)
JUPYTER_DATA = Path(__file__).resolve().parent / "share"
VOILA_TEMPLATE = "xuefa"
# seconds one cell of a Voila page may run before the page gives up and offers 刷新 (a quiz
# page's cells take well under a second; an overloaded machine took up to ~60 s for a page)
VOILA_CELL_TIMEOUT = 150
# learners' extra Jupyter config (a JUPYTER_CONFIG_PATH entry): nbgrader's English assignment
# sidebar and its server extensions are for trainers; learners fetch and submit through widgets
LEARNER_CONFIG = Path(__file__).resolve().parent / "learner_config"
# trainers keep nbgrader's authoring tools (create assignment, validate); its formgrader,
# course and assignment lists are off in their own server: it has no course of its own (the
# courses' formgraders are the hub services formgrader-<course>, linked from the hub home)
TRAINER_CONFIG = Path(__file__).resolve().parent / "trainer_config"


# a first guess of one server start (seconds) until the queue has measured some
INITIAL_START_ESTIMATE = 15.0


class StartTicket:
    """One spawn's place in a :class:`StartQueue`."""

    __slots__ = ("owner", "queued_at", "started_at", "future")

    def __init__(self, owner: str, now: float):
        self.owner = owner
        self.queued_at = now
        self.started_at: float | None = None
        self.future: asyncio.Future | None = None

    @property
    def waiting(self) -> bool:
        return self.started_at is None

    def __repr__(self):
        return f"<StartTicket {self.owner} {'waiting' if self.waiting else 'starting'}>"


class StartQueue:
    """First come, first served: at most ``limit`` tickets hold a start slot at once.

    ``enqueue`` takes a place (a free slot at once when nobody waits), ``wait`` until the slot
    is yours, ``release`` when the start is over (idempotent; a successful start's duration
    feeds the moving average behind :meth:`estimate`). A waiter cancelled (its spawn stopped)
    leaves the queue, or hands on the slot it was just given. Pure asyncio: one per hub
    process, shared by all spawners (JupyterHub runs them in one event loop)."""

    def __init__(self, limit: int = 1, initial_estimate: float = INITIAL_START_ESTIMATE,
                 window: int = 20, clock=time.monotonic):
        self.limit = max(1, int(limit))
        self.initial_estimate = initial_estimate
        self.clock = clock
        self._waiting: list[StartTicket] = []
        self._running: list[StartTicket] = []
        self._durations: deque[float] = deque(maxlen=window)
        self._listeners: set[asyncio.Future] = set()

    # --- state -----------------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    def average(self) -> float:
        """Moving average of the last starts' durations (the first guess before any)."""
        if not self._durations:
            return self.initial_estimate
        return sum(self._durations) / len(self._durations)

    def ahead(self, ticket: StartTicket) -> int:
        """How many people wait before ``ticket`` (0 once it is next or started)."""
        try:
            return self._waiting.index(ticket)
        except ValueError:
            return 0

    def estimate(self, ticket: StartTicket) -> float:
        """Seconds until ``ticket`` gets a slot: each busy slot frees after the average start
        less what it has run already, then every waiter ahead takes the earliest free slot
        for one average start."""
        if not ticket.waiting or ticket not in self._waiting:
            return 0.0
        avg = self.average()
        now = self.clock()
        # a start running longer than the average is assumed nearly done, not already done
        free = [max(avg - (now - t.started_at), min(1.0, avg)) for t in self._running]
        free += [0.0] * max(self.limit - len(free), 0)
        heapq.heapify(free)
        for t in self._waiting:
            at = heapq.heappop(free)
            if t is ticket:
                return at
            heapq.heappush(free, at + avg)
        return 0.0  # not reached: ticket is in _waiting

    # --- moves -----------------------------------------------------------------------------
    def enqueue(self, owner: str) -> StartTicket:
        ticket = StartTicket(owner, self.clock())
        self._waiting.append(ticket)
        self._fill()
        self._notify()
        return ticket

    async def wait(self, ticket: StartTicket) -> StartTicket:
        """Return when ``ticket`` holds a slot; on cancellation leave the queue (or pass on
        the slot given in the meantime) and re-raise."""
        if not ticket.waiting:
            return ticket
        if ticket.future is None or ticket.future.done():
            ticket.future = asyncio.get_running_loop().create_future()
        try:
            await ticket.future
        except BaseException:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                self._fill()
                self._notify()
            else:
                self.release(ticket, record=False)
            raise
        return ticket

    async def acquire(self, owner: str) -> StartTicket:
        return await self.wait(self.enqueue(owner))

    def release(self, ticket: StartTicket | None, record: bool = True) -> None:
        """Give back ``ticket``'s slot (or its place, when still waiting). Idempotent."""
        if ticket is None:
            return
        if ticket in self._running:
            self._running.remove(ticket)
            if record and ticket.started_at is not None:
                self._durations.append(max(self.clock() - ticket.started_at, 0.0))
        elif ticket in self._waiting:
            self._waiting.remove(ticket)
            if ticket.future is not None and not ticket.future.done():
                ticket.future.cancel()
        else:
            return
        self._fill()
        self._notify()

    def _fill(self) -> None:
        while self._waiting and len(self._running) < self.limit:
            ticket = self._waiting.pop(0)
            ticket.started_at = self.clock()
            self._running.append(ticket)
            if ticket.future is not None and not ticket.future.done():
                ticket.future.set_result(None)

    # --- watching --------------------------------------------------------------------------
    async def changed(self, timeout: float) -> None:
        """Return at the next move in the queue, or after ``timeout`` seconds."""
        fut = asyncio.get_running_loop().create_future()
        self._listeners.add(fut)
        try:
            await asyncio.wait([fut], timeout=timeout)
        finally:
            self._listeners.discard(fut)

    def _notify(self) -> None:
        for fut in list(self._listeners):
            if not fut.done():
                fut.set_result(None)
        self._listeners.clear()


def human_wait(seconds: float) -> str:
    """An estimate as people say it: whole minutes from one minute on, else 5-second steps."""
    if seconds >= 60:
        return f"{math.ceil(seconds / 60)} 分钟"
    return f"{max(5, 5 * math.ceil(seconds / 5))} 秒"


def queue_event(ahead: int, eta: float) -> dict:
    """The progress event of a spawn waiting in the start queue."""
    who = f"您前面还有 {ahead} 人" if ahead else "马上轮到您"
    return {
        "progress": 10,
        "message": f"正在排队：{who}，预计约 {human_wait(eta)}后开始。请保持本页打开，无需刷新。",
        "queue": {"ahead": ahead, "eta_seconds": round(eta)},
    }


def ready_event_zh(spawner, event: dict) -> dict:
    """``Spawner.progress_ready_hook``: JupyterHub's "Server ready at …" in Chinese."""
    url = event.get("url", "")
    event["message"] = "学习空间已就绪，正在进入……"
    event["html_message"] = (f'学习空间已就绪，正在进入……（<a href="{html.escape(url, quote=True)}">'
                             "如未自动跳转，请点此进入</a>）")
    return event


def default_max_concurrent_starts() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, 2 * cpus)


def ensure_system_user(username: str, home: Path) -> pwd.struct_passwd:
    """Create the unix user (no login shell needed beyond bash for terminals) and its home.

    Idempotent: an existing user is kept; the home is (re)created and owned by the user."""
    try:
        entry = pwd.getpwnam(username)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/bash",
             "--user-group", "--comment", "xuefa", username],
            capture_output=True, text=True,
        )
        try:  # another hub on this machine may have created it a moment ago: fine
            entry = pwd.getpwnam(username)
        except KeyError:
            raise RuntimeError(f"useradd {username} failed: {made.stderr.strip()}") from None
    if entry.pw_dir != str(home):
        # same account, another data dir (e.g. a restore elsewhere): follow the data dir
        subprocess.run(["usermod", "--home", str(home), username], check=False, capture_output=True)
        entry = pwd.getpwnam(username)
    home.mkdir(parents=True, exist_ok=True)
    if home.stat().st_uid != entry.pw_uid:
        os.chown(home, entry.pw_uid, entry.pw_gid)
    home.chmod(0o700)
    return entry


def ensure_lab_locale(prefix: str | os.PathLike = sys.prefix) -> Path:
    """JupyterLab in Simplified Chinese for everyone: a settings override in the environment
    the single-user servers run from (kept if an operator already wrote one)."""
    path = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8") or "{}")
        except ValueError:
            data = {}
    if LAB_LOCALE_PLUGIN not in data:
        data[LAB_LOCALE_PLUGIN] = {"locale": "zh_CN"}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    # read by every learner's JupyterLab; the hub's umask is 077
    for d in (path.parent, path.parent.parent):
        if d.stat().st_uid == os.geteuid():
            d.chmod(d.stat().st_mode | 0o555)
    if path.stat().st_uid == os.geteuid():
        path.chmod(0o644)
    return path


def cgroup_v2() -> Path | None:
    """The cgroup v2 hierarchy when this process can create per-person groups with the memory,
    pids and cpu controllers (not in most containers: then the rlimits alone apply)."""
    try:
        controllers = set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
    except OSError:
        return None
    if not {"memory", "pids", "cpu"} <= controllers or not os.access(CGROUP_ROOT, os.W_OK):
        return None
    return CGROUP_ROOT


def ensure_cgroup(account: str, memory: int, pids: int, cpu: float) -> Path | None:
    """``xuefa/<account>`` with its caps (None when cgroups v2 cannot be used)."""
    root = cgroup_v2()
    if root is None:
        return None
    try:
        parent = root / CGROUP_PARENT
        parent.mkdir(exist_ok=True)
        for d in (root, parent):
            enabled = set((d / "cgroup.subtree_control").read_text().split())
            missing = {"memory", "pids", "cpu"} - enabled
            if missing:
                (d / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(missing)))
        group = parent / account
        group.mkdir(exist_ok=True)
        (group / "memory.max").write_text(str(memory) if memory else "max")
        (group / "pids.max").write_text(str(pids) if pids else "max")
        (group / "cpu.max").write_text(f"{int(cpu * 100000)} 100000" if cpu else "max 100000")
        return group
    except OSError:
        return None


def reachable_by_others(path: str | os.PathLike) -> bool:
    """Whether an unprivileged user can reach ``path`` (every directory above is o+x)."""
    real = Path(os.path.realpath(path))
    try:
        return all(d.stat().st_mode & stat.S_IXOTH for d in real.parents) and bool(
            real.stat().st_mode & (stat.S_IROTH | stat.S_IXOTH))
    except OSError:
        return False


def shared_interpreter(run_dir: Path) -> Path:
    """A Python the ``xf-`` users may execute, with the hub venv's packages.

    A venv built from an interpreter under a private directory (e.g. pyenv in ``/root``, 0700)
    cannot run as another user. Then a thin venv ("shadow") is made under ``run_dir`` from the
    system's Python of the same minor version, sharing the hub venv's site-packages, ``share``
    (JupyterLab assets, language pack, Voila templates) and ``etc`` (enabled server extensions).
    A venv made by the installer from Debian's python3 never needs this."""
    if reachable_by_others(sys.executable) and reachable_by_others(os.__file__):
        return Path(sys.executable)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = Path(f"/usr/bin/python{version}")
    if not reachable_by_others(system):
        raise RuntimeError(
            f"{os.path.realpath(sys.executable)} is not reachable by learners' unix users and "
            f"there is no {system}: build the venv from a Python outside private directories")
    shadow = run_dir / "server-venv"
    venv = Path(sys.prefix)
    links = {
        shadow / "bin" / "python": system,
        shadow / "lib" / f"python{version}" / "site-packages":
            venv / "lib" / f"python{version}" / "site-packages",
        shadow / "share": venv / "share",
        shadow / "etc": venv / "etc",
    }
    for link, target in links.items():
        if link.is_symlink() and os.readlink(link) == str(target):
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    (shadow / "pyvenv.cfg").write_text(
        f"home = {system.parent}\ninclude-system-site-packages = false\nversion = {version}\n")
    for d in (shadow, shadow / "bin", shadow / "lib", shadow / "lib" / f"python{version}"):
        d.chmod(0o755)
    (shadow / "pyvenv.cfg").chmod(0o644)
    return shadow / "bin" / "python"


class XuefaSpawner(LocalProcessSpawner):
    """LocalProcessSpawner with per-platform system users, homes under the data dir and limits."""

    system_user_prefix = Unicode(
        "",
        help="Prefix of the unix account made for each person when the hub runs as root. Empty "
        "(default): the platform's own (grading.host.sysusers: $XUEFA_USER_PREFIX, else 'xf-' "
        "for /var/lib/xuefa and existing platforms, 'xf<hash of the data dir>-' otherwise). The "
        "grading service checks submission owners against the same prefix: set "
        "$XUEFA_USER_PREFIX rather than this trait to change it.",
    ).tag(config=True)

    address_space_limit = Integer(
        2 * GiB,
        help="RLIMIT_AS (bytes) of every process of a person's server (0: none): an allocation "
        "beyond it fails in that kernel (MemoryError) instead of exhausting the host.",
    ).tag(config=True)

    process_limit = Integer(
        512,
        help="RLIMIT_NPROC of a person's account: processes and threads it may have at once "
        "(0: none). A fork bomb stops there.",
    ).tag(config=True)

    file_size_limit = Integer(
        4 * GiB,
        help="RLIMIT_FSIZE (bytes): the largest file a person's server may write (0: none).",
    ).tag(config=True)

    cgroup_memory = Integer(
        3 * GiB,
        help="memory.max (bytes) of a person's cgroup, when cgroups v2 can be used (0: none).",
    ).tag(config=True)

    cgroup_cpu = Float(
        1.0,
        help="cpu.max of a person's cgroup in CPUs, when cgroups v2 can be used (0: none).",
    ).tag(config=True)

    data_dir = Unicode(help="Platform data dir (default: $XUEFA_DATA_DIR).").tag(config=True)

    skeleton_dir = Unicode(
        str(Path(__file__).resolve().parent / "skel"),
        help="Files copied into every home at each start when missing or older than here "
        "(like /etc/skel). A missing dir is fine.",
    ).tag(config=True)

    nice = Integer(
        SERVER_NICE,
        help="Scheduling niceness of people's servers and of their session (autogroup). 0 by "
        "default: the grading service runs at -5 instead, so scores come back soon after 提交 "
        "when a learning month's last morning overloads the CPUs; raise it to favour logins "
        "and grading further at the cost of page and spawn times.",
    ).tag(config=True)

    max_concurrent_starts = Integer(
        help="Servers started at once by this hub (default: 2 per CPU this process may use). "
        "Further logins wait in a first-come-first-served queue with their place and an "
        "estimate on the spawn page, instead of being refused or timed out. The queue time does "
        "not count against start_timeout. $XUEFA_MAX_CONCURRENT_STARTS sets it too.",
    ).tag(config=True)

    # one queue per hub process: every spawner of every person shares it
    start_queue: ClassVar[StartQueue] = StartQueue(limit=default_max_concurrent_starts())

    @default("max_concurrent_starts")
    def _default_max_concurrent_starts(self):
        return default_max_concurrent_starts()

    @default("progress_ready_hook")
    def _default_progress_ready_hook(self):
        return ready_event_zh

    # this spawn's place in the start queue and how far it got: None (not yet asked for a
    # place), "queued", "starting" (slot held, process being made), "loading" (process
    # running, not answering yet), "done"
    _start_ticket: StartTicket | None = None
    _start_phase: str | None = None

    @default("data_dir")
    def _default_data_dir(self):
        return str(DataDir.from_env().root)

    @default("cmd")
    def _default_cmd(self):
        return [str(Path(sys.executable).parent / "jupyterhub-singleuser")]

    @property
    def datadir(self) -> DataDir:
        return DataDir(Path(self.data_dir))

    @property
    def home_dir(self) -> Path:
        return self.datadir.home(self.user.name)

    @property
    def user_prefix(self) -> str:
        return self.system_user_prefix or sysusers.user_prefix(self.datadir.root)

    @property
    def unix_name(self) -> str:
        """The unix account the server runs as."""
        if is_root():
            return system_username(self.user.name, self.user_prefix)
        return pwd.getpwuid(os.getuid()).pw_name

    def rlimits(self) -> list[tuple[int, int]]:
        """(resource, limit) pairs applied to the server and inherited by its kernels."""
        import resource

        wanted = [(resource.RLIMIT_AS, self.address_space_limit),
                  (resource.RLIMIT_FSIZE, self.file_size_limit)]
        if is_root():  # per account: only meaningful when each person has their own
            wanted.append((resource.RLIMIT_NPROC, self.process_limit))
        return [(r, v) for r, v in wanted if v and v > 0]

    def make_preexec_fn(self, name):
        import resource

        home = str(self.home_dir)
        # the home comes from the data dir, not from /etc/passwd (which may name an older one)
        setuid = set_user_setuid(self.unix_name, chdir=False) if is_root() else None
        nice = self.nice
        limits = self.rlimits()
        group = None
        if is_root():
            group = ensure_cgroup(self.unix_name, self.cgroup_memory, self.process_limit,
                                  self.cgroup_cpu)
        procs = str(group / "cgroup.procs") if group is not None else None

        def preexec():  # in the child between fork and exec: syscalls only
            if nice:
                # after Popen's setsid(): this session's autogroup is the server's own
                set_priority(nice)
            if procs is not None:
                try:
                    with open(procs, "w") as f:
                        f.write("0")
                except OSError:
                    pass
            for res, value in limits:
                resource.setrlimit(res, (value, value))
            if setuid is not None:
                setuid()
            os.chdir(home)

        return preexec

    def user_env(self, env):
        entry = pwd.getpwnam(self.unix_name)
        env["USER"] = entry.pw_name
        env["HOME"] = str(self.home_dir)
        env["SHELL"] = entry.pw_shell or "/bin/bash"
        return env

    def get_env(self):
        env = super().get_env()
        env["XUEFA_DATA_DIR"] = str(self.datadir.root)
        # glibc makes a 64 MB arena per thread: under RLIMIT_AS that address space is wasted
        env.setdefault("MALLOC_ARENA_MAX", "2")
        # submit (nbgrader exchange) and learning events (records service, through the public
        # proxy with the learner's own token) from inside the learner's kernel
        env["XUEFA_EXCHANGE"] = str(self.datadir.exchange)
        host = os.environ.get("XUEFA_IP", "127.0.0.1")
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        env["XUEFA_RECORDS_URL"] = f"http://{host}:{os.environ.get('XUEFA_PORT', '8000')}/services/records/"
        records = (self.user.settings.get("services") or {}).get("records") if self.user else None
        if os.environ.get("XUEFA_SSL_CERT") and getattr(records, "url", None):
            # with TLS the public port speaks only HTTPS (kernels do not trust the city's
            # certificate): go to the service's own loopback address, which serves the same paths
            env["XUEFA_RECORDS_URL"] = records.url.rstrip("/") + "/services/records/"
        if os.environ.get(RUN_ID_VAR):
            # lets `xuefa up` find and stop every process of this run, even orphans
            env[RUN_ID_VAR] = os.environ[RUN_ID_VAR]
        # the server's kernels and tools come from the venv the hub runs from (its shadow first)
        bins = [str(Path(self.cmd[0]).parent)] if self.cmd else []
        bins.append(str(Path(sys.executable).parent))
        env["PATH"] = os.pathsep.join([*dict.fromkeys(bins), env.get("PATH", os.defpath)])
        env["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (str(JUPYTER_DATA), env.get("JUPYTER_PATH", "")) if p)
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            p for p in (str(self.role_config), env.get("JUPYTER_CONFIG_PATH", "")) if p)
        return env

    def get_args(self):
        args = super().get_args()
        # only a server that really runs as root needs (and gets) --allow-root
        if is_root() and self.unix_name == "root":
            args.append("--allow-root")
        args.append(f"--VoilaConfiguration.template={VOILA_TEMPLATE}")
        # A page whose kernel never answers one request (ipykernel drops a message it cannot
        # parse, "DELIM not in msg_list", under overload) used to spin for ever: nbclient's
        # default cell timeout is none and Voila's heartbeats keep the connection open. With a
        # timeout the render ends and the xuefa template shows 刷新 (voila_setup.macro.html.j2).
        args.append(f"--VoilaExecutor.timeout={VOILA_CELL_TIMEOUT}")
        args.append(f"--VoilaExecutor.startup_timeout={VOILA_CELL_TIMEOUT}")
        return args

    @property
    def role_config(self) -> Path:
        """The Jupyter config dir of this person's role (which nbgrader parts they see)."""
        return LEARNER_CONFIG if self.is_learner else TRAINER_CONFIG

    @property
    def is_learner(self) -> bool:
        """In the learners' group (trainers and administrators get no 我的学习)."""
        return any(g.name == LEARNER_GROUP for g in (getattr(self.user, "groups", None) or []))

    def server_cmd(self) -> list[str]:
        """``cmd``, run through :func:`shared_interpreter` when the venv's own Python is private;
        learners' servers through :mod:`hub_config.home.lean` (without optional imports they
        never use: memory per learner is what bounds a machine)."""
        cmd = list(self.cmd)
        if cmd and Path(cmd[0]).name == "jupyterhub-singleuser":
            python = shared_interpreter(self.datadir.run) if is_root() else Path(sys.executable)
            lean = ["hub_config.home.lean"] if self.is_learner else []
            if python != Path(sys.executable) or lean:
                cmd = [str(python), "-m", *lean, "jupyterhub.singleuser", *cmd[1:]]
        return cmd

    def install_skeleton(self, uid: int | None = None, gid: int | None = None) -> list[Path]:
        """Copy :attr:`skeleton_dir` into the home (platform files, not the learner's work),
        through :func:`hub_config.home.put_file`: no link inside the home is followed."""
        from hub_config.home import UnsafeHome, put_file

        src_root = Path(self.skeleton_dir)
        copied = []
        if not src_root.is_dir():
            return copied
        for src in sorted(p for p in src_root.rglob("*") if p.is_file()):
            rel = src.relative_to(src_root)
            st = src.stat()

            def older(dest_st, read, st=st):
                return not stat.S_ISREG(dest_st.st_mode) or dest_st.st_mtime < st.st_mtime

            try:
                if put_file(self.home_dir, rel, src.read_bytes(), uid=uid, gid=gid,
                            mode=stat.S_IMODE(st.st_mode), mtime=st.st_mtime, only_if=older):
                    copied.append(self.home_dir / rel)
            except UnsafeHome as exc:
                self.log.warning("skeleton file %s not installed for %s: %s", rel, self.user.name, exc)
        return copied

    def install_home_page(self, uid: int | None = None, gid: int | None = None) -> Path | None:
        """The learners' page 我的错题本.ipynb (``hub_config.home``; 我的学习 is served by their
        server itself), refreshed at every start. Others get none, and unchanged copies from a time they were a learner
        are taken away (a link or their own edit stays)."""
        from hub_config.home import UnsafeHome, install_home, uninstall_home

        try:
            if self.is_learner:
                return install_home(self.home_dir, uid, gid)
            if self.home_dir.is_dir():
                uninstall_home(self.home_dir)
        except UnsafeHome as exc:
            self.log.warning("我的学习 not installed for %s: %s", self.user.name, exc)
        return None

    # --- the start queue -------------------------------------------------------------------
    async def run_pre_spawn_hook(self):
        """Wait for a start slot, then run any configured ``pre_spawn_hook``.

        JupyterHub 6.1.1's ``User.spawn`` awaits this before it wraps ``start()`` in
        ``asyncio.wait_for(..., start_timeout)``: time spent here is never counted as a slow
        start, and a stop (the page's cancel button) cancels the wait, leaving the queue."""
        queue = self.start_queue
        queue.limit = max(1, int(self.max_concurrent_starts))
        self.start_queue.release(self._start_ticket, record=False)  # a leftover, if any
        self._start_phase = "queued"
        ticket = self._start_ticket = queue.enqueue(self.user.name)
        if ticket.waiting:
            self.log.info("%s waits to start: %d ahead, %d starting, about %.0f s",
                          self._log_name, queue.ahead(ticket), queue.running,
                          queue.estimate(ticket))
        try:
            await queue.wait(ticket)
            waited = ticket.started_at - ticket.queued_at
            if waited >= 1:
                self.log.info("%s starts after %.1f s in the start queue", self._log_name, waited)
            self._start_phase = "starting"
            result = super().run_pre_spawn_hook()
            if inspect.isawaitable(result):
                result = await result
            return result
        except BaseException:
            self._end_start(record=False)
            raise

    def _end_start(self, record: bool) -> None:
        """Give back this spawn's start slot (or queue place); safe to call more than once."""
        ticket, self._start_ticket = self._start_ticket, None
        self.start_queue.release(ticket, record=record)
        self._start_phase = "done"

    def run_post_stop_hook(self):
        # a spawn that failed between the queue and start() must not keep its slot
        self._end_start(record=False)
        return super().run_post_stop_hook()

    async def wait_responsive(self, url) -> None:
        """Hold the start slot until the server answers HTTP (as JupyterHub's own wait does:
        ``<base_url>api``), up to ``http_timeout``; raise if the process exits first."""
        if isinstance(url, str):
            from urllib.parse import urlsplit

            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        else:
            host, port = url
        host = f"[{host}]" if host and ":" in host else (host or "127.0.0.1")
        target = f"http://{host}:{port}{self.server.base_url if self.server else '/'}api"
        client = AsyncHTTPClient()
        deadline = time.monotonic() + self.http_timeout
        delay = 0.1
        while time.monotonic() < deadline:
            status = await self.poll()
            if status is not None:
                raise RuntimeError(f"学习空间进程启动后即退出（退出码 {status}），请联系管理员查看日志")
            try:
                await client.fetch(target, request_timeout=5, raise_error=False,
                                   follow_redirects=False)
                return
            except Exception:  # noqa: BLE001 - not listening yet: try again shortly
                pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        self.log.warning("%s did not answer within %s s; JupyterHub keeps waiting",
                         self._log_name, self.http_timeout)

    async def _generate_progress(self):
        """JupyterHub's wrapper of :meth:`progress`, with its first event in Chinese."""
        if not self._spawn_pending:
            return
        yield {"progress": 0, "message": "已收到开启学习空间的请求"}
        gen = self.progress()
        try:
            async for event in gen:
                yield event
        finally:
            await gen.aclose()

    async def progress(self):
        """Chinese progress events: the place in the start queue and the estimate while
        waiting (again whenever either changes), then the start itself. JupyterHub stops
        reading when the spawn is over and then sends the ready (or failed) event."""
        queue = self.start_queue
        shown = None
        while True:
            phase, ticket = self._start_phase, self._start_ticket
            if phase == "queued" and ticket is not None and ticket.waiting:
                ahead, eta = queue.ahead(ticket), queue.estimate(ticket)
                event = queue_event(ahead, eta)
                if (ahead, human_wait(eta)) != shown:
                    shown = (ahead, human_wait(eta))
                    yield event
                await queue.changed(timeout=5)
                continue
            if phase in ("starting", "loading") and shown != "starting":
                shown = "starting"
                yield {"progress": 40, "message": "轮到您了：正在创建学习空间……"}
            if phase == "loading":
                yield {"progress": 70, "message": "学习空间已创建，正在加载页面……"}
                return
            # before the spawn reached the queue, or in between phases
            await asyncio.sleep(0.3)

    async def start(self):
        # the queue phase ends here whatever happens (cancelled by start_timeout included)
        succeeded = False
        try:
            url = await self._start_server()
            self._start_phase = "loading"
            await self.wait_responsive(url)
            succeeded = True
            return url
        finally:
            self._end_start(record=succeeded)

    async def _start_server(self):
        if is_root():
            entry = ensure_system_user(self.unix_name, self.home_dir)
            self.install_skeleton(entry.pw_uid, entry.pw_gid)
            self.install_home_page(entry.pw_uid, entry.pw_gid)
            self.cmd = self.server_cmd()
        else:
            self.log.warning(
                "!!! xuefa is NOT running as root: %s's server runs as %s with the hub's own "
                "permissions; learners are NOT isolated from each other. Run `xuefa up` as root "
                "for one system user per person. !!!",
                self.user.name, self.unix_name,
            )
            self.home_dir.mkdir(parents=True, exist_ok=True)
            self.install_skeleton()
            self.install_home_page()
            self.cmd = self.server_cmd()
        # trainers: their courses' groups (before the server's groups are read) and ~/课程 links
        from grading.content.workspace import prepare_home
        prepare_home(self.datadir, self.user.name, self.home_dir, is_learner=self.is_learner)
        return await super().start()


__all__ = ["StartQueue", "XuefaSpawner", "ensure_lab_locale", "ensure_system_user", "is_root",
           "reachable_by_others", "shared_interpreter", "system_username"]

"""Exchange intake: what the grading service accepts from ``exchange/<course>/inbound``.

Everything in an inbound dir was made by a learner (nbgrader submit runs in their kernel as
their own unix user), so the service, which runs as root, treats it as hostile:

- **Names** (:func:`check_names`): the folder name parses (:mod:`grading.exchange.names`), the
  user is an active learner on the roster, the course is published, the assignment is the
  course's. Nothing is queued, copied or deleted before that.
- **Owner** (:func:`owner_ok`): when the platform runs as root, the folder's owner uid must be
  the named learner's own account (``<prefix><账号>``, :mod:`grading.host.sysusers`), so a
  folder made by learner A never credits learner B. A folder made by root itself (the service,
  an operator, the test harness) is accepted for a person whose account does not exist yet.
- **Files** (:func:`measure`, :func:`copy_tree`): read through directory file descriptors
  with ``O_NOFOLLOW``; symbolic links, hard-linked files and special files (fifo, device,
  socket) are rejected, never followed; bytes are counted while copying and the copy stops at
  the size limit (a link to ``/dev/zero`` cannot get past it); the copy is root's, 0600/0700.

A rejected folder that can be attributed to a real learner (the owner uid's learner) is queued
in that learner's name and ends as a Result with outcome ``rejected`` and a Chinese message;
anything else is logged and moved aside into ``DATA/quarantine/`` (root only), touching nothing
else. The learner keeps their own copy in their home and can submit again.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from grading.exchange.names import Inbound, parse_inbound, valid_id, valid_username
from grading.host import sysusers
from grading.host.datadir import DataDir

log = logging.getLogger("grading.exchange.intake")

OUTCOME = "rejected"
MESSAGES = {
    "owner": "这次提交的文件夹不是由账号 {username} 本人提交的（文件夹所有者与账号不符），未评分。"
             "请在自己的账号中打开作业并点击“提交”。",
    "link": "提交中含有链接文件（{name}），出于安全原因未评分。请删除链接、只保留作业文件后重新提交。",
    "special": "提交中含有不能作为作业的特殊文件（{name}），出于安全原因未评分。请删除后重新提交。",
    "name": "提交的文件夹名称不合规，未评分。请在作业页面点击“提交”按钮重新提交。",
    "layout": "提交的文件夹结构异常（层级或文件过多），未评分。请在作业页面点击“提交”按钮重新提交。",
}
MAX_DEPTH = 8
MAX_ENTRIES = 2000
CHUNK = 1 << 20

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a fifo swapped in after the lstat must not hang the service in open()
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Rejected(Exception):
    """A submission the service will not grade; ``message`` is for the learner (zh-CN)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


class TooLarge(Exception):
    def __init__(self, size: int, limit: int):
        super().__init__(f"{size} > {limit}")
        self.size, self.limit = size, limit


def reject(reason: str, **kw) -> Rejected:
    return Rejected(reason, MESSAGES[reason].format(**kw))


# --- who and what may be submitted --------------------------------------------------------------

@dataclass
class Roster:
    """Active learners and published assignments, read once per scan that found something new."""

    learners: frozenset[str] = frozenset()
    assignments: dict[str, frozenset[str]] = field(default_factory=dict)  # course -> assignments

    def course_ok(self, course_id: str) -> bool:
        return course_id in self.assignments

    def assignment_ok(self, course_id: str, assignment: str) -> bool:
        return assignment in self.assignments.get(course_id, ())

    def learner_ok(self, username: str) -> bool:
        return username in self.learners


def load_roster(url: str) -> Roster:
    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import Assessment, Course, Learner, Role

    with session_scope(url) as s:
        learners = frozenset(s.scalars(select(Learner.username).where(
            Learner.active.is_(True), Learner.role == Role.learner)))
        courses = {c: set() for c in s.scalars(select(Course.id))}
        for cid, assignment in s.execute(select(Assessment.course_id, Assessment.assignment)):
            if cid in courses:
                courses[cid].add(assignment)
    return Roster(learners, {c: frozenset(a) for c, a in courses.items()})


def check_names(roster: Roster, course_id: str, assignment: str, username: str) -> bool:
    return (valid_id(course_id) and valid_id(assignment) and valid_username(username)
            and roster.course_ok(course_id) and roster.assignment_ok(course_id, assignment)
            and roster.learner_ok(username))


def owner_ok(uid: int, username: str, prefix: str) -> bool:
    """Whether a folder owned by ``uid`` may be ``username``'s submission."""
    if not sysusers.is_root():
        return True  # every server runs as the service's own user: nothing to tell apart
    expected = sysusers.uid_of(username, prefix)
    if expected is not None:
        return uid == expected
    return uid == os.geteuid()  # only root (the platform itself) can make a root-owned folder


def attributed_learner(uid: int, prefix: str, roster: Roster) -> str | None:
    """The active learner whose account owns ``uid`` (None: nobody to tell)."""
    if not sysusers.is_root():
        return None
    name = sysusers.person_of_uid(uid, prefix)
    return name if name and roster.learner_ok(name) else None


# --- the exchange's own dirs --------------------------------------------------------------------

def _platform_dir(path: str | os.PathLike) -> bool:
    """A real directory (not a link) made by the platform (owned by the service's uid)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()


def inbound_dir(datadir: DataDir, course_id: str) -> Path | None:
    """``exchange/<course>/inbound`` when both levels are the platform's own dirs; the exchange
    root is world-writable (nbgrader needs that), so a learner can create look-alikes there."""
    if not valid_id(course_id):
        return None
    cdir = datadir.exchange / course_id
    inbound = cdir / "inbound"
    if _platform_dir(cdir) and _platform_dir(inbound):
        return inbound
    return None


def quarantine_root(datadir: DataDir) -> Path:
    return datadir.root / "quarantine"


def quarantine(datadir: DataDir, course_id: str, name: str, reason: str) -> Path | None:
    """Move ``inbound/<name>`` aside (a rename: a link is moved as a link, never followed)."""
    inbound = inbound_dir(datadir, course_id)
    if inbound is None:
        return None
    qdir = quarantine_root(datadir) / course_id
    qdir.mkdir(parents=True, exist_ok=True)
    for d in (quarantine_root(datadir), qdir):
        os.chmod(d, 0o700)
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    dest = qdir / f"{time.strftime('%Y%m%dT%H%M%S')}-{digest}"
    try:
        os.rename(inbound / name, dest)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        dest = dest.with_name(dest.name + f"-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(inbound / name, dest)
    log.warning("quarantined %r from %s/inbound (%s) to %s", name, course_id, reason, dest)
    return dest


# --- what the scanner decides -------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    action: str  # "queue" | "reject" (queued in the owner's name, graded as rejected) |
    #               "quarantine" | "wait" (not complete yet)
    username: str | None = None
    assignment: str | None = None
    submitted_at: datetime | None = None
    reason: str = ""


def triage(inbound: Path, name: str, course_id: str, roster: Roster, prefix: str) -> Verdict:
    """What to do with ``inbound/<name>`` (nothing is touched here)."""
    rec = parse_inbound(name)
    try:
        st = os.lstat(inbound / name)
    except FileNotFoundError:
        return Verdict("wait")
    owner = attributed_learner(st.st_uid, prefix, roster)

    def refused(reason: str) -> Verdict:
        if owner and rec is not None and roster.assignment_ok(course_id, rec.assignment):
            return Verdict("reject", owner, rec.assignment, rec.submitted_at, reason)
        return Verdict("quarantine", reason=reason)

    if rec is None:
        return Verdict("quarantine", reason="name")
    if not stat.S_ISDIR(st.st_mode):
        return refused("link" if stat.S_ISLNK(st.st_mode) else "special")
    try:
        ts = os.lstat(inbound / name / "timestamp.txt")
    except FileNotFoundError:
        return Verdict("wait")  # nbgrader submit writes timestamp.txt last
    except OSError:
        return refused("special")
    if not stat.S_ISREG(ts.st_mode):
        return refused("link" if stat.S_ISLNK(ts.st_mode) else "special")
    if not check_names(roster, course_id, rec.assignment, rec.username):
        return refused("name")
    if not owner_ok(st.st_uid, rec.username, prefix):
        return refused("owner")
    return Verdict("queue", rec.username, rec.assignment, rec.submitted_at)


# --- what a worker does -------------------------------------------------------------------------

def find(datadir: DataDir, course_id: str, assignment: str, username: str,
         submitted_at: datetime) -> tuple[str, Inbound, os.stat_result] | None:
    """The inbound folder of a queued job: named for ``username``, or (a job queued in the
    owner's name) owned by ``username``'s account."""
    inbound = inbound_dir(datadir, course_id)
    if inbound is None:
        return None
    prefix = sysusers.user_prefix(datadir.root)
    mine = sysusers.uid_of(username, prefix) if sysusers.is_root() else None
    fallback = None
    with os.scandir(inbound) as it:
        for e in it:
            rec = parse_inbound(e.name)
            if rec is None or rec.assignment != assignment or rec.submitted_at != submitted_at:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if rec.username == username:
                return e.name, rec, st
            if mine is not None and st.st_uid == mine:
                fallback = (e.name, rec, st)
    return fallback


def verify(datadir: DataDir, course_id: str, username: str, name: str, rec: Inbound,
           st: os.stat_result) -> None:
    """Raise :class:`Rejected` unless ``inbound/<name>`` may be graded as ``username``'s."""
    if not stat.S_ISDIR(st.st_mode):
        raise reject("link" if stat.S_ISLNK(st.st_mode) else "special", name=name)
    roster = load_roster(datadir.records_db_url)
    if rec.username != username or not check_names(roster, course_id, rec.assignment, username):
        # queued in the owner's name: the folder claimed someone else (or nobody valid)
        raise reject("owner", username=rec.username)
    if not owner_ok(st.st_uid, username, sysusers.user_prefix(datadir.root)):
        raise reject("owner", username=username)


def _walk(dir_fd: int, visit, depth: int, counter: list[int], rel: str = "") -> None:
    if depth > MAX_DEPTH:
        raise reject("layout")
    with os.scandir(dir_fd) as it:
        entries = sorted(e.name for e in it)
    for name in entries:
        counter[0] += 1
        if counter[0] > MAX_ENTRIES:
            raise reject("layout")
        shown = f"{rel}{name}"
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise reject("link", name=shown)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                if (os.fstat(fd).st_dev, os.fstat(fd).st_ino) != (st.st_dev, st.st_ino):
                    raise reject("link", name=shown)  # swapped between lstat and open
                visit(name, fd, None, st, shown)
                _walk(fd, visit, depth + 1, counter, f"{shown}/")
                visit(name, fd, None, st, None)  # leaving the dir
            finally:
                os.close(fd)
        elif stat.S_ISREG(st.st_mode):
            if st.st_nlink != 1:
                raise reject("link", name=shown)
            try:
                fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise reject("link", name=shown) from None
                raise
            try:
                fst = os.fstat(fd)
                if not stat.S_ISREG(fst.st_mode) or fst.st_ino != st.st_ino or fst.st_nlink != 1:
                    raise reject("special", name=shown)
                visit(name, None, fd, fst, shown)
            finally:
                os.close(fd)
        else:
            raise reject("special", name=shown)


def _open_folder(path: Path) -> int:
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise reject("link", name=path.name) from None
        raise


def measure(path: Path, limit: int) -> int:
    """Bytes of the regular files under ``path`` (from lstat, nothing read, no link followed);
    raises :class:`Rejected` for links or special files, :class:`TooLarge` over ``limit``."""
    total = [0]

    def visit(name, dir_fd, file_fd, st, shown):
        if file_fd is not None:
            total[0] += st.st_size
            if total[0] > limit:
                raise TooLarge(total[0], limit)

    fd = _open_folder(path)
    try:
        _walk(fd, visit, 0, [0])
    finally:
        os.close(fd)
    return total[0]


def copy_tree(src: Path, dest: Path, limit: int) -> int:
    """Copy the folder ``src`` to the new dir ``dest`` (root's, 0700 dirs, 0600 files),
    counting bytes as they are read; raises like :func:`measure`. Returns bytes copied."""
    total = [0]
    os.mkdir(dest, 0o700)
    stack = [os.open(dest, _DIR_FLAGS)]

    def visit(name, dir_fd, file_fd, st, shown):
        if file_fd is None and shown is not None:  # entering a directory
            os.mkdir(name, 0o700, dir_fd=stack[-1])
            stack.append(os.open(name, _DIR_FLAGS, dir_fd=stack[-1]))
        elif file_fd is None:  # leaving it
            os.close(stack.pop())
        else:
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600, dir_fd=stack[-1])
            try:
                while True:
                    chunk = os.read(file_fd, CHUNK)
                    if not chunk:
                        break
                    total[0] += len(chunk)
                    if total[0] > limit:
                        raise TooLarge(total[0], limit)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view):]
                os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(out)

    fd = _open_folder(src)
    try:
        _walk(fd, visit, 0, [0])
    finally:
        os.close(fd)
        while stack:
            os.close(stack.pop())
    return total[0]


def replace_dir(tmp: Path, dest: Path, root: Path) -> None:
    """Put ``tmp`` at ``dest`` (both under ``root``, checked after resolving)."""
    root = root.resolve()
    for p in (tmp, dest):
        if not p.resolve().is_relative_to(root):
            raise ValueError(f"{p} is outside {root}")
    if dest.is_symlink():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


# --- nbgrader's own collect (formgrader's 收集 button, ``nbgrader collect``) ---------------------

DEFAULT_LIMIT = 20 * 1024 * 1024  # the grading service's max_submission_bytes default


def _collect_class():
    from nbgrader.exchange.default.collect import ExchangeCollect as Base

    class ExchangeCollect(Base):
        """nbgrader's collect with the intake's checks: a bad folder name is skipped instead of
        failing the whole collect, a folder is taken only when it passes :func:`verify` (names,
        roster, owner), and it is copied by :func:`copy_tree` (no link followed, bytes counted).
        Configured by :func:`grading.exchange.nbconfig.nbgrader_config` for every course."""

        def _path_to_record(self, path):
            filename = os.path.basename(path)
            rec = parse_inbound(filename)
            if rec is None:
                return {"username": "", "filename": filename, "timestamp": datetime.min}
            return {"username": rec.username, "filename": filename, "timestamp": rec.submitted_at}

        def copy_files(self):
            datadir = DataDir(Path(self.root).resolve().parent)
            course_id = self.coursedir.course_id
            for rec in self.src_records:
                name, student_id = rec["filename"], rec["username"]
                parsed = parse_inbound(name)
                try:
                    st = os.lstat(os.path.join(self.inbound_path, name))
                    if parsed is None:
                        raise reject("name")
                    verify(datadir, course_id, student_id, name, parsed, st)
                except (Rejected, OSError) as exc:
                    self.log.warning("not collecting %r: %s", name, exc)
                    continue
                dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory,
                                                       student_id, self.coursedir.assignment_id))
                existing = self.coursedir.get_existing_timestamp(str(dest)) if dest.is_dir() else None
                if dest.is_dir() and not (self.update and (existing is None or rec["timestamp"] > existing)):
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.parent / f".{dest.name}.collecting"
                shutil.rmtree(tmp, ignore_errors=True)
                try:
                    copy_tree(Path(self.inbound_path) / name, tmp, DEFAULT_LIMIT)
                except (Rejected, TooLarge) as exc:
                    shutil.rmtree(tmp, ignore_errors=True)
                    self.log.warning("not collecting %r: %s", name, exc)
                    continue
                replace_dir(tmp, dest, Path(self.coursedir.root))
                self.log.info("Collected submission: %s %s", student_id, self.coursedir.assignment_id)

    return ExchangeCollect


def __getattr__(name: str):
    # nbgrader imports are heavy: the class is built on first use (traitlets imports it by name)
    if name == "ExchangeCollect":
        cls = _collect_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)

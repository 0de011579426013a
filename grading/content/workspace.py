"""Trainers' course workspace (issue 15): ``DATA/workspace/<course_id>/``, one folder per course
in the layout of ``courses/<id>/`` (course.yaml, bank.yaml, statutes.yaml, source/module/*.ipynb).

Who may touch a folder: root (the hub) and the trainers its ``course.yaml`` lists (active 讲师 or
管理员 on the roster), nobody else. On a root platform that is one unix group per course
(``<prefix>ws-<id>``) holding those trainers' accounts, the folder owned by root:that group with
mode 2770 (setgid: files made inside stay in the group). Trainers' servers run with umask 077, so
the modes of what they create are repaired (0660/2770) whenever the course is synced: at each
trainer's server start and after every change the hub makes. A trainer sees the folder in
JupyterLab as ``~/课程/<id>`` (a symlink in their home; jupyter_server serves symlinked folders
below its root directory, see tests/grading/test_workspace.py).

The hub reads these folders as root while trainers write them, so nothing here trusts their
shape: every read goes down from the course folder one component at a time with
``O_NOFOLLOW`` and keeps only regular files with a single link (no symlink, device, FIFO,
socket or hard link to a file elsewhere -- a trainer must never make root publish /etc/shadow),
within size limits. Checks, compilation, previews and publishing work on a root-only
:func:`snapshot` of the folder, never on the folder itself.

Shipped courses are copied in once (:func:`seed`): a course whose workspace folder exists is
never overwritten, so trainers' edits survive upgrades and restarts.
"""

from __future__ import annotations

import errno
import grp
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from grading.content.courses import ID_RE, USERNAME_RE, course_dirs, parse_audiences
from grading.host import sysusers
from grading.host.datadir import DataDir

log = logging.getLogger(__name__)

LINK_DIR = "课程"  # ~/课程/<id> in a trainer's home
DIR_MODE = 0o2770
FILE_MODE = 0o660
WORKSPACE_MODE = 0o711  # trainers pass through to their course folders; nobody lists them
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_ENTRIES = 5000
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # one bank workbook or Word document
NO_BANK_FILE = "请选择要导入的题库文件（Excel 的 .xlsx 或 Word 的 .docx）"
ACCESS_FILE = ".access.json"  # last trainers lists read from valid course.yaml files (root only)
AUDIENCE_CHOICES = ("干部", "年轻干部", "政法干警", "法律明白人")
GROUP_PART = "ws-"
# copying, snapshots and zips leave these out: Lab's checkpoints, caches, editors' lock files
_SKIP_DIRS = {"__pycache__"}
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_lock = threading.Lock()


class UnsafeWorkspace(ValueError):
    """The folder holds something the hub will not read (links, devices, oversize files)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("；".join(problems))


def is_root() -> bool:
    return sysusers.is_root()


def workspace_root(datadir: DataDir) -> Path:
    return datadir.workspace


def check_id(course_id: str) -> str:
    if not isinstance(course_id, str) or not re.match(ID_RE, course_id):
        raise ValueError("课程编号格式不对：小写字母开头，2–64 位小写字母、数字或下划线")
    return course_id


def course_path(datadir: DataDir, course_id: str) -> Path:
    return workspace_root(datadir) / check_id(course_id)


def exists(datadir: DataDir, course_id: str) -> bool:
    try:
        st = os.lstat(course_path(datadir, course_id))
    except (OSError, ValueError):
        return False
    return stat.S_ISDIR(st.st_mode)


def course_ids(datadir: DataDir) -> list[str]:
    """The course folders of the workspace (root-made directories, never links)."""
    try:
        entries = list(os.scandir(workspace_root(datadir)))
    except OSError:
        return []
    return sorted(e.name for e in entries
                  if re.match(ID_RE, e.name) and e.is_dir(follow_symlinks=False))


def ensure_root(datadir: DataDir) -> Path:
    ws = workspace_root(datadir)
    ws.mkdir(parents=True, exist_ok=True)
    st = os.lstat(ws)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != WORKSPACE_MODE:
        os.chmod(ws, WORKSPACE_MODE)
    return ws


# --- reading trainers' files safely -----------------------------------------------------------

def _unsafe(rel: str, what: str) -> UnsafeWorkspace:
    return UnsafeWorkspace([f"{rel}：{what}，平台不会读取或发布它（请删除后重试）"])


@contextmanager
def _dir_fd(datadir: DataDir, course_id: str, parts: tuple[str, ...] = ()) -> Iterator[int]:
    """An fd of the course folder (or a folder below it), each component opened without
    following links."""
    fd = os.open(course_path(datadir, course_id), _OPEN_DIR)
    try:
        rel = course_id
        for part in parts:
            rel = f"{rel}/{part}"
            try:
                nfd = os.open(part, _OPEN_DIR, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _unsafe(rel, "不是普通文件夹（可能是链接）") from None
                raise
            os.close(fd)
            fd = nfd
        yield fd
    finally:
        os.close(fd)


def _read_fd(fd: int, rel: str, limit: int) -> bytes:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise _unsafe(rel, "不是普通文件")
    if st.st_nlink > 1:
        raise _unsafe(rel, "是指向其他文件的硬链接")
    if st.st_size > limit:
        raise UnsafeWorkspace([f"{rel}：文件超过 {limit // (1024 * 1024)} MB"])
    chunks, total = [], 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise UnsafeWorkspace([f"{rel}：文件超过 {limit // (1024 * 1024)} MB"])
        chunks.append(chunk)
    return b"".join(chunks)


def read_file(datadir: DataDir, course_id: str, rel: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``<course>/<rel>``; FileNotFoundError when absent, UnsafeWorkspace when it is
    a link, not a regular file, or too large."""
    *dirs, name = rel.split("/")
    with _dir_fd(datadir, course_id, tuple(dirs)) as dfd:
        try:
            fd = os.open(name, _OPEN_FILE, dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise _unsafe(f"{course_id}/{rel}", "是符号链接") from None
            raise
        try:
            return _read_fd(fd, f"{course_id}/{rel}", limit)
        finally:
            os.close(fd)


def _skip(name: str, is_dir: bool) -> bool:
    return name.startswith(".") or (is_dir and name in _SKIP_DIRS)


def snapshot(datadir: DataDir, course_id: str, dest_parent: str | os.PathLike) -> Path:
    """Copy the course folder into ``dest_parent/<id>`` (a root-only place) refusing anything but
    regular files and folders; raises UnsafeWorkspace naming every offending entry."""
    dest = Path(dest_parent) / check_id(course_id)
    problems: list[str] = []
    budget = {"bytes": 0, "entries": 0}

    def walk(dfd: int, rel: str, out: Path) -> None:
        out.mkdir(mode=0o700, exist_ok=True)
        with os.scandir(dfd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            budget["entries"] += 1
            if budget["entries"] > MAX_ENTRIES:
                raise UnsafeWorkspace([f"{course_id}：文件超过 {MAX_ENTRIES} 个"])
            path = f"{rel}/{e.name}"
            if e.is_symlink():
                if not e.name.startswith("."):
                    problems.append(f"{path}：是符号链接，平台不会读取或发布它（请删除后重试）")
                continue
            if e.is_dir(follow_symlinks=False):
                if _skip(e.name, True):
                    continue
                try:
                    sub = os.open(e.name, _OPEN_DIR, dir_fd=dfd)
                except OSError:
                    problems.append(f"{path}：不是普通文件夹（可能是链接）")
                    continue
                try:
                    walk(sub, path, out / e.name)
                finally:
                    os.close(sub)
                continue
            if _skip(e.name, False):
                continue
            try:
                fd = os.open(e.name, _OPEN_FILE, dir_fd=dfd)
            except OSError:
                problems.append(f"{path}：是符号链接或无法读取，平台不会读取或发布它（请删除后重试）")
                continue
            try:
                data = _read_fd(fd, path, MAX_FILE_BYTES)
            except UnsafeWorkspace as u:
                problems.extend(u.problems)
                continue
            finally:
                os.close(fd)
            budget["bytes"] += len(data)
            if budget["bytes"] > MAX_TOTAL_BYTES:
                raise UnsafeWorkspace([f"{course_id}：课程文件合计超过 {MAX_TOTAL_BYTES // (1024 * 1024)} MB"])
            wfd = os.open(out / e.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(wfd, "wb") as f:
                f.write(data)

    with _dir_fd(datadir, course_id) as top:
        walk(top, course_id, dest)
    if problems:
        raise UnsafeWorkspace(problems)
    return dest


@contextmanager
def snapshot_dir(datadir: DataDir, course_id: str) -> Iterator[Path]:
    """A private temporary snapshot of the course (removed afterwards)."""
    tmp = tempfile.mkdtemp(prefix=f"xuefa-ws-{course_id}-")
    try:
        yield snapshot(datadir, course_id, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- writing into a course folder -------------------------------------------------------------

def write_file(datadir: DataDir, course_id: str, rel: str, data: bytes) -> None:
    """Replace ``<course>/<rel>`` atomically (a link of that name is replaced, never followed);
    the file belongs to the course's group, mode 0660, so its trainers can edit it."""
    *dirs, name = rel.split("/")
    gid = _course_gid(datadir, course_id)
    with _dir_fd(datadir, course_id, tuple(dirs)) as dfd:
        tmp = f".xf-{os.getpid()}-{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(data)
            if is_root():
                os.fchown(fd, 0, gid if gid is not None else 0)
            os.fchmod(fd, FILE_MODE)
        except BaseException:
            os.close(fd)
            os.unlink(tmp, dir_fd=dfd)
            raise
        os.close(fd)
        try:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            os.unlink(tmp, dir_fd=dfd)
            raise


# --- who may edit a course --------------------------------------------------------------------

def _access_path(datadir: DataDir) -> Path:
    return workspace_root(datadir) / ACCESS_FILE


def _access_cache(datadir: DataDir) -> dict[str, list[str]]:
    try:
        return json.loads(_access_path(datadir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remember(datadir: DataDir, course_id: str, trainers: list[str]) -> None:
    with _lock:
        cache = _access_cache(datadir)
        if cache.get(course_id) == trainers:
            return
        cache[course_id] = trainers
        path = _access_path(datadir)
        tmp = path.with_name(f"{ACCESS_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(cache, f, ensure_ascii=False)
        os.replace(tmp, path)


def listed_trainers(datadir: DataDir, course_id: str) -> list[str]:
    """course.yaml's ``trainers`` (valid account names only). While a trainer's edit leaves
    course.yaml unreadable, the last valid list holds, so nobody loses or gains access by a typo."""
    try:
        data = yaml.safe_load(read_file(datadir, course_id, "course.yaml", 1024 * 1024))
        raw = data.get("trainers") if isinstance(data, dict) else None
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise ValueError("trainers")
        names = list(dict.fromkeys(n for n in raw if isinstance(n, str) and re.match(USERNAME_RE, n)))
    except (OSError, ValueError, yaml.YAMLError):
        return list(_access_cache(datadir).get(course_id, []))
    _remember(datadir, course_id, names)
    return names


def staff(url: str, names: list[str]) -> list[str]:
    """Those of ``names`` who are active 讲师 or 管理员 on the roster (a learner named in
    course.yaml gets no access to a folder full of answer keys)."""
    from grading.records import people

    out = []
    for name in names:
        info = people.learner_info(url, name)
        if info and info["active"] and info["role"] in ("trainer", "admin"):
            out.append(name)
    return out


def may_edit(datadir: DataDir, course_id: str, username: str) -> bool:
    """Whether ``username`` (already known to be an active trainer) is listed on the course."""
    return exists(datadir, course_id) and username in listed_trainers(datadir, course_id)


def courses_of(datadir: DataDir, username: str) -> list[str]:
    return [cid for cid in course_ids(datadir) if username in listed_trainers(datadir, cid)]


# --- unix groups, modes and home links (root platforms) ---------------------------------------

def group_name(datadir: DataDir, course_id: str) -> str:
    prefix = sysusers.user_prefix(datadir.root)
    name = f"{prefix}{GROUP_PART}{course_id}"
    if len(name) > 32:  # useradd/groupadd's limit: a long course id gets a stable short name
        name = f"{prefix}{GROUP_PART}{hashlib.sha256(course_id.encode()).hexdigest()[:12]}"
    return name


def platform_groups(root: str | os.PathLike) -> list[str]:
    """The course groups made for the platform at ``root`` (for a throwaway platform's teardown)."""
    prefix = sysusers.user_prefix(root) + GROUP_PART
    return sorted(g.gr_name for g in grp.getgrall() if g.gr_name.startswith(prefix))


def _course_gid(datadir: DataDir, course_id: str) -> int | None:
    if not is_root():
        return None
    try:
        return grp.getgrnam(group_name(datadir, course_id)).gr_gid
    except KeyError:
        return None


def _ensure_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    r = subprocess.run(["groupadd", name], capture_output=True, text=True)
    if r.returncode not in (0, 9):  # 9: made meanwhile
        raise RuntimeError(f"groupadd {name}: {r.stderr.strip()}")
    return grp.getgrnam(name).gr_gid


def _set_members(name: str, accounts: list[str]) -> None:
    if sorted(grp.getgrnam(name).gr_mem) == sorted(accounts):
        return
    r = subprocess.run(["gpasswd", "-M", ",".join(accounts), name], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"gpasswd -M {name}: {r.stderr.strip()}")


def _repair_modes(datadir: DataDir, course_id: str, gid: int) -> None:
    """Give everything in the folder the course's group and group rw (trainers' servers make
    private files); links and special files are left alone (never followed)."""

    def fix(fd: int, is_dir: bool) -> None:
        st = os.fstat(fd)
        if st.st_gid != gid:
            os.fchown(fd, -1, gid)
        want = DIR_MODE if is_dir else (stat.S_IMODE(st.st_mode) | FILE_MODE) & 0o770
        if stat.S_IMODE(st.st_mode) != want:
            os.fchmod(fd, want)

    def walk(dfd: int, depth: int) -> None:
        if depth > 32:
            return
        with os.scandir(dfd) as it:
            entries = list(it)
        for e in entries:
            if e.is_symlink():
                continue
            is_dir = e.is_dir(follow_symlinks=False)
            if not is_dir and not e.is_file(follow_symlinks=False):
                continue
            try:
                fd = os.open(e.name, _OPEN_DIR if is_dir else _OPEN_FILE, dir_fd=dfd)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode) != is_dir or (not is_dir and not stat.S_ISREG(st.st_mode)):
                    continue
                if not is_dir and st.st_nlink != 1:
                    continue  # a hard link to a file elsewhere (/etc/shadow) must never be opened up
                fix(fd, is_dir)
                if is_dir:
                    walk(fd, depth + 1)
            finally:
                os.close(fd)

    with _dir_fd(datadir, course_id) as top:
        st = os.fstat(top)
        if st.st_uid != 0 or st.st_gid != gid:
            os.fchown(top, 0, gid)
        if stat.S_IMODE(st.st_mode) != DIR_MODE:
            os.fchmod(top, DIR_MODE)
        walk(top, 0)


def sync_course(datadir: DataDir, course_id: str, *, repair: bool = True) -> list[str]:
    """Make the course's group hold exactly its listed trainers' accounts (those that exist and
    are active staff) and the folder's modes right. Returns the names with access. A no-op for
    the permissions when not root (a development platform has one unix user)."""
    names = staff(datadir.records_db_url, listed_trainers(datadir, course_id))
    if not is_root():
        return names
    prefix = sysusers.user_prefix(datadir.root)
    accounts = [sysusers.system_username(n, prefix) for n in names if sysusers.uid_of(n, prefix) is not None]
    name = group_name(datadir, course_id)
    try:
        grp.getgrnam(name)
    except KeyError:
        if not accounts:  # nobody to let in yet: no group (the folder stays root's alone)
            return names
    gid = _ensure_group(name)
    _set_members(name, accounts)
    if repair:
        _repair_modes(datadir, course_id, gid)
    return names


def sync_quietly(datadir: DataDir, course_id: str) -> None:
    """:func:`sync_course` for the pages: a failure (groupadd, a vanished folder) is logged, the
    page still answers; the next sync repairs it."""
    try:
        sync_course(datadir, course_id)
    except Exception:  # noqa: BLE001
        log.exception("workspace course %s: group and modes not synced", course_id)


def _link_target(datadir: DataDir, course_id: str) -> str:
    return str(course_path(datadir, course_id))


def link_courses(datadir: DataDir, home: Path, course_ids_: list[str], uid: int | None = None,
                 gid: int | None = None) -> None:
    """``home/课程/<id>`` links to exactly ``course_ids_`` (others pointing into the workspace are
    removed; anything else the person keeps there is left alone). Made without following any
    link the person may have planted in their home."""
    ws_prefix = str(workspace_root(datadir)) + os.sep
    try:
        hfd = os.open(home, _OPEN_DIR)
    except OSError:
        return
    try:
        if course_ids_:
            try:
                os.mkdir(LINK_DIR, 0o755, dir_fd=hfd)
            except FileExistsError:
                pass
        else:
            try:
                os.lstat(LINK_DIR, dir_fd=hfd)
            except OSError:
                return  # nothing to remove; learners get no empty folder
        try:
            lfd = os.open(LINK_DIR, _OPEN_DIR, dir_fd=hfd)
        except OSError:
            log.warning("%s/%s is not a folder: course links not made", home, LINK_DIR)
            return
        try:
            if uid is not None and is_root():
                st = os.fstat(lfd)
                if st.st_uid == 0:  # made just now by us: the person's own folder
                    os.fchown(lfd, uid, gid if gid is not None else -1)
            with os.scandir(lfd) as it:
                present = {e.name: e for e in it}
            for name, e in present.items():
                if e.is_symlink() and name not in course_ids_:
                    try:
                        target = os.readlink(name, dir_fd=lfd)
                    except OSError:
                        continue
                    if target.startswith(ws_prefix):
                        os.unlink(name, dir_fd=lfd)
            for cid in course_ids_:
                want = _link_target(datadir, cid)
                e = present.get(cid)
                if e is not None:
                    if e.is_symlink() and os.readlink(cid, dir_fd=lfd) == want:
                        continue
                    if not e.is_symlink():
                        log.warning("%s/%s/%s exists and is not a link: left alone", home, LINK_DIR, cid)
                        continue
                    os.unlink(cid, dir_fd=lfd)
                os.symlink(want, cid, dir_fd=lfd)
                if uid is not None and is_root():
                    os.chown(cid, uid, gid if gid is not None else -1, dir_fd=lfd, follow_symlinks=False)
        finally:
            os.close(lfd)
    finally:
        os.close(hfd)


def prepare_home(datadir: DataDir, username: str, home: Path, *, is_learner: bool) -> list[str]:
    """At a server start: the person's course groups and ``~/课程`` links (none for learners).
    Never fails the start: a problem is logged and the server starts without the links."""
    try:
        if is_learner or not workspace_root(datadir).is_dir():
            mine = []
        else:
            mine = [cid for cid in courses_of(datadir, username)
                    if username in staff(datadir.records_db_url, [username])]
        for cid in course_ids(datadir):
            if cid in mine or (is_root() and _in_group(datadir, cid, username)):
                sync_course(datadir, cid, repair=cid in mine)
        uid = gid = None
        if is_root():
            prefix = sysusers.user_prefix(datadir.root)
            uid = sysusers.uid_of(username, prefix)
            if uid is not None:
                import pwd

                gid = pwd.getpwuid(uid).pw_gid
        if home.is_dir():
            link_courses(datadir, home, mine, uid, gid)
        return mine
    except Exception:  # noqa: BLE001 - a start must not fail over the workspace
        log.exception("course workspace not prepared for %s", username)
        return []


def _in_group(datadir: DataDir, course_id: str, username: str) -> bool:
    try:
        members = grp.getgrnam(group_name(datadir, course_id)).gr_mem
    except KeyError:
        return False
    return sysusers.system_username(username, sysusers.user_prefix(datadir.root)) in members


# --- seeding and new courses ------------------------------------------------------------------

def _copy_tree_new(src: Path, datadir: DataDir, course_id: str) -> None:
    """Copy a shipped course folder into a new workspace folder (made under a temporary name and
    renamed, so a half-copied folder never looks like a course)."""
    ws = ensure_root(datadir)
    tmp = ws / f".new-{course_id}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, symlinks=False,
                    ignore=shutil.ignore_patterns("*.answers.json", ".ipynb_checkpoints", "__pycache__", ".*"))
    try:
        os.rename(tmp, ws / course_id)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FileExistsError(course_id) from None


def seed(datadir: DataDir, root: str | os.PathLike | None = None) -> list[str]:
    """Copy every shipped course (``courses/<id>``, or those under ``root``) that has no workspace
    folder yet; an existing folder is never touched. Returns the ids copied."""
    ensure_root(datadir)
    done = []
    for src in course_dirs(root):
        cid = src.name
        if not re.match(ID_RE, cid) or os.path.lexists(workspace_root(datadir) / cid):
            continue
        try:
            _copy_tree_new(src, datadir, cid)
        except FileExistsError:
            continue
        done.append(cid)
        listed_trainers(datadir, cid)
        try:
            sync_course(datadir, cid)
        except Exception:  # noqa: BLE001 - groups are repaired at the next trainer start
            log.exception("workspace course %s: permissions not set", cid)
    return done


LESSON_INTRO = """\
# 第一课

在这里用 Markdown 书写讲义：标题以 `#` 开头，段落之间空一行，**加粗**用两个星号。

## 怎样出题

题目写在单独的一个 Markdown 单元格里，第一行以题型标签开头，例如【单选题】【多选题】【判断题】【填空题】【排序题】，\
标签后可写题号；接着每行一个选项（A. B. C. ……），最后写“答案：”“解析：”“法律依据：”“分值：”。\
下面是一道示例题，可以照着修改或删除。不需要写任何代码。

写好后回到平台首页的“课程编写”页面，点“校验”检查，点“学员预览”看学员看到的样子，确认无误后点“发布”。
"""

EXAMPLE_QUESTION = """\
【单选题 l1_example】行政机关拟作出较大数额罚款的行政处罚决定，当事人要求听证的，应当在行政机关告知后（  ）内提出。
A. 三日
B. 五日
C. 七日
D. 十五日
答案：B
解析：当事人要求听证的，应当在行政机关告知后五日内提出。
法律依据：《中华人民共和国行政处罚法》第六十四条
分值：2"""


def template_files(course_id: str, title: str, audience: list[str], trainers: list[str]) -> dict[str, bytes]:
    """The files of a new course (relative path -> content)."""
    import nbformat

    spec = {
        "id": course_id,
        "title": title,
        "summary": "",
        "audience": audience,
        "hours": 1,
        "points": 100,
        "pass_mark": 60,
        "lessons": [{"file": "lesson1.ipynb", "title": "第一课"}],
        "assessment": {"file": "assessment.ipynb", "title": "结业测试", "manual": False},
        "trainers": trainers,
        "blueprint": {"sections": [{"type": "single", "count": 5, "points": 10},
                                   {"type": "truefalse", "count": 5, "points": 10}]},
    }
    head = "# 课程元数据（讲师维护；在“课程编写”页面校验和发布）\n"
    course_yaml = head + yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(LESSON_INTRO), nbformat.v4.new_markdown_cell(EXAMPLE_QUESTION)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return {
        "course.yaml": course_yaml.encode(),
        "bank.yaml": "# 题库：在“课程编写”页面用 Excel 导入，或直接编辑本文件\nquestions: []\n".encode(),
        "statutes.yaml": "# 法条表：题目引用的法律法规的现行版本和条文\nstatutes: []\n".encode(),
        "source/module/lesson1.ipynb": nbformat.writes(nb).encode(),
    }


def new_course(datadir: DataDir, course_id: str, title: str, audience: list[str],
               trainers: list[str], *, actor: str | None = None, client: str | None = None) -> Path:
    """Create a workspace course from the template. ValueError (zh-CN) when the id is taken or a
    field is wrong. With an ``actor`` the creation is in the audit log."""
    check_id(course_id)
    title = (title or "").strip()
    if not 2 <= len(title) <= 100:
        raise ValueError("课程名称应为 2–100 个字")
    if not audience:
        raise ValueError("请至少选择一类学员")
    bad = [a for a in audience if a not in AUDIENCE_CHOICES]
    if bad:
        raise ValueError(f"学员类别不对：{'、'.join(bad)}")
    parse_audiences(audience)
    for t in trainers:
        if not re.match(USERNAME_RE, t):
            raise ValueError(f"讲师账号“{t}”格式不对")
    from grading.records.learner_home import course_exists

    taken = (os.path.lexists(workspace_root(datadir) / course_id)
             or datadir.course_root(course_id).exists()
             or any(d.name == course_id for d in course_dirs())
             or course_exists(datadir.records_db_url, course_id))
    if taken:
        raise ValueError(f"课程编号 {course_id} 已被使用，请换一个")
    ensure_root(datadir)
    tmp = Path(tempfile.mkdtemp(prefix=f".new-{course_id}-", dir=workspace_root(datadir)))
    try:
        for rel, data in template_files(course_id, title, list(audience), list(trainers)).items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        os.rename(tmp, workspace_root(datadir) / course_id)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"课程编号 {course_id} 已被使用，请换一个") from None
    listed_trainers(datadir, course_id)
    sync_quietly(datadir, course_id)
    if actor:
        from grading.records import audit

        audit.record(datadir.records_db_url, actor=actor, action="course_create", client=client,
                     detail={"course": course_id, "title": title})
    return workspace_root(datadir) / course_id


# --- authoring operations (the hub's 课程编写 pages and ``xuefa up``) ---------------------------
# Each works on a private snapshot; results are plain data for the pages (zh-CN messages).

def _id_problem(snap: Path, course_id: str) -> list[str]:
    """A course.yaml whose ``id`` is not its folder's would publish over another course."""
    try:
        data = yaml.safe_load((snap / "course.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []  # check_yaml says so
    cid = data.get("id") if isinstance(data, dict) else None
    if cid is not None and cid != course_id:
        return [f"{course_id}/course.yaml [id]：课程编号应为 {course_id}（与文件夹名称一致），不能改为 {cid}"]
    return []


def check_snapshot(snap: Path, course_id: str, published: Path | None = None) -> list[str]:
    """Static checks (no notebook is run: the hub never executes a trainer's code). The checks
    compile Markdown questions themselves, as publish does, and name the trainer's cells.
    Stems are compared with the ``published`` courses' (root-written copies: other trainers'
    workspace files are not read as root)."""
    from grading.content.validate import validate_course

    problems = _id_problem(snap, course_id)
    problems += [str(p) for p in validate_course(snap, execute=False, siblings=published,
                                                 course_id=course_id)]
    return list(dict.fromkeys(_strip_tmp(p, snap) for p in problems))


def check_course(datadir: DataDir, course_id: str) -> list[str]:
    try:
        with snapshot_dir(datadir, course_id) as snap:
            return check_snapshot(snap, course_id, datadir.courses)
    except UnsafeWorkspace as e:
        return e.problems


def cited_laws(snap: Path) -> dict[str, list[str]]:
    """Every law the course's questions cite (bank and lessons, Markdown questions included: the
    course context compiles them) with the articles cited."""
    from grading.content.validate import course_context, course_items, parse_citations

    ctx = course_context(snap)
    out: dict[str, list[str]] = {}
    for it in course_items(ctx):
        for c in parse_citations(it.legal_basis):
            arts = out.setdefault(c.law, [])
            arts += [a for a in c.articles if a not in arts]
    return out


def _statutes_rows(raw: bytes | None) -> list[dict]:
    try:
        data = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError:
        raise ValueError("statutes.yaml 格式有误，请在 JupyterLab 中修正后再保存法条表") from None
    if data is None:
        return []
    rows = data.get("statutes") if isinstance(data, dict) else None
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("statutes.yaml 格式有误，请在 JupyterLab 中修正后再保存法条表")
    return rows


def missing_statutes(datadir: DataDir, course_id: str) -> list[dict]:
    """The cited laws that statutes.yaml does not give a version for: [{law, articles}]."""
    with snapshot_dir(datadir, course_id) as snap:
        laws = cited_laws(snap)
        try:
            rows = _statutes_rows((snap / "statutes.yaml").read_bytes())
        except (OSError, ValueError):
            rows = []
    have = {r.get("law") for r in rows if str(r.get("version") or "").strip()}
    return [{"law": law, "articles": arts} for law, arts in laws.items() if law not in have]


def save_statutes(datadir: DataDir, course_id: str, versions: dict[str, str]) -> list[str]:
    """Write the versions given for cited laws into statutes.yaml (with the articles cited);
    laws the course does not cite are ignored. Returns the laws written."""
    wanted = {m["law"]: m["articles"] for m in missing_statutes(datadir, course_id)}
    todo = {law: v.strip()[:40] for law, v in versions.items() if law in wanted and v and v.strip()}
    if not todo:
        return []
    try:
        raw = read_file(datadir, course_id, "statutes.yaml", 1024 * 1024)
    except FileNotFoundError:
        raw = None
    rows = _statutes_rows(raw)
    for law, version in todo.items():
        row = next((r for r in rows if r.get("law") == law), None)
        if row is None:
            rows.append({"law": law, "version": version, "articles": list(wanted[law])})
        else:
            row["version"] = version
            arts = [a for a in (row.get("articles") or []) if isinstance(a, str)]
            row["articles"] = arts + [a for a in wanted[law] if a not in arts]
    text = "# 法条表：题目引用的法律法规的现行版本和条文\n" + yaml.safe_dump(
        {"statutes": rows}, allow_unicode=True, sort_keys=False)
    write_file(datadir, course_id, "statutes.yaml", text.encode())
    return list(todo)


def import_bank(datadir: DataDir, course_id: str, data: bytes, filename: str = "题库.xlsx"):
    """Replace the course's bank.yaml by the uploaded workbook (or Word document, by its name's
    ``.docx``) when all of it is valid.
    Returns the :class:`grading.content.bankxlsx.ImportReport`; raises BankXlsxError (row-by-row
    problems, nothing written), FormatError, UnsafeWorkspace or ValueError."""
    from grading.content.bank import BANK_FILE
    from grading.content.bankxlsx import import_into_course

    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"文件超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if not data:
        raise ValueError(NO_BANK_FILE)
    with snapshot_dir(datadir, course_id) as snap:
        safe_name = re.sub(r"[^\w.\-]+", "_", Path(filename or "bank.xlsx").name)[:80] or "bank.xlsx"
        # the name only chooses the reader (Word or Excel); anything else is read as a workbook
        if not safe_name.lower().endswith((".xlsx", ".docx")):
            safe_name += ".xlsx"
        upload = snap.parent / safe_name
        upload.write_bytes(data)
        bank_file = snap / BANK_FILE
        try:  # the new course template's ``questions: []`` is no bank to compare with
            if bank_file.exists() and not (yaml.safe_load(bank_file.read_bytes()) or {}).get("questions"):
                bank_file.unlink()
        except (yaml.YAMLError, AttributeError):
            pass
        report = import_into_course(snap, upload)
        if report.written:
            write_file(datadir, course_id, BANK_FILE, (snap / BANK_FILE).read_bytes())
    return report


def _title(datadir: DataDir, course_id: str) -> str:
    """course.yaml's title, or the id while course.yaml is unreadable."""
    try:
        data = yaml.safe_load(read_file(datadir, course_id, "course.yaml", 1024 * 1024))
        title = data.get("title") if isinstance(data, dict) else None
    except (FileNotFoundError, UnsafeWorkspace, yaml.YAMLError):
        title = None
    return title if isinstance(title, str) and title.strip() else course_id


def export_bank(datadir: DataDir, course_id: str, fmt: str = "xlsx") -> tuple[bytes, int]:
    """The course's bank as an .xlsx workbook or (``fmt="docx"``) a Word document; the empty
    template when there is none yet."""
    from grading.content.bank import BANK_FILE, Bank, parse_bank
    from grading.content.bankdocx import export_docx
    from grading.content.bankxlsx import export_xlsx

    try:
        raw = read_file(datadir, course_id, BANK_FILE)
        data = yaml.safe_load(raw)
        has_questions = isinstance(data, dict) and bool(data.get("questions"))
        bank = parse_bank(data, BANK_FILE) if has_questions else Bank([])
    except FileNotFoundError:
        bank = Bank([])
    except yaml.YAMLError:
        raise ValueError("bank.yaml 格式有误，请在 JupyterLab 中修正后再导出") from None
    with tempfile.TemporaryDirectory(prefix="xuefa-bank-") as tmp:
        out = Path(tmp) / f"bank.{fmt}"
        if fmt == "docx":
            export_docx(bank, out, title=f"{_title(datadir, course_id)} 题库")
        else:
            export_xlsx(bank, out)
        return out.read_bytes(), len(bank.questions)


def _shown(item: dict, trainer: bool) -> dict:
    keep = ("id", "type", "stem", "scenario", "options", "points", "questions", "slot")
    out = {k: item[k] for k in keep if k in item}
    if item.get("type") == "fill" and isinstance(item.get("key"), list):
        out["blanks"] = len(item["key"])  # how many boxes to answer in; not what goes in them
    if isinstance(out.get("questions"), list):
        out["questions"] = [_shown(q, trainer) for q in out["questions"] if isinstance(q, dict)]
    if trainer:
        for k in ("key", "explanation", "legal_basis", "difficulty", "tags"):
            if k in item:
                out[k] = item[k]
    return out


def _lesson_notebook(snap: Path, lesson_file: str) -> Any:
    """A lesson's notebook in a snapshot; ValueError (zh) when it is missing or not a notebook."""
    import nbformat

    from grading.content.courses import ASSIGNMENT

    try:
        return nbformat.reads((snap / "source" / ASSIGNMENT / lesson_file).read_text(encoding="utf-8"),
                              as_version=4)
    except Exception:  # noqa: BLE001 - any unreadable notebook: the same message
        raise ValueError(f"{lesson_file}：缺少或不是有效的笔记本文件") from None


def preview(datadir: DataDir, course_id: str, *, trainer: bool, seed: int | None = None) -> dict:
    """What the preview page shows: the course title, each lesson's blocks (keys only when
    ``trainer``) and one paper drawn from the bank by the blueprint (a random seed)."""
    import random

    from grading.content.authoring import preview_blocks
    from grading.content.bank import BANK_FILE, BlueprintError, draw, load_bank
    from grading.content.courses import FormatError, load_course

    with snapshot_dir(datadir, course_id) as snap:
        try:
            spec = load_course(snap)
        except FormatError as e:
            return {"title": course_id, "lessons": [], "paper": None,
                    "problems": [f"{f}：{m}" for f, m in e.problems]}
        lessons = []
        problems: list[str] = []
        for lesson in spec.lessons:
            try:
                nb = _lesson_notebook(snap, lesson.file)
            except ValueError as e:  # shown as a problem of that lesson
                problems.append(str(e))
                continue
            blocks = []
            for b in preview_blocks(nb, notebook=lesson.file):
                b = dict(b)
                if b.get("kind") == "question":
                    b["item"] = _shown(b["item"], trainer)
                if b.get("problems"):
                    b["problems"] = [f"{w}：{m}" for w, m in b["problems"]]
                    if not trainer:
                        b.pop("problems")
                blocks.append(b)
            lessons.append({"title": lesson.title, "file": lesson.file, "blocks": blocks})
        paper = None
        paper_error = None
        if spec.blueprint is not None and (snap / BANK_FILE).exists():
            try:
                bank = load_bank(snap / BANK_FILE)
                drawn = draw(bank, spec.blueprint, seed if seed is not None else random.SystemRandom().getrandbits(32))
                paper = [_shown(q, trainer) for q in drawn]
            except (FormatError, BlueprintError) as e:
                paper_error = _strip_tmp(str(e), snap) if trainer else "题库尚不足以按组卷规则抽出试卷"
        return {"title": spec.title, "lessons": lessons, "paper": paper, "paper_error": paper_error,
                "problems": problems if trainer else [], "assessment": spec.assessment.title,
                "points": spec.points}


PRACTICE_TYPES = ("single", "multiple", "truefalse", "fill", "ordering")
MAX_ANSWER_CHARS = 4000


def check_practice(datadir: DataDir, course_id: str, lesson_file: str, qid: str, answer: Any) -> dict:
    """学员预览's 核对答案: ``answer`` (the stored shape a learner's widget saves: ``"B"``,
    ``"ACD"``, ``true``, ``["六十日"]``, ``"CABD"``) to question ``qid`` of the lesson in
    course.yaml whose file is ``lesson_file``, scored by the widgets' own
    :func:`widgets.model.score`; returns what the learner's practice shows after checking.
    Raises ValueError (zh) for a lesson or question that is not there."""
    from grading.content.authoring import preview_blocks
    from grading.content.courses import FormatError, load_course
    from widgets import model  # the scoring learners' kernels run, not a copy of it
    from widgets.paper import to_question

    if len(json.dumps(answer, ensure_ascii=False)) > MAX_ANSWER_CHARS:
        raise ValueError("答案过长")
    with snapshot_dir(datadir, course_id) as snap:
        try:
            spec = load_course(snap)
        except FormatError:
            raise ValueError("course.yaml 有误，请先校验") from None
        lesson = next((ls for ls in spec.lessons if ls.file == lesson_file), None)
        if lesson is None:
            raise ValueError("没有这个课时")
        nb = _lesson_notebook(snap, lesson.file)
        item = next((b["item"] for b in preview_blocks(nb, notebook=lesson.file)
                     if b.get("kind") == "question" and b["item"].get("id") == qid), None)
    if item is None or item.get("type") not in PRACTICE_TYPES:
        raise ValueError("课时中没有这道练习题（可能刚被修改，请刷新预览）")
    try:
        q = to_question(item)
        s = model.score(q, answer)
    except (ValueError, TypeError):  # a code-cell question the checks would flag: they say what
        raise ValueError("这道题的写法有误，请先“校验”查看原因") from None
    return {"correct": bool(s.correct), "points": s.points, "max_points": s.max_points,
            "explanation": q.explanation if isinstance(q.explanation, str) else "",
            "legal_basis": q.legal_basis, "answered": answer not in (None, "", []) and not s.problems}


def _strip_tmp(msg: str, snap: Path) -> str:
    return msg.replace(str(snap.parent) + os.sep, "")


_publish_locks: dict[str, threading.Lock] = {}


def publish(datadir: DataDir, course_id: str, *, actor: str, client: str | None = None,
            elective: bool = False) -> dict:
    """Check, then publish the course from a snapshot of its workspace folder (audited as
    ``course_publish`` by ``actor``); with ``elective`` it joins the current campaign as an
    elective for each of its audiences. {"ok": bool, "problems": [...], "report", "elective"}."""
    from grading.content.publish import PublishError, publish_course

    with _lock:
        lock = _publish_locks.setdefault(course_id, threading.Lock())
    if not lock.acquire(blocking=False):
        return {"ok": False, "problems": ["这门课程正在发布中，请稍候再试"]}
    try:
        try:
            with snapshot_dir(datadir, course_id) as snap:
                problems = check_snapshot(snap, course_id, datadir.courses)
                if problems:
                    return {"ok": False, "problems": problems}
                report = publish_course(datadir, course_id, source=snap, actor=actor, client=client)
        except UnsafeWorkspace as e:
            return {"ok": False, "problems": e.problems}
        except (PublishError, ValueError) as e:
            return {"ok": False, "problems": [str(e).replace(tempfile.gettempdir() + os.sep, "")]}
        added = None
        if elective:
            from grading.records.learner_home import add_elective

            added = add_elective(datadir.records_db_url, course_id, actor=actor, client=client)
        return {"ok": True, "problems": [], "report": report, "elective": added}
    finally:
        lock.release()


def publish_workspace(datadir: DataDir, *, if_changed: bool = True, check: bool = False,
                      only: list[str] | None = None) -> list[str]:
    """``xuefa up --demo``'s auto-publish: each workspace course from its workspace folder (a
    shipped course edited by its trainers is published as edited, never reverted to the shipped
    copy). With ``check`` a course with problems is skipped. Returns the ids published."""
    from grading.content.publish import PublishError, publish_course

    done = []
    for cid in course_ids(datadir):
        if only is not None and cid not in only:
            continue
        try:
            with snapshot_dir(datadir, cid) as snap:
                problems = check_snapshot(snap, cid, datadir.courses) if check else _id_problem(snap, cid)
                if problems:
                    log.warning("workspace course %s not published: %s", cid, "; ".join(problems[:5]))
                    continue
                if publish_course(datadir, cid, source=snap, if_changed=if_changed) is not None:
                    done.append(cid)
        except (UnsafeWorkspace, PublishError, ValueError, OSError) as e:
            log.warning("workspace course %s not published: %s", cid, e)
    return done


__all__ = ["LINK_DIR", "UnsafeWorkspace", "course_ids", "course_path", "courses_of", "link_courses",
           "listed_trainers", "may_edit", "new_course", "prepare_home", "read_file", "seed", "snapshot",
           "snapshot_dir", "sync_course", "write_file"]

"""The learner's pages and how platform files get into people's homes.

我的学习 is no notebook any more: the learner's own server renders it as plain HTML at
``<prefix>xuefa/learning`` (:mod:`hub_config.home.server_ext`, :mod:`hub_config.home.page`),
where learners land (see hub_config.config); it links to 我的错题本.ipynb, a Voila page (its
practice answers live in ``我的错题本.answers.json``, the learner's own file).

The page notebooks are platform files, not the learner's work: :func:`install_home` copies
them into a home at every spawn (replacing an older copy), so an update reaches everyone on
their next start, and takes away an unchanged 我的学习.ipynb an earlier version installed
(:data:`LEGACY`; its old address redirects to the new page).

:data:`SKEL` holds only files meant for homes, so it can also serve as the spawner's
``skeleton_dir`` (``c.XuefaSpawner.skeleton_dir = str(hub_config.home.SKEL)``).

The hub runs as root and a home belongs to its learner, who can put anything there: a link
named 我的学习.ipynb pointing at ``/etc/shadow``, a directory replaced by a link, a fifo. So
nothing here goes by path name inside a home. :func:`put_file` walks from the home's own
directory descriptor (opened ``O_DIRECTORY|O_NOFOLLOW``), creates each missing directory with
``mkdir`` relative to its parent's descriptor, writes a new file under a random name with
``O_CREAT|O_EXCL|O_NOFOLLOW``, sets owner and mode on the descriptor (``fchown``/``fchmod``)
and renames it over the old name: a link found there is replaced, never followed, and nothing
outside the home is opened for writing, chmod-ed or chown-ed.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKEL = HERE / "skel"
# the old Voila 我的学习 (its URL now redirects to the server-rendered page)
HOME_NOTEBOOK = "我的学习.ipynb"
WRONGBOOK_NOTEBOOK = "我的错题本.ipynb"
PAGES = (WRONGBOOK_NOTEBOOK,)  # hub_config.home.page links it
# pages earlier versions installed, by the SHA-256 of the copy they wrote: removed from homes
# when unchanged (a learner's edit or a link stays)
LEGACY = {HOME_NOTEBOOK: ("32875ddc0233fd2c437fd2a4a791079736c0e2ad7886b36c0175e3d8ce4e3c05",)}

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeHome(Exception):
    """A path inside a home is not what the platform would have made (a link, a file where a
    directory belongs); the platform file is then not installed there."""


def _open_dir(name: str, dir_fd: int | None, uid: int | None, gid: int | None,
              create: bool) -> int:
    try:
        fd = os.open(name, _DIR, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        except FileExistsError:
            pass
        fd = os.open(name, _DIR, dir_fd=dir_fd)
        if uid is not None:
            os.fchown(fd, uid, gid if gid is not None else -1)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeHome(f"{name!r} is not a directory") from None
        raise
    return fd


def _stat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _read_at(dir_fd: int, name: str, limit: int) -> bytes | None:
    """The contents of a regular file ``name`` (None: absent, a link or anything else)."""
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks, n = [], 0
        while n <= limit:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            chunks.append(b)
            n += len(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


def put_file(home: str | os.PathLike, rel: str | os.PathLike, data: bytes, *,
             uid: int | None = None, gid: int | None = None, mode: int = 0o644,
             mtime: float | None = None, only_if=None) -> bool:
    """Write ``data`` as ``home/rel`` without following any link inside ``home``.

    ``only_if(existing_stat, read_existing)`` decides whether an existing entry is replaced
    (``read_existing()`` returns its bytes, or None when it is no regular file); default: replace
    unless it already holds ``data``. Returns True when the file was written."""
    parts = Path(rel).parts
    if not parts or any(p in ("", ".", "..") for p in parts) or Path(rel).is_absolute():
        raise ValueError(f"bad relative path {rel!r}")
    fds = [os.open(home, _DIR)]
    try:
        if uid is not None and os.fstat(fds[0]).st_uid not in (uid, 0):
            raise UnsafeHome(f"{home} is not owned by uid {uid}")
        for part in parts[:-1]:
            fds.append(_open_dir(part, fds[-1], uid, gid, create=True))
        d, name = fds[-1], parts[-1]
        st = _stat_at(d, name)
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                raise UnsafeHome(f"{rel} is a directory")
            decide = only_if or (lambda st, read: read() != data)
            if not decide(st, lambda: _read_at(d, name, max(len(data), 1 << 20))):
                return False
        tmp = f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, _NEW, 0o600, dir_fd=d)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if uid is not None:
                os.fchown(fd, uid, gid if gid is not None else -1)
            os.fchmod(fd, mode)
            if mtime is not None:
                os.utime(fd, (mtime, mtime))
        except BaseException:
            os.close(fd)
            os.unlink(tmp, dir_fd=d)
            raise
        os.close(fd)
        # rename replaces whatever entry has the name (a link included) and follows nothing
        os.rename(tmp, name, src_dir_fd=d, dst_dir_fd=d)
        return True
    finally:
        for fd in reversed(fds):
            os.close(fd)


def remove_if_same(home: str | os.PathLike, rel: str, data: bytes) -> bool:
    """Unlink ``home/rel`` when it is a regular file holding exactly ``data`` (a link or a
    learner's own edit stays)."""
    fd = os.open(home, _DIR)
    try:
        if _read_at(fd, rel, len(data)) == data:
            os.unlink(rel, dir_fd=fd)
            return True
        return False
    finally:
        os.close(fd)


def remove_if_digest(home: str | os.PathLike, rel: str, digests: tuple[str, ...]) -> bool:
    """Unlink ``home/rel`` when it is a regular file whose SHA-256 is one of ``digests``."""
    import hashlib

    fd = os.open(home, _DIR)
    try:
        data = _read_at(fd, rel, 1 << 16)
        if data is not None and hashlib.sha256(data).hexdigest() in digests:
            os.unlink(rel, dir_fd=fd)
            return True
        return False
    finally:
        os.close(fd)


def install_home(home_dir: str | os.PathLike, uid: int | None = None, gid: int | None = None) -> Path:
    """Put the learner's pages (:data:`PAGES`) into ``home_dir`` (idempotent); owned by ``uid``
    when given; unchanged :data:`LEGACY` copies are removed. Returns the path of 我的错题本.ipynb."""
    home = Path(home_dir)
    home.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        data = (SKEL / name).read_bytes()

        def outdated(st, read, data=data):
            return (read() != data or stat.S_IMODE(st.st_mode) != 0o644
                    or (uid is not None and st.st_uid != uid))

        put_file(home, name, data, uid=uid, gid=gid, mode=0o644, only_if=outdated)
    for name, digests in LEGACY.items():
        remove_if_digest(home, name, digests)
    return home / WRONGBOOK_NOTEBOOK


def uninstall_home(home_dir: str | os.PathLike) -> list[str]:
    """Take the learner's pages away from someone who is no longer a learner: each unchanged
    copy is removed (a link or their own edit stays). Returns the names removed."""
    return ([name for name in PAGES if remove_if_same(home_dir, name, (SKEL / name).read_bytes())]
            + [name for name, digests in LEGACY.items() if remove_if_digest(home_dir, name, digests)])

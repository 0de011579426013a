"""File modes of a platform: what learners (other unix users) may see of the data dir.

Learners' servers run as their own accounts on the same host, so unix permissions are what
keeps the platform's data from them. They need exactly:

- to reach their own home: ``DATA`` and ``DATA/home`` are 0711 (enter, not list);
- nbgrader's exchange: the root ``exchange/`` is 1777 (nbgrader checks it is writable),
  ``exchange/<course>`` and its ``outbound/`` readable (0755), ``inbound/`` write-only with
  the sticky bit (3733: drop a folder, see nobody's, remove nobody's), ``feedback/`` 0711
  (per-learner hashed file names, as nbgrader makes them);
- ``run/`` 0711 so a shadow interpreter under it (``run/server-venv``) can run.

Everything else is root's alone: the records DB (and its WAL/SHM files) 0600, ``hub/``,
``courses/`` (sources with keys, gradebooks, submitted, autograded, feedback), ``reports/``,
``logs/``, ``quarantine/`` and ``jupyterhub_config.d/`` 0700. :func:`private_umask` (077) makes
new files of the hub and the services private from the start; :func:`protect` repairs the modes
of an existing data dir (called by ``DataDir.ensure()``, so at every ``xuefa up``).

Only entries owned by this process's uid are changed and links are never followed: the
exchange root is world-writable, so anything a learner planted there is left alone (the grading
service ignores it, see :mod:`grading.exchange.intake`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
TRAVERSE = 0o711
EXCHANGE_ROOT = 0o1777
COURSE_EXCHANGE = 0o755
OUTBOUND = 0o755
INBOUND = 0o3733  # setgid as nbgrader makes it, plus sticky
FEEDBACK = 0o711
DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def private_umask() -> int:
    """umask 077 for this process and everything it starts; returns the previous one."""
    return os.umask(UMASK)


def _set(path: Path, mode: int, *, want_dir: bool | None = None) -> bool:
    """chmod ``path`` when it is ours and not a link; True when it exists as expected."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        return False
    if want_dir is not None and stat.S_ISDIR(st.st_mode) != want_dir:
        return False
    if stat.S_IMODE(st.st_mode) != mode:
        try:
            os.chmod(path, mode)
        except OSError:
            return False
    return True


def _sqlite_files(url: str) -> list[Path]:
    if not url.startswith("sqlite:///"):
        return []
    base = url.split("///", 1)[1]
    return [Path(base + s) for s in DB_SUFFIXES]


def protect(datadir) -> None:
    """Give an existing data dir the modes above (idempotent; cheap: no tree walks except the
    exchange's course dirs and the hub dir's files)."""
    root = datadir.root
    _set(root, TRAVERSE, want_dir=True)
    _set(datadir.homes, TRAVERSE, want_dir=True)
    _set(datadir.run, TRAVERSE, want_dir=True)
    for d in (datadir.hub, datadir.courses, datadir.logs, datadir.reports, root / "quarantine",
              root / "jupyterhub_config.d"):
        _set(d, PRIVATE_DIR, want_dir=True)
    try:
        for e in os.scandir(datadir.hub):
            if e.is_file(follow_symlinks=False):
                _set(Path(e.path), PRIVATE_FILE)
    except OSError:
        pass
    for f in _sqlite_files(datadir.records_db_url):
        _set(f, PRIVATE_FILE, want_dir=False)
    ex = datadir.exchange
    _set(ex, EXCHANGE_ROOT, want_dir=True)
    try:
        courses = [Path(e.path) for e in os.scandir(ex)]
    except OSError:
        courses = []
    for cdir in courses:
        if not _set(cdir, COURSE_EXCHANGE, want_dir=True):
            continue
        _set(cdir / "outbound", OUTBOUND, want_dir=True)
        _set(cdir / "inbound", INBOUND, want_dir=True)
        _set(cdir / "feedback", FEEDBACK, want_dir=True)


def readable_by_others(path: str | os.PathLike) -> bool:
    """Whether another (unprivileged) user could read ``path`` by its name."""
    p = Path(path)
    try:
        for d in p.parents:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return False
        return bool(os.stat(p).st_mode & stat.S_IROTH)
    except OSError:
        return False

"""Backup and restore of a platform's data: records DB, every course gradebook, course dirs.

An archive is a ``.tar.gz`` holding::

    manifest.json              format, time, source backends, row counts per table
    records.sqlite             consistent snapshot of the records DB
    gradebooks/<course>.sqlite consistent snapshot of each course's nbgrader gradebook
    files/courses/<course>/... course roots (source, release, submitted, autograded, feedback)
    files/exchange/...         nbgrader exchange (submissions not yet collected are learners' work)
    files/home/...             learners' homes (unfinished ``*.answers.json``, notebooks), unless
                               ``homes=False``; owners and modes kept

Databases are always stored as SQLite, whatever they run on: a SQLite database is copied with
the sqlite3 backup API (a consistent snapshot even while the platform writes, unlike a file
copy); a PostgreSQL database is read table by table inside one REPEATABLE READ transaction
(one snapshot) into a SQLite file with the same schema. So one archive format restores onto
either backend, which is also the migration path from one machine to PostgreSQL.

Each database is consistent on its own; stop the grading service first if the records DB and
the gradebooks must match to the second.

An archive holds every password hash, answer key and submission: it is created 0600 (root's
alone). Restoring treats the archive as untrusted: a member outside the target (absolute path,
``..``, a link pointing out) or a device/fifo refuses the whole restore before anything is
changed, and no setuid/setgid/sticky or group/other-writable mode is applied from it; the
platform's own modes (exchange, private dirs) are set again by ``DataDir.ensure()``.

The exchange and learners' homes are trees learners write, so root reads them without following
a path they control (:func:`_add_learner_tree`: directory fds, ``O_NOFOLLOW``, regular files
only): a link a learner planted is left out, not archived, so it can neither pull another
file into the archive nor make the archive one that restore refuses. Restore unpacks inside the
data dir, so moving the files into place is a rename that keeps each learner's ownership.
"""

from __future__ import annotations

import grp
import io
import json
import os
import pwd
import shutil
import sqlite3
import stat
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    Column, MetaData, String, Table, create_engine, func, insert, inspect, select, text,
)
from sqlalchemy.engine import Engine

from grading.records import migrate
from grading.host.datadir import DataDir
from grading.records.db import get_engine, normalize_url

FORMAT = 1
GRADEBOOK_FILES = ("gradebook.sqlite", "gradebook.sqlite-wal", "gradebook.sqlite-shm")


class RestoreRefused(Exception):
    """Restoring would overwrite live or existing data; the message (zh-CN) says which."""


@dataclass
class Manifest:
    format: int
    created_at: str
    records_backend: str
    records_rows: dict[str, int]
    gradebooks: dict[str, dict[str, int]] = field(default_factory=dict)
    files: int = 0
    homes: bool = False
    home_files: int = 0
    skipped: int = 0  # links, sockets, fifos found in learners' trees: not archived

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


# --- databases ------------------------------------------------------------------------------


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def _engine(url: str) -> Engine:
    """A private engine (disposed after use), not the process-wide cached one."""
    return create_engine(normalize_url(url))


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _records_metadata() -> MetaData:
    from grading.records.models import Base

    return Base.metadata


def _gradebook_metadata() -> MetaData:
    from nbgrader.api import Base

    return Base.metadata


def _sqlite_copy(src: Path, dst: Path) -> None:
    """Whole-database copy through the sqlite3 backup API (one consistent snapshot)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def _self_ref_order(table, rows: list[dict]) -> list[dict]:
    """Rows of a self-referencing table (units.parent_id) ordered parents first."""
    fks = [fk for fk in table.foreign_keys if fk.column.table is table]
    if not fks:
        return rows
    col, ref = fks[0].parent.name, fks[0].column.name
    done, ordered, pending = set(), [], rows
    while pending:
        ready = [r for r in pending if r[col] is None or r[col] in done]
        if not ready:  # a cycle cannot be inserted row by row; keep the original order
            return ordered + pending
        ordered += ready
        done |= {r[ref] for r in ready}
        taken = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in taken]
    return ordered


def count_rows(engine: Engine, metadata: MetaData) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables}


def copy_tables(src: Engine, dst: Engine, metadata: MetaData, batch: int = 2000) -> dict[str, int]:
    """Copy every table of ``metadata`` from ``src`` to ``dst`` (whose tables must be empty),
    reading ``src`` in one snapshot and writing ``dst`` in one transaction."""
    counts: dict[str, int] = {}
    read = src.connect()
    if src.dialect.name == "postgresql":
        read = read.execution_options(isolation_level="REPEATABLE READ")
    with read, read.begin(), dst.begin() as write:
        for table in metadata.sorted_tables:
            result = read.execute(select(table).order_by(*table.primary_key.columns))
            rows = [dict(r._mapping) for r in result]
            rows = _self_ref_order(table, rows)
            for i in range(0, len(rows), batch):
                write.execute(insert(table), rows[i:i + batch])
            counts[table.name] = len(rows)
        _copy_alembic_stamp(read, write)
        if dst.dialect.name == "postgresql":
            _reset_sequences(write, metadata)
    return counts


def _copy_alembic_stamp(read, write) -> None:
    """Carry the schema revision over (gradebooks; the records DB is stamped by migrate)."""
    if not inspect(read).has_table("alembic_version"):
        return
    version = read.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    table = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False))
    table.create(write, checkfirst=True)
    write.execute(table.delete())
    if version:
        write.execute(insert(table), [{"version_num": v} for v in version])


def _reset_sequences(conn, metadata: MetaData) -> None:
    """Explicit ids were inserted, so move each serial sequence past them."""
    for table in metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            continue  # pg_get_serial_sequence is NULL for non-serial keys (nbgrader's uuids)
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                           {"t": table.name, "c": pk[0].name}).scalar()
        if seq:
            conn.execute(text(f'SELECT setval(:s, COALESCE((SELECT MAX("{pk[0].name}") FROM '
                              f'"{table.name}"), 0) + 1, false)'), {"s": seq})


def clear_tables(engine: Engine, metadata: MetaData) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())


def _snapshot(url: str, out: Path, metadata: MetaData, create_schema) -> dict[str, int]:
    """Write a consistent SQLite snapshot of the database at ``url`` to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if _is_sqlite(url) and not _sqlite_path(url).exists():
        create_schema(_sqlite_url(out))  # a platform with no data yet backs up as empty tables
    elif _is_sqlite(url):
        _sqlite_copy(_sqlite_path(url), out)
    else:
        # the snapshot gets this code's schema: `xuefa db upgrade` before backing up an old DB
        create_schema(_sqlite_url(out))
        snap, src = create_engine(_sqlite_url(out)), _engine(url)
        try:
            clear_tables(snap, metadata)
            copy_tables(src, snap, metadata)
        finally:
            snap.dispose()
            src.dispose()
    snap = create_engine(_sqlite_url(out))
    try:
        return count_rows(snap, metadata)
    finally:
        snap.dispose()


def _load(snapshot: Path, url: str, metadata: MetaData, create_schema) -> dict[str, int]:
    """Replace the contents of the database at ``url`` with ``snapshot``."""
    if _is_sqlite(url):
        target = _sqlite_path(url)
        _sqlite_copy(snapshot, target)
        engine = _engine(url)
    else:
        create_schema(url)
        engine = _engine(url)
        clear_tables(engine, metadata)
        snap = create_engine(_sqlite_url(snapshot))
        copy_tables(snap, engine, metadata)
        snap.dispose()
    try:
        return count_rows(engine, metadata)
    finally:
        engine.dispose()


def _has_gradebook(url: str) -> bool:
    if _is_sqlite(url) and not _sqlite_path(url).exists():
        return False
    engine = _engine(url)
    try:
        return inspect(engine).has_table("course")
    finally:
        engine.dispose()


def _create_gradebook(url: str) -> None:
    # not nbgrader.api.Gradebook(): it shells out to `alembic heads` for its stamp, which
    # copy_tables brings over from the source instead
    engine = _engine(url)
    try:
        _gradebook_metadata().create_all(engine)
    finally:
        engine.dispose()


# --- platform state -------------------------------------------------------------------------


def running_pids(datadir: DataDir) -> list[int]:
    """Live processes of this platform, from ``run/*.pid`` (and ``hub/*.pid``)."""
    pids = []
    for pidfile in [*datadir.run.glob("*.pid"), *datadir.hub.glob("*.pid")]:
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, OSError):
            continue
        pids.append(pid)
    return pids


def existing_data(datadir: DataDir, homes: bool = False) -> list[str]:
    """What a restore would overwrite (empty list: nothing); ``homes``: learners' homes too."""
    found = []
    url = datadir.records_db_url
    if not _is_sqlite(url) or _sqlite_path(url).exists():
        try:
            rows = sum(count_rows(get_engine(url), _records_metadata()).values())
        except Exception:  # noqa: BLE001 - no schema yet: nothing to lose
            rows = 0
        if rows:
            found.append(f"学习记录数据库已有 {rows} 行数据")
    if datadir.courses.exists() and any(datadir.courses.iterdir()):
        found.append(f"课程目录 {datadir.courses} 不为空")
    if datadir.exchange.exists() and any(datadir.exchange.iterdir()):
        found.append(f"作业交换目录 {datadir.exchange} 不为空")
    if homes and datadir.homes.exists() and any(datadir.homes.iterdir()):
        found.append(f"学员主目录 {datadir.homes} 不为空")
    return found


# --- archive --------------------------------------------------------------------------------


def _course_ids(datadir: DataDir) -> list[str]:
    if not datadir.courses.exists():
        return []
    return sorted(p.name for p in datadir.courses.iterdir() if p.is_dir())


class _Exactly(io.RawIOBase):
    """``size`` bytes of ``f``: cut when it grew, zero-padded when it shrank while being read
    (a learner's live file must not make tarfile fail or misalign the archive)."""

    def __init__(self, f, size: int):
        self.f, self.left = f, size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n)[:n] if n else b""
        data += b"\0" * (n - len(data))
        self.left -= n
        return data


_names: dict[tuple[str, int], str] = {}


def _name(kind: str, num: int) -> str:
    if (kind, num) not in _names:
        try:
            _names[kind, num] = (pwd.getpwuid(num).pw_name if kind == "u"
                                 else grp.getgrgid(num).gr_name)
        except KeyError:
            _names[kind, num] = ""
    return _names[kind, num]


def _info(arcname: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.type, info.mode, info.mtime = kind, stat.S_IMODE(st.st_mode), int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    # restore maps names first: a learner's files go back to their account by name
    info.uname, info.gname = _name("u", st.st_uid), _name("g", st.st_gid)
    info.size = st.st_size if kind == tarfile.REGTYPE else 0
    return info


# re-creatable, and large: pip's cache, running kernels' connection files (under each home)
_HOME_SKIP = {(".cache",), (".local", "share", "jupyter", "runtime")}


def _home_skip(parts: tuple[str, ...]) -> bool:
    """``parts``: a directory's path under ``home/`` (its first part is the person)."""
    return parts[1:] in _HOME_SKIP


def _add_learner_tree(tar: tarfile.TarFile, top: Path, arcroot: str, manifest: Manifest,
                      skip=lambda parts: False) -> int:
    """Add the tree ``top`` (which learners write) as ``arcroot``: directories and regular
    files only, read through directory fds with ``O_NOFOLLOW``; returns the files added."""
    added = 0
    for dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        rel = Path(dirpath).relative_to(top)
        dirnames[:] = [d for d in dirnames if not skip((*rel.parts, d))]
        arcdir = arcroot if not rel.parts else f"{arcroot}/{rel.as_posix()}"
        tar.addfile(_info(arcdir, os.fstat(dirfd), tarfile.DIRTYPE))
        for name in sorted(filenames):
            try:
                before = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                if not stat.S_ISREG(before.st_mode):
                    raise OSError("not a regular file")
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
            except OSError:  # a link, fifo or socket, or gone since the listing
                manifest.skipped += 1
                continue
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(f.fileno())
                if (st.st_ino, st.st_dev) != (before.st_ino, before.st_dev) or not stat.S_ISREG(st.st_mode):
                    manifest.skipped += 1  # swapped between the look and the open
                    continue
                info = _info(f"{arcdir}/{name}", st, tarfile.REGTYPE)
                tar.addfile(info, _Exactly(f, info.size))
            added += 1
    return added


def backup(datadir: DataDir, out: Path, *, homes: bool = True) -> Manifest:
    """Write a backup archive of ``datadir`` to ``out`` and return its manifest; ``homes``
    (the default) includes learners' homes, where their unfinished answers are."""
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="xuefa-backup-") as tmp:
        tmp = Path(tmp)
        url = datadir.records_db_url
        records = _snapshot(url, tmp / "records.sqlite", _records_metadata(), migrate.upgrade)
        gradebooks = {}
        for cid in _course_ids(datadir):
            gb_url = datadir.gradebook_url(cid)
            if not _has_gradebook(gb_url):
                continue
            gradebooks[cid] = _snapshot(gb_url, tmp / "gradebooks" / f"{cid}.sqlite",
                                        _gradebook_metadata(), _create_gradebook)
        manifest = Manifest(format=FORMAT, created_at=datetime.now(timezone.utc).isoformat(),
                            records_backend=get_engine(url).dialect.name, records_rows=records,
                            gradebooks=gradebooks, homes=homes)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        partial.unlink(missing_ok=True)
        # private from the first byte (not chmod-ed afterwards): it holds every secret
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(tmp / "records.sqlite", "records.sqlite")
            if gradebooks:
                tar.add(tmp / "gradebooks", "gradebooks")
            if datadir.courses.exists():
                tar.add(datadir.courses, "files/courses", filter=_skip_live_dbs(manifest))
            if datadir.exchange.exists():
                manifest.files += _add_learner_tree(tar, datadir.exchange, "files/exchange",
                                                    manifest)
            if homes and datadir.homes.exists():
                manifest.home_files = _add_learner_tree(tar, datadir.homes, "files/home",
                                                        manifest, _home_skip)
                manifest.files += manifest.home_files
            data = json.dumps(manifest.__dict__, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(datetime.now().timestamp())
            tar.addfile(info, io.BytesIO(data))
        partial.replace(out)  # never leave a truncated archive under the final name
    return manifest


def _skip_live_dbs(manifest: Manifest):
    def _filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if Path(info.name).name in GRADEBOOK_FILES:
            return None  # snapshotted consistently under gradebooks/
        if info.isfile():
            manifest.files += 1
        return info

    return _filter


def read_manifest(archive: Path) -> Manifest:
    with tarfile.open(archive, "r:gz") as tar:
        return Manifest.from_json(json.load(tar.extractfile("manifest.json")))


class UnsafeArchive(RestoreRefused):
    pass


def _safe_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tar_filter: refuses absolute paths, '..' and links leaving ``dest``; clears setuid,
    setgid, sticky and group/other write bits (owners are kept: homes stay their learners').
    Devices and fifos are refused too: a platform's data never holds one."""
    if member.name.startswith(("/", "\\")) or ".." in Path(member.name).parts:
        # tar_filter would quietly make an absolute name relative: a backup never has one
        raise UnsafeArchive(f"备份文件中的 {member.name!r} 是绝对路径或含 ..，已拒绝恢复；请确认备份来源可信")
    if member.issym() or member.islnk():
        base = os.path.dirname(member.name) if member.issym() else ""
        target = os.path.normpath(os.path.join(dest, base, member.linkname))
        if os.path.isabs(member.linkname) or os.path.commonpath(
                [os.path.abspath(dest), os.path.abspath(target)]) != os.path.abspath(dest):
            raise UnsafeArchive(f"备份文件中的链接 {member.name!r} 指向目标目录之外"
                                f"（{member.linkname!r}），已拒绝恢复；请确认备份来源可信")
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafeArchive(f"备份文件中的 {member.name!r} 是设备或管道文件，不是平台数据；已拒绝恢复")
    try:
        return tarfile.tar_filter(member, dest)
    except tarfile.FilterError as exc:
        raise UnsafeArchive(f"备份文件中的 {member.name!r} 指向目标目录之外（{exc}），已拒绝恢复；"
                            "请确认备份来源可信") from None


def check_archive(archive: Path) -> None:
    """Refuse (UnsafeArchive) an archive with any member :func:`_safe_member` would refuse,
    before a restore changes anything."""
    with tempfile.TemporaryDirectory(prefix="xuefa-check-") as tmp, tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            _safe_member(member, tmp)


def restore(datadir: DataDir, archive: Path, *, force: bool = False) -> Manifest:
    """Restore ``archive`` into ``datadir``.

    Refuses (RestoreRefused, zh-CN message) while the platform runs or when data would be
    overwritten, unless ``force``. Returns the manifest after checking every table's row count."""
    archive = Path(archive)
    check_archive(archive)
    manifest = read_manifest(archive)
    if manifest.format != FORMAT:
        raise RestoreRefused(f"不支持的备份格式 {manifest.format}（本版本支持 {FORMAT}）")
    if not force:
        pids = running_pids(datadir)
        if pids:
            raise RestoreRefused(
                f"平台正在运行（进程 {', '.join(map(str, pids))}），恢复会覆盖正在使用的数据；"
                "请先停止平台，或使用 --force")
        found = existing_data(datadir, homes=manifest.homes)
        if found:
            raise RestoreRefused("目标数据目录已有数据：" + "；".join(found) + "。如确需覆盖，请使用 --force")
    datadir.ensure()
    # unpacked on the data dir's own filesystem: putting a tree in place is then a rename, which
    # keeps owners (a copy across filesystems by root would hand learners' files to root)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=datadir.root) as tmp:
        tmp = Path(tmp)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter=_safe_member)
        snapshot = tmp / "records.sqlite"
        migrate.upgrade(_sqlite_url(snapshot))  # an older archive restores into newer code
        url = datadir.records_db_url
        get_engine(url).dispose()  # pooled connections must not see the old file/rows
        rows = _load(snapshot, url, _records_metadata(), migrate.upgrade)
        get_engine(url).dispose()
        _check(rows, manifest.records_rows, "学习记录数据库")
        for name, path in [("courses", datadir.courses), ("exchange", datadir.exchange),
                           ("home", datadir.homes)]:
            src = tmp / "files" / name
            if not src.exists():
                continue
            for child in src.iterdir():
                dest = path / child.name
                if dest.is_dir() and not dest.is_symlink():
                    shutil.rmtree(dest)
                elif dest.exists() or dest.is_symlink():
                    dest.unlink()
                shutil.move(str(child), dest)
        for cid, expected in manifest.gradebooks.items():
            gb_url = datadir.gradebook_url(cid)
            if _is_sqlite(gb_url):
                for suffix in ("-wal", "-shm"):
                    Path(str(_sqlite_path(gb_url)) + suffix).unlink(missing_ok=True)
            got = _load(tmp / "gradebooks" / f"{cid}.sqlite", gb_url, _gradebook_metadata(),
                        _create_gradebook)
            _check(got, expected, f"课程 {cid} 的成绩库")
    datadir.ensure()  # permissions the platform relies on (exchange 1777, reports 0700)
    return manifest


def _check(got: dict[str, int], expected: dict[str, int], what: str) -> None:
    diff = {t: (n, got.get(t)) for t, n in expected.items() if got.get(t) != n}
    if diff:
        raise RuntimeError(f"{what}恢复后行数不符: {diff}")

"""Fixtures shared by every test package."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from grading.records import migrate
from grading.host.datadir import DataDir
from hub_config.services import free_port  # noqa: F401  (tests import it from here)


@pytest.fixture(scope="session", autouse=True)
def _remove_test_accounts():
    """Every throwaway data dir gets system accounts of its own (people's ``xf…-`` and the
    grader's ``xfg-``): remove the ones this run made, or each CI run on a machine would eat
    into the few hundred system uids. Accounts that existed before the run are left alone."""
    def ours() -> set[str]:
        return {e.pw_name for e in pwd.getpwall() if e.pw_name.startswith("xf")}

    before = ours()
    yield
    if os.geteuid() != 0:
        return
    for name in sorted(ours() - before):
        # a failed userdel (a process still running as it) must not fail the run
        subprocess.run(["userdel", name], capture_output=True, check=False)


@pytest.fixture
def datadir(tmp_path) -> DataDir:
    """A fresh, empty platform data dir."""
    return DataDir(tmp_path / "data").ensure()


# --- PostgreSQL: every records-DB test runs on SQLite and on a real throwaway server -------------

PG_BIN = Path(os.environ.get("XUEFA_PG_BIN", "/usr/lib/postgresql/15/bin"))
DB_BACKENDS = ["sqlite", "postgresql"]
# XUEFA_TEST_DB=sqlite (or postgresql) limits `records_url` to one backend for quick local runs.
if os.environ.get("XUEFA_TEST_DB"):
    DB_BACKENDS = [b for b in DB_BACKENDS if b == os.environ["XUEFA_TEST_DB"]] or DB_BACKENDS


@dataclass
class PgCluster:
    """A PostgreSQL server of our own (initdb into a temp dir), reachable on loopback TCP."""

    root: Path
    port: int
    user: str  # unix owner of the cluster; also the database superuser name
    _names = itertools.count(1)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, prefix: str = "t") -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        from grading.records.db import get_engine

        get_engine(url).dispose()  # our own pooled connections would block DROP
        name = url.rsplit("/", 1)[-1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_owner() -> str | None:
    """Postgres refuses to run as root: use Debian's `postgres` user (or create one)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "xuefa-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "xuefa-pg"], check=True)
    return "xuefa-pg"


def _as(owner: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


@pytest.fixture(scope="session")
def pg_cluster():
    """One PostgreSQL 15 server per test session (fsync off: it is thrown away)."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
    owner = _pg_owner()
    # not tmp_path_factory: pytest's base temp is 0700 root, the postgres user could not enter it
    root = Path(tempfile.mkdtemp(prefix="xuefa-pg-"))
    data = root / "data"
    if owner:
        shutil.chown(root, owner, owner)
    user = owner or pwd.getpwuid(os.geteuid()).pw_name
    subprocess.run(_as(owner, [str(PG_BIN / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
                               "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = free_port()
    opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    started = subprocess.run(_as(owner, [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l",
                                         str(root / "server.log"), "-o", opts, "-w", "-t", "60",
                                         "start"]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cluster = PgCluster(root=root, port=port, user=user)
    try:
        if started.returncode != 0:
            log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.decode()}\n{log}")
        yield cluster
    finally:
        subprocess.run(_as(owner, [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                   "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh, empty (not migrated) PostgreSQL database, dropped afterwards."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(params=DB_BACKENDS)
def records_url(request, datadir, monkeypatch) -> str:
    """A migrated records database for ``datadir``, once on SQLite and once on PostgreSQL.

    On PostgreSQL ``XUEFA_RECORDS_DB_URL`` points at it, so ``datadir.records_db_url``, the CLI
    and any service a test starts use the same database."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("XUEFA_RECORDS_DB_URL", url)
        assert datadir.records_db_url == url
    migrate.upgrade(datadir.records_db_url)
    return datadir.records_db_url

"""`xuefa backup` / `xuefa restore`: build a platform's data, back up, wipe, restore, compare.

Runs on SQLite and on the real PostgreSQL the `records_url` fixture starts; on PostgreSQL the
course gradebook lives there too (XUEFA_GRADEBOOK_DB_URL)."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from grading.records import backup
from grading.host.datadir import DataDir
from grading.records.db import get_engine, session_scope
from grading.records.models import (
    Assessment, Audience, Base, Campaign, CampaignCourse, Course, Credential, GradingJob,
    ItemResult, LearningEvent, Learner, Result, Role, Unit,
)

COURSE = "xingzheng_susong"


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    # nbgrader's Gradebook runs the `alembic` executable to stamp a new gradebook
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def xuefa(*args: str, check: bool = True):
    """The real `xuefa` CLI, in-process (a subprocess would pay nbgrader's import again)."""
    from click.testing import CliRunner

    from hub_config.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if check:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def gradebook_url(records_url, request, datadir, monkeypatch) -> str:
    """The course gradebook on the same backend as the records DB."""
    if records_url.startswith("postgresql"):
        url = request.getfixturevalue("pg_cluster").create_database("gradebook")
        monkeypatch.setenv("XUEFA_GRADEBOOK_DB_URL", url)
    datadir.course_root(COURSE).mkdir(parents=True, exist_ok=True)
    return datadir.gradebook_url(COURSE)


def build_records(url: str) -> None:
    with session_scope(url) as s:
        city = Unit(path="海安市", name="海安市", level=0)
        town = Unit(path="海安市/城东镇", name="城东镇", level=1, parent=city)
        village = Unit(path="海安市/城东镇/新城社区", name="新城社区", level=2, parent=town)
        s.add_all([city, town, village])
        s.flush()
        # a parent created after its child: restore must still insert parents first
        dept = Unit(path="海安市/司法局", name="司法局", level=1)
        s.add(dept)
        s.flush()
        dept.parent_id = city.id
        people = [
            Learner(username=f"ganbu{i}", name=f"干部{i}", unit=village if i % 2 else dept,
                    audience=Audience.cadre, role=Role.learner)
            for i in range(1, 6)
        ]
        people[0].credential = Credential(password_hash="$argon2id$fake", must_change=False)
        s.add_all(people)
        s.add(Course(id=COURSE, title="行政诉讼法", hours=2, audiences=["cadre"],
                     meta={"讲师": "司法局"}, published_at=datetime(2026, 11, 1, 8)))
        s.flush()  # no ORM relationship orders courses before what refers to them
        s.add(Assessment(course_id=COURSE, assignment="module", title="测验", max_score=10))
        s.add(Campaign(id="m2026", name="干部学习月", start=date(2026, 11, 1), end=date(2026, 11, 30),
                       courses=[CampaignCourse(course_id=COURSE, audience=Audience.cadre)]))
        s.flush()
        for n, person in enumerate(people):
            job = GradingJob(course_id=COURSE, assignment="module", username=person.username,
                             submitted_at=datetime(2026, 11, 20, 9, n), state="done")
            s.add(job)
            s.flush()
            s.add(Result(learner_id=person.id, course_id=COURSE, assignment="module", job_id=job.id,
                         score=8 - n, max_score=10, passed=n < 3, submitted_at=job.submitted_at,
                         details=[{"id": "q01", "correct": True, "explanation": "起诉期限为六个月"}],
                         items=[ItemResult(course_id=COURSE, question_id="q01", points=2,
                                           max_points=2, correct=True,
                                           legal_basis="《中华人民共和国行政诉讼法》第四十六条")]))
            s.add(LearningEvent(learner_id=person.id, client_id=f"c-{n}", kind="section_read",
                                course_id=COURSE, lesson="lesson1", payload={"节": n}))


def build_gradebook(url: str) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(url, course_id=COURSE) as gb:
        gb.add_assignment("module")
        for i in range(1, 4):
            gb.add_student(f"ganbu{i}", first_name="干部", last_name=str(i))


def build_files(datadir: DataDir) -> None:
    root = datadir.course_root(COURSE)
    (root / "source" / "module").mkdir(parents=True)
    (root / "source" / "module" / "lesson1.ipynb").write_text('{"cells": []}', encoding="utf-8")
    sub = root / "submitted" / "ganbu1" / "module"
    sub.mkdir(parents=True)
    (sub / "assessment.answers.json").write_text('{"q01": "B"}', encoding="utf-8")
    inbound = datadir.exchange / COURSE / "inbound"
    inbound.mkdir(parents=True)
    (inbound / "ganbu2+module+2026-11-20 09:01:00.000000 UTC+abc").mkdir()
    # learners drop submissions here without seeing each other's (the platform's own mode:
    # restore takes no mode bits from an archive, DataDir.ensure() sets this one again)
    inbound.chmod(0o3733)


def snapshot_rows(url: str, metadata) -> dict[str, list]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: sorted(map(repr, conn.execute(select(t)).all()))
                    for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def snapshot_files(datadir: DataDir) -> dict[str, tuple]:
    out = {}
    for top in (datadir.courses, datadir.exchange):
        for p in sorted(top.rglob("*")):
            if p.name.startswith("gradebook.sqlite"):
                continue
            st = p.stat()
            out[str(p.relative_to(datadir.root))] = (
                oct(st.st_mode), p.read_bytes() if p.is_file() else None)
    return out


def wipe(datadir: DataDir, records_url: str, gradebook_url: str) -> None:
    for url in (records_url, gradebook_url):
        if url.startswith("postgresql"):
            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            engine.dispose()
    get_engine(records_url).dispose()
    shutil.rmtree(datadir.root)


def nbgrader_metadata():
    from nbgrader.api import Base as NbBase

    return NbBase.metadata


def test_backup_wipe_restore_roundtrip(datadir, records_url, gradebook_url, tmp_path):
    build_records(records_url)
    build_gradebook(gradebook_url)
    build_files(datadir)
    rows_before = snapshot_rows(records_url, Base.metadata)
    grades_before = snapshot_rows(gradebook_url, nbgrader_metadata())
    files_before = snapshot_files(datadir)
    assert len(rows_before["learners"]) == 5 and len(grades_before["student"]) == 3

    archive = tmp_path / "b.tar.gz"
    out = xuefa("backup", "-o", str(archive), "--data-dir", str(datadir.root)).stdout
    assert "已备份" in out and archive.exists()
    manifest = backup.read_manifest(archive)
    assert manifest.records_rows["results"] == 5 and manifest.gradebooks[COURSE]["student"] == 3

    wipe(datadir, records_url, gradebook_url)
    out = xuefa("restore", str(archive), "--data-dir", str(datadir.root)).stdout
    assert "已从" in out

    assert snapshot_rows(records_url, Base.metadata) == rows_before
    assert snapshot_rows(gradebook_url, nbgrader_metadata()) == grades_before
    assert snapshot_files(datadir) == files_before
    assert oct(datadir.exchange.stat().st_mode & 0o7777) == "0o1777"

    # the restored platform keeps working: new rows get fresh ids (sequences moved on)
    with session_scope(records_url) as s:
        unit = s.scalars(select(Unit).where(Unit.path == "海安市")).one()
        s.add(Learner(username="xinren", name="新人", unit=unit, audience=Audience.volunteer,
                      role=Role.learner))
    with session_scope(records_url) as s:
        assert s.scalars(select(Learner.id).where(Learner.username == "xinren")).one() == 6


def test_restore_refuses_existing_or_running_without_force(datadir, records_url, gradebook_url,
                                                           tmp_path):
    build_records(records_url)
    build_files(datadir)
    archive = tmp_path / "b.tar.gz"
    backup.backup(datadir, archive)

    refused = xuefa("restore", str(archive), "--data-dir", str(datadir.root), check=False)
    assert refused.exit_code != 0 and "已有数据" in refused.output and "--force" in refused.output

    (datadir.run / "hub.pid").write_text(str(os.getpid()))
    with pytest.raises(backup.RestoreRefused, match="正在运行"):
        backup.restore(datadir, archive)

    # --force overwrites: rows added after the backup are gone, the backup's rows are back
    with session_scope(records_url) as s:
        s.add(Learner(username="houlai", name="后来", unit_id=1, audience=Audience.cadre,
                      role=Role.learner))
    (datadir.course_root(COURSE) / "stray.txt").write_text("x")
    backup.restore(datadir, archive, force=True)
    with session_scope(records_url) as s:
        names = set(s.scalars(select(Learner.username)))
    assert "houlai" not in names and len(names) == 5
    assert not (datadir.course_root(COURSE) / "stray.txt").exists()


def test_sqlite_backup_restores_into_postgresql(tmp_path, request, monkeypatch):
    """The archive is backend-neutral: the path from one machine to PostgreSQL."""
    from grading.records import migrate

    if os.environ.get("XUEFA_TEST_DB", "postgresql") != "postgresql":
        pytest.skip("XUEFA_TEST_DB limits the run to SQLite")
    monkeypatch.delenv("XUEFA_RECORDS_DB_URL", raising=False)
    monkeypatch.delenv("XUEFA_GRADEBOOK_DB_URL", raising=False)
    one_machine = DataDir(tmp_path / "one").ensure()
    migrate.upgrade(one_machine.records_db_url)
    build_records(one_machine.records_db_url)
    rows = snapshot_rows(one_machine.records_db_url, Base.metadata)
    archive = tmp_path / "b.tar.gz"
    backup.backup(one_machine, archive)

    pg_url = request.getfixturevalue("pg_url")
    # as an operator's secret would spell it: plain postgresql:// means psycopg 3 (grading.records.db)
    monkeypatch.setenv("XUEFA_RECORDS_DB_URL", pg_url.replace("postgresql+psycopg://", "postgresql://"))
    backup.restore(DataDir(tmp_path / "cluster"), archive)
    assert snapshot_rows(pg_url, Base.metadata) == rows


# --- learners' homes: what a learner did but has not submitted yet ----------------------------


@pytest.fixture
def learner_account():
    """A real system account owning a learner's home, removed afterwards."""
    import pwd
    import secrets
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("needs root: a home owned by another account")
    name = f"xfbk{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def test_default_backup_brings_back_unfinished_answers_byte_identical_with_owner_and_mode(
        datadir, learner_account, tmp_path, monkeypatch):
    from grading.records import migrate

    monkeypatch.delenv("XUEFA_RECORDS_DB_URL", raising=False)
    migrate.upgrade(datadir.records_db_url)
    uid, gid = learner_account.pw_uid, learner_account.pw_gid
    home = datadir.home(learner_account.pw_name)
    work = home / "xingzheng_susong" / "module"
    work.mkdir(parents=True)
    answers = work / "assessment.answers.json"
    # half-done: two of five questions answered, an essay draft with non-ASCII text
    answers.write_bytes('{"q01": "B", "q02": ["A", "C"], "essay": "起诉期限\\n草稿"}'.encode())
    notebook = work / "assessment.ipynb"
    notebook.write_bytes(b'{"cells": [], "nbformat": 4}')
    for p in (answers, notebook):
        p.chmod(0o600)
    for p in (home, home / "xingzheng_susong", work, answers, notebook):
        os.chown(p, uid, gid)
    home.chmod(0o700)
    # what a learner may plant: a link out of their home is left out, and does not make the
    # archive one that restore refuses
    (home / "shadow").symlink_to("/etc/shadow")
    os.lchown(home / "shadow", uid, gid)
    before = {p: (p.read_bytes(), os.stat(p).st_uid, oct(os.stat(p).st_mode & 0o7777))
              for p in (answers, notebook)}

    archive = tmp_path / "daily.tar.gz"
    out = xuefa("backup", "-o", str(archive), "--data-dir", str(datadir.root)).stdout
    assert "学员主目录" in out
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    manifest = backup.read_manifest(archive)
    assert manifest.homes and manifest.home_files == 2 and manifest.skipped == 1

    shutil.rmtree(datadir.root)
    # unpacked on another filesystem (tmpfs), a move would be a copy by root that loses owners
    monkeypatch.setattr("tempfile.tempdir", "/dev/shm")
    xuefa("restore", str(archive), "--data-dir", str(datadir.root))

    after = {p: (p.read_bytes(), os.stat(p).st_uid, oct(os.stat(p).st_mode & 0o7777))
             for p in (answers, notebook)}
    assert after == before
    assert os.stat(home).st_uid == uid and os.stat(work).st_uid == uid
    assert not (home / "shadow").exists() and not (home / "shadow").is_symlink()


def test_no_homes_leaves_learners_homes_out(datadir, tmp_path, monkeypatch):
    from grading.records import migrate

    monkeypatch.delenv("XUEFA_RECORDS_DB_URL", raising=False)
    migrate.upgrade(datadir.records_db_url)
    (datadir.home("ganbu1")).mkdir()
    (datadir.home("ganbu1") / "a.answers.json").write_text("{}")
    archive = tmp_path / "b.tar.gz"
    xuefa("backup", "--no-homes", "-o", str(archive), "--data-dir", str(datadir.root))
    manifest = backup.read_manifest(archive)
    assert not manifest.homes and manifest.home_files == 0
    import tarfile

    with tarfile.open(archive) as tar:
        assert not [n for n in tar.getnames() if n.startswith("files/home")]

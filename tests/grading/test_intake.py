"""Exchange intake: what the grading service accepts from a learner-writable inbound dir
(real files, real system users when root, the real scanner against a real records DB)."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from grading.exchange import intake
from grading.exchange.names import parse_inbound
from grading.grader.service import scan
from grading.host import sysusers
from grading.records import jobs
from hub_config.tools.bench import build_course, learner_copy, submit

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (owner uids, system users)")


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")


def test_names_that_could_leave_a_dir_do_not_parse():
    ts = stamp()
    assert parse_inbound(f"ganbu1+module+{ts}+AbC_-9") is not None
    for bad in (f"..+..+{ts}+x", f"ganbu1+..+{ts}+x", f"../x+module+{ts}+x", f"+module+{ts}+x",
                f"ganbu1+mod/ule+{ts}+x", f"ganbu1+module+{ts}+a/b", f"ganbu1+.+{ts}+x",
                f"Ganbu1+module+{ts}+x", "ganbu1+module+../../etc+x", f"ganbu1+module+{ts}+x+y"):
        assert parse_inbound(bad) is None, bad


@pytest.fixture
def course(datadir, records_url):
    build_course(datadir, "fazhi", learners=["ganbu1", "zhengfa1"])
    return "fazhi"


def _scan(datadir):
    known, ensured = {}, set()
    n = scan(datadir, datadir.records_db_url, known, ensured)
    return n, {(j[1], j[0]) for j in jobs.known_submissions(datadir.records_db_url, "fazhi")}


def test_traversal_name_is_quarantined_and_deletes_nothing(datadir, course):
    inbound = datadir.exchange / course / "inbound"
    evil = inbound / f"..+..+{stamp()}+x"
    evil.mkdir()
    (evil / "timestamp.txt").write_text(stamp())
    before = sorted(str(p.relative_to(datadir.courses)) for p in datadir.courses.rglob("*"))
    n, queued = _scan(datadir)
    assert n == 0 and queued == set()
    assert not evil.exists()
    moved = list((datadir.root / "quarantine" / course).iterdir())
    assert len(moved) == 1 and (moved[0] / "timestamp.txt").exists()
    assert stat.S_IMODE(os.stat(datadir.root / "quarantine").st_mode) == 0o700
    after = sorted(str(p.relative_to(datadir.courses)) for p in datadir.courses.rglob("*"))
    assert after == before


def test_unknown_learner_unpublished_assignment_and_fake_course_are_not_queued(datadir, course):
    inbound = datadir.exchange / course / "inbound"
    for name in (f"nobody1+module+{stamp()}+a", f"ganbu1+other+{stamp()}+b"):
        (inbound / name).mkdir()
        (inbound / name / "timestamp.txt").write_text("x")
    # the exchange root is world-writable: a look-alike course made by someone else is ignored
    fake = datadir.exchange / "fake" / "inbound" / f"ganbu1+module+{stamp()}+c"
    fake.mkdir(parents=True)
    (fake / "timestamp.txt").write_text("x")
    os.chown(datadir.exchange / "fake", 65534, 65534) if os.geteuid() == 0 else None
    n, queued = _scan(datadir)
    assert n == 0 and queued == set()
    assert list(inbound.iterdir()) == []


def test_honest_submission_is_queued(datadir, course):
    d = learner_copy(datadir, course, "ganbu1")
    submit(datadir, course, "ganbu1", d)
    n, queued = _scan(datadir)
    assert n == 1 and queued == {("ganbu1", "module")}


@pytest.fixture
def accounts(datadir):
    """Real system accounts for ganbu1 and zhengfa1 with this data dir's prefix."""
    prefix = sysusers.user_prefix(datadir.root)
    made = []
    for u in ("ganbu1", "zhengfa1"):
        name = sysusers.system_username(u, prefix)
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True)
        made.append(name)
    yield {u: pwd.getpwnam(sysusers.system_username(u, prefix)) for u in ("ganbu1", "zhengfa1")}
    for name in made:
        subprocess.run(["userdel", name], capture_output=True)


def _chown_tree(path: Path, entry) -> None:
    for p in [path, *path.rglob("*")]:
        os.lchown(p, entry.pw_uid, entry.pw_gid)


@root_only
def test_folder_named_for_another_learner_credits_only_its_owner(datadir, course, accounts):
    assert sysusers.user_prefix(datadir.root) != sysusers.LEGACY_PREFIX  # per-platform accounts
    d = learner_copy(datadir, course, "zhengfa1")
    submit(datadir, course, "zhengfa1", d)  # named for zhengfa1 ...
    (folder,) = (datadir.exchange / course / "inbound").iterdir()
    _chown_tree(folder, accounts["ganbu1"])  # ... but made by ganbu1's account
    n, queued = _scan(datadir)
    assert queued == {("ganbu1", "module")}, "queued in the owner's name, never zhengfa1's"
    (job,) = [j for j in _all_jobs(datadir)]
    found = intake.find(datadir, course, "module", job.username, job.submitted_at)
    assert found is not None
    name, rec, st = found
    with pytest.raises(intake.Rejected) as exc:
        intake.verify(datadir, course, job.username, name, rec, st)
    assert exc.value.reason == "owner" and "zhengfa1" in exc.value.message


@root_only
def test_own_folder_is_accepted_and_root_made_folder_only_without_account(datadir, course, accounts):
    d = learner_copy(datadir, course, "ganbu1")
    submit(datadir, course, "ganbu1", d)
    (folder,) = (datadir.exchange / course / "inbound").iterdir()
    _chown_tree(folder, accounts["ganbu1"])
    rec = parse_inbound(folder.name)
    st = os.lstat(folder)
    intake.verify(datadir, course, "ganbu1", folder.name, rec, st)  # no exception
    # the same folder left owned by root: ganbu1 has an account, so root-made is refused
    os.lchown(folder, 0, 0)
    with pytest.raises(intake.Rejected):
        intake.verify(datadir, course, "ganbu1", folder.name, rec, os.lstat(folder))


def _all_jobs(datadir):
    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import GradingJob

    with session_scope(datadir.records_db_url) as s:
        return [jobs._ref(j) for j in s.scalars(select(GradingJob))]


# --- files ---------------------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "sub"
    (f / "nested").mkdir(parents=True)
    (f / "assessment.ipynb").write_text('{"cells": []}', encoding="utf-8")
    (f / "nested" / "a.json").write_text("{}", encoding="utf-8")
    return f


def test_copy_is_private_and_complete(folder, tmp_path):
    dest = tmp_path / "copy"
    n = intake.copy_tree(folder, dest, 10_000)
    assert n == len('{"cells": []}') + 2
    assert (dest / "nested" / "a.json").read_text() == "{}"
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(dest / "nested").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(dest / "assessment.ipynb").st_mode) == 0o600


@pytest.mark.parametrize("make,reason", [
    (lambda f: (f / "secret").symlink_to("/etc/passwd"), "link"),
    (lambda f: (f / "nested" / "zero").symlink_to("/dev/zero"), "link"),
    (lambda f: (f / "d").symlink_to("/etc"), "link"),
    (lambda f: os.mkfifo(f / "pipe"), "special"),
    (lambda f: os.link(f / "assessment.ipynb", f / "hard.ipynb"), "link"),
])
def test_links_and_special_files_are_rejected_not_followed(folder, tmp_path, make, reason):
    make(folder)
    with pytest.raises(intake.Rejected) as exc:
        intake.measure(folder, 10_000)
    assert exc.value.reason == reason and any(0x4E00 <= ord(c) <= 0x9FFF for c in exc.value.message)
    with pytest.raises(intake.Rejected):
        intake.copy_tree(folder, tmp_path / "copy", 10_000)
    copied = [p for p in (tmp_path / "copy").rglob("*")]
    assert all(p.is_dir() or p.stat().st_size < 100 for p in copied)


def test_the_folder_itself_as_a_link_is_rejected(folder, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(folder)
    with pytest.raises(intake.Rejected):
        intake.measure(link, 10_000)


def test_bytes_are_counted_while_copying(folder, tmp_path):
    (folder / "big.bin").write_bytes(b"\0" * 50_000)
    with pytest.raises(intake.TooLarge):
        intake.measure(folder, 20_000)
    with pytest.raises(intake.TooLarge) as exc:
        intake.copy_tree(folder, tmp_path / "copy", 20_000)
    assert exc.value.size > 20_000


def test_formgrader_collect_skips_bad_folders_and_follows_no_link(datadir, course):
    """nbgrader's own collect (formgrader's button) goes through the same checks."""
    from grading.exchange.nbconfig import course_config, nbgrader_api

    d = learner_copy(datadir, course, "ganbu1")
    submit(datadir, course, "ganbu1", d)
    d2 = learner_copy(datadir, course, "zhengfa1")
    submit(datadir, course, "zhengfa1", d2)
    inbound = datadir.exchange / course / "inbound"
    datadir.cookie_secret.write_text("cookie")
    (folder,) = inbound.glob("zhengfa1+*")
    (folder / "secret.txt").symlink_to(datadir.cookie_secret)  # the learner owns their folder
    (inbound / f"..+..+{stamp()}+x").mkdir()
    cfg = course_config(datadir, course)
    api = nbgrader_api(datadir.course_root(course), course, datadir.gradebook_url(course),
                       datadir.exchange, cfg)
    res = api.collect("module")
    assert res["success"], res
    submitted = datadir.course_root(course) / "submitted"
    assert (submitted / "ganbu1" / "module" / "assessment.ipynb").is_file()
    assert not (submitted / "zhengfa1" / "module").exists()
    assert not any(p.name == "secret.txt" for p in submitted.rglob("*"))
    assert (datadir.courses / course / "source").is_dir()

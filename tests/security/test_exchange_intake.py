"""Crafted exchange folders, made from learner1's own kernel on the running platform, against
the real grading service: nothing outside the inbound dir is touched, nobody is credited with a
folder they did not make, and no link in a submission is followed by the root service."""

from __future__ import annotations

import json

import pytest

from hub_config.tools.platform import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COURSE = "pingtai_rumen"

# runs in the learner's kernel: a folder in the exchange inbound, as nbgrader submit makes one,
# but with a name and content of the attacker's choosing; prints the folder name and its time
CRAFT = r'''
import datetime, json, os, secrets, shutil
ex = os.environ["XUEFA_EXCHANGE"]
ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
user, assignment = {user!r}, {assignment!r}
name = f"{{user}}+{{assignment}}+{{ts}}+{{secrets.token_urlsafe(9)}}"
dest = os.path.join(ex, {course!r}, "inbound", name)
shutil.copytree(os.path.join(ex, {course!r}, "outbound", "module"), dest)
for link, target in {links!r}.items():
    p = os.path.join(dest, link)
    if os.path.exists(p):
        os.remove(p)
    os.symlink(target, p)
with open(os.path.join(dest, "timestamp.txt"), "w") as f:
    f.write(ts)
print(json.dumps({{"name": name, "ts": ts}}))
'''


def craft(attacker, user: str, assignment: str = "module", links: dict | None = None) -> dict:
    out, err = attacker.run(CRAFT.format(user=user, assignment=assignment, course=COURSE,
                                         links=links or {}))
    assert not err, err
    return json.loads(out.strip().splitlines()[-1])


def results_at(target, ts: str) -> list[tuple[str, str, str]]:
    """(username, outcome, message) of results for the submission made at ``ts``."""
    from nbgrader.utils import parse_utc
    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import Learner, Result

    at = parse_utc(ts).replace(tzinfo=None)
    with session_scope(target.datadir.records_db_url) as s:
        rows = s.execute(select(Learner.username, Result.outcome, Result.message)
                         .join(Learner, Learner.id == Result.learner_id)
                         .where(Result.course_id == COURSE, Result.submitted_at == at))
        return [tuple(r) for r in rows]


def inbound(target):
    return target.datadir.exchange / COURSE / "inbound"


def test_traversal_folder_name_deletes_nothing_outside_the_exchange(target, attacker):
    courses = target.datadir.courses
    before = sorted(p.name for p in courses.iterdir())
    source = target.datadir.course_root(COURSE) / "source" / "module"
    assert source.is_dir() and before
    made = craft(attacker, "..", "..")
    gone = wait_for(lambda: not (inbound(target) / made["name"]).exists(), timeout=60)
    assert sorted(p.name for p in courses.iterdir()) == before, "a course dir was deleted"
    assert source.is_dir() and any(source.iterdir())
    assert (target.datadir.course_root("shufa") / "source").is_dir()
    assert gone, "the traversal folder was neither refused nor moved aside"
    assert list((target.datadir.root / "quarantine" / COURSE).iterdir())
    assert results_at(target, made["ts"]) == []


def test_folder_named_for_another_learner_credits_nothing_to_them(target, attacker):
    made = craft(attacker, "learner2")
    rows = wait_for(lambda: results_at(target, made["ts"]))
    assert rows, "the service recorded nothing for the crafted folder"
    assert all(user != "learner2" for user, _, _ in rows), rows
    ((user, outcome, message),) = rows
    assert (user, outcome) == ("learner1", "rejected"), rows
    assert "learner2" in message and "所有者" in message


def test_link_to_the_cookie_secret_is_not_copied(target, attacker):
    secret = target.datadir.cookie_secret.read_bytes().strip()
    assert secret
    made = craft(attacker, "learner1", links={"assessment.ipynb": str(target.datadir.cookie_secret)})
    rows = wait_for(lambda: results_at(target, made["ts"]))
    assert rows and rows[0][:2] == ("learner1", "rejected"), rows
    assert "链接" in rows[0][2]
    for top in (target.datadir.courses, target.datadir.exchange):
        for p in top.rglob("*"):
            if p.is_file() and not p.is_symlink() and p.stat().st_size < 1_000_000:
                assert secret not in p.read_bytes(), f"cookie secret copied to {p}"
    # and the learner's kernel still cannot read it
    out, err = attacker.run(f"print(open({str(target.datadir.cookie_secret)!r}).read())")
    assert "PermissionError" in err and secret.decode() not in out


def test_link_to_dev_zero_cannot_get_past_the_size_limit(target, attacker):
    made = craft(attacker, "learner1", links={"video.bin": "/dev/zero"})
    rows = wait_for(lambda: results_at(target, made["ts"]))
    assert rows and rows[0][:2] == ("learner1", "rejected"), rows
    submitted = target.datadir.course_root(COURSE) / "submitted" / "learner1"
    sizes = [p.stat().st_size for p in submitted.rglob("*") if p.is_file()]
    assert sum(sizes) < 20 * 1024 * 1024

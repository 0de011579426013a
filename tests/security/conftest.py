"""Attack tests: a learner (or a clerk's roster file) as an adversary against the real platform.

``target`` (session scope: one platform serves every attack file, since starting one costs most
of a minute on a 2-core machine) is the integration fixture's :class:`Hub` -- the real
``xuefa up`` with real system users ``xf-<name>`` when root, real proxy, real services -- with
the test roster imported and two courses published before the start: ``pingtai_rumen``
(auto-graded quiz) and ``shufa`` (an essay, graded by a trainer in formgrader).

Attacks must leave the platform usable for the next file: use the spare accounts ``spare1`` /
``spare2`` (or new rows) for anything that locks, deactivates or breaks an account, and never
stop the platform. Mark every test ``@pytest.mark.integration`` (and ``slow`` when it waits for
grading).
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import (  # noqa: F401  (re-exported for attack files)
    INITIAL_PASSWORD,
    NEW_PASSWORD,
    ROSTER,
    START_TIMEOUT,
    new_session,
    platform_dir,
    running_hub,
    write_roster,
)

COURSES = ("pingtai_rumen", "shufa")


@pytest.fixture(scope="session")
def target():
    from grading.content.publish import publish_course
    from grading.records import migrate
    from grading.records.roster import import_roster

    root, datadir = platform_dir("xuefa-sec-")
    migrate.upgrade(datadir.records_db_url)
    roster_path = write_roster(root / "roster.csv", ROSTER)
    report = import_roster(roster_path, datadir.records_db_url, reports_dir=datadir.reports)
    assert not report.errors, report.errors
    for course in COURSES:
        publish_course(datadir, course)
    with running_hub(root, datadir, env={}, timeout=START_TIMEOUT, roster_path=roster_path) as h:
        yield h


class Learner:
    """An attacker with an ordinary learner account: logged in through the real form, their own
    server started, code run in their own kernel (as a notebook cell they typed would run)."""

    def __init__(self, hub, username: str):
        self.hub, self.username = hub, username
        self.session = hub.login(username)
        status = hub.spawn(self.session, username)
        assert status.status_code == 200, status.text[:300]
        xsrf = next(c.value for c in self.session.cookies
                    if c.name == "_xsrf" and c.path.startswith("/hub"))
        r = self.session.post(f"{hub.url}/hub/api/users/{username}/tokens",
                              json={"note": "attack", "expires_in": 3600},
                              headers={"X-XSRFToken": xsrf}, timeout=30)
        assert r.status_code in (200, 201), r.text
        self.token = r.json()["token"]
        self.server_url = f"{hub.url}/user/{username}"

    def run(self, code: str) -> tuple[str, str]:
        """``code`` in a fresh kernel of the learner's own server; (stdout, "ename: evalue")."""
        import asyncio

        import aiohttp

        from hub_config.tools.loadtest import run_code

        async def go():
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
                return await run_code(http, self.server_url,
                                      {"Authorization": f"token {self.token}"}, code)

        return asyncio.run(go())

    def submit(self, course: str, code: str, timeout: float = 240):
        """Run ``code`` (an nbgrader submit from the kernel, printing its ``timestamp``) and
        return the learner's new Result for ``course`` once graded (or refused)."""
        import time

        from grading.records.results import attempts

        url = self.hub.datadir.records_db_url
        before = len(attempts(url, self.username, course, "module"))
        stdout, err = self.run(code)
        assert "timestamp" in stdout, (stdout, err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = attempts(url, self.username, course, "module")
            if len(rows) > before:
                return rows[-1]
            time.sleep(0.5)
        raise AssertionError(f"no Result for {self.username}'s submission of {course}:\n"
                             + self.hub.log_text()[-4000:])


@pytest.fixture(scope="session")
def attacker(target) -> Learner:
    """``learner1`` as an attacker (session scope: one login and one server for all files)."""
    return Learner(target, "learner1")

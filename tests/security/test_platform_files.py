"""What a learner's own kernel can reach of the platform's files on the running platform, and
what root does with links a learner leaves in their home."""

from __future__ import annotations

import json
import secrets
import stat
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROBE = r'''
import json, os
got = {{}}
for label, path in {paths!r}.items():
    try:
        if os.path.isdir(path):
            got[label] = "listed: " + ", ".join(sorted(os.listdir(path))[:5])
        else:
            with open(path, "rb") as f:
                got[label] = "read %d bytes" % len(f.read(64))
    except OSError as exc:
        got[label] = "denied: " + type(exc).__name__
print(json.dumps(got))
'''


def _probe(attacker, paths: dict[str, str]) -> dict[str, str]:
    out, err = attacker.run(PROBE.format(paths=paths))
    assert not err, err
    return json.loads(out.strip().splitlines()[-1])


def test_learner_kernel_cannot_read_platform_data(target, attacker):
    d = target.datadir
    course = d.course_root("pingtai_rumen")
    # another learner's collected submission (as the grading service leaves one)
    theirs = course / "submitted" / "learner2" / "module"
    theirs.mkdir(parents=True, exist_ok=True)
    (theirs / "assessment.answers.json").write_text('{"q01": "B"}', encoding="utf-8")
    paths = {
        "records DB": str(d.root / "records.sqlite"),
        "hub API token": str(d.hub / "api_token"),
        "cookie secret": str(d.cookie_secret),
        "hub DB": str(d.hub / "jupyterhub.sqlite"),
        "answer key": str(course / "source" / "module" / "assessment.ipynb"),
        "gradebook": str(course / "gradebook.sqlite"),
        "other's submission": str(theirs / "assessment.answers.json"),
        "submitted dir": str(course / "submitted"),
        "courses dir": str(d.courses),
        "homes": str(d.homes),
        "data dir": str(d.root),
        "logs": str(d.logs),
        "reports": str(d.reports),
    }
    for name in ("learner2", "spare1", "spare2", "trainer1", "admin1"):
        if d.home(name).is_dir():
            paths[f"home of {name}"] = str(d.home(name))
    assert Path(paths["records DB"]).exists() and Path(paths["answer key"]).exists()
    got = _probe(attacker, paths)
    leaked = {k: v for k, v in got.items() if not v.startswith("denied")}
    assert not leaked, leaked
    # what learners do need stays reachable: their own home and the released assignment
    mine = _probe(attacker, {"own home": str(d.home("learner1")),
                             "release": str(d.exchange / "pingtai_rumen" / "outbound" / "module")})
    assert all(v.startswith("listed") for v in mine.values()), mine


def test_linked_home_page_is_not_followed_at_respawn(target, attacker):
    """The learner replaces 我的错题本.ipynb, a page root puts into homes (and the name the old
    install copied through), with links to a root-owned file; the next spawn must leave that
    file as it was."""
    from hub_config.home import WRONGBOOK_NOTEBOOK as HOME_NOTEBOOK

    victim = Path(f"/tmp/xuefa-victim-{secrets.token_hex(4)}")
    victim.write_text("root's own\n")
    victim.chmod(0o644)  # readable by the learner: a link to it is easy to make
    try:
        home = target.datadir.home("learner1")
        code = (f"import os\n"
                f"home = os.path.expanduser('~')\n"
                f"for name in ({HOME_NOTEBOOK!r}, '.' + {HOME_NOTEBOOK!r} + '.tmp'):\n"
                f"    p = os.path.join(home, name)\n"
                f"    if os.path.lexists(p):\n"
                f"        os.remove(p)\n"
                f"    os.symlink({str(victim)!r}, p)\n"
                f"print(sorted(os.listdir(home)))\n")
        out, err = attacker.run(code)
        assert not err, err
        assert (home / HOME_NOTEBOOK).is_symlink()
        target.stop_server("learner1")
        t0 = time.monotonic()
        while target.api("GET", "/users/learner1").json().get("servers") and time.monotonic() - t0 < 60:
            time.sleep(1)
        r = target.spawn(attacker.session, "learner1")
        assert r.status_code == 200, r.text[:300]
        st = victim.stat()
        assert victim.read_text() == "root's own\n", "root wrote through the learner's link"
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644, "root chowned/chmod-ed it"
        page = home / HOME_NOTEBOOK
        assert not page.is_symlink() and page.stat().st_uid == (home.stat().st_uid)
    finally:
        victim.unlink(missing_ok=True)

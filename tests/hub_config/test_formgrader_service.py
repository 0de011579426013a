"""The formgrader services as hub configuration (no hub started): one per course with essays,
trainers' role, the switch-off, and the cut-down server's command line."""

from __future__ import annotations

from traitlets.config import Config

from grading.records import migrate
from grading.records.models import Assessment, Course
from hub_config import config as hubconfig
from hub_config import formgrader_service as fgs


def _apply(datadir, monkeypatch, disabled: str = "") -> Config:
    monkeypatch.setenv("XUEFA_DATA_DIR", str(datadir.root))
    monkeypatch.setenv("XUEFA_DISABLE_SERVICES", disabled)
    c = Config()
    hubconfig.apply_config(c, datadir)
    return c


def test_one_formgrader_per_course_with_essays(datadir, monkeypatch):
    migrate.upgrade(datadir.records_db_url)
    c = _apply(datadir, monkeypatch)
    specs = {s["name"]: s for s in c.JupyterHub.services}
    graders = sorted(n for n in specs if n.startswith("formgrader-"))
    assert graders == ["formgrader-shufa"]  # the one shipped course with a manually graded report
    spec = specs["formgrader-shufa"]
    assert spec["command"][-2:] == ["hub_config.formgrader_service", "shufa"]
    assert spec["url"].startswith("http://127.0.0.1:") and spec["oauth_no_confirm"]
    assert spec["environment"]["XUEFA_DATA_DIR"] == str(datadir.root)
    assert spec["info"]["title"] == "批改作业 · 领导干部述法"
    # only the course's listed trainers, and only those on the roster (none here yet)
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "formgrader-shufa")
    assert "groups" not in role and role["users"] == []
    assert role["scopes"] == ["access:services!service=formgrader-shufa"]
    # learners get nothing of it
    user = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert not any("formgrader" in s for s in user["scopes"])


def test_published_courses_with_essays_count_too(datadir, records_url):
    from grading.records.db import session_scope

    with session_scope(records_url) as s:
        s.add(Course(id="tiaojie_plus", title="调解进阶", audiences=[]))
        s.flush()
        s.add(Assessment(course_id="tiaojie_plus", assignment="module", manual=True))
    assert fgs.manual_courses(datadir) == ["shufa", "tiaojie_plus"]


def test_only_the_courses_trainers_hold_its_role(datadir, records_url):
    """Today every trainer could grade every course; now only those course.yaml lists."""
    from grading.records.db import session_scope
    from grading.records.models import Audience, Learner, Role, Unit

    with session_scope(records_url) as s:
        unit = Unit(path="海安市", name="海安市", level=0)
        s.add(unit)
        s.flush()
        for name, role, active in [("trainer1", Role.trainer, True), ("trainer2", Role.trainer, True),
                                   ("ganbu1", Role.learner, True)]:
            s.add(Learner(username=name, name=name, unit_id=unit.id, audience=Audience.cadre,
                          role=role, active=active))
    [role] = fgs.service_roles(datadir, ["formgrader-shufa"])
    assert role["users"] == ["trainer1"]  # courses/shufa/course.yaml: trainers [trainer1]
    # a learner named in a trainers list gets nothing; the published copy counts once there
    root = datadir.course_root("shufa")
    root.mkdir(parents=True, exist_ok=True)
    (root / "course.yaml").write_text("id: shufa\ntrainers: [trainer2, ganbu1]\n", encoding="utf-8")
    assert fgs.service_roles(datadir, ["formgrader-shufa"])[0]["users"] == ["trainer2"]


def test_switched_off(datadir, monkeypatch):
    migrate.upgrade(datadir.records_db_url)
    for disabled in ("formgrader", "formgrader-shufa"):
        c = _apply(datadir, monkeypatch, disabled)
        assert not [s for s in c.JupyterHub.services if s["name"].startswith("formgrader-")]
        assert not [r for r in c.JupyterHub.load_roles if r["name"].startswith("formgrader-")]


def test_server_is_only_a_formgrader(tmp_path):
    argv = fgs.server_argv(tmp_path, as_root=True)
    assert f"--ServerApp.root_dir={tmp_path}" in argv
    assert "--ServerApp.default_url=/formgrader" in argv
    assert "--ServerApp.terminals_enabled=False" in argv
    assert "--allow-root" in argv
    ext = next(a for a in argv if a.startswith("--ServerApp.jpserver_extensions="))
    extensions = eval(ext.split("=", 1)[1])  # noqa: S307 - our own repr of a dict of bools
    assert extensions["nbgrader.server_extensions.formgrader"] is True
    assert extensions["hub_config.formgrader_service"] is True
    assert extensions["jupyterlab"] is False and extensions["voila"] is False
    assert "--allow-root" not in fgs.server_argv(tmp_path, as_root=False)

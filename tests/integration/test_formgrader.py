"""Trainers grade essays in nbgrader's formgrader, a hub-managed service per course with essays.

Over real HTTP against ``xuefa up``: the hub runs ``formgrader-shufa`` (述法 has a manually
graded report); after ``xuefa course publish shufa`` the trainer's formgrader lists the course's
assignment, the hub home page links to it, a learner is refused, and the server is only a
formgrader (no JupyterLab, no re-rooting with ``?path=``). A learner's submission with a report
is autograded by the grading service, the trainer scores the report through formgrader's own
grade API, and the learner's result in the records DB becomes final.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.integration.conftest import VENV_BIN
from hub_config.tools.platform import wait_for as _wait

pytestmark = pytest.mark.integration

SERVICE = "formgrader-shufa"


@pytest.fixture(scope="module")
def hub_env():
    # the dashboards' Voila is not needed here (2 shared cores); trainers' grades synced at once
    return {"XUEFA_DISABLE_SERVICES": "dashboards", "XUEFA_MANUAL_SYNC_INTERVAL": "2"}


def publish(hub, course: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, XUEFA_DATA_DIR=str(hub.datadir.root))
    env.pop("JUPYTERHUB_API_TOKEN", None)
    return subprocess.run([str(VENV_BIN / "xuefa"), "course", "publish", course,
                           "--data-dir", str(hub.datadir.root)],
                          env=env, capture_output=True, text=True, timeout=300)


def get_ready(session, url: str, timeout: float = 120):
    """The service may still be starting right after the hub came up (503 from the proxy)."""
    deadline = time.monotonic() + timeout
    while True:
        r = session.get(url, timeout=60)
        if r.status_code not in (502, 503) or time.monotonic() > deadline:
            return r
        time.sleep(2)


@pytest.fixture(scope="module")
def published(hub):
    result = publish(hub, "shufa")
    assert result.returncode == 0 and "已发布" in result.stdout, result.stdout + result.stderr
    return result


def test_formgrader_service_registered(hub):
    r = hub.api("GET", "/services")
    assert r.status_code == 200, r.text
    services = r.json()
    assert SERVICE in services, sorted(services)
    # courses without essays get no server (memory)
    assert "formgrader-pingtai_rumen" not in services, sorted(services)


def test_trainer_opens_formgrader_of_the_course(hub, published):
    trainer = hub.login("trainer1")
    home = trainer.get(f"{hub.url}/hub/home", timeout=60)
    assert home.status_code == 200
    assert f"/services/{SERVICE}/formgrader" in home.text and "批改作业" in home.text, home.text[-3000:]

    r = get_ready(trainer, f"{hub.url}/services/{SERVICE}/formgrader")
    assert r.status_code == 200, (r.status_code, r.url, r.text[:500])
    assert "/services/formgrader-shufa/formgrader/manage_assignments" in r.url, r.url
    assert "Manage Assignments" in r.text, r.text[:1000]

    # the course's own gradebook: the published assignment and the enrolled 干部 learner
    assignments = trainer.get(f"{hub.url}/services/{SERVICE}/formgrader/api/assignments", timeout=60)
    assert assignments.status_code == 200, assignments.text[:500]
    assert [a["name"] for a in assignments.json()] == ["module"], assignments.text[:1000]
    students = trainer.get(f"{hub.url}/services/{SERVICE}/formgrader/api/students", timeout=60)
    assert students.status_code == 200, students.text[:500]
    ids = {s["id"] for s in students.json()}
    assert "learner1" in ids and "learner2" not in ids, ids  # shufa is for 干部 only

    # only a formgrader: no JupyterLab, no re-rooting at another nbgrader_config.py
    assert trainer.get(f"{hub.url}/services/{SERVICE}/lab", timeout=60).status_code == 404
    refused = trainer.get(f"{hub.url}/services/{SERVICE}/formgrader", params={"path": "/tmp"},
                          timeout=60, allow_redirects=False)
    assert refused.status_code == 403, refused.status_code
    # it runs as root (the gradebook is shared with the root grading workers): no kernels, no
    # terminals, no writing files (an nbgrader_config.py is code) through the Jupyter APIs
    xsrf = {"X-XSRFToken": next(c.value for c in trainer.cookies
                                if c.name == "_xsrf" and c.path.startswith(f"/services/{SERVICE}"))}
    api = f"{hub.url}/services/{SERVICE}/api"
    kernel = trainer.post(f"{api}/kernels", headers=xsrf, data="{}", timeout=60)
    assert kernel.status_code == 403, (kernel.status_code, kernel.text[:300])
    assert trainer.get(f"{api}/terminals", timeout=60).status_code == 404
    write = trainer.put(f"{api}/contents/nbgrader_config.py", headers=xsrf, timeout=60,
                        data=json.dumps({"type": "file", "format": "text", "content": "import os"}))
    assert write.status_code == 403, (write.status_code, write.text[:300])
    cfg = hub.datadir.course_root("shufa") / "nbgrader_config.py"
    assert "import os" not in cfg.read_text(encoding="utf-8")


def test_learner_is_refused(hub, published):
    learner = hub.login("learner1")
    r = get_ready(learner, f"{hub.url}/services/{SERVICE}/formgrader")
    assert r.status_code == 403, (r.status_code, r.url)
    api = learner.get(f"{hub.url}/services/{SERVICE}/formgrader/api/assignments", timeout=60)
    assert api.status_code in (302, 401, 403) or "module" not in api.text, api.text[:300]
    home = learner.get(f"{hub.url}/hub/home", timeout=60)
    assert "批改作业" not in home.text


def test_trainer_grade_reaches_the_learner(hub, published):
    from hub_config.tools import bench
    from grading.records import results
    from widgets.submit import write_essays

    # what learner1's 提交 does (nbgrader fetch + answers + essay into its cell + nbgrader submit)
    nb_dir = bench.learner_copy(hub.datadir, "shufa", "learner1")
    answers = {"q06": False, "q11": "本人带头学习宪法，重大决策均经合法性审查；负责人出庭应诉两件。"}
    (nb_dir / "assessment.answers.json").write_text(json.dumps(answers, ensure_ascii=False),
                                                    encoding="utf-8")
    write_essays(nb_dir / "assessment.ipynb", answers, ["q11"])
    bench.submit(hub.datadir, "shufa", "learner1", nb_dir)
    url = hub.datadir.records_db_url
    row = _wait(lambda: results.effective_result(url, "learner1", "shufa", "module"))
    assert row.outcome == "needs_manual" and row.score == 6, (row.outcome, row.score, row.message)

    trainer = hub.login("trainer1")
    base = f"{hub.url}/services/{SERVICE}/formgrader"
    page = get_ready(trainer, f"{base}/gradebook/module/assessment")
    assert page.status_code == 200, page.status_code
    subs = trainer.get(f"{base}/api/submitted_notebooks/module/assessment", timeout=60).json()
    sub = next(s for s in subs if s["student"] == "learner1")
    assert sub["needs_manual_grade"], sub
    grades = trainer.get(f"{base}/api/grades", params={"submission_id": sub["id"]}, timeout=60).json()
    essay = next(g for g in grades if g["name"] == "q11")
    xsrf = next(c.value for c in trainer.cookies
                if c.name == "_xsrf" and c.path.startswith(f"/services/{SERVICE}"))
    saved = trainer.put(f"{base}/api/grade/{essay['id']}", headers={"X-XSRFToken": xsrf},
                        data=json.dumps({"manual_score": 30, "extra_credit": None}), timeout=60)
    assert saved.status_code == 200, (saved.status_code, saved.text[:300])
    assert json.loads(saved.text)["needs_manual_grade"] is False

    # the grading service's manual sync (every 2 s here) makes the attempt final
    row = _wait(lambda: (r := results.effective_result(url, "learner1", "shufa", "module"))
                .outcome == "ok" and r, timeout=120)
    assert (row.score, row.max_score, row.passed) == (36, 100, False), (row.score, row.max_score)
    assert "简答题已由讲师评阅" in row.message, row.message

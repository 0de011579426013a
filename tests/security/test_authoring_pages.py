"""Attack: the 课程编写 pages (issue 15, ``/hub/xuefa/author``) and the course workspace.

A course's workspace folder holds its answer keys and is published by root: a learner must get
403 on every authoring URL; a trainer only reaches the courses whose course.yaml lists them (403
for another trainer's course, whether it exists or not); every POST needs the hub's XSRF token;
hostile text in a title or a question is shown escaped; a link a trainer plants in their folder
never makes root read (publish, export) a file outside it; and at the OS level another trainer's
server cannot open the folder. Real HTTP through the real proxy on the shared ``target``.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.security.conftest import INITIAL_PASSWORD, ROSTER, Learner, write_roster

pytestmark = pytest.mark.integration

COURSE = "sec_author"
HOSTILE = '<script>alert("xf")</script><img src=x onerror=alert(1)>'
TRAINER2 = ["trainer2", "讲师丙", "测试市/司法局", "干部", "讲师", "", INITIAL_PASSWORD]


def _xsrf(session) -> str:
    return next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))


def _post(target, session, path: str, data: dict | None = None, files: dict | None = None, xsrf: bool = True):
    data = dict(data or {})
    if xsrf:
        data["_xsrf"] = _xsrf(session)
    return session.post(f"{target.url}/hub/xuefa/author{path}", data=data, files=files, timeout=300,
                        allow_redirects=False)


def _get(target, session, path: str, **params):
    return session.get(f"{target.url}/hub/xuefa/author{path}", params=params, timeout=120, allow_redirects=False)


@pytest.fixture(scope="module")
def authoring(target):
    """trainer2 on the roster; trainer1's course ``sec_author`` made through the page."""
    from grading.content import workspace
    from grading.records.roster import import_roster
    from hub_config.hubsync import running_hub, sync_hub

    path = write_roster(target.roster_path.with_name("with-trainer2.csv"), [*ROSTER, TRAINER2])
    assert import_roster(path, target.datadir.records_db_url, reports_dir=target.datadir.reports).ok
    sync_hub(*running_hub(target.datadir), target.datadir.records_db_url)  # role-trainer, as the CLI does
    t1 = target.login("trainer1")
    r = _post(target, t1, "", {"course_id": COURSE, "title": f"安全测试{HOSTILE}", "audience": ["干部"]})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/hub/xuefa/author/{COURSE}"), \
        (r.status_code, r.text[:500])
    yield {"t1": t1, "t2": target.login("trainer2")}
    for g in workspace.platform_groups(target.datadir.root):
        subprocess.run(["groupdel", g], capture_output=True, check=False)


URLS_GET = ["", f"/{COURSE}", f"/{COURSE}/bank.xlsx", f"/{COURSE}/bank.docx", f"/{COURSE}/preview?as=learner",
            f"/{COURSE}/preview?as=trainer"]
URLS_POST = ["", f"/{COURSE}/bank", f"/{COURSE}/statutes", f"/{COURSE}/validate", f"/{COURSE}/publish",
             f"/{COURSE}/preview/check"]


def test_a_learner_gets_403_on_every_authoring_url(target, authoring):
    learner = target.login("learner1")
    for path in URLS_GET:
        r = learner.get(f"{target.url}/hub/xuefa/author{path}", timeout=60, allow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
        assert "安全测试" not in r.text
    for path in URLS_POST:
        r = _post(target, learner, path, {"course_id": "learner_ke", "title": "学员的课", "audience": "干部",
                                           "law": "《x》", "version": "1", "elective": "1"})
        assert r.status_code == 403, (path, r.status_code)
    from grading.content import workspace

    assert not workspace.exists(target.datadir, "learner_ke")
    home = target.login("learner1").get(f"{target.url}/hub/home", timeout=60)
    assert "课程编写" not in home.text


def test_a_trainer_not_listed_gets_403_on_the_course(target, authoring):
    t2 = authoring["t2"]
    listing = _get(target, t2, "")
    assert listing.status_code == 200 and COURSE not in listing.text
    for path in URLS_GET[1:] + ["/no_such_course", "/no_such_course/bank.xlsx", "/no_such_course/bank.docx"]:
        path = path.split("?")[0]
        r = _get(target, t2, path, **({"as": "trainer"} if "preview" in path else {}))
        assert r.status_code == 403, (path, r.status_code)
        assert "安全测试" not in r.text
    for path in URLS_POST[1:]:
        files = {"bank": ("bank.xlsx", b"PK\x03\x04", "application/octet-stream")} if path.endswith("/bank") else None
        r = _post(target, t2, path, {"law": "《x》", "version": "1", "elective": "1"}, files=files)
        assert r.status_code == 403, (path, r.status_code)
    from grading.records import audit

    assert not [e for e in audit.entries(target.datadir.records_db_url, action="course_publish")
                if e.actor == "trainer2"]


def test_posts_need_the_xsrf_token(target, authoring):
    t1 = authoring["t1"]
    for path in URLS_POST:
        r = _post(target, t1, path, {"course_id": "xsrf_ke", "title": "跨站课程", "audience": "干部"}, xsrf=False)
        assert r.status_code == 403, (path, r.status_code)
    from grading.content import workspace

    assert not workspace.exists(target.datadir, "xsrf_ke")


def test_hostile_text_is_escaped_in_the_pages_and_preview(target, authoring):
    import nbformat

    from grading.content import workspace

    t1 = authoring["t1"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# 第一课\n\n讲义{HOSTILE}\n\n[点我](javascript:alert(1))"),
                nbformat.v4.new_markdown_cell(
                    f"【单选题 q1】题干{HOSTILE}（  ）\nA. 选项{HOSTILE}\nB. 乙\n答案：A\n解析：解析{HOSTILE}\n"
                    "法律依据：《中华人民共和国行政处罚法》第九条")]
    workspace.write_file(target.datadir, COURSE, "source/module/lesson1.ipynb", nbformat.writes(nb).encode())
    for path, params in (("", {}), (f"/{COURSE}", {}), (f"/{COURSE}/preview", {"as": "learner"}),
                         (f"/{COURSE}/preview", {"as": "trainer"})):
        r = _get(target, t1, path, **params)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, path
        assert "javascript:alert" not in r.text
        assert "&lt;script&gt;" in r.text, path
    learner_view = _get(target, t1, f"/{COURSE}/preview", **{"as": "learner"}).text
    assert "解析&lt;script" not in learner_view  # 解析 only in the trainer's view
    trainer_view = _get(target, t1, f"/{COURSE}/preview", **{"as": "trainer"}).text
    assert "解析&lt;script" in trainer_view and "法律依据" in trainer_view


def test_practice_checks_answer_json_and_read_only_the_course_lessons(target, authoring):
    """学员预览's 核对答案: the feedback is JSON (the page shows it as text), a lesson outside
    course.yaml's list or a made-up question is a Chinese 400, and the key never comes back for
    a wrong answer beyond what a learner's practice shows (解析, 法律依据)."""
    from grading.content import workspace

    t1 = authoring["t1"]
    lesson = workspace.preview(target.datadir, COURSE, trainer=True)["lessons"][0]
    q = next(b["item"] for b in lesson["blocks"] if b["kind"] == "question" and b["item"]["type"] == "single")
    wrong = next(c for c in "ABCD" if c != q["key"])
    r = _post(target, t1, f"/{COURSE}/preview/check", {"lesson": lesson["file"], "qid": q["id"],
                                                        "answer": f'"{wrong}"'})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), r.text[:500]
    assert r.json()["correct"] is False and "key" not in r.json()
    r = _post(target, t1, f"/{COURSE}/preview/check", {"lesson": lesson["file"], "qid": q["id"],
                                                        "answer": f'"{q["key"]}"'})
    assert r.json()["correct"] is True
    for lesson_file, qid, answer in (("../../../../etc/shadow", q["id"], '"A"'), ("bank.yaml", q["id"], '"A"'),
                                     (lesson["file"], "nope", '"A"'), (lesson["file"], q["id"], "{not json")):
        r = _post(target, t1, f"/{COURSE}/preview/check", {"lesson": lesson_file, "qid": qid, "answer": answer})
        assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/json"), r.text[:500]
        assert re.search(r"[\u4e00-\u9fff]", r.json()["error"]) and "root:" not in r.text


def test_links_to_root_only_files_are_refused_on_publish_and_export(target, authoring):
    from grading.content import workspace

    t1 = authoring["t1"]
    folder = workspace.course_path(target.datadir, COURSE)
    evil = folder / "source" / "module" / "evil.ipynb"
    evil.symlink_to("/etc/shadow")
    try:
        r = _post(target, t1, f"/{COURSE}/publish", {"elective": "1"})
        assert r.status_code == 400 and "xf-errors" in r.text and "evil.ipynb" in r.text, r.text[-2000:]
        assert "root:" not in r.text
        r = _post(target, t1, f"/{COURSE}/validate")
        assert "evil.ipynb" in r.text and "root:" not in r.text
    finally:
        evil.unlink()
    bank = folder / "bank.yaml"
    saved = bank.read_bytes()
    bank.unlink()
    bank.symlink_to("/etc/shadow")
    try:
        for fmt in ("xlsx", "docx"):
            r = _get(target, t1, f"/{COURSE}/bank.{fmt}")
            assert r.status_code == 400 and "root:" not in r.text and not r.content.startswith(b"PK"), fmt
    finally:
        bank.unlink()
        workspace.write_file(target.datadir, COURSE, "bank.yaml", saved)
    assert not (target.datadir.course_root(COURSE) / ".published.sha256").exists()


def test_import_validate_publish_is_audited(target, authoring, tmp_path):
    from grading.records import audit
    from tests.grading.test_workspace import bank_questions, xlsx_bytes

    t1 = authoring["t1"]
    bad = xlsx_bytes(tmp_path, bank_questions(), bad_key_row=5)
    r = _post(target, t1, f"/{COURSE}/bank", files={"bank": ("题库.xlsx", bad, "application/octet-stream")})
    assert r.status_code == 400 and "第5行" in r.text and "xf-errors" in r.text, r.text[-2000:]
    good = xlsx_bytes(tmp_path, bank_questions())
    r = _post(target, t1, f"/{COURSE}/bank", files={"bank": ("题库.xlsx", good, "application/octet-stream")})
    assert r.status_code == 200 and "xf-ok" in r.text and "已导入" in r.text, r.text[-2000:]
    laws = re.findall(r'data-law="([^"]+)"', r.text)
    assert laws, r.text[-3000:]
    r = _post(target, t1, f"/{COURSE}/statutes", {"law": laws, "version": ["2021年修订"] * len(laws)})
    assert r.status_code == 200 and "已保存法条表" in r.text, r.text[-2000:]
    r = _post(target, t1, f"/{COURSE}/validate")
    assert "校验通过" in r.text, r.text[-3000:]
    r = _post(target, t1, f"/{COURSE}/publish", {"elective": "1"})
    assert r.status_code == 200 and "xf-ok" in r.text and "已发布" in r.text, r.text[-3000:]
    assert "保留" in r.text  # what happens to learners mid-course
    rows = [e for e in audit.entries(target.datadir.records_db_url, action="course_publish")
            if e.actor == "trainer1" and COURSE in e.detail_text]
    assert rows, "publish from the page left no audit row"
    listing = _get(target, t1, "")
    assert "已发布" in listing.text


def test_a_hostile_word_file_reads_nothing_and_changes_nothing(target, authoring, tmp_path):
    """导入题库 with Word: an external entity naming a file only root reads, a zip bomb and an
    old .doc (each under a path-like name) are refused with a Chinese reason and leave bank.yaml
    as it was; the page's own Word export imports back as no change."""
    from grading.content import workspace
    from tests.courses.test_bankdocx import hostile_files

    t1 = authoring["t1"]
    before = workspace.read_file(target.datadir, COURSE, "bank.yaml")
    secret = tmp_path / "secret.txt"
    secret.write_text("XF-SECRET-7731")
    secret.chmod(0o600)
    for name, path in hostile_files(tmp_path, secret).items():
        r = _post(target, t1, f"/{COURSE}/bank",
                  files={"bank": (f"../../{name}.docx", path.read_bytes(), "application/octet-stream")})
        assert r.status_code == 400 and "xf-errors" in r.text and "题库未作任何修改" in r.text, (name, r.text[-2000:])
        assert "XF-SECRET" not in r.text
    assert workspace.read_file(target.datadir, COURSE, "bank.yaml") == before
    r = _get(target, t1, f"/{COURSE}/bank.docx")
    assert r.status_code == 200 and "wordprocessingml" in r.headers["Content-Type"]
    assert "attachment" in r.headers["Content-Disposition"]
    r = _post(target, t1, f"/{COURSE}/bank", files={"bank": ("题库.docx", r.content, "application/octet-stream")})
    assert r.status_code == 200 and "题库没有变化" in r.text, r.text[-2000:]
    assert workspace.read_file(target.datadir, COURSE, "bank.yaml") == before


def _stopped(target, name: str) -> None:
    import time

    target.stop_server(name)
    deadline = time.monotonic() + 60
    while (target.api("GET", f"/users/{name}").json().get("servers") or {}).get(""):
        assert time.monotonic() < deadline, f"server of {name} did not stop"
        time.sleep(1)


def test_another_trainer_cannot_open_the_folder_on_disk(target, authoring):
    """Through the real spawner: trainer1's server sees ~/课程/<course> and can read and write it;
    trainer2's server (another unix account) is refused by the kernel."""
    from grading.content import workspace

    folder = workspace.course_path(target.datadir, COURSE)
    for name in ("trainer1", "trainer2"):  # groups and links are set at a server's start
        _stopped(target, name)
    one = Learner(target, "trainer1")
    out, err = one.run(f"import os\nprint(sorted(os.listdir(os.path.expanduser('~/课程/{COURSE}'))))\n"
                       f"open(os.path.expanduser('~/课程/{COURSE}/notes.md'), 'w').write('讲师笔记')\nprint('wrote')")
    assert "course.yaml" in out and "wrote" in out, (out, err)
    assert (folder / "notes.md").read_text(encoding="utf-8") == "讲师笔记"
    # JupyterLab's file browser and editor go through jupyter_server's contents API: the link
    # leads out of the server's root directory, and both listing and saving must work through it
    import requests
    from urllib.parse import quote

    api = f"{one.server_url}/api/contents/{quote(f'课程/{COURSE}')}"
    auth = {"Authorization": f"token {one.token}"}
    listing = requests.get(api, headers=auth, timeout=60)
    assert listing.status_code == 200, listing.text[:300]
    assert {"course.yaml", "source", "notes.md"} <= {c["name"] for c in listing.json()["content"]}
    saved = requests.put(f"{api}/{quote('讲义.md')}", headers=auth, timeout=60,
                         json={"type": "file", "format": "text", "content": "通过 Lab 保存"})
    assert saved.status_code in (200, 201), saved.text[:300]
    assert (folder / "讲义.md").read_text(encoding="utf-8") == "通过 Lab 保存"
    two = Learner(target, "trainer2")
    out, err = two.run(f"print(open({str(folder / 'course.yaml')!r}).read())")
    assert "PermissionError" in err and "trainer1" not in out, (out, err)
    out, err = two.run("import os\nprint(os.path.exists(os.path.expanduser('~/课程/" + COURSE + "')))")
    assert "False" in out, (out, err)
    for name in ("trainer1", "trainer2"):
        target.stop_server(name)


def test_a_learner_kernel_cannot_reach_the_workspace(target, authoring, attacker):
    from grading.content import workspace

    ws_root = workspace.workspace_root(target.datadir)
    code = "\n".join([
        "import os",
        f"for p in [{str(ws_root)!r}, {str(ws_root / COURSE)!r}, {str(ws_root / 'pingtai_rumen' / 'bank.yaml')!r},",
        f"          {str(ws_root / COURSE / 'course.yaml')!r}, {str(ws_root / '.access.json')!r}]:",
        "    try:",
        "        print(p, 'listed' if os.path.isdir(p) and os.listdir(p) is not None else open(p).read()[:20])",
        "    except OSError as e:",
        "        print(p, 'denied', type(e).__name__)",
    ])
    out, err = attacker.run(code)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 5 and all(" denied " in line for line in lines), (out, err)

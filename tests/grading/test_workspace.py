"""The trainers' course workspace (issue 15, grading.content.workspace): seeding, the new-course
template, checks on snapshots, bank import/export, 法条表, previews, and what the hub refuses to
read from a folder trainers write (links, devices, hard links). Root-only parts (course groups,
modes, another trainer's access at the OS level) run when the tests run as root."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from grading.content import workspace as ws
from grading.content.authoring import parse_question
from grading.content.bankxlsx import BankXlsxError, export_xlsx
from grading.content.courses import course_dirs
from grading.host import sysusers
from grading.records import migrate
from grading.records.roster import import_roster

ROOT = os.geteuid() == 0
LAW = "《中华人民共和国行政处罚法》"
ROSTER_HEADER = ["账号", "姓名", "单位", "身份", "角色", "手机号", "初始密码"]


def _roster(path: Path, rows: list[list[str]]) -> Path:
    import csv

    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(ROSTER_HEADER)
        w.writerows(rows)
    return path


def _platform(datadir, tmp_path):
    migrate.upgrade(datadir.records_db_url)
    rows = [["trainer1", "讲师甲", "测试市", "干部", "讲师", "", "Init-pass-1"],
            ["trainer2", "讲师乙", "测试市", "干部", "讲师", "", "Init-pass-1"],
            ["learner1", "学员丙", "测试市", "干部", "学员", "", "Init-pass-1"]]
    assert import_roster(_roster(tmp_path / "r.csv", rows), datadir.records_db_url,
                         reports_dir=datadir.reports).ok
    return datadir


def _drop_groups(datadir):
    if ROOT:
        for g in ws.platform_groups(datadir.root):
            subprocess.run(["groupdel", g], capture_output=True, check=False)


@pytest.fixture
def dd(datadir, tmp_path):
    yield _platform(datadir, tmp_path)
    _drop_groups(datadir)


@pytest.fixture
def open_dd(tmp_path):
    """A data dir other accounts can reach (pytest's own temp root is private to root)."""
    import shutil
    import tempfile

    from grading.host.datadir import DataDir

    root = Path(tempfile.mkdtemp(prefix="xuefa-ws-test-", dir="/tmp"))
    root.chmod(0o711)
    datadir = DataDir(root / "data").ensure()
    yield _platform(datadir, tmp_path)
    _drop_groups(datadir)
    shutil.rmtree(root, ignore_errors=True)


def bank_questions(n_single: int = 6, n_tf: int = 6) -> list[dict]:
    nums = "一二三四五六七八九十"
    out = []
    for i in range(n_single):
        out.append({"id": f"s{i + 1}", "type": "single", "stem": f"第{i + 1}道单选题：行政处罚的种类第{nums[i]}项是什么内容？",
                    "options": ["警告", "罚款", "拘留", "没收"], "key": "B", "explanation": f"解析{i + 1}",
                    "legal_basis": f"{LAW}第九条", "points": 10})
    for i in range(n_tf):
        out.append({"id": f"t{i + 1}", "type": "truefalse", "stem": f"第{i + 1}道判断题：当事人有权依法申请听证，情形编号{nums[i]}。",
                    "key": True, "explanation": f"解析{i + 1}", "legal_basis": f"{LAW}第六十三条", "points": 10})
    return out


def xlsx_bytes(tmp_path: Path, questions: list[dict], bad_key_row: int | None = None) -> bytes:
    """The bank as the Excel template; ``bad_key_row``: that sheet row's 答案 made invalid."""
    import openpyxl

    from grading.content.bank import parse_bank

    out = tmp_path / "bank.xlsx"
    export_xlsx(parse_bank({"questions": questions}), out)
    if bad_key_row is not None:
        wb = openpyxl.load_workbook(out)
        ws_ = wb.worksheets[0]
        col = next(c.column for c in ws_[1] if str(c.value or "").startswith("答案"))
        ws_.cell(row=bad_key_row, column=col, value="Z")
        wb.save(out)
    return out.read_bytes()


def test_seed_copies_shipped_courses_once_and_never_overwrites(dd):
    done = ws.seed(dd)
    assert set(done) == {d.name for d in course_dirs()}
    course_yaml = ws.course_path(dd, "pingtai_rumen") / "course.yaml"
    course_yaml.write_text(course_yaml.read_text(encoding="utf-8") + "# 讲师的修改\n", encoding="utf-8")
    assert ws.seed(dd) == []
    assert "讲师的修改" in course_yaml.read_text(encoding="utf-8")
    assert ws.listed_trainers(dd, "pingtai_rumen") == ["trainer1"]


def test_new_course_template_is_markdown_only_and_checks_name_what_is_missing(dd, tmp_path):
    path = ws.new_course(dd, "ceshi_ke", "测试课程", ["干部", "法律明白人"], ["trainer1"], actor="admin1")
    spec = yaml.safe_load((path / "course.yaml").read_text(encoding="utf-8"))
    assert spec["trainers"] == ["trainer1"] and spec["points"] == 100 and spec["pass_mark"] == 60
    assert spec["assessment"] == {"file": "assessment.ipynb", "title": "结业测试", "manual": False}
    assert spec["blueprint"]["sections"] == [{"type": "single", "count": 5, "points": 10},
                                             {"type": "truefalse", "count": 5, "points": 10}]
    nb = nbformat.read(path / "source/module/lesson1.ipynb", as_version=4)
    assert {c.cell_type for c in nb.cells} == {"markdown"}
    items = [parse_question(c.source, default_id="x") for c in nb.cells]
    assert [i["id"] for i in items if i] == ["l1_example"]
    with pytest.raises(ValueError, match="已被使用"):
        ws.new_course(dd, "ceshi_ke", "又一门课", ["干部"], ["trainer1"])
    with pytest.raises(ValueError, match="课程编号"):
        ws.new_course(dd, "../etc", "坏课程", ["干部"], [])

    problems = ws.check_course(dd, "ceshi_ke")
    assert any("题库中没有题目" in p for p in problems) and any("法条表" in p for p in problems), problems
    # the bank: a bad row names its row and nothing is written
    before = (path / "bank.yaml").read_bytes()
    with pytest.raises(BankXlsxError) as e:
        ws.import_bank(dd, "ceshi_ke", xlsx_bytes(tmp_path, bank_questions(), bad_key_row=4))
    assert any("第4行" in line for line in e.value.lines), e.value.lines
    assert (path / "bank.yaml").read_bytes() == before
    report = ws.import_bank(dd, "ceshi_ke", xlsx_bytes(tmp_path, bank_questions()))
    assert report.written and len(report.bank.questions) == 12
    exported, n = ws.export_bank(dd, "ceshi_ke")
    assert n == 12 and exported[:2] == b"PK"
    # 法条表: the cited law with its cited articles
    missing = ws.missing_statutes(dd, "ceshi_ke")
    assert missing == [{"law": LAW, "articles": ["第六十四条", "第九条", "第六十三条"]}] or \
        {m["law"] for m in missing} == {LAW}
    assert ws.save_statutes(dd, "ceshi_ke", {LAW: "2021年修订", "《不相干的法》": "2020年"}) == [LAW]
    table = yaml.safe_load((path / "statutes.yaml").read_text(encoding="utf-8"))
    assert table["statutes"][0]["law"] == LAW and table["statutes"][0]["version"] == "2021年修订"
    assert ws.missing_statutes(dd, "ceshi_ke") == []
    assert ws.check_course(dd, "ceshi_ke") == []


def test_preview_hides_keys_from_the_learner_view(dd, tmp_path):
    ws.new_course(dd, "yulan_ke", "预览课程", ["干部"], ["trainer1"])
    ws.import_bank(dd, "yulan_ke", xlsx_bytes(tmp_path, bank_questions()))
    learner = ws.preview(dd, "yulan_ke", trainer=False, seed=7)
    trainer = ws.preview(dd, "yulan_ke", trainer=True, seed=7)
    q = next(b for b in learner["lessons"][0]["blocks"] if b["kind"] == "question")["item"]
    assert q["stem"] and q["options"] and not {"key", "explanation", "legal_basis"} & set(q)
    assert len(learner["paper"]) == 10 and all("key" not in p for p in learner["paper"])
    tq = next(b for b in trainer["lessons"][0]["blocks"] if b["kind"] == "question")["item"]
    assert tq["key"] == "B" and tq["legal_basis"].startswith(LAW)
    assert all("key" in p and "explanation" in p for p in trainer["paper"])


def test_practice_in_the_learner_preview_is_scored_on_the_server(dd):
    """学员预览's 核对答案: the lesson's question scored by widgets.model.score with the key the
    page never had; any other lesson, question or answer shape is a Chinese refusal."""
    ws.new_course(dd, "lianxi_ke", "练习课程", ["干部"], ["trainer1"])
    lesson = ws.preview(dd, "lianxi_ke", trainer=True)["lessons"][0]
    items = [b["item"] for b in lesson["blocks"] if b["kind"] == "question"]
    q = next(i for i in items if i["type"] == "single")
    wrong = next(c for c in "ABCD" if c != q["key"])
    right = ws.check_practice(dd, "lianxi_ke", lesson["file"], q["id"], q["key"])
    assert right["correct"] and right["points"] == right["max_points"] and right["answered"]
    assert right["explanation"] == q["explanation"] and right["legal_basis"] == q["legal_basis"]
    bad = ws.check_practice(dd, "lianxi_ke", lesson["file"], q["id"], wrong)
    assert not bad["correct"] and bad["points"] == 0
    for odd in ({"x": 1}, [[["A"]]], 12, "Z", None, True):
        r = ws.check_practice(dd, "lianxi_ke", lesson["file"], q["id"], odd)
        assert not r["correct"] and not r["answered"], odd
    for lesson_file, qid in (("../../../etc/passwd", q["id"]), ("course.yaml", q["id"]),
                             (lesson["file"], "no_such_q"), (lesson["file"], "../x")):
        with pytest.raises(ValueError) as e:
            ws.check_practice(dd, "lianxi_ke", lesson_file, qid, "A")
        assert "课时" in str(e.value) or "练习题" in str(e.value)
    with pytest.raises(ValueError, match="答案过长"):
        ws.check_practice(dd, "lianxi_ke", lesson["file"], q["id"], "A" * 5000)


def test_the_hub_refuses_links_devices_and_hard_links_in_a_workspace(dd, tmp_path):
    path = ws.new_course(dd, "xianjing", "陷阱课程", ["干部"], ["trainer1"])
    secret = tmp_path / "secret.txt"
    secret.write_text("root-only secret")
    secret.chmod(0o600)
    module = path / "source" / "module"
    (module / "evil.ipynb").symlink_to(secret)
    problems = ws.check_course(dd, "xianjing")
    assert any("evil.ipynb" in p and "符号链接" in p for p in problems), problems
    assert not any("root-only secret" in p for p in problems)
    r = ws.publish(dd, "xianjing", actor="trainer1")
    assert not r["ok"] and any("evil.ipynb" in p for p in r["problems"])
    (module / "evil.ipynb").unlink()

    # bank.yaml as a link: export and import refuse it, and a write replaces the link itself
    (path / "bank.yaml").unlink()
    (path / "bank.yaml").symlink_to(secret)
    with pytest.raises(ws.UnsafeWorkspace):
        ws.export_bank(dd, "xianjing")
    with pytest.raises(ws.UnsafeWorkspace):
        ws.import_bank(dd, "xianjing", xlsx_bytes(tmp_path, bank_questions()))
    ws.write_file(dd, "xianjing", "bank.yaml", b"questions: []\n")
    assert not (path / "bank.yaml").is_symlink() and secret.read_text() == "root-only secret"

    # a folder link, a FIFO (must not hang the hub) and a hard link
    (path / "source" / "other").symlink_to(tmp_path)
    os.mkfifo(path / "pipe.yaml")
    os.link(secret, path / "hard.txt")
    with pytest.raises(ws.UnsafeWorkspace) as e:
        with ws.snapshot_dir(dd, "xianjing"):
            pass
    text = "；".join(e.value.problems)
    assert "other" in text and "pipe.yaml" in text and "hard.txt" in text
    with pytest.raises(ws.UnsafeWorkspace):
        ws.read_file(dd, "xianjing", "pipe.yaml")
    with pytest.raises(ws.UnsafeWorkspace):
        ws.read_file(dd, "xianjing", "source/other/secret.txt")


def test_a_course_yaml_id_cannot_publish_over_another_course(dd):
    path = ws.new_course(dd, "ke_a", "甲课程", ["干部"], ["trainer1"])
    text = (path / "course.yaml").read_text(encoding="utf-8").replace("id: ke_a", "id: pingtai_rumen")
    (path / "course.yaml").write_text(text, encoding="utf-8")
    assert any("课程编号应为 ke_a" in p for p in ws.check_course(dd, "ke_a"))


def test_an_unreadable_course_yaml_keeps_the_last_trainers(dd):
    path = ws.new_course(dd, "ke_b", "乙课程", ["干部"], ["trainer1"])
    assert ws.may_edit(dd, "ke_b", "trainer1") and not ws.may_edit(dd, "ke_b", "trainer2")
    (path / "course.yaml").write_text("trainers: [trainer2\n  : :", encoding="utf-8")
    assert ws.listed_trainers(dd, "ke_b") == ["trainer1"]
    assert not ws.may_edit(dd, "no_such", "trainer1")


def test_home_links_follow_the_courses_a_trainer_is_listed_on(dd, tmp_path):
    ws.new_course(dd, "ke_c", "丙课程", ["干部"], ["trainer1"])
    ws.new_course(dd, "ke_d", "丁课程", ["干部"], ["trainer2"])
    home = dd.home("trainer1")
    home.mkdir(parents=True)
    (home / ws.LINK_DIR).mkdir()
    (home / ws.LINK_DIR / "mine").symlink_to(tmp_path)  # the trainer's own link stays
    (home / ws.LINK_DIR / "ke_old").symlink_to(ws.course_path(dd, "ke_d"))  # a course they left
    assert ws.prepare_home(dd, "trainer1", home, is_learner=False) == ["ke_c"]
    links = sorted(p.name for p in (home / ws.LINK_DIR).iterdir())
    assert links == ["ke_c", "mine"]
    assert os.readlink(home / ws.LINK_DIR / "ke_c") == str(ws.course_path(dd, "ke_c"))
    # a learner's home gets no 课程 folder
    lhome = dd.home("learner1")
    lhome.mkdir()
    assert ws.prepare_home(dd, "learner1", lhome, is_learner=True) == []
    assert not (lhome / ws.LINK_DIR).exists()
    # 课程 planted as a link to elsewhere: nothing is made through it
    evil_home = dd.home("trainer2")
    evil_home.mkdir()
    (evil_home / ws.LINK_DIR).symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    ws.prepare_home(dd, "trainer2", evil_home, is_learner=False)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_jupyter_server_lists_and_saves_through_the_course_link(dd):
    from jupyter_server.services.contents.filemanager import FileContentsManager

    ws.new_course(dd, "ke_e", "戊课程", ["干部"], ["trainer1"])
    home = dd.home("trainer1")
    home.mkdir(parents=True)
    ws.prepare_home(dd, "trainer1", home, is_learner=False)
    cm = FileContentsManager(root_dir=str(home))
    listing = cm.get(ws.LINK_DIR, content=True)
    assert [c["name"] for c in listing["content"]] == ["ke_e"]
    path = f"{ws.LINK_DIR}/ke_e/source/module/lesson1.ipynb"
    model = cm.get(path, content=True)
    assert model["type"] == "notebook"
    nb = model["content"]
    nb["cells"].append(nbformat.v4.new_markdown_cell("新的一段讲义"))
    cm.save({"type": "notebook", "content": nb}, path)
    saved = nbformat.read(ws.course_path(dd, "ke_e") / "source/module/lesson1.ipynb", as_version=4)
    assert saved.cells[-1].source == "新的一段讲义"


def test_add_elective_joins_the_running_campaign_once(records_url, datadir):
    from datetime import date, timedelta

    from grading.records import audit
    from grading.records.db import session_scope
    from grading.records.learner_home import add_elective
    from grading.records.models import Audience, Campaign, CampaignCourse, Course

    dd = datadir
    url = records_url
    today = date.today()
    with session_scope(url) as s:
        s.add(Campaign(id="c1", name="学法月", start=today - timedelta(days=1), end=today + timedelta(days=9)))
        s.add(Course(id="ke_f", title="己课程", hours=1, audiences=["cadre", "volunteer"], meta={}))
    assert add_elective(url, "ke_f", actor="trainer1", client="127.0.0.1") == ("学法月", ["干部", "法律明白人"])
    assert add_elective(url, "ke_f", actor="trainer1") == ("学法月", [])
    with session_scope(url) as s:
        rows = s.query(CampaignCourse).filter_by(course_id="ke_f").all()
        assert {(r.audience, r.required) for r in rows} == {(Audience.cadre, False), (Audience.volunteer, False)}
    assert [e.action for e in audit.entries(url, action="campaign_elective")] == ["campaign_elective"]
    assert add_elective(url, "no_course", actor="x") is None
    with pytest.raises(ValueError, match="已被使用"):  # a published course's id is never taken over
        ws.new_course(dd, "ke_f", "冒名课程", ["干部"], ["trainer1"])


@pytest.mark.skipif(not ROOT, reason="course groups need root")
def test_only_the_listed_trainers_accounts_can_open_the_folder(open_dd):
    from hub_config.spawner import ensure_system_user

    prefix = sysusers.user_prefix(open_dd.root)
    for name in ("trainer1", "trainer2", "learner1"):
        ensure_system_user(sysusers.system_username(name, prefix), open_dd.home(name))
    # learner1 named in course.yaml gets nothing: only active trainers/admins
    path = ws.new_course(open_dd, "ke_g", "庚课程", ["干部"], ["trainer1", "learner1"])
    group = grp.getgrnam(ws.group_name(open_dd, "ke_g"))
    assert group.gr_mem == [sysusers.system_username("trainer1", prefix)]
    st = path.stat()
    assert st.st_gid == group.gr_gid and oct(st.st_mode & 0o7777) == oct(ws.DIR_MODE)

    def as_user(name: str, code: str) -> subprocess.CompletedProcess:
        account = sysusers.system_username(name, prefix)
        entry = pwd.getpwnam(account)
        gids = os.getgrouplist(account, entry.pw_gid)

        def drop():
            os.setgroups(gids)
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)

        return subprocess.run(["python3", "-c", code], preexec_fn=drop, capture_output=True, text=True,
                              cwd="/")

    lesson = path / "source/module/lesson1.ipynb"
    read = f"print(open({str(lesson)!r}, encoding='utf-8').read()[:1])"
    assert as_user("trainer1", read).returncode == 0
    denied = as_user("trainer2", read)
    assert denied.returncode != 0 and "PermissionError" in denied.stderr
    assert as_user("learner1", read).returncode != 0
    # a file trainer1 makes with a private umask is repaired for the course's other trainers
    new = path / "source/module/lesson2.ipynb"
    assert as_user("trainer1", f"import os; os.umask(0o77); open({str(new)!r}, 'w').write('{{}}')").returncode == 0
    text = (path / "course.yaml").read_text(encoding="utf-8").replace("- learner1", "- trainer2")
    ws.write_file(open_dd, "ke_g", "course.yaml", text.encode())
    ws.sync_course(open_dd, "ke_g")
    assert sorted(grp.getgrnam(ws.group_name(open_dd, "ke_g")).gr_mem) == sorted(
        sysusers.system_username(n, prefix) for n in ("trainer1", "trainer2"))
    assert new.stat().st_mode & 0o060 == 0o060 and new.stat().st_gid == group.gr_gid
    assert as_user("trainer2", f"print(open({str(new)!r}).read())").returncode == 0
    # a hard link to a root-only file is never given the course's group or mode
    secret = open_dd.root / "secret.txt"
    secret.write_text("root only")
    secret.chmod(0o600)
    os.link(secret, path / "hard.txt")
    ws.sync_course(open_dd, "ke_g")
    assert oct(secret.stat().st_mode & 0o777) == oct(0o600) and secret.stat().st_gid == 0


def test_the_course_new_command_creates_a_workspace_course(dd):
    from click.testing import CliRunner

    from grading.records import audit
    from hub_config.cli import main as cli

    args = ["course", "new", "cli_ke", "--title", "命令行课程", "--audience", "干部", "--audience", "政法干警",
            "--trainer", "trainer2", "--data-dir", str(dd.root)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    spec = yaml.safe_load((ws.course_path(dd, "cli_ke") / "course.yaml").read_text(encoding="utf-8"))
    assert spec["audience"] == ["干部", "政法干警"] and spec["trainers"] == ["trainer2"]
    assert [e.action for e in audit.entries(dd.records_db_url, action="course_create")] == ["course_create"]
    again = CliRunner().invoke(cli, args)
    assert again.exit_code != 0 and "已被使用" in again.output


@pytest.mark.slow
def test_course_publish_by_id_releases_the_trainers_workspace_copy(dd):
    """``xuefa course publish ID`` of a workspace course publishes what its trainers edited,
    never the shipped copy (which would revert their work)."""
    from click.testing import CliRunner

    from hub_config.cli import main as cli

    ws.seed(dd)
    course_yaml = ws.course_path(dd, "pingtai_rumen") / "course.yaml"
    spec = yaml.safe_load(course_yaml.read_text(encoding="utf-8"))
    spec["title"] = "平台入门（讲师修订）"
    course_yaml.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    r = CliRunner().invoke(cli, ["course", "publish", "pingtai_rumen", "--data-dir", str(dd.root)])
    assert r.exit_code == 0, r.output
    assert "来自讲师工作区" in r.output
    published = yaml.safe_load((dd.course_root("pingtai_rumen") / "course.yaml").read_text(encoding="utf-8"))
    assert published["title"] == "平台入门（讲师修订）"

"""我的错题本 and 我的学习's exam line: revealed wrong answers are practised again (own answers
file, nothing submitted), the others are listed without key or 解析; the page is installed into
homes beside 我的学习 the same safe way; 我的学习 shows attempts and whether the key is open."""

from __future__ import annotations

import json
import os
import stat

import nbformat

import widgets as xf
from tests.widgets.test_paper import BANK
from widgets.wrongbook import LOCKED_NOTE, WrongBook

Q = {q["id"]: q for q in BANK["questions"]}


def public(q):
    from grading.content.bank import public as bank_public

    return bank_public(q)


ITEMS = [
    # revealed (the course's reveal level is "key"): full question
    {"course_id": "xingzheng", "course_title": "行政执法", "question": Q["q03"], "answer": "AB",
     "revealed": True},
    # the same bank id in another course, not revealed there: public form only
    {"course_id": "fuyi", "course_title": "行政复议", "question": public(Q["q03"]), "answer": "B",
     "revealed": False},
    {"course_id": "xingzheng", "course_title": "行政执法", "question": Q["q07"],
     "answer": {"a": "B"}, "revealed": True},
    # a fixed paper's graded item (no options to practise with)
    {"course_id": "pingtai", "course_title": "平台入门",
     "question": {"id": "q9", "type": "single", "key": "B", "explanation": "解析九",
                  "legal_basis": "某法第九条"}, "answer": "A", "revealed": True},
]


def test_revealed_items_are_practised_others_listed_without_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = tmp_path / "我的错题本.ipynb"
    xf.setup(mode="practice", notebook=nb, username="ganbu1", events=False)
    book = WrongBook(ITEMS)
    assert "共 4 道答错的题，其中 3 道可查看答案与解析" in book.header.value
    assert "返回我的学习" in book.header.value
    # two courses with a "q03": two practice ids, never one answer for both
    assert set(book.practice) == {"xingzheng__q03", "xingzheng__q07"}
    w = book.practice["xingzheng__q03"]
    assert w.practice and w.question.key == "ACD"
    for L in "ACD":
        w.boxes[L].value = True
    w.check_button.click()
    assert "回答正确" in w.feedback.value and "解析三" in w.feedback.value
    saved = json.loads((tmp_path / "我的错题本.answers.json").read_text(encoding="utf-8"))
    assert saved == {"xingzheng__q03": "ACD"}
    assert not (tmp_path / "assessment.answers.json").exists()

    locked = book.list.children[1].children[1].value
    assert LOCKED_NOTE in locked and "行政处罚" in locked and "您的答案：内部人事处分" in locked
    assert "解析三" not in locked
    case = book.practice["xingzheng__q07"]
    case.subs["a"].choice.value = "A"
    case.subs["b"].choice.value = False
    case.check_button.click()
    assert "回答正确" in case.feedback.value
    fixed = book.list.children[3].children[1].value
    assert "正确答案：B" in fixed and "解析九" in fixed and "某法第九条" in fixed


def test_empty_and_unreachable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in ("XUEFA_RECORDS_URL", "JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_HOST", "JUPYTERHUB_API_URL"):
        monkeypatch.delenv(k, raising=False)
    xf.setup(mode="practice", notebook=tmp_path / "我的错题本.ipynb", username="ganbu1", events=False)
    assert "您还没有答错的题目" in WrongBook([]).header.value
    assert "无法连接学习记录服务" in WrongBook().header.value


def test_page_notebook_runs_in_practice_mode(tmp_path, monkeypatch):
    """The installed page's code, run as Voila runs it (cwd = the home)."""
    from hub_config.home import SKEL, WRONGBOOK_NOTEBOOK

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XUEFA_RECORDS_URL", raising=False)
    page = nbformat.read(SKEL / WRONGBOOK_NOTEBOOK, as_version=4)
    ns: dict = {}
    for cell in page.cells:
        exec(cell.source.rsplit("\n", 1)[0], ns)  # all but the display line
        book = eval(cell.source.rsplit("\n", 1)[1], ns)
    assert isinstance(book, WrongBook)
    assert not xf.current().assessment and not xf.current().send_events
    assert xf.current().notebook == tmp_path / WRONGBOOK_NOTEBOOK


def test_both_pages_installed_and_taken_away(tmp_path):
    from hub_config.home import HOME_NOTEBOOK, PAGES, SKEL, WRONGBOOK_NOTEBOOK, install_home, uninstall_home

    home = tmp_path / "home" / "ganbu1"
    # 我的学习 is served by the learner's server: only 我的错题本.ipynb goes into homes
    assert install_home(home) == home / WRONGBOOK_NOTEBOOK
    for name in PAGES:
        assert (home / name).read_bytes() == (SKEL / name).read_bytes()
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o644
    # a link planted under the new page's name is replaced, never followed
    victim = tmp_path / "victim"
    victim.write_text("secret")
    (home / WRONGBOOK_NOTEBOOK).unlink()
    os.symlink(victim, home / WRONGBOOK_NOTEBOOK)
    install_home(home)
    assert not (home / WRONGBOOK_NOTEBOOK).is_symlink() and victim.read_text() == "secret"
    (home / HOME_NOTEBOOK).write_text("{}")  # the person's own edit stays
    assert uninstall_home(home) == [WRONGBOOK_NOTEBOOK]
    assert (home / HOME_NOTEBOOK).read_text() == "{}"

"""开始学习's and 提交's standard-library exchange does what nbgrader's own local exchange does.

Both run, in child processes as the learner's server and kernel start them, on the same folders
against the same exchange; what they fetch, and the inbound folders and cache copies they hand
in, are compared file by file and mode by mode, and inbound names parse as the grading service
parses them.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading.exchange.names import parse_inbound
from widgets import exchange_files
from widgets.exchange_files import ExchangeRefused, fetch, hand_in, write_essays

COURSE, ASSIGNMENT, STUDENT = "xingzheng", "module", "learner1"


def notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    essay = nbformat.v4.new_markdown_cell("请作答", metadata={"nbgrader": {
        "solution": True, "grade": True, "grade_id": "q11", "points": 10, "schema_version": 3}})
    nb.cells = [nbformat.v4.new_markdown_cell("第一行\n第二行"), essay,
                nbformat.v4.new_code_cell("import widgets as xf\nxf.Submit()")]
    return nb


@pytest.fixture
def world(tmp_path):
    exchange = tmp_path / "exchange"
    (exchange / COURSE / "outbound" / ASSIGNMENT).mkdir(parents=True)
    (exchange / COURSE / "inbound").mkdir()
    os.chmod(exchange, 0o777)
    os.chmod(exchange / COURSE / "inbound", 0o733)
    home = tmp_path / "home"
    src = home / COURSE / ASSIGNMENT
    (src / ".ipynb_checkpoints").mkdir(parents=True)
    (src / ".ipynb_checkpoints" / "assessment-checkpoint.ipynb").write_text("{}")
    (src / "feedback" / "2026-11-29 01:00:00.000000 UTC").mkdir(parents=True)
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (src / "notes").mkdir()
    (src / "notes" / "草稿.txt").write_text("草稿", encoding="utf-8")
    nbformat.write(notebook(), str(src / "assessment.ipynb"))
    (src / "assessment.answers.json").write_text(json.dumps({"q01": "A"}))
    return exchange, home, src


def run(src: Path, exchange: Path, data_dir: Path, with_exchange_env: bool, request=None) -> dict:
    """widgets/exchange_files.py as 提交 starts it (``request``: as 开始学习 does); with
    ``with_exchange_env`` False nbgrader itself does the work, configured by a config file."""
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data_dir), "HOME": str(src.parents[2])}
    env.pop("XUEFA_EXCHANGE", None)
    if with_exchange_env:
        env["XUEFA_EXCHANGE"] = str(exchange)
    else:
        config = data_dir.with_name(data_dir.name + "-config")
        config.mkdir()
        (config / "nbgrader_config.py").write_text(f"c.Exchange.root = {str(exchange)!r}\n")
        env["JUPYTER_CONFIG_DIR"] = str(config)
    request = request or {"action": "submit", "notebook": str(src / "assessment.ipynb"),
                          "course": COURSE, "assignment": ASSIGNMENT, "student_id": STUDENT,
                          "essays": {}}
    r = subprocess.run([sys.executable, "-P", exchange_files.__file__], env=env,
                       input=json.dumps(request), capture_output=True, text=True, timeout=120,
                       cwd=src)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """relative path -> (mode, content) with the two per-submission files' content left out."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        content = None if p.is_dir() or p.name in ("timestamp.txt", "submission_secret.txt") \
            else p.read_bytes()
        out[rel] = (stat.S_IMODE(p.lstat().st_mode), content)
    return out


def test_the_hand_in_leaves_what_nbgrader_submit_leaves(world, tmp_path):
    exchange, home, src = world
    theirs = run(src, exchange, tmp_path / "data-nbgrader", with_exchange_env=False)["timestamp"]
    ours = run(src, exchange, tmp_path / "data-ours", with_exchange_env=True)["timestamp"]

    inbound = sorted((exchange / COURSE / "inbound").iterdir())
    assert len(inbound) == 2
    parsed = {d: parse_inbound(d.name) for d in inbound}
    assert all(p is not None and (p.username, p.assignment) == (STUDENT, ASSIGNMENT)
               for p in parsed.values()), parsed
    by_stamp = {d.name.split("+")[2]: d for d in inbound}
    assert set(by_stamp) == {theirs, ours}
    a, b = by_stamp[theirs], by_stamp[ours]
    assert stat.S_IMODE(a.stat().st_mode) == stat.S_IMODE(b.stat().st_mode) == 0o777
    assert tree(a) == tree(b)
    assert {"assessment.ipynb", "assessment.answers.json", "notes/草稿.txt", "timestamp.txt",
            "submission_secret.txt"} <= set(tree(b))
    assert not any(k.startswith((".ipynb_checkpoints", "feedback", "__pycache__")) for k in tree(b))
    assert (b / "timestamp.txt").read_text() == ours
    assert len((b / "submission_secret.txt").read_text()) == 128

    cache_a = tmp_path / "data-nbgrader" / "nbgrader_cache" / COURSE / f"{STUDENT}+{ASSIGNMENT}+{theirs}"
    cache_b = tmp_path / "data-ours" / "nbgrader_cache" / COURSE / f"{STUDENT}+{ASSIGNMENT}+{ours}"
    assert tree(cache_a) == tree(cache_b)
    assert (cache_b / "submission_secret.txt").read_text() == (b / "submission_secret.txt").read_text()


def test_refusals_name_the_reason(world, tmp_path):
    exchange, home, src = world
    nb = src / "assessment.ipynb"
    cases = [
        (lambda: hand_in(nb, COURSE, ASSIGNMENT, STUDENT, tmp_path / "nowhere", cache=tmp_path),
         "Unwritable"),
        (lambda: hand_in(nb, "other", ASSIGNMENT, STUDENT, exchange, cache=tmp_path), "Inbound"),
        (lambda: hand_in(nb, COURSE, "exam", STUDENT, exchange, cache=tmp_path), "Assignment not found"),
        (lambda: hand_in(nb, COURSE, ASSIGNMENT, "a+b", exchange, cache=tmp_path), "student ID"),
    ]
    for call, reason in cases:
        with pytest.raises(ExchangeRefused, match=reason):
            call()
    (exchange / COURSE / "inbound").rename(exchange / COURSE / "gone")
    (exchange / COURSE / "outbound" / ASSIGNMENT).rmdir()
    with pytest.raises(ExchangeRefused, match="Inbound"):
        hand_in(nb, COURSE, ASSIGNMENT, STUDENT, exchange, cache=tmp_path)
    assert not list(tmp_path.glob(f"{COURSE}/*")), "nothing cached for a refused hand-in"


def test_essays_written_as_escaped_text_in_a_valid_notebook(world):
    _, _, src = world
    nb_path = src / "assessment.ipynb"
    assert write_essays(nb_path, {"q11": "<b>我的</b>述法报告", "q12": "x"}, ["q11", "q12"]) == ["q11"]
    nb = nbformat.read(str(nb_path), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[1].source == "&lt;b&gt;我的&lt;/b&gt;述法报告"
    assert nb.cells[0].source == "第一行\n第二行"
    assert not list(src.glob(".*.tmp"))


def released(exchange: Path) -> Path:
    out = exchange / COURSE / "outbound" / ASSIGNMENT
    nbformat.write(notebook(), str(out / "assessment.ipynb"))
    (out / "images").mkdir()
    (out / "images" / "流程图.png").write_bytes(b"\x89PNG")
    (out / ".ipynb_checkpoints").mkdir()
    (out / "__pycache__").mkdir()
    return out


def test_the_fetch_leaves_what_nbgrader_fetch_leaves_and_never_overwrites(world, tmp_path):
    exchange, _, _ = world
    released(exchange)
    homes = {}
    for kind in ("nbgrader", "ours"):
        home = tmp_path / f"home-{kind}"
        (home / COURSE).mkdir(parents=True)
        src = home / COURSE / ASSIGNMENT  # run()'s working directory: the learner's home
        request = {"action": "fetch", "course": COURSE, "assignment": ASSIGNMENT, "home": str(home)}
        if kind == "nbgrader":  # nbgrader's fetch is configured with the home as assignment_dir
            (tmp_path / "cfg").mkdir()
            (tmp_path / "cfg" / "nbgrader_config.py").write_text(
                f"c.Exchange.root = {str(exchange)!r}\nc.Exchange.assignment_dir = {str(home)!r}\n"
                "c.Exchange.path_includes_course = True\n")
            env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "XUEFA_HOME": str(home),
                   "JUPYTER_DATA_DIR": str(tmp_path / "d1")}
            env.pop("XUEFA_EXCHANGE", None)
        else:
            env = {**os.environ, "XUEFA_EXCHANGE": str(exchange), "XUEFA_HOME": str(home),
                   "JUPYTER_DATA_DIR": str(tmp_path / "d2")}
        r = subprocess.run([sys.executable, "-P", exchange_files.__file__], env=env, cwd=home,
                           input=json.dumps(request), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["path"] == str(src)
        homes[kind] = src
    assert tree(homes["nbgrader"]) == tree(homes["ours"])
    assert set(tree(homes["ours"])) == {"assessment.ipynb", "images", "images/流程图.png"}

    # the learner's answers are never overwritten; a deleted picture comes back
    dest = homes["ours"]
    (dest / "assessment.ipynb").write_text("学员的作答")
    (dest / "images" / "流程图.png").unlink()
    assert fetch(COURSE, ASSIGNMENT, exchange, dest.parents[1]) == dest
    assert (dest / "assessment.ipynb").read_text() == "学员的作答"
    assert not (dest / "images" / "流程图.png").exists(), "a fetched module is left alone"
    (dest / "assessment.ipynb").unlink()
    fetch(COURSE, ASSIGNMENT, exchange, dest.parents[1])
    assert (dest / "images" / "流程图.png").exists() and (dest / "assessment.ipynb").exists()
    assert not list(dest.parent.glob(".*fetching*")), "no half-copied folder left beside it"


def test_fetch_refuses_an_unreleased_module(world, tmp_path):
    exchange, home, _ = world
    with pytest.raises(ExchangeRefused, match="Assignment not found"):
        fetch("other", ASSIGNMENT, exchange, tmp_path / "h")
    assert not (tmp_path / "h").exists()

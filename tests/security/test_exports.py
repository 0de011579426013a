"""Formula injection through the roster: a clerk's (or an attacker's) 姓名 / 单位 starting with
``= + - @`` reaches the administrators' Excel and CSV exports as text, never as a live formula.

Real files all the way: the roster goes in with the administrator's ``xuefa roster import``
(which also pushes the people to the running hub over its REST API), a learning campaign with
``xuefa campaign load``, and the exports come out of ``xuefa report export`` and are opened with
openpyxl / the csv module as the administrator's spreadsheet program would read them. The
campaign lies in the past so it changes no learner's 我的学习 page on the shared platform.
"""

from __future__ import annotations

import csv
import subprocess

import pytest
from openpyxl import load_workbook

from tests.integration.conftest import VENV_BIN
from tests.security.conftest import INITIAL_PASSWORD, ROSTER, write_roster

pytestmark = pytest.mark.integration

EVIL_NAMES = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1:A2)"]
EVIL_UNITS = ["测试市/=HYPERLINK(\"http:\\\\evil\",\"点我\")", "测试市/+恶意镇", "测试市/-恶意镇",
              "测试市/@恶意镇"]
CAMPAIGN = """\
id: sec_formula_2026
name: 安全测试活动
start: 2026-01-01
end: 2026-01-31
pass_mark: 60
plans:
  干部:
    required: [pingtai_rumen]
"""


def xuefa(target, *args) -> str:
    r = subprocess.run([str(VENV_BIN / "xuefa"), *args, "--data-dir", str(target.datadir.root)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def evil_exports(target):
    rows = [[f"formula{i}", name, unit, "干部", "学员", "", INITIAL_PASSWORD]
            for i, (name, unit) in enumerate(zip(EVIL_NAMES, EVIL_UNITS))]
    # the whole roster plus the rows: this file is about formulas, not about deactivation
    roster = write_roster(target.roster_path.with_name("formula-rows.csv"), [*ROSTER, *rows])
    out = xuefa(target, "roster", "import", str(roster))
    assert "已同步到平台" in out, out  # the running platform has them too
    plan = target.roster_path.with_name("sec_formula_2026.yaml")
    plan.write_text(CAMPAIGN, encoding="utf-8")
    xuefa(target, "campaign", "load", str(plan))
    xlsx = target.roster_path.with_name("report.xlsx")
    csv_path = target.roster_path.with_name("report.csv")
    xuefa(target, "report", "export", "--campaign", "sec_formula_2026", "-o", str(xlsx))
    xuefa(target, "report", "export", "--campaign", "sec_formula_2026", "--format", "csv",
          "-o", str(csv_path))
    return xlsx, csv_path


def test_roster_names_and_units_are_text_in_the_excel_export(evil_exports):
    xlsx, _ = evil_exports
    wb = load_workbook(xlsx)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [f"{c.parent.title}!{c.coordinate}={c.value}" for c in cells if c.data_type == "f"]
    text = {c.value: c for c in cells if c.data_type == "s"}
    for name in EVIL_NAMES:
        assert name in text, f"{name} missing from the workbook"
        assert text[name].data_type == "s" and text[name].quotePrefix
    units = {u.split("/", 1)[1] for u in EVIL_UNITS}
    assert units & set(text), "the townships' names are in the by-unit sheet"


def test_roster_names_and_units_are_text_in_the_csv_export(evil_exports):
    _, csv_path = evil_exports
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], cells
    units = {u.split("/", 1)[1] for u in EVIL_UNITS}
    assert {"'" + u for u in units} & set(cells), "the townships are there, quoted as text"

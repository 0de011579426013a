"""Exports agree with the report queries; certificates carry the learner's name in a CJK font."""

from __future__ import annotations

import csv
import re
import zlib
from datetime import date

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from grading.reports import certificates

from grading.records import completion

from grading.reports import exports

from grading.reports import queries as reports

from hub_config.tools import synth
from hub_config.cli import main

TODAY = date(2026, 11, 20)


def make_city(tmp_path_factory, learners: int):
    from grading.records import migrate
    from grading.host.datadir import DataDir

    datadir = DataDir(tmp_path_factory.mktemp("exports") / "data").ensure()
    migrate.upgrade(datadir.records_db_url)
    summary = synth.generate(datadir.records_db_url, learners, seed=7, events_per_participant=(2, 5))
    return datadir, summary.campaign_id


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return make_city(tmp_path_factory, 300)


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """Small enough that writing every certificate stays quick."""
    return make_city(tmp_path_factory, 40)


def test_xlsx_numbers_equal_the_dashboard_queries(city, tmp_path):
    datadir, cid = city
    url = datadir.records_db_url
    path = exports.write_xlsx(url, cid, tmp_path / "报表.xlsx", today=TODAY)
    wb = load_workbook(path)
    assert wb.sheetnames[:3] == ["汇总", "分单位", "未完成名单"]

    ov = reports.overview(url, cid, today=TODAY)
    summary = {r[0]: r[1] for r in wb["汇总"].iter_rows(min_row=5, values_only=True) if r[0]}
    assert summary["应学人数"] == ov.learners
    assert summary["参学人数"] == ov.participating
    assert summary["完成人数"] == ov.complete
    assert summary["参学率"] == ov.participation_rate
    assert summary["完成率"] == ov.completion_rate
    assert summary["合格率"] == ov.pass_rate
    assert summary["平均成绩"] == ov.avg_score
    assert summary["累计学时"] == ov.hours
    assert summary["剩余天数"] == ov.days_left == 11

    units = reports.by_unit(url, cid)
    rows = list(wb["分单位"].iter_rows(values_only=True))
    header = rows[0]
    assert {"单位", "应学人数", "参学率", "完成率", "合格率", "平均成绩", "累计学时"} <= set(header)
    sheet = {r[header.index("单位")]: dict(zip(header, r)) for r in rows[1:]}
    assert len(sheet) == len(units)
    for u in units.itertuples():
        got = sheet[u.unit]
        assert (got["应学人数"], got["完成人数"], got["参学率"], got["完成率"], got["平均成绩"]) == (
            u.learners, u.complete, u.participation_rate, u.completion_rate, u.avg_score,
        )
    assert sum(r["应学人数"] for r in sheet.values()) == ov.learners

    lag = reports.laggards(url, cid)
    lag_rows = list(wb["未完成名单"].iter_rows(values_only=True))
    assert lag_rows[0][:3] == ("乡镇/部门", "所在单位", "姓名")
    assert len(lag_rows) - 1 == len(lag) == ov.learners - ov.complete
    assert [r[3] for r in lag_rows[1:]] == list(lag["username"])


def test_cli_export_xlsx_and_csv(city, tmp_path):
    datadir, cid = city
    runner = CliRunner()
    out = tmp_path / "r.csv"
    res = runner.invoke(main, ["report", "export", "--data-dir", str(datadir.root), "--campaign", cid, "--format", "csv", "-o", str(out)])
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    units = reports.by_unit(datadir.records_db_url, cid)
    assert [r["单位"] for r in rows] == list(units["unit"])
    assert [int(r["完成人数"]) for r in rows] == list(units["complete"])

    res = runner.invoke(main, ["report", "export", "--data-dir", str(datadir.root), "--campaign", cid, "-o", str(tmp_path / "r.xlsx")])
    assert res.exit_code == 0 and (tmp_path / "r.xlsx").stat().st_size > 0
    res = runner.invoke(main, ["report", "export", "--data-dir", str(datadir.root), "--campaign", "nope", "-o", str(tmp_path / "x.xlsx")])
    assert res.exit_code != 0 and "没有编号为 nope 的学习活动" in res.output


def pdf_text(data: bytes) -> str:
    """Text of an fpdf2 PDF via its ToUnicode CMap (no PDF library is installed)."""
    streams = []
    # fpdf2 ends a stream with b"\nendstream": a compressed stream may itself end in b"\r" (one
    # in ~100 certificates did), which must stay data, not be read as part of the delimiter
    for m in re.finditer(rb"stream\r?\n(.*?)\nendstream", data, re.S):
        raw = m.group(1)
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass
        streams.append(raw)
    cmap = {}
    for s in streams:
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                cmap[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
    out = []
    for s in streams:
        for lit in re.findall(rb"\(((?:\\.|[^\\)])*)\)", s, re.S):
            buf = re.sub(rb"\\([nrtbf()\\])", lambda m: escapes.get(m.group(1), m.group(1)), lit)
            out.append("".join(cmap.get(int.from_bytes(buf[i : i + 2], "big"), "") for i in range(0, len(buf) - 1, 2)))
    return "".join(out)


def test_certificates_for_completed_learners_only(town, tmp_path):
    datadir, cid = town
    runner = CliRunner()
    res = runner.invoke(main, ["report", "certificates", "--data-dir", str(datadir.root), "--campaign", cid, "-o", str(tmp_path / "certs")])
    assert res.exit_code == 0, res.output
    done = [p for p in completion.progress(datadir.records_db_url, cid) if p.complete]
    files = sorted((tmp_path / "certs").glob("*.pdf"))
    assert [f.stem for f in files] == sorted(p.username for p in done) and files
    someone = done[0]
    text = pdf_text((tmp_path / "certs" / f"{someone.username}.pdf").read_bytes())
    assert "结业证书" in text.replace(" ", "")
    assert someone.name in text
    assert f"{someone.hours:g}" in text
    not_done = next(p for p in completion.progress(datadir.records_db_url, cid) if not p.complete)
    with pytest.raises(ValueError):
        certificates.render(not_done, "x")


EVIL = ["=cmd|' /C calc'!A0", "+SUM(1,1)", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


def test_names_and_units_that_look_like_formulas_are_written_as_text(tmp_path_factory, tmp_path):
    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import Learner, Unit

    datadir, cid = make_city(tmp_path_factory, 20)
    url = datadir.records_db_url
    lag = set(reports.laggards(url, cid)["username"])
    with session_scope(url) as s:
        people = [p for p in s.scalars(select(Learner).order_by(Learner.id)) if p.username in lag]
        for person, evil in zip(people, EVIL):
            person.name = evil
        for i, top in enumerate(s.scalars(select(Unit).where(Unit.level == 1))):
            top.name = f"=HYPERLINK(\"http://x\",\"{i}\")"
    wb = load_workbook(exports.write_xlsx(url, cid, tmp_path / "x.xlsx", today=TODAY))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if c.data_type == "s"}
    assert set(EVIL[:4]) <= texts and [t for t in texts if t.startswith("=HYPERLINK")]
    out = exports.write_csv(url, cid, tmp_path / "x.csv")
    with out.open(encoding="utf-8-sig") as f:
        units = [r["单位"] for r in csv.DictReader(f)]
    assert [u for u in units if u.startswith("'=HYPERLINK")]
    assert not [u for u in units if u.startswith(("=", "+", "-", "@"))]

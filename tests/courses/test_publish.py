"""Publishing through the real nbgrader exchange, re-publishing safely, loading a campaign."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from grading.records.db import session_scope
from grading.records.models import Assessment, Campaign, CampaignCourse, Course
from grading.content.publish import PublishError, load_campaign, publish_course, upsert_course

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "courses" / "campaigns" / "xuexiyue_2026.yaml"


def test_publish_then_republish_keeps_learner_work(datadir, tmp_path):
    src = tmp_path / "pingtai_rumen"
    shutil.copytree(ROOT / "courses" / "pingtai_rumen", src)
    rep = publish_course(datadir, "pingtai_rumen", source=src)
    outbound = datadir.exchange / "pingtai_rumen" / "outbound" / "module"
    assert rep.released_to == outbound
    assert sorted(p.name for p in outbound.glob("*.ipynb")) == ["assessment.ipynb", "lesson1.ipynb", "lesson2.ipynb"]
    assert "HIDDEN TESTS" not in (outbound / "assessment.ipynb").read_text(encoding="utf-8")
    with session_scope(datadir.records_db_url) as s:
        assert s.get(Course, "pingtai_rumen").title.startswith("平台入门")
        a = s.query(Assessment).filter_by(course_id="pingtai_rumen").one()
        assert a.max_score == 100 and not a.manual

    # a learner fetched the module and answered a question
    mine = datadir.home("ganbu1") / "pingtai_rumen" / "module"
    shutil.copytree(outbound, mine)
    (mine / "assessment.answers.json").write_text(json.dumps({"q01": "A"}), encoding="utf-8")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}

    # the trainer fixes a lesson and publishes again
    nb_path = src / "source" / "module" / "lesson2.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[1].source += "\n\n（已更新）"
    nbformat.write(nb, nb_path)
    assert publish_course(datadir, "pingtai_rumen", source=src, if_changed=True) is not None
    assert "（已更新）" in (outbound / "lesson2.ipynb").read_text(encoding="utf-8")
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    # unchanged source: nothing to do
    assert publish_course(datadir, "pingtai_rumen", source=src, if_changed=True) is None


def test_campaign_needs_published_courses_then_loads(datadir):
    from grading.content.courses import course_dirs, load_course
    from grading.records.migrate import upgrade

    url = datadir.records_db_url
    upgrade(url)
    with pytest.raises(PublishError, match="尚未发布"):
        load_campaign(datadir, CAMPAIGN)
    for d in course_dirs(ROOT / "courses"):
        upsert_course(url, load_course(d))
    spec = load_campaign(datadir, CAMPAIGN)
    load_campaign(datadir, CAMPAIGN)  # idempotent
    with session_scope(url) as s:
        assert s.get(Campaign, spec.id).name == "2026 干部学习月"
        rows = s.query(CampaignCourse).filter_by(campaign_id=spec.id).all()
        assert len(rows) == sum(len(p.required) + len(p.elective) for p in spec.plans.values())


def test_cli_validate_quick_and_campaign_load(datadir):
    from hub_config.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["course", "validate", "--quick"])
    assert res.exit_code == 0, res.output
    assert "✔ weichengnian" in res.output and "✔ campaigns/xuexiyue_2026.yaml" in res.output
    res = runner.invoke(main, ["course", "validate", "--quick", str(Path(__file__).parent / "fixtures" / "missing_key")])
    assert res.exit_code != 0 and "q03.key" in res.output and "assessment.ipynb 第8个单元格" in res.output
    res = runner.invoke(main, ["campaign", "load", str(CAMPAIGN), "--data-dir", str(datadir.root)])
    assert res.exit_code != 0 and "尚未发布" in res.output

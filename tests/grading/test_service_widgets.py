"""A real course built with the widgets (xf.grade hidden tests) through the grading service:
the item outputs become Result.details and ItemResult rows."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from grading.records import exams, results
from hub_config.tools.bench import Service, learner_copy, submit
from grading.records.db import session_scope
from grading.records.models import Audience, ItemResult, Learner, Role, Unit

COURSE = "fazhi_zhengfu"
REPO = Path(__file__).resolve().parents[2]


def simple_keys() -> dict:
    """The single-choice and true/false keys of the real assessment (answer format == key)."""
    nb = json.loads((REPO / "courses" / COURSE / "source" / "module" / "assessment.ipynb")
                    .read_text(encoding="utf-8"))
    keys = {}
    for c in nb["cells"]:
        m = re.search(r"xf\.grade\('(\w+)',\s*key=('([A-Z])'|True|False)\s*,", "".join(c["source"]))
        if m:
            keys[m.group(1)] = m.group(3) or (m.group(2) == "True")
    return keys


@pytest.mark.skipif(not (REPO / "courses" / COURSE).exists(), reason="course content missing")
def test_widgets_assessment_details_reach_the_records(datadir, records_url):
    pytest.importorskip("widgets")
    from grading.content.publish import publish_course

    publish_course(datadir, COURSE)
    with session_scope(records_url) as s:
        u = Unit(path="测试市", name="测试市", level=0)
        s.add(u)
        s.flush()
        s.add(Learner(username="ganbu1", name="干部一", unit_id=u.id, audience=Audience.cadre,
                      role=Role.learner))
    keys = simple_keys()
    assert len(keys) >= 5
    d = learner_copy(datadir, COURSE, "ganbu1")
    (d / "assessment.answers.json").write_text(json.dumps(keys, ensure_ascii=False), encoding="utf-8")
    with Service(datadir, "--workers=1"):
        submit(datadir, COURSE, "ganbu1", d)
        t0 = time.monotonic()
        while (r := results.effective_result(records_url, "ganbu1", COURSE, "module")) is None:
            assert time.monotonic() - t0 < 240
            time.sleep(0.3)
    by_id = {it["id"]: it for it in r.details}
    assert set(keys) <= set(by_id)
    for qid in keys:
        assert by_id[qid]["correct"] is True and by_id[qid]["points"] == by_id[qid]["max_points"] > 0
        # the Result keeps the full items; what leaves the server is cut to the reveal level
        assert by_id[qid]["explanation"] and by_id[qid]["key"] is not None
    view = exams.results_view(records_url, "ganbu1", COURSE, "module")
    if r.passed:
        assert view["reveal"] == "key" and "explanation" in str(view["results"])
    else:  # keys and explanations wait until the learner passes
        assert view["reveal"] == "wrong" and "'key'" not in str(view["results"])
        assert "explanation" not in str(view["results"]) and "合格" in r.message
    others = [it for q, it in by_id.items() if q not in keys]
    assert others and all(it["points"] == 0 for it in others)
    assert r.score == pytest.approx(sum(by_id[q]["points"] for q in keys))
    assert r.outcome in ("ok", "needs_manual") and "分" in r.message
    with session_scope(records_url) as s:
        items = s.query(ItemResult).filter_by(result_id=r.id).all()
        assert {i.question_id for i in items} == set(by_id)
        assert any(i.legal_basis for i in items)
        assert {i.question_id: i.answer for i in items if i.question_id in keys} == keys

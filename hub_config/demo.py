"""The demo data of ``xuefa up --demo``: a list of small idempotent steps.

Each step is ``step(datadir) -> str | None`` (a one-line zh-CN/English summary to print) and must
be safe to run on every start. Other areas append their own step to :data:`STEPS` from their
module (e.g. publishing the demo courses, loading the demo campaign)::

    from hub_config import demo
    demo.STEPS.append(publish_demo_courses)

Steps whose module is not importable yet are skipped (see :data:`OPTIONAL_STEPS`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from grading.datadir import DataDir

REPO = Path(__file__).resolve().parent.parent
DEMO_ROSTER = REPO / "courses" / "demo" / "roster.csv"
DEMO_PASSWORD = "xuefa-demo-2026"

Step = Callable[[DataDir], "str | None"]


def import_demo_roster(datadir: DataDir) -> str:
    """The demo people (re-import is idempotent: nobody's records change)."""
    from grading.roster import import_roster

    report = import_roster(DEMO_ROSTER, datadir.records_db_url, reports_dir=datadir.reports)
    if report.errors:
        lines = "; ".join(f"line {e.line} {e.field}: {e.reason}" for e in report.errors)
        raise RuntimeError(f"demo roster {DEMO_ROSTER} has errors: {lines}")
    return (f"演示名册 demo roster: 新增 created {len(report.created)}, "
            f"更新 updated {len(report.updated)}")


STEPS: list[Step] = [import_demo_roster]

# "module:function" hooks of other areas, run after STEPS when importable
OPTIONAL_STEPS = [
    "grading.publish:publish_demo_courses",
    "grading.publish:load_demo_campaign",
    "grading.demo:publish_demo_courses",
    "grading.demo:load_demo_campaign",
    "courses.demo:publish_demo_courses",
]


def optional_steps() -> list[Step]:
    steps = []
    for ref in OPTIONAL_STEPS:
        module, func = ref.split(":")
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(mod, func):
            steps.append(getattr(mod, func))
    return steps


def demo_accounts() -> list[tuple[str, str, str]]:
    """(账号, 姓名, 角色/身份) of the demo roster, for the start-up banner."""
    import csv

    if not DEMO_ROSTER.exists():
        return []
    with DEMO_ROSTER.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [(r.get("账号", ""), r.get("姓名", ""), f"{r.get('角色', '')}/{r.get('身份', '')}".strip("/"))
            for r in rows]


def run(datadir: DataDir, echo: Callable[[str], None] = print) -> None:
    for step in [*STEPS, *[s for s in optional_steps() if s not in STEPS]]:
        summary = step(datadir)
        if summary:
            echo(f"  - {summary}")

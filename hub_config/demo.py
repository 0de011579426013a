"""The demo data of ``xuefa up --demo``: a list of small idempotent steps.

Each step is ``step(datadir) -> str | None`` (a one-line zh-CN/English summary to print) and must
be safe to run on every start: the demo roster, the shipped courses published, the demo campaign.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from grading.content.publish import load_demo_campaign, publish_demo_courses
from grading.host.datadir import DataDir

REPO = Path(__file__).resolve().parent.parent
DEMO_ROSTER = REPO / "courses" / "demo" / "roster.csv"
DEMO_PASSWORD = "xuefa-demo-2026"

Step = Callable[[DataDir], "str | None"]


def import_demo_roster(datadir: DataDir) -> str:
    """The demo people (re-import is idempotent: nobody's records change)."""
    from grading.records.roster import import_roster

    report = import_roster(DEMO_ROSTER, datadir.records_db_url, reports_dir=datadir.reports)
    if report.errors:
        lines = "; ".join(f"line {e.line} {e.field}: {e.reason}" for e in report.errors)
        raise RuntimeError(f"demo roster {DEMO_ROSTER} has errors: {lines}")
    return (f"演示名册 demo roster: 新增 created {len(report.created)}, "
            f"更新 updated {len(report.updated)}")


STEPS: list[Step] = [import_demo_roster, publish_demo_courses, load_demo_campaign]


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
    for step in STEPS:
        summary = step(datadir)
        if summary:
            echo(f"  - {summary}")

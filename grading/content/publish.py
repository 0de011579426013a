"""``xuefa course publish`` and ``xuefa campaign load``.

Publishing a course: copy ``courses/<id>/source`` into the course root, let nbgrader generate
the learner version and release it to the exchange, and upsert the Course/Assessment rows the
records DB needs (我的学习, completion reports). Re-publishing is safe for learners who already
started: nbgrader's release replaces only ``exchange/<course>/outbound/``; learners' fetched
copies and their ``*.answers.json`` live in their homes and are never touched, and submissions
in ``inbound/`` stay where they are.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


from grading.content.courses import ASSIGNMENT, CampaignSpec, CourseSpec, course_dirs, courses_dir, load_campaign_file, load_course
from grading.exchange import nbconfig
from grading.exchange.nbconfig import course_config, nbgrader_api
from grading.host.datadir import DataDir
from grading.records.db import session_scope
from grading.records.migrate import upgrade
from grading.records.models import Assessment, Campaign, CampaignCourse, Course

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    pass


@dataclass
class PublishReport:
    course_id: str
    title: str
    max_score: float
    released_to: Path
    audience: list[str]


def _course_dir(course: str | Path) -> Path:
    p = Path(course)
    if p.is_dir() and (p / "course.yaml").exists():
        return p
    return courses_dir() / str(course)


def source_digest(cdir: Path) -> str:
    """A fingerprint of what a publish would release (course.yaml and the module notebooks)."""
    h = hashlib.sha256()
    files = [cdir / "course.yaml", *sorted((cdir / "source" / ASSIGNMENT).glob("*.ipynb"))]
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def publish_course(datadir: DataDir, course_id: str | Path, *, source: Path | None = None,
                   if_changed: bool = False) -> PublishReport | None:
    """Generate and release ``courses/<course_id>`` (or the course folder ``source``).

    ``if_changed``: do nothing (return None) when this exact source is already released."""
    cdir = Path(source) if source else _course_dir(course_id)
    spec = load_course(cdir)
    datadir.ensure()
    upgrade(datadir.records_db_url)
    root = datadir.course_root(spec.id)
    digest = source_digest(cdir)
    stamp = root / ".published.sha256"
    outbound = datadir.exchange / spec.id / "outbound" / ASSIGNMENT
    if if_changed and stamp.exists() and stamp.read_text().strip() == digest and outbound.is_dir():
        return None
    (root / "source").mkdir(parents=True, exist_ok=True)
    target = root / "source" / ASSIGNMENT
    # replace the source wholesale so a deleted lesson does not linger; nothing learners own lives here
    tmp = root / "source" / f".{ASSIGNMENT}.new"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(cdir / "source" / ASSIGNMENT, tmp,
                    ignore=shutil.ignore_patterns("*.answers.json", ".ipynb_checkpoints", "__pycache__"))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    shutil.copy2(cdir / "course.yaml", root / "course.yaml")

    config = course_config(datadir, spec.id)
    api = nbgrader_api(root, spec.id, datadir.gradebook_url(spec.id), datadir.exchange, config)
    res = api.generate_assignment(ASSIGNMENT, force=True, create=True)
    if not res.get("success"):
        raise PublishError(f"{spec.id}: nbgrader generate_assignment failed:\n{res.get('error') or res.get('log')}")
    res = api.release_assignment(ASSIGNMENT)
    if not res.get("success"):
        raise PublishError(f"{spec.id}: nbgrader release_assignment failed:\n{res.get('error') or res.get('log')}")
    # learners are separate unix users: they must be able to read (never write) the release
    for p in [datadir.exchange / spec.id, datadir.exchange / spec.id / "outbound", *outbound.rglob("*"), outbound]:
        try:
            p.chmod(0o755 if p.is_dir() else 0o644)
        except OSError:
            pass
    upsert_course(datadir.records_db_url, spec)
    nbconfig.ensure_course(datadir, spec.id)
    stamp.write_text(digest + "\n")
    log.info("published %s (%g points) to %s", spec.id, spec.points, outbound)
    return PublishReport(spec.id, spec.title, spec.points, outbound, [a.label for a in spec.audience])


def upsert_course(url: str, spec: CourseSpec) -> None:
    with session_scope(url) as s:
        row = s.get(Course, spec.id) or Course(id=spec.id)
        row.title = spec.title
        row.hours = spec.hours
        row.pass_mark = spec.pass_mark
        row.audiences = [a.value for a in spec.audience]
        row.meta = {
            "summary": spec.summary,
            "order": spec.order,
            "lessons": [lesson.model_dump() for lesson in spec.lessons],
            "assessment": spec.assessment.model_dump(),
            "trainers": spec.trainers,
            "laws": [law.model_dump() for law in spec.laws],
        }
        row.published_at = datetime.now(timezone.utc).replace(tzinfo=None)
        s.add(row)
        s.flush()
        a = s.query(Assessment).filter_by(course_id=spec.id, assignment=ASSIGNMENT).one_or_none()
        if a is None:
            a = Assessment(course_id=spec.id, assignment=ASSIGNMENT)
            s.add(a)
        a.title = spec.assessment.title
        a.max_score = spec.points
        a.manual = spec.assessment.manual


def publish_all(datadir: DataDir, root: Path | None = None, *, if_changed: bool = False) -> list[PublishReport]:
    """Publish every course under ``root`` (default: the shipped ``courses/``)."""
    reports = [publish_course(datadir, d.name, source=d, if_changed=if_changed) for d in course_dirs(root)]
    return [r for r in reports if r is not None]


def load_campaign(datadir: DataDir | str, path: str | Path) -> CampaignSpec:
    """Upsert the campaign of ``path`` and its course plan (replacing the previous plan).

    Every course the plan names must be published first (it needs the Course row)."""
    spec = load_campaign_file(path)
    url = datadir.records_db_url if isinstance(datadir, DataDir) else str(datadir)
    upgrade(url)
    with session_scope(url) as s:
        missing = [cid for cid in spec.course_ids() if s.get(Course, cid) is None]
        if missing:
            raise PublishError(f"{path}: 以下课程尚未发布：{', '.join(missing)}（先运行 xuefa course publish）")
        row = s.get(Campaign, spec.id) or Campaign(id=spec.id)
        row.name, row.start, row.end, row.pass_mark = spec.name, spec.start, spec.end, spec.pass_mark
        s.add(row)
        s.flush()
        s.query(CampaignCourse).filter_by(campaign_id=spec.id).delete()
        for aud, plan in spec.plans.items():
            for cid in plan.required:
                s.add(CampaignCourse(campaign_id=spec.id, course_id=cid, audience=aud, required=True))
            for cid in plan.elective:
                s.add(CampaignCourse(campaign_id=spec.id, course_id=cid, audience=aud, required=False))
        # campaign-specific 学时: Course.hours is what completion credits, so keep them in step
        for cid, hours in spec.hours.items():
            c = s.get(Course, cid)
            if c is not None:
                c.hours = hours
    return spec


# --- steps of ``xuefa up --demo`` (hub_config.demo runs them when importable) -----------------

DEMO_CAMPAIGN = courses_dir() / "campaigns" / "xuexiyue_2026.yaml"


def publish_demo_courses(datadir: DataDir) -> str:
    """Publish the shipped courses (only those changed since the last start)."""
    done = publish_all(datadir, if_changed=True)
    total = len(course_dirs())
    return f"演示课程 demo courses: 已发布 published {len(done)}, 未变化 unchanged {total - len(done)}"


def load_demo_campaign(datadir: DataDir) -> str:
    spec = load_campaign(datadir, DEMO_CAMPAIGN)
    return f"学习活动 campaign: {spec.name}（{spec.start} 至 {spec.end}）"

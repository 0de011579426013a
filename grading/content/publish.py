"""``xuefa course publish`` and ``xuefa campaign load``.

Publishing a course: copy ``courses/<id>/source`` into the course root, let nbgrader generate
the learner version and release it to the exchange, and upsert the Course/Assessment rows the
records DB needs (我的学习, completion reports). Re-publishing is safe for learners who already
started: nbgrader's release replaces only ``exchange/<course>/outbound/``; learners' fetched
copies and their ``*.answers.json`` live in their homes and are never touched, and submissions
in ``inbound/`` stay where they are.

A course with a question bank has no hand-written assessment: publish writes the notebook its
blueprint generates (:func:`grading.content.bank.slot_notebook`, no question in it) into the
source before nbgrader runs, and keeps ``bank.yaml`` in the course root, readable by root only;
papers are drawn from that copy per learner and attempt, never from the exchange.

Trainers may write questions as Markdown cells and leave out the ``xf.setup`` cell: the course
root's copy of each notebook is compiled (:func:`grading.content.authoring.compile_notebook`)
before nbgrader runs; the trainer's folder is never written.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from grading.content.authoring import AuthoringError, compile_notebook
from grading.content.bank import BANK_FILE, load_bank, slot_notebook
from grading.content.courses import ASSIGNMENT, CampaignSpec, CourseSpec, course_dirs, courses_dir, load_campaign_file, load_course
from grading.exchange import nbconfig
from grading.exchange.nbconfig import course_config, nbgrader_api
from grading.host.datadir import DataDir
from grading.records import audit, law_review, notices
from grading.records.db import session_scope
from grading.records.exams import store_campaign_rules, store_rules
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
    """A fingerprint of what a publish would release (course.yaml, bank.yaml, module notebooks)."""
    h = hashlib.sha256()
    bank = [cdir / BANK_FILE] if (cdir / BANK_FILE).exists() else []
    files = [cdir / "course.yaml", *bank, *sorted((cdir / "source" / ASSIGNMENT).glob("*.ipynb"))]
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def publish_course(datadir: DataDir, course_id: str | Path, *, source: Path | None = None,
                   if_changed: bool = False, actor: str | None = None,
                   client: str | None = None) -> PublishReport | None:
    """Generate and release ``courses/<course_id>`` (or the course folder ``source``).

    ``if_changed``: do nothing (return None) when this exact source is already released.
    With an ``actor`` (``xuefa course publish``) the release is in the audit log."""
    cdir = Path(source) if source else _course_dir(course_id)
    spec = load_course(cdir)
    has_bank = (cdir / BANK_FILE).exists()
    if has_bank != (spec.blueprint is not None):
        raise PublishError(f"{spec.id}: 题库 {BANK_FILE} 与组卷规则 blueprint 须同时具备（先运行 xuefa course validate {spec.id}）")
    bank = load_bank(cdir / BANK_FILE) if has_bank else None
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
    if bank is not None:
        nbformat.write(slot_notebook(spec), tmp / spec.assessment.file)
    _compile_notebooks(tmp, spec)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    shutil.copy2(cdir / "course.yaml", root / "course.yaml")
    _place_bank(cdir / BANK_FILE if bank is not None else None, root / BANK_FILE)

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
    if actor:
        audit.record(datadir.records_db_url, actor=actor, action="course_publish", client=client,
                     detail={"course": spec.id, "title": spec.title})
    log.info("published %s (%g points) to %s", spec.id, spec.points, outbound)
    return PublishReport(spec.id, spec.title, spec.points, outbound, [a.label for a in spec.audience])


def _compile_notebooks(module: Path, spec: CourseSpec) -> None:
    """Markdown question cells become ``xf.<Class>(...)`` cells and a notebook without
    ``xf.setup`` gets one, in the course root's copy only (the trainer's source stays as written)."""
    problems: list[str] = []
    for path in sorted(module.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        mode = "assessment" if path.name == spec.assessment.file else "practice"
        try:
            compiled = compile_notebook(nb, course_id=spec.id, notebook=path.name, mode=mode)
        except AuthoringError as e:
            problems += [f"{where}：{msg}" for where, msg in e.problems]
            continue
        if compiled != nb:
            nbformat.write(compiled, path)
    if problems:
        raise PublishError(f"{spec.id}: 题目格式有误（先运行 xuefa course validate {spec.id}）：\n" + "\n".join(problems))


def _place_bank(src: Path | None, dest: Path) -> None:
    """The bank holds every key: written 0600 from the first byte, replaced atomically; a course
    that no longer has a bank leaves none behind."""
    if src is None:
        dest.unlink(missing_ok=True)
        return
    tmp = dest.with_name(f".{dest.name}.new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(src.read_bytes())
    os.chmod(tmp, 0o600)
    tmp.replace(dest)


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
            "programme": spec.programme,
            "department": spec.department,  # 谁执法、谁讲法: shown on the course's card
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
        a.policy = spec.exam.policy
    # only what course.yaml sets: the campaign's exam: block stays the default for the rest
    store_rules(url, spec.id, spec.exam.model_dump(mode="json", exclude_unset=True))


def publish_all(datadir: DataDir, root: Path | None = None, *, if_changed: bool = False) -> list[PublishReport]:
    """Publish every course under ``root`` (default: the shipped ``courses/``)."""
    reports = [publish_course(datadir, d.name, source=d, if_changed=if_changed) for d in course_dirs(root)]
    return [r for r in reports if r is not None]


def load_campaign(datadir: DataDir | str, path: str | Path, *, actor: str | None = None,
                  client: str | None = None, strict_reviewers: bool = False) -> CampaignSpec:
    """Upsert the campaign of ``path`` and its course plan (replacing the previous plan).

    Every course the plan names must be published first (it needs the Course row). With an
    ``actor`` the load is in the audit log."""
    spec = load_campaign_file(path)
    return store_campaign(datadir, spec, actor=actor, client=client, source=Path(path).name,
                          strict_reviewers=strict_reviewers)


def store_campaign(datadir: DataDir | str, spec: CampaignSpec, *, actor: str | None = None,
                   client: str | None = None, source: str = "",
                   strict_reviewers: bool = False, keep_review: bool = False) -> CampaignSpec:
    """What :func:`load_campaign` does with a validated plan: the file (``xuefa campaign
    load``) and the 学习活动 page both come here. Its 导学 note is replaced too (none: removed).
    Raises :class:`PublishError` (zh-CN) when a planned course is unpublished or not for that
    audience. ``keep_review`` leaves the stored 述法评议 panel alone when ``spec`` has none (a
    form that does not edit it)."""
    url = datadir.records_db_url if isinstance(datadir, DataDir) else str(datadir)
    upgrade(url)
    with session_scope(url) as s:
        missing = [cid for cid in spec.course_ids() if s.get(Course, cid) is None]
        if missing:
            raise PublishError(f"{source or spec.id}: 以下课程尚未发布：{', '.join(missing)}（先运行 xuefa course publish）")
        for aud, plan in spec.plans.items():
            wrong = [cid for cid in plan.required + plan.elective
                     if (s.get(Course, cid).audiences or []) and aud.value not in s.get(Course, cid).audiences]
            if wrong:
                raise PublishError(f"{source or spec.id}: 课程 {', '.join(wrong)} 不面向{aud.label}")
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
        s.flush()
        guidance = spec.guidance.model_dump() if spec.guidance else None
        guidance_changed = notices.store_guidance(s, spec.id, guidance, actor=actor)
        # 述法评议 panel: an administrator's load refuses unknown reviewers; a plan loaded into a
        # platform with another roster (tests, xuefa load, the demo) keeps only the known ones
        try:
            if spec.review is not None or not keep_review:  # the 学习活动 page has no review form
                law_review.store_panel(s, spec.id, spec.review.model_dump(mode="json") if spec.review else None,
                                       strict=strict_reviewers)
        except ValueError as e:
            raise PublishError(f"{source or spec.id}: {e}") from None
        if actor:
            audit.add(s, actor=actor, action="campaign_load", client=client, detail={
                "campaign": spec.id, "name": spec.name, "start": spec.start.isoformat(),
                "end": spec.end.isoformat(), "pass_mark": spec.pass_mark,
                "courses": sum(len(p.required) + len(p.elective) for p in spec.plans.values()),
                "guidance": guidance_changed, **({"source": source} if source else {})})
    store_campaign_rules(url, spec.id, spec.exam.model_dump(mode="json", exclude_unset=True) if spec.exam else None)
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

"""A synthetic county-level city for benchmarks and demos: units, people, a learning month with
eight courses, results with per-question items, and learning events.

Rows go in with ``executemany`` in one transaction per table so a 20,000-person city with two
million learning events is built in minutes on a shared laptop. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete

from grading.records.db import get_engine, session_scope
from grading.records.models import Campaign, CampaignCourse, Course

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力斌宇浩凯鹏晨欣佳怡婷雪琳"
TOWNS = ["城东镇", "城西镇", "南莫镇", "曲塘镇", "李堡镇", "角斜镇", "白甸镇", "大公镇", "雅周镇", "墩头镇", "孙庄街道", "滨海街道"]
DEPARTMENTS = ["公安局", "司法局", "市场监管局", "自然资源局", "生态环境局", "住建局", "交通运输局", "农业农村局", "卫健委", "应急管理局", "人社局", "教育局", "税务局", "城管局"]
VILLAGE_SUFFIX = ["村", "社区"]
DEPT_SECTIONS = ["办公室", "法规科", "执法大队"]

COURSES = [
    ("xf_constitution", "宪法学习", 2.0, "《中华人民共和国宪法》"),
    ("xf_civil_code", "民法典精讲", 2.0, "《中华人民共和国民法典》"),
    ("xf_admin_litigation", "行政诉讼法", 1.5, "《中华人民共和国行政诉讼法》"),
    ("xf_admin_penalty", "行政处罚法", 1.5, "《中华人民共和国行政处罚法》"),
    ("xf_admin_license", "行政许可法", 1.0, "《中华人民共和国行政许可法》"),
    ("xf_criminal_procedure", "刑事诉讼法", 1.5, "《中华人民共和国刑事诉讼法》"),
    ("xf_public_security", "治安管理处罚法", 1.0, "《中华人民共和国治安管理处罚法》"),
    ("xf_village_law", "村民委员会组织法", 1.0, "《中华人民共和国村民委员会组织法》"),
]
# course index lists: required / elective per audience
PLAN = {
    "cadre": ([0, 1, 2, 3], [4]),
    "young_cadre": ([0, 1, 2, 4], [3]),
    "legal_staff": ([0, 1, 5, 6], [2]),
    "volunteer": ([0, 1, 7], [6]),
}
AUDIENCE_WEIGHTS = [("cadre", 0.45), ("young_cadre", 0.15), ("legal_staff", 0.15), ("volunteer", 0.25)]
NUMERALS = "一二三四五六七八九十"
QUESTIONS_PER_COURSE = 10
EVENT_KINDS = ["lesson_opened", "section_read", "section_read", "practice_answered", "practice_answered"]


@dataclass(frozen=True)
class SynthSummary:
    campaign_id: str
    units: int
    learners: int
    results: int
    items: int
    events: int


def _article(i: int) -> str:
    n = i + 1
    if n <= 10:
        return f"第{NUMERALS[n - 1]}条"
    tens, ones = divmod(n, 10)
    return f"第{'' if tens == 1 else NUMERALS[tens - 1]}十{NUMERALS[ones - 1] if ones else ''}条"


def _ts(dialect: str):
    if dialect == "sqlite":
        return lambda dt: dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    return lambda dt: dt


def generate(
    url: str,
    learners: int = 20000,
    *,
    seed: int = 2026,
    campaign_id: str = "bench-2026-11",
    start: date = date(2026, 11, 1),
    end: date = date(2026, 11, 30),
    events_per_participant: tuple[int, int] = (80, 160),
) -> SynthSummary:
    """Fill a migrated, empty records DB at ``url`` with a synthetic city and learning month."""
    rng = random.Random(seed)
    engine = get_engine(url)
    dialect = engine.dialect.name
    ts = _ts(dialect)
    ph = "?" if dialect == "sqlite" else "%s"

    def insert(conn, table: str, cols: list[str], rows: list[tuple]) -> None:
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([ph] * len(cols))})"
        for i in range(0, len(rows), 50000):
            conn.exec_driver_sql(sql, rows[i : i + 50000])

    # --- courses and the campaign plan (small: through the ORM) ------------------------------
    with session_scope(url) as s:
        for cid, title, hours, statute in COURSES:
            if s.get(Course, cid) is None:
                s.add(Course(id=cid, title=title, hours=hours, pass_mark=60, audiences=[], meta={"statute": statute}))
        s.execute(delete(CampaignCourse).where(CampaignCourse.campaign_id == campaign_id))
        s.execute(delete(Campaign).where(Campaign.id == campaign_id))
        s.flush()
        camp = Campaign(id=campaign_id, name="2026年11月干部学法月（模拟）", start=start, end=end, pass_mark=60)
        for aud, (req, ele) in PLAN.items():
            for i in req:
                camp.courses.append(CampaignCourse(course_id=COURSES[i][0], audience=aud, required=True))
            for i in ele:
                camp.courses.append(CampaignCourse(course_id=COURSES[i][0], audience=aud, required=False))
        s.add(camp)

    # --- units: city / townships + departments / villages + sections --------------------------
    unit_rows: list[tuple] = [(1, "示范市", "示范市", 0, None)]
    leaves: list[tuple[int, bool]] = []  # (unit id, is village)
    next_id = 2
    scale = max(1, learners // 2000)
    for town in TOWNS:
        tid = next_id
        next_id += 1
        unit_rows.append((tid, f"示范市/{town}", town, 1, 1))
        leaves.append((tid, False))  # township office staff
        for v in range(4 + 2 * scale):
            name = f"{town[:2]}{v + 1}{VILLAGE_SUFFIX[v % 2]}"
            unit_rows.append((next_id, f"示范市/{town}/{name}", name, 2, tid))
            leaves.append((next_id, True))
            next_id += 1
    for dept in DEPARTMENTS:
        did = next_id
        next_id += 1
        unit_rows.append((did, f"示范市/{dept}", dept, 1, 1))
        for sec in DEPT_SECTIONS:
            unit_rows.append((next_id, f"示范市/{dept}/{sec}", sec, 2, did))
            leaves.append((next_id, False))
            next_id += 1
    villages = [u for u, v in leaves if v]
    offices = [u for u, v in leaves if not v]

    # --- people ---------------------------------------------------------------------------------
    now = ts(datetime.combine(start, time(8)) - timedelta(days=7))
    auds = [a for a, _ in AUDIENCE_WEIGHTS]
    weights = [w for _, w in AUDIENCE_WEIGHTS]
    people: list[tuple] = []
    for i in range(1, learners + 1):
        aud = rng.choices(auds, weights)[0]
        unit = rng.choice(villages if aud == "volunteer" else offices)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        phone = f"139{i:08d}"
        people.append((i, f"u{i:05d}", name, unit, aud, "learner", phone, True, now, now))

    # --- results, items and events --------------------------------------------------------------
    days = (end - start).days + 1
    diligence = {}  # per learner: how likely they finish things
    results: list[tuple] = []
    items: list[tuple] = []
    events: list[tuple] = []
    result_id = 0
    event_id = 0
    difficulty = {(c, q): rng.uniform(0.55, 0.95) for c in range(len(COURSES)) for q in range(QUESTIONS_PER_COURSE)}
    for pid, _u, _n, _unit, aud, *_ in people:
        d = rng.random()
        diligence[pid] = d
        if d < 0.08:  # never started
            continue
        req, ele = PLAN[aud]
        taken = [c for c in req if rng.random() < 0.35 + d] + [c for c in ele if rng.random() < d * 0.4]
        first_day = rng.triangular(0, days * 0.8, days * 0.1)
        for c in taken:
            cid = COURSES[c][0]
            attempts = 1 if rng.random() < 0.75 else 2
            day = first_day + rng.random() * (days - first_day) * (1.15 - d)
            for att in range(1, attempts + 1):
                result_id += 1
                when = datetime.combine(start, time(8)) + timedelta(days=day, minutes=rng.randrange(600))
                correct_flags = [rng.random() < difficulty[(c, q)] * (0.8 + 0.3 * d) for q in range(QUESTIONS_PER_COURSE)]
                score = float(sum(correct_flags) * 10)
                results.append(
                    (result_id, pid, cid, "module", att, score, 100.0, score >= 60, "ok", "[]", False, ts(when), ts(when))
                )
                for q, ok in enumerate(correct_flags):
                    items.append(
                        (result_id, cid, f"q{q + 1:02d}", COURSES[c][3] + _article(q * 3 + c), 10.0 if ok else 0.0, 10.0, ok)
                    )
                day += rng.uniform(0.2, 3)
        lo, hi = events_per_participant
        n_events = rng.randint(lo, hi)
        ccycle = [COURSES[c][0] for c in (taken or req)]
        for k in range(n_events):
            event_id += 1
            when = datetime.combine(start, time(7)) + timedelta(seconds=rng.randrange(days * 86400))
            kind = EVENT_KINDS[k % len(EVENT_KINDS)]
            correct = (rng.random() < 0.8) if kind == "practice_answered" else None
            events.append(
                (event_id, pid, f"s{event_id:x}", kind, ccycle[k % len(ccycle)], f"lesson{k % 3 + 1}", None if correct is None else f"p{k % 7}", correct, "{}", ts(when))
            )

    with engine.begin() as conn:
        insert(conn, "units", ["id", "path", "name", "level", "parent_id"], unit_rows)
        insert(conn, "learners", ["id", "username", "name", "unit_id", "audience", "role", "phone", "active", "created_at", "updated_at"], people)
        insert(
            conn,
            "results",
            ["id", "learner_id", "course_id", "assignment", "attempt", "score", "max_score", "passed", "outcome", "details", "late", "submitted_at", "graded_at"],
            results,
        )
        insert(conn, "item_results", ["result_id", "course_id", "question_id", "legal_basis", "points", "max_points", "correct"], items)
        insert(
            conn,
            "learning_events",
            ["id", "learner_id", "client_id", "kind", "course_id", "lesson", "item", "correct", "payload", "created_at"],
            events,
        )
    if dialect == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return SynthSummary(campaign_id, len(unit_rows), len(people), len(results), len(items), len(events))


def summarize(url: str, campaign_id: str = "bench-2026-11") -> SynthSummary:
    """Row counts of a city made by :func:`generate` (to re-time queries on a kept one)."""
    with get_engine(url).connect() as conn:
        n = {t: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar()
             for t in ("units", "learners", "results", "item_results", "learning_events")}
    return SynthSummary(campaign_id, n["units"], n["learners"], n["results"], n["item_results"], n["learning_events"])

"""Report queries behind the completion dashboards and the exports (THE module of them).

Every figure an administrator sees — on a dashboard, in the Excel workbook, in the CSV — comes
from a function here, so they agree. Counting happens in the DB (``GROUP BY`` per unit over the
rules in :mod:`grading.records.completion`); pandas only rolls the few hundred unit rows up the unit tree.

Columns are English identifiers; :data:`LABELS` gives the Chinese headers that dashboards and
exports show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import pandas as pd
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.engine import Connection

from grading.records import completion as rules
from grading.records.db import get_engine
from grading.records.models import AUDIENCE_LABELS, Audience

LABELS = {
    "unit_id": "单位编号",
    "unit": "单位",
    "unit_path": "所在单位",
    "top_unit": "乡镇/部门",
    "level": "层级",
    "has_children": "可下钻",
    "learners": "应学人数",
    "participating": "参学人数",
    "complete": "完成人数",
    "late": "逾期完成人数",
    "tested": "参考人数",
    "not_started": "未开始人数",
    "in_progress": "未完成人数",
    "failed": "未合格人数",
    "participation_rate": "参学率",
    "completion_rate": "完成率",
    "pass_rate": "合格率",
    "avg_score": "平均成绩",
    "hours": "累计学时",
    "username": "账号",
    "name": "姓名",
    "phone": "联系电话",
    "audience": "身份",
    "status": "状态",
    "n_passed": "已合格课程数",
    "n_required": "必修课程数",
    "missing": "未合格课程",
    "completed_at": "完成时间",
    "date": "日期",
    "completions": "当日完成人数",
    "course_passes": "当日课程合格人次",
    "cumulative": "累计完成人数",
    "cumulative_rate": "累计完成率",
    "course_id": "课程编号",
    "course": "课程",
    "question_id": "题号",
    "legal_basis": "法律依据",
    "questions": "题目数",
    "answers": "作答人次",
    "correct": "答对人次",
    "share_correct": "正确率",
}


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with Chinese headers (for display and export)."""
    return df.rename(columns={c: LABELS.get(c, c) for c in df.columns})


def _rate(num, den):
    return round(num / den, 4) if den else 0.0


# --- the unit tree -----------------------------------------------------------------------------


def units(conn: Connection) -> pd.DataFrame:
    return pd.read_sql(text("SELECT id, path, name, level, parent_id FROM units ORDER BY path"), conn)


def _top_of(tree: pd.DataFrame, parent_id: int | None) -> dict[int, int]:
    """unit id -> the child of ``parent_id`` it lies under (itself included).

    ``parent_id=None`` means "under the root(s)": the township/department level."""
    parent = dict(zip(tree["id"], tree["parent_id"]))
    roots = set(tree.loc[tree["parent_id"].isna(), "id"])
    out: dict[int, int] = {}
    for uid in tree["id"]:
        chain = [uid]
        while True:
            p = parent.get(chain[-1])
            if p is None or pd.isna(p):
                break
            chain.append(int(p))
        # chain: uid, parent, ..., root
        if parent_id is None:
            if len(chain) >= 2 and chain[-1] in roots:
                out[uid] = chain[-2]
            elif len(chain) == 1:
                out[uid] = uid  # a root itself: its own row ("本级")
        elif parent_id in chain:
            idx = chain.index(parent_id)
            out[uid] = chain[idx - 1] if idx > 0 else uid
    return out


class OutOfScope(PermissionError):
    """A unit administrator asked for a unit outside their 管理范围 (pages answer 403)."""


def _scoped_unit(tree: pd.DataFrame, unit_id: int | None, scope: int | None) -> int | None:
    """The unit a scoped query starts from (issue 16 unit administrators): ``scope`` is the
    viewer's scope unit (None: city-wide); an asked ``unit_id`` must lie in its subtree."""
    if scope is None:
        return unit_id
    if unit_id is None:
        return int(scope)
    if int(unit_id) not in set(_descendants(tree, int(scope))):
        raise OutOfScope(int(unit_id))
    return int(unit_id)


def _descendants(tree: pd.DataFrame, unit_id: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for uid, p in zip(tree["id"], tree["parent_id"]):
        if not pd.isna(p):
            children.setdefault(int(p), []).append(int(uid))
    out, stack = [], [unit_id]
    while stack:
        u = stack.pop()
        out.append(u)
        stack.extend(children.get(u, []))
    return out


# --- counts per unit (the one aggregate everything else rolls up) ----------------------------

_COUNT_COLS = [
    "learners",
    "participating",
    "complete",
    "late",
    "tested",
    "not_started",
    "in_progress",
    "failed",
    "pairs_tested",
    "sum_pct",
    "hours",
]

_UNIT_COUNTS = f"""
SELECT lr.unit_id,
       COUNT(*) AS learners,
       SUM(lr.participating) AS participating,
       SUM(CASE WHEN lr.completed_at IS NOT NULL THEN 1 ELSE 0 END) AS complete,
       SUM(CASE WHEN lr.completed_at >= :end_at THEN 1 ELSE 0 END) AS late,
       SUM(CASE WHEN lr.n_tested > 0 THEN 1 ELSE 0 END) AS tested,
       SUM(CASE WHEN ({rules.STATUS_SQL}) = '{rules.NOT_STARTED}' THEN 1 ELSE 0 END) AS not_started,
       SUM(CASE WHEN ({rules.STATUS_SQL}) = '{rules.IN_PROGRESS}' THEN 1 ELSE 0 END) AS in_progress,
       SUM(CASE WHEN ({rules.STATUS_SQL}) = '{rules.FAILED}' THEN 1 ELSE 0 END) AS failed,
       SUM(lr.n_tested) AS pairs_tested,
       SUM(COALESCE(lr.sum_pct, 0)) AS sum_pct,
       SUM(lr.hours) AS hours
FROM learner_rows lr
GROUP BY lr.unit_id
"""


def _unit_counts(conn: Connection, camp: rules.CampaignInfo) -> pd.DataFrame:
    df = pd.read_sql(rules.with_learner_rows(_UNIT_COUNTS), conn, params=rules.params(camp))
    for c in _COUNT_COLS:
        df[c] = pd.to_numeric(df[c]).fillna(0)
    return df


def _with_rates(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in _COUNT_COLS:
        if c not in ("sum_pct", "hours"):
            df[c] = df[c].astype(int)
    df["participation_rate"] = [_rate(a, b) for a, b in zip(df["participating"], df["learners"])]
    df["completion_rate"] = [_rate(a, b) for a, b in zip(df["complete"], df["learners"])]
    df["pass_rate"] = [_rate(a, b) for a, b in zip(df["complete"], df["tested"])]
    df["avg_score"] = [round(s / n, 1) if n else 0.0 for s, n in zip(df["sum_pct"], df["pairs_tested"])]
    df["hours"] = df["hours"].astype(float).round(1)
    return df.drop(columns=["pairs_tested", "sum_pct"])


# --- overview ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    campaign_id: str
    campaign: str
    start: date
    end: date
    learners: int
    participating: int
    complete: int
    late: int
    tested: int
    participation_rate: float  # 参学率 = 参学人数 / 应学人数
    completion_rate: float  # 完成率 = 完成人数 / 应学人数
    pass_rate: float  # 合格率 = 完成人数 / 参考人数 (took at least one required assessment)
    avg_score: float  # mean best-attempt percentage over the required assessments taken
    hours: float  # 累计学时 credited for passed courses
    days_left: int

    def to_frame(self) -> pd.DataFrame:
        """Two columns 指标/数值, in the order the summary sheet shows them."""
        names = {
            "campaign": "学习活动",
            "start": "开始日期",
            "end": "结束日期",
            "days_left": "剩余天数",
            "learners": "应学人数",
            "participating": "参学人数",
            "participation_rate": "参学率",
            "complete": "完成人数",
            "completion_rate": "完成率",
            "late": "逾期完成人数",
            "tested": "参考人数",
            "pass_rate": "合格率",
            "avg_score": "平均成绩",
            "hours": "累计学时",
        }
        values = asdict(self)
        return pd.DataFrame({"指标": list(names.values()), "数值": [values[k] for k in names]})


def overview(url: str, campaign_id: str, *, today: date | None = None, scope: int | None = None) -> Overview:
    with get_engine(url).connect() as conn:
        camp = rules.load_campaign(conn, campaign_id)
        counts = _unit_counts(conn, camp)
        if scope is not None:
            counts = counts[counts["unit_id"].isin(_descendants(units(conn), int(scope)))]
    tot = {c: float(counts[c].sum()) if len(counts) else 0.0 for c in _COUNT_COLS}
    return Overview(
        campaign_id=camp.id,
        campaign=camp.name,
        start=camp.start,
        end=camp.end,
        learners=int(tot["learners"]),
        participating=int(tot["participating"]),
        complete=int(tot["complete"]),
        late=int(tot["late"]),
        tested=int(tot["tested"]),
        participation_rate=_rate(tot["participating"], tot["learners"]),
        completion_rate=_rate(tot["complete"], tot["learners"]),
        pass_rate=_rate(tot["complete"], tot["tested"]),
        avg_score=round(tot["sum_pct"] / tot["pairs_tested"], 1) if tot["pairs_tested"] else 0.0,
        hours=round(tot["hours"], 1),
        days_left=camp.days_left(today),
    )


# --- by unit -----------------------------------------------------------------------------------


def by_unit(url: str, campaign_id: str, parent_id: int | None = None, *,
            scope: int | None = None) -> pd.DataFrame:
    """One row per child unit of ``parent_id`` (default: the townships/departments, or the
    children of the ``scope`` unit), counts of everyone under it, sorted by completion rate
    (lowest first, the units to chase).

    People attached to ``parent_id`` itself get a row of their own named "<parent>(本级)"."""
    with get_engine(url).connect() as conn:
        camp = rules.load_campaign(conn, campaign_id)
        counts = _unit_counts(conn, camp)
        tree = units(conn)
    parent_id = _scoped_unit(tree, parent_id, scope)
    top = _top_of(tree, parent_id)
    if parent_id is None:
        children = tree[tree["parent_id"].isin(tree.loc[tree["parent_id"].isna(), "id"])]
    else:
        children = tree[tree["parent_id"] == parent_id]
    counts = counts[counts["unit_id"].isin(top.keys())].copy()
    counts["row_id"] = counts["unit_id"].map(top)
    rolled = counts.groupby("row_id")[_COUNT_COLS].sum()
    rows = children[["id", "name", "path", "level"]].rename(columns={"id": "row_id", "name": "unit"})
    self_ids = [u for u in rolled.index if u not in set(children["id"])]
    for uid in self_ids:  # people attached to the parent (or a root) itself
        u = tree[tree["id"] == uid].iloc[0]
        rows = pd.concat(
            [rows, pd.DataFrame([{"row_id": uid, "unit": f"{u['name']}(本级)", "path": u["path"], "level": u["level"]}])],
            ignore_index=True,
        )
    df = rows.merge(rolled, left_on="row_id", right_index=True, how="left")
    df[_COUNT_COLS] = df[_COUNT_COLS].fillna(0)
    parents_with_children = set(tree["parent_id"].dropna().astype(int))
    df["has_children"] = [int(r) in parents_with_children and int(r) not in self_ids for r in df["row_id"]]
    df = _with_rates(df).rename(columns={"row_id": "unit_id", "path": "unit_path"})
    df = df[df["learners"] > 0].sort_values(["completion_rate", "unit_path"]).reset_index(drop=True)
    return df[
        [
            "unit_id", "unit", "unit_path", "level", "has_children", "learners", "participating",
            "participation_rate", "complete", "completion_rate", "late", "tested", "pass_rate",
            "avg_score", "hours", "not_started", "in_progress", "failed",
        ]
    ]


# --- people ------------------------------------------------------------------------------------

_PEOPLE = f"""
SELECT l.id AS learner_id, l.username, l.name, l.phone, l.audience, lr.unit_id,
       u.path AS unit_path, {rules.STATUS_SQL} AS status, lr.n_passed, lr.n_required,
       CASE WHEN lr.n_tested > 0 THEN lr.sum_pct / lr.n_tested END AS avg_score,
       lr.hours, lr.completed_at{{missing}}
FROM learner_rows lr
JOIN learners l ON l.id = lr.learner_id
JOIN units u ON u.id = lr.unit_id
{{where}}
ORDER BY u.path, l.name, l.username
"""


def _people_frame(conn, camp, tree, unit_id: int | None, statuses=None, missing=False) -> pd.DataFrame:
    where = ""
    extra = {}
    if statuses:
        where = "WHERE (" + rules.STATUS_SQL + ") IN (" + ",".join(f"'{s}'" for s in statuses) + ")"
    q = rules.with_learner_rows(
        _PEOPLE.format(where=where, missing=", lr.missing" if missing else ""),
        unit_ids=unit_id is not None,
        missing_for=conn.dialect.name if missing else None,
    )
    if unit_id is not None:
        extra["unit_ids"] = _descendants(tree, unit_id)
    df = pd.read_sql(q, conn, params=rules.params(camp, **extra))
    top = _top_of(tree, None)
    names = dict(zip(tree["id"], tree["name"]))
    df["top_unit"] = [names.get(top.get(u, u), "") for u in df["unit_id"]]
    df["audience"] = [AUDIENCE_LABELS[Audience(a)] for a in df["audience"]]
    df["status"] = [rules.STATUS_LABELS[s] for s in df["status"]]
    df["avg_score"] = pd.to_numeric(df["avg_score"]).round(1)
    df["hours"] = pd.to_numeric(df["hours"]).fillna(0).round(1)
    df["completed_at"] = [rules.as_datetime(v) for v in df["completed_at"]]
    return df


def people(url: str, campaign_id: str, unit_id: int | None = None, *,
           scope: int | None = None) -> pd.DataFrame:
    """Everyone in scope under ``unit_id`` (default: everyone) with their status (drill-down)."""
    with get_engine(url).connect() as conn:
        camp = rules.load_campaign(conn, campaign_id)
        tree = units(conn)
        df = _people_frame(conn, camp, tree, _scoped_unit(tree, unit_id, scope))
    return df[
        ["top_unit", "unit_path", "name", "username", "audience", "status", "n_passed",
         "n_required", "avg_score", "hours", "completed_at"]
    ]


def laggards(url: str, campaign_id: str, unit_id: int | None = None, *,
             scope: int | None = None) -> pd.DataFrame:
    """未开始 / 未完成 / 未合格 people per unit, with the required courses they still lack,
    sorted by township/department then unit and name: ready to send to unit contacts."""
    with get_engine(url).connect() as conn:
        camp = rules.load_campaign(conn, campaign_id)
        tree = units(conn)
        df = _people_frame(conn, camp, tree, _scoped_unit(tree, unit_id, scope),
                           statuses=rules.LAGGARD_STATUSES, missing=True)
    titles = camp.course_titles()
    df["missing"] = [
        "、".join(titles.get(c, c) for c in sorted(m.split("|"))) if isinstance(m, str) and m else ""
        for m in df["missing"]
    ]
    df = df.sort_values(["top_unit", "unit_path", "status", "name"], kind="stable").reset_index(drop=True)
    return df[
        ["top_unit", "unit_path", "name", "username", "phone", "audience", "status", "n_passed",
         "n_required", "missing"]
    ]


# --- daily trend -------------------------------------------------------------------------------


def daily_trend(url: str, campaign_id: str, *, scope: int | None = None) -> pd.DataFrame:
    """Completions and course passes per day over the campaign calendar (every day from start to
    end, plus any later day with late completions), with the cumulative completion rate."""
    with get_engine(url).connect() as conn:
        camp = rules.load_campaign(conn, campaign_id)
        extra = {"unit_ids": _descendants(units(conn), int(scope))} if scope is not None else {}
        q = rules.with_learner_rows(
            """
            SELECT 'learner' AS kind, date(completed_at) AS day, COUNT(*) AS n
            FROM learner_rows WHERE completed_at IS NOT NULL GROUP BY date(completed_at)
            UNION ALL
            SELECT 'course', date(passed_at), COUNT(*)
            FROM course_rows WHERE passed_at IS NOT NULL AND required = 1 GROUP BY date(passed_at)
            UNION ALL
            SELECT 'population', NULL, COUNT(*) FROM learner_rows
            """,
            unit_ids=scope is not None,
        )
        rows = conn.execute(q, rules.params(camp, **extra)).all()
    population = next((int(n) for k, _, n in rows if k == "population"), 0)
    done = {date.fromisoformat(str(d)[:10]): int(n) for k, d, n in rows if k == "learner"}
    passes = {date.fromisoformat(str(d)[:10]): int(n) for k, d, n in rows if k == "course"}
    days = camp.days()
    days += sorted(d for d in set(done) | set(passes) if d > camp.end)
    df = pd.DataFrame({"date": days})
    df["completions"] = [done.get(d, 0) for d in days]
    df["course_passes"] = [passes.get(d, 0) for d in days]
    df["cumulative"] = df["completions"].cumsum()
    df["cumulative_rate"] = [_rate(c, population) for c in df["cumulative"]]
    return df


# --- item analysis -----------------------------------------------------------------------------


@dataclass
class ItemAnalysis:
    """Share of answers correct per question, per statute article cited, and both by unit."""

    by_question: pd.DataFrame
    by_statute: pd.DataFrame
    question_by_unit: pd.DataFrame  # rows: question, columns: township/department
    statute_by_unit: pd.DataFrame


# Driven from a course's results (in result order), their learner (once per result), then the
# covering item index: four times faster on SQLite than walking a course's items and looking
# each one's result and learner up.
_ITEMS = """
SELECT l.unit_id, i.question_id, MAX(COALESCE(i.legal_basis, '')) AS legal_basis,
       COUNT(*) AS answers, SUM(CASE WHEN i.correct THEN 1 ELSE 0 END) AS correct
FROM results r
CROSS JOIN learners l
CROSS JOIN item_results i
WHERE r.course_id = :course_id AND r.submitted_at >= :start_at
  AND i.result_id = r.id AND l.id = r.learner_id
  AND l.active AND l.role = 'learner'
GROUP BY l.unit_id, i.question_id
"""


def item_analysis(url: str, campaign_id: str, course_id: str | None = None, *,
                  scope: int | None = None) -> ItemAnalysis:
    """Every answer since the campaign start counts (all attempts), hardest first.

    ``course_id=None``: every course of the campaign (one grouped query per course); ``scope``:
    only the answers of people in that unit's subtree."""
    with get_engine(url).connect() as conn:
        camp = rules.load_campaign(conn, campaign_id)
        tree = units(conn)
        course_ids = [course_id] if course_id else sorted({c.course_id for c in camp.courses})
        q = text(_ITEMS).bindparams(bindparam("start_at", type_=DateTime))
        frames = [
            pd.read_sql(q, conn, params={"start_at": camp.start_at, "course_id": c}).assign(course_id=c)
            for c in course_ids
        ]
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["unit_id", "course_id", "question_id", "legal_basis", "answers", "correct"]
    )
    if scope is not None:
        raw = raw[raw["unit_id"].isin(_descendants(tree, int(scope)))].reset_index(drop=True)
    titles = camp.course_titles()
    raw["answers"] = pd.to_numeric(raw["answers"]).astype(int)
    raw["correct"] = pd.to_numeric(raw["correct"]).astype(int)
    top = _top_of(tree, None)
    names = dict(zip(tree["id"], tree["name"]))
    raw["top_unit"] = [names.get(top.get(u, u), "") for u in raw["unit_id"]]
    raw["course"] = raw["course_id"].map(lambda c: titles.get(c, c))

    def share(df):
        df = df.copy()
        df["share_correct"] = [_rate(c, a) for c, a in zip(df["correct"], df["answers"])]
        return df

    qkeys = ["course_id", "course", "question_id", "legal_basis"]
    by_q = share(raw.groupby(qkeys, as_index=False)[["answers", "correct"]].sum())
    by_q = by_q.sort_values(["share_correct", "course_id", "question_id"]).reset_index(drop=True)
    raw["question"] = raw["course_id"] + "/" + raw["question_id"]
    by_s = raw[raw["legal_basis"] != ""].groupby("legal_basis", as_index=False).agg(
        questions=("question", "nunique"), answers=("answers", "sum"), correct=("correct", "sum")
    )
    by_s = share(by_s).sort_values(["share_correct", "legal_basis"]).reset_index(drop=True)

    def pivot(keys, index):
        g = share(raw.groupby(keys + ["top_unit"], as_index=False)[["answers", "correct"]].sum())
        if g.empty:
            return pd.DataFrame()
        return g.pivot_table(index=index, columns="top_unit", values="share_correct")

    q_unit = pivot(["question"], "question")
    s_unit = pivot(["legal_basis"], "legal_basis") if (raw["legal_basis"] != "").any() else pd.DataFrame()
    if not s_unit.empty:
        s_unit = s_unit.drop(index="", errors="ignore")
    return ItemAnalysis(by_q, by_s, q_unit, s_unit)


def campaigns(url: str) -> pd.DataFrame:
    """Campaigns, newest first (for the dashboards' selector)."""
    with get_engine(url).connect() as conn:
        rows = rules.campaign_rows(conn)
    return pd.DataFrame(rows, columns=["id", "name", "start", "end"])


# --- 述法评议 (issue 17): review completion per unit ---------------------------------------------

LABELS.update({
    "reports": "提交述法报告人数",
    "reviewed": "已开始评议人数",
    "review_complete": "评议完成人数",
    "review_rate": "评议完成率",
    "review_mean": "评议平均分",
    "n_panel": "评议人数",
    "n_submitted": "已评议人数",
    "review_status": "评议状态",
})


def law_review_people(url: str, campaign_id: str, *, scope: int | None = None) -> pd.DataFrame:
    """One row per leader under review in the campaign (grading.records.law_review decides
    who): unit, how many of the panel have scored, complete or not, the mean so far; with
    ``scope`` (a unit administrator's unit) only those under it."""
    from grading.records import law_review

    rows = law_review.leader_rows(url, campaign_id)
    cols = ["username", "name", "unit_id", "unit_path", "n_panel", "n_submitted", "complete",
            "final", "mean", "total_points"]
    df = pd.DataFrame(rows, columns=cols)
    df["review_status"] = [law_review.STATUS_DONE if f else law_review.STATUS_REVIEWING if n
                           else law_review.STATUS_WAITING for f, n in zip(df["final"], df["n_submitted"])]
    if scope is not None and not df.empty:
        with get_engine(url).connect() as conn:
            inside = _descendants(units(conn), int(scope))
        df = df[df["unit_id"].isin(inside)].reset_index(drop=True)
    return df.rename(columns={"mean": "review_mean"})


def law_review_by_unit(url: str, campaign_id: str, parent_id: int | None = None, *,
                       scope: int | None = None) -> pd.DataFrame:
    """述法评议 completion per child unit of ``parent_id`` (default: townships/departments, or
    the children of ``scope``): leaders who submitted a report, those with at least one review,
    those whose panel has all scored, that share, and the mean of the complete leaders' means.
    Empty when the campaign has no panel or ``parent_id`` lies outside ``scope``."""
    people = law_review_people(url, campaign_id, scope=scope)
    out_cols = ["unit_id", "unit", "unit_path", "reports", "reviewed", "review_complete",
                "review_rate", "review_mean"]
    if people.empty:
        return pd.DataFrame(columns=out_cols)
    with get_engine(url).connect() as conn:
        tree = units(conn)
    if scope is not None:
        if parent_id is None:
            parent_id = int(scope)
        elif int(parent_id) not in set(_descendants(tree, int(scope))):
            return pd.DataFrame(columns=out_cols)
    top = _top_of(tree, parent_id)
    people = people[people["unit_id"].isin(top.keys())].copy()
    people["row_id"] = people["unit_id"].map(top)
    names = tree.set_index("id")
    rows = []
    for row_id, g in people.groupby("row_id"):
        done = g[g["complete"]]
        rows.append({
            "unit_id": int(row_id),
            # people attached to the parent itself, as by_unit shows them
            "unit": names.loc[row_id, "name"] + ("(本级)" if row_id == parent_id else ""),
            "unit_path": names.loc[row_id, "path"], "reports": len(g),
            "reviewed": int((g["n_submitted"] > 0).sum()), "review_complete": len(done),
            "review_rate": _rate(len(done), len(g)),
            "review_mean": round(float(done["review_mean"].mean()), 1) if len(done) else None,
        })
    return pd.DataFrame(rows, columns=out_cols).sort_values(["review_rate", "unit_path"]).reset_index(drop=True)

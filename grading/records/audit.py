"""The audit log: who did what to whom, when and from where (issue 16).

Append-only from the application's point of view: this module offers :func:`add` / :func:`record`
(insert) and :func:`entries` / :func:`rows` (read) and nothing else; the migration makes the
database itself refuse UPDATE and DELETE on ``audit_log``. Callers record an act in the same
transaction as the act (:func:`add` with their session), so an act and its row commit together.

``detail`` is a small JSON object describing the act (old and new role, whether a server was
stopped, ...). Passwords and hashes never go in: :func:`add` drops any key that names one, so a
careless caller cannot leak a password into a file that administrators export.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from grading.records.db import session_scope
from grading.records.models import AuditEntry, utcnow
from grading.records.sheets import set_cell, write_csv_rows

# action code -> what an administrator reads on the audit page and in exports
ACTION_LABELS = {
    "reset_password": "重置密码",
    "unlock": "解锁账号",
    "deactivate": "停用账号",
    "reactivate": "恢复账号",
    "change_role": "变更角色",
    "change_password": "本人修改密码",
    # issue 16: unit administrators, certificates, reminders
    "change_scope": "变更管理范围",
    "issue_certificate": "颁发结业证书",
    "download_certificates": "下载单位结业证书",
    "send_reminder": "发送学习提醒",
    # administration content: roster, courses, campaigns, notices
    "roster_import": "导入花名册",
    "course_publish": "发布课程",
    "campaign_load": "编辑学习活动",
    "notice_post": "发布通知",
    "notice_withdraw": "撤回通知",
    "law_review": "述法评议评分",
    "grade_manual": "讲师评阅成绩",
    # issue 15: trainers' course workspace
    "course_create": "新建课程",
    "campaign_elective": "加入选修课",
}
# detail keys and values as an administrator reads them (the stored JSON keeps stable codes)
DETAIL_LABELS = {
    "from": "原角色", "to": "新角色", "changed": "状态有变化",
    "failed_attempts_before": "解锁前连续失败次数", "must_change": "须修改密码",
    # certificates, reminders
    "number": "证书编号", "unit": "单位", "count": "人数", "reached": "提醒人数", "emails": "邮件",
    "group_messages": "群消息", "skipped": "今日已提醒跳过", "failures": "发送失败",
    "scope_from": "原管理范围", "scope_to": "新管理范围",
    # administration content
    "file": "文件", "total": "名单人数", "created": "新增", "updated": "更新", "moved": "调动单位",
    "deactivated": "停用", "reactivated": "恢复", "deactivate_missing": "停用名单外人员",
    "course": "课程", "title": "标题", "notice": "通知编号", "audience": "对象",
    "expires_on": "截止日期", "campaign": "学习活动", "name": "名称", "start": "开始日期",
    "end": "结束日期", "pass_mark": "合格线", "courses": "课程安排数", "guidance": "导学",
    "source": "来源", "review_total": "评议总分", "attempt": "第几次提交", "score_from": "原得分",
    "score_to": "新得分", "max_score": "满分",
}
_VALUE_LABELS = {"learner": "学员", "trainer": "讲师", "admin": "管理员", True: "是", False: "否",
                 # roster options, notice audiences
                 "units": "名单中各单位", "all": "全部",
                 "cadre": "干部", "young_cadre": "年轻干部", "legal_staff": "政法干警",
                 "volunteer": "法律明白人"}
_SECRET_WORDS = ("password", "passwd", "hash", "secret", "token", "密码")
HEADER = ["时间（UTC）", "操作人", "操作", "对象账号", "详情", "来源地址"]


@dataclass(frozen=True)
class Entry:
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict
    client: str | None

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)

    @property
    def detail_text(self) -> str:
        def show(v):
            return _VALUE_LABELS.get(v, v) if isinstance(v, (str, bool)) else v

        return "；".join(f"{DETAIL_LABELS.get(k, k)}：{show(v)}" for k, v in sorted(self.detail.items()))


def _clean(detail: dict | None) -> dict:
    out = {}
    for key, value in (detail or {}).items():
        if any(w in str(key).lower() for w in _SECRET_WORDS):
            continue
        out[str(key)[:40]] = value if isinstance(value, (bool, int, float)) or value is None else str(value)[:200]
    return out


def add(session: Session, *, actor: str, action: str, target: str | None = None,
        detail: dict | None = None, client: str | None = None) -> None:
    """Insert one row in ``session`` (committed with the caller's act)."""
    session.add(AuditEntry(at=utcnow(), actor=(actor or "?")[:64], action=action[:32],
                           target=target[:64] if target else None, detail=_clean(detail),
                           client=(client or "")[:64] or None))


def record(url: str, **kw) -> None:
    """:func:`add` in a transaction of its own."""
    with session_scope(url) as s:
        add(s, **kw)


def entries(url: str, *, person: str = "", action: str = "", limit: int | None = 500,
            offset: int = 0) -> list[Entry]:
    """Newest first; ``person`` matches the actor or the target account exactly."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc())
    if person:
        q = q.where(or_(AuditEntry.actor == person, AuditEntry.target == person))
    if action:
        q = q.where(AuditEntry.action == action)
    if offset:
        q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit)
    with session_scope(url) as s:
        return [Entry(e.at, e.actor, e.action, e.target, dict(e.detail or {}), e.client)
                for e in s.scalars(q)]


def rows(items: list[Entry]) -> list[list]:
    """Header plus one row per entry, as the exports write them."""
    return [HEADER] + [[e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action_label,
                        e.target or "", e.detail_text, e.client or ""] for e in items]


def csv_bytes(items: list[Entry]) -> bytes:
    """UTF-8 with BOM, so Excel and WPS on Windows open the Chinese text correctly."""
    buf = io.StringIO()
    write_csv_rows(buf, rows(items))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def xlsx_bytes(items: list[Entry]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "审计日志"
    for r, row in enumerate(rows(items), start=1):
        for c, value in enumerate(row, start=1):
            set_cell(ws, r, c, value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

"""Reminders to laggards through pluggable notifiers (issue 16): SMTP email and a group-robot
webhook (WeCom/DingTalk style).

:func:`send_reminders` is the one implementation behind the 发送提醒 page and ``xuefa remind``:
it takes the 未完成名单 (:func:`grading.reports.queries.laggards`, within the administrator's
scope), skips whoever already got a reminder today (:mod:`grading.records.reminders`), sends
each person with an email address a personal email and each township/department's group one
message listing its laggards, then records who was reached and one audit row. Messages are
Chinese and name the campaign's deadline and the required courses still missing.

Settings: ``XUEFA_SMTP_HOST`` (no host: no email), ``XUEFA_SMTP_PORT`` (25),
``XUEFA_SMTP_USER`` / ``XUEFA_SMTP_PASSWORD`` (login when set), ``XUEFA_SMTP_FROM``,
``XUEFA_SMTP_SECURITY`` (``none``, ``starttls`` or ``ssl``), ``XUEFA_REMINDER_WEBHOOK`` (the
robot's URL; none: no group messages); each may also be given in ``DATA/notify.toml``
(``[smtp]`` host/port/user/password/from/security, ``[webhook]`` url; root-only, it may hold a
password), the environment winning. Read at each send, so changing the file needs no restart.

A notifier is anything with ``channel`` ("email" or "webhook") and ``send_person(person,
subject, text)`` or ``send_group(unit, text)``; tests and other channels (SMS) plug in there.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tomllib
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

from grading.records import completion, reminders
from grading.records.db import get_engine
from grading.reports import queries

SETTINGS_FILE = "notify.toml"
ENV = {
    "host": "XUEFA_SMTP_HOST", "port": "XUEFA_SMTP_PORT", "user": "XUEFA_SMTP_USER",
    "password": "XUEFA_SMTP_PASSWORD", "from": "XUEFA_SMTP_FROM", "security": "XUEFA_SMTP_SECURITY",
}
WEBHOOK_ENV = "XUEFA_REMINDER_WEBHOOK"
# WeCom's robot takes at most 2048 bytes of text per message: long lists go in several parts
MAX_GROUP_CHARS = 600
TIMEOUT = 15


@dataclass(frozen=True)
class Settings:
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_security: str = "none"
    webhook: str = ""


def load_settings(data_root: str | Path | None = None, env: dict | None = None) -> Settings:
    env = os.environ if env is None else env
    smtp, hook = {}, {}
    path = Path(data_root) / SETTINGS_FILE if data_root else None
    if path is not None and path.is_file():
        with path.open("rb") as f:
            doc = tomllib.load(f)
        smtp, hook = dict(doc.get("smtp") or {}), dict(doc.get("webhook") or {})
    get = {k: env.get(v) or str(smtp.get(k, "") or "") for k, v in ENV.items()}
    security = (get["security"] or "none").lower()
    if security not in ("none", "starttls", "ssl"):
        raise ValueError(f"XUEFA_SMTP_SECURITY must be none, starttls or ssl, not {security!r}")
    return Settings(smtp_host=get["host"], smtp_port=int(get["port"] or (465 if security == "ssl" else 25)),
                    smtp_user=get["user"], smtp_password=get["password"],
                    smtp_from=get["from"] or (f"xuefa@{get['host']}" if get["host"] else ""),
                    smtp_security=security,
                    webhook=env.get(WEBHOOK_ENV) or str(hook.get("url", "") or ""))


class EmailNotifier:
    channel = "email"

    def __init__(self, settings: Settings):
        self.s = settings
        self._smtp = None

    def __enter__(self):
        s = self.s
        if s.smtp_security == "ssl":
            self._smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=TIMEOUT,
                                          context=ssl.create_default_context())
        else:
            self._smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=TIMEOUT)
            if s.smtp_security == "starttls":
                self._smtp.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            self._smtp.login(s.smtp_user, s.smtp_password)
        return self

    def __exit__(self, *exc):
        try:
            self._smtp.quit()
        except Exception:  # noqa: BLE001 - the messages are already accepted or failed
            pass

    def send_person(self, person: dict, subject: str, text: str) -> None:
        msg = EmailMessage()
        msg["From"] = formataddr(("学法平台", self.s.smtp_from))
        msg["To"] = formataddr((person["name"], person["email"]))
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="xuefa")
        msg.set_content(text, charset="utf-8")
        self._smtp.send_message(msg)


class WebhookNotifier:
    """A group robot: POST ``{"msgtype": "text", "text": {"content": ...}}`` (WeCom and DingTalk
    both take this shape); refused when the answer is not 2xx or carries ``errcode`` != 0."""

    channel = "webhook"

    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def send_group(self, unit: str, text: str) -> None:
        import requests

        r = requests.post(self.url, timeout=TIMEOUT, json={"msgtype": "text", "text": {"content": text}})
        r.raise_for_status()
        try:
            code = (r.json() or {}).get("errcode", 0)
        except ValueError:
            code = 0
        if code not in (0, None):
            raise RuntimeError(f"webhook errcode {code}")


def notifiers_from(settings: Settings) -> list:
    out = []
    if settings.smtp_host:
        out.append(EmailNotifier(settings))
    if settings.webhook:
        out.append(WebhookNotifier(settings.webhook))
    return out


@dataclass
class ReminderReport:
    campaign: str = ""
    deadline: date | None = None
    laggards: int = 0
    emailed: list[str] = field(default_factory=list)
    group_messages: dict[str, list[str]] = field(default_factory=dict)  # unit -> usernames
    skipped_today: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # no email and no group robot
    failures: list[str] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        """A zh-CN summary for the page and the CLI."""
        verb = "将" if self.dry_run else "已"
        out = [f"“{self.campaign}”未完成 {self.laggards} 人。" + ("（预览，未发送）" if self.dry_run else "")]
        out.append(f"{verb}发送个人邮件 {len(self.emailed)} 封。")
        out.append(f"{verb}发送单位群消息 {len(self.group_messages)} 个单位，列出 "
                   f"{sum(len(v) for v in self.group_messages.values())} 人。")
        if self.skipped_today:
            out.append(f"今天已提醒过、本次跳过 {len(self.skipped_today)} 人：" + "、".join(self.skipped_today[:50]))
        if self.unreachable:
            out.append(f"没有邮箱且未配置群机器人、无法提醒 {len(self.unreachable)} 人。")
        out += [f"发送失败：{f}" for f in self.failures]
        return out


def deadline_text(end: date, today: date) -> str:
    left = (end - today).days
    tail = f"（还剩 {left} 天）" if left > 0 else ("（今天截止）" if left == 0 else "（已过截止日期）")
    return f"{end:%Y年%m月%d日}" + tail


def email_text(person: dict, campaign: str, end: date, today: date, link: str) -> tuple[str, str]:
    subject = f"【学法提醒】“{campaign}”将于{end:%m月%d日}截止，请尽快完成必修课程"
    lines = [f"{person['name']}同志：", "",
             f"您好！“{campaign}”的截止日期是 {deadline_text(end, today)}。",
             f"您目前的学习状态：{person['status']}（已合格 {person['n_passed']}/{person['n_required']} 门必修课程）。"]
    if person.get("missing"):
        lines.append(f"尚未合格的必修课程：{person['missing']}。")
    lines += ["请尽快登录学法平台完成学习和考核" + (f"：{link}" if link else "。"), "",
              "（本邮件由学法平台自动发送，请勿直接回复。）"]
    return subject, "\n".join(lines)


def group_texts(unit: str, people: list[dict], campaign: str, end: date, today: date) -> list[str]:
    head = f"【学法提醒】“{campaign}”截止日期：{deadline_text(end, today)}。{unit}以下人员尚未完成必修课程，请抓紧学习："
    parts, current = [], []
    for i, p in enumerate(people, start=1):
        line = f"{i}. {p['name']}（{p['unit_path']}）{p['status']}" + (f"，缺：{p['missing']}" if p.get("missing") else "")
        if current and len("\n".join([head, *current, line])) > MAX_GROUP_CHARS:
            parts.append(current)
            current = []
        current.append(line)
    if current:
        parts.append(current)
    n = len(parts)
    return [head + (f"（{k}/{n}）" if n > 1 else "") + "\n" + "\n".join(lines)
            for k, lines in enumerate(parts, start=1)]


def send_reminders(url: str, campaign_id: str, *, actor: str, unit_id: int | None = None,
                   scope: int | None = None, dry_run: bool = False, client: str | None = None,
                   settings: Settings | None = None, notifiers: list | None = None,
                   today: date | None = None, link: str = "") -> ReminderReport:
    """Remind the laggards of ``campaign_id`` under ``unit_id`` (within ``scope``, a unit
    administrator's scope unit; raises :class:`grading.reports.queries.OutOfScope` outside it).
    ``dry_run`` sends and records nothing. ``link``: the platform's address for the emails."""
    today = today or date.today()
    if notifiers is None:
        notifiers = notifiers_from(settings or Settings())
    with get_engine(url).connect() as conn:
        camp = completion.load_campaign(conn, campaign_id)
    lag = queries.laggards(url, campaign_id, unit_id, scope=scope)
    report = ReminderReport(campaign=camp.name, deadline=camp.end, laggards=len(lag), dry_run=dry_run)
    people = lag.to_dict("records")
    contact = reminders.contacts(url, [p["username"] for p in people])
    done_today = reminders.reminded_on(url, [i for i, _ in contact.values()], today)
    email = next((n for n in notifiers if n.channel == "email"), None)
    group = next((n for n in notifiers if n.channel == "webhook"), None)
    todo = []
    for p in people:
        lid, addr = contact.get(p["username"], (None, None))
        if lid is None:
            continue
        p = {**p, "learner_id": lid, "email": addr}
        if lid in done_today:
            report.skipped_today.append(p["username"])
        elif (email is None or not addr) and group is None:
            report.unreachable.append(p["username"])
        else:
            todo.append(p)
    reached: dict[int, set[str]] = {}
    if email is not None:
        with_mail = [p for p in todo if p["email"]]
        if with_mail and not dry_run:
            try:
                with email:
                    for p in with_mail:
                        subject, text = email_text(p, camp.name, camp.end, today, link)
                        try:
                            email.send_person(p, subject, text)
                        except smtplib.SMTPException as exc:
                            report.failures.append(f"邮件 {p['username']}：{type(exc).__name__}")
                            continue
                        reached.setdefault(p["learner_id"], set()).add("email")
                        report.emailed.append(p["username"])
            except (OSError, smtplib.SMTPException) as exc:
                report.failures.append(f"邮件服务器 {email.s.smtp_host}:{email.s.smtp_port} 无法连接或拒绝登录（{type(exc).__name__}）")
        elif dry_run:
            report.emailed = [p["username"] for p in with_mail]
    if group is not None:
        by_unit: dict[str, list[dict]] = {}
        for p in todo:
            by_unit.setdefault(p["top_unit"] or p["unit_path"], []).append(p)
        with group:
            for unit, members in by_unit.items():
                if dry_run:
                    report.group_messages[unit] = [m["username"] for m in members]
                    continue
                try:
                    for text in group_texts(unit, members, camp.name, camp.end, today):
                        group.send_group(unit, text)
                except Exception as exc:  # noqa: BLE001 - one unit's failure must not stop the others
                    report.failures.append(f"群消息 {unit}：{type(exc).__name__}")
                    continue
                report.group_messages[unit] = [m["username"] for m in members]
                for m in members:
                    reached.setdefault(m["learner_id"], set()).add("webhook")
    if not dry_run:
        reminders.record_send(
            url, {lid: ",".join(sorted(ch)) for lid, ch in reached.items()}, campaign_id=campaign_id,
            day=today, actor=actor, client=client,
            detail={"unit": _unit_path(url, unit_id if unit_id is not None else scope),
                    "emails": len(report.emailed), "group_messages": len(report.group_messages),
                    "skipped": len(report.skipped_today), "failures": len(report.failures)})
    return report


def _unit_path(url: str, unit_id: int | None) -> str:
    if unit_id is None:
        return "全市"
    from grading.records.db import session_scope
    from grading.records.models import Unit

    with session_scope(url) as s:
        unit = s.get(Unit, int(unit_id))
        return unit.path if unit is not None else str(unit_id)

"""结业证书 numbers and the public lookup; reminders through real local SMTP (aiosmtpd) and
webhook (http.server) receivers, at most once per person per day (issue 16)."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from datetime import date
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from grading.records import audit, certs, completion
from grading.records.db import session_scope
from grading.records.models import Learner, Unit
from grading.reports import certificates, notify
from hub_config.tools import synth

TODAY = date(2026, 11, 20)


@pytest.fixture
def city(records_url):
    summary = synth.generate(records_url, 80, seed=5, events_per_participant=(1, 3))
    return records_url, summary.campaign_id


def test_numbers_are_unique_unguessable_and_stable(city):
    url, cid = city
    done = [p for p in completion.progress(url, cid) if p.complete][:3]
    assert done
    first = certs.issue(url, done[0], cid, actor=done[0].username, client="10.0.0.1")
    assert certs.NUMBER_RE.match(first.number)
    again = certs.issue(url, done[0], cid, actor=done[0].username)
    assert again.number == first.number  # issued once
    many = certs.issue_many(url, done, cid)
    assert len({c.number for c in many.values()}) == 3
    assert [e.target for e in audit.entries(url, action="issue_certificate")] == [done[0].username]
    got = certs.lookup(url, first.number.lower())
    assert got and got.name == done[0].name and got.campaign_id == cid
    # a number one character off, or not shaped like one, finds nothing
    wrong = first.number[:-1] + ("A" if first.number[-1] != "A" else "B")
    assert certs.lookup(url, wrong) is None and certs.lookup(url, "' OR 1=1 --") is None
    not_done = next(p for p in completion.progress(url, cid) if not p.complete)
    with pytest.raises(ValueError):
        certs.issue(url, not_done, cid)
    with session_scope(url) as s:
        home = certs.home_certificate(s, done[0].username, cid)
        assert home["number"] == first.number and home["url"].endswith(cid)
        assert certs.home_certificate(s, not_done.username, cid) is None


def test_learner_pdf_and_unit_archive(city):
    from tests.grading.test_exports import pdf_text

    url, cid = city
    done = [p for p in completion.progress(url, cid) if p.complete]
    number, pdf = certificates.learner_pdf(url, done[0].username, cid, public_url="https://xf.example")
    text = pdf_text(pdf)
    assert done[0].name in text and number in text and "https://xf.example/hub/xuefa/verify/" in text
    with session_scope(url) as s:
        unit = s.scalar(select(Learner.unit_id).where(Learner.username == done[0].username))
        town = s.get(Unit, unit).parent_id or unit
    from grading.records.scopes import scope_in

    with session_scope(url) as s:
        ids = scope_in(s, town).unit_ids
    n, data = certificates.archive_bytes(url, cid, unit_ids=ids, public_url="https://xf.example")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert n == len(names) >= 1 and all(name.endswith(".pdf") for name in names)
    assert certs.of_learner(url, done[0].username, cid).number == number  # same numbering


class _Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    sink = _Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        yield ctl, sink
    finally:
        ctl.stop()


@pytest.fixture
def robot():
    got = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = b'{"errcode":0,"errmsg":"ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/robot?key=k", got
    finally:
        srv.shutdown()


def test_reminders_reach_smtp_and_webhook_once_a_day(city, smtp, robot, tmp_path):
    url, cid = city
    ctl, sink = smtp
    hook, posts = robot
    from grading.reports import queries

    lag = queries.laggards(url, cid)
    with_mail = list(lag["username"][:3])
    with session_scope(url) as s:
        for p in s.scalars(select(Learner).where(Learner.username.in_(with_mail))):
            p.email = f"{p.username}@example.org"
    (tmp_path / "notify.toml").write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {ctl.port}\nfrom = "xuefa@example.org"\n'
        f'[webhook]\nurl = "{hook}"\n', encoding="utf-8")
    settings = notify.load_settings(tmp_path, env={})
    dry = notify.send_reminders(url, cid, actor="admin", settings=notify.load_settings(tmp_path, env={}),
                                dry_run=True, today=TODAY)
    assert sorted(dry.emailed) == sorted(with_mail) and not sink.messages and not posts
    rep = notify.send_reminders(url, cid, actor="admin", client="127.0.0.1", settings=settings,
                                today=TODAY, link="https://xf.example/")
    assert not rep.failures, rep.failures
    assert sorted(rep.emailed) == sorted(with_mail) and len(sink.messages) == 3
    msg = sink.messages[0]
    body = msg.get_content()
    assert "学法提醒" in msg["Subject"] and "2026年11月30日" in body and "尚未合格的必修课程" in body
    texts = [p["text"]["content"] for p in posts]
    assert all(p["msgtype"] == "text" for p in posts) and texts
    listed = set(lag["name"])
    assert any(name in "".join(texts) for name in listed)
    assert sum(len(v) for v in rep.group_messages.values()) == len(lag)
    # a second send the same day reaches nobody and says so
    again = notify.send_reminders(url, cid, actor="admin", settings=settings, today=TODAY)
    assert len(again.skipped_today) == len(lag) and not again.emailed and not again.group_messages
    assert len(sink.messages) == 3 and len(posts) == len(texts)
    assert any("今天已提醒过" in line for line in again.lines())
    sends = audit.entries(url, action="send_reminder")
    assert len(sends) == 2 and "提醒人数" in sends[-1].detail_text


def test_settings_environment_wins_over_the_file(tmp_path):
    (tmp_path / "notify.toml").write_text('[smtp]\nhost = "a"\nport = 2525\n', encoding="utf-8")
    s = notify.load_settings(tmp_path, env={"XUEFA_SMTP_HOST": "b", "XUEFA_REMINDER_WEBHOOK": "http://h"})
    assert (s.smtp_host, s.smtp_port, s.webhook) == ("b", 2525, "http://h")
    with pytest.raises(ValueError):
        notify.load_settings(tmp_path, env={"XUEFA_SMTP_SECURITY": "tls13"})


def test_group_messages_are_split_when_long():
    people = [{"name": f"人{i}", "unit_path": "市/镇/村", "status": "未开始", "missing": "《宪法》、《民法典》"}
              for i in range(60)]
    parts = notify.group_texts("城东镇", people, "学法月", date(2026, 11, 30), TODAY)
    assert len(parts) > 1 and all(len(p) <= notify.MAX_GROUP_CHARS + 200 for p in parts)
    assert "人59" in parts[-1] and "（1/" in parts[0]


def test_remind_command_dry_run(city, datadir):
    from click.testing import CliRunner

    from hub_config.cli import main

    url, cid = city
    res = CliRunner().invoke(main, ["remind", "--data-dir", str(datadir.root), "--campaign", cid, "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "预览" in res.output and "提醒渠道尚未配置" in res.output
    assert not audit.entries(url, action="send_reminder")  # a dry run records nothing
    res = CliRunner().invoke(main, ["remind", "--data-dir", str(datadir.root), "--campaign", cid,
                                    "--unit", "示范市/没有"])
    assert res.exit_code != 0 and "不存在" in res.output

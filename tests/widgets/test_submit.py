"""提交 widget: released results from the records service (as the learner), and fallbacks."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import widgets as xf
from tests.conftest import free_port

RESULT = {"attempt": 1, "score": 8, "max_score": 10, "passed": True, "message": None,
          "details": [{"id": "q1", "correct": False, "points": 0, "max_points": 2,
                       "answer": "A", "key": "B", "explanation": "人民法院审理行政案件",
                       "legal_basis": "《中华人民共和国行政诉讼法》第三条"}]}


class Results(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):
        Results.seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"results": [RESULT]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def records(monkeypatch):
    port = free_port()
    srv = ThreadingHTTPServer(("127.0.0.1", port), Results)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("XUEFA_RECORDS_URL", f"http://127.0.0.1:{port}/services/records")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "learner-token")
    Results.seen = []
    yield
    srv.shutdown()
    srv.server_close()


def test_released_results_are_shown_with_explanations(assessment, records):
    s = xf.Submit()
    s.results_button.click()
    html = s.results.value
    assert "8 / 10 分" in html and "已通过" in html
    assert "人民法院审理行政案件" in html and "行政诉讼法》第三条" in html and "正确答案：B" in html
    path, auth = Results.seen[0]
    assert path == "/services/records/api/results?course=demo&assignment=module"
    assert auth == "token learner-token"


def test_offline_falls_back_to_feedback_files(assessment, nb, monkeypatch):
    monkeypatch.setenv("XUEFA_RECORDS_URL", f"http://127.0.0.1:{free_port()}/")
    s = xf.Submit()
    s.results_button.click()
    assert "暂不可用" in s.results.value
    fb = nb.parent / "feedback" / "2026-11-29 01:00:00.000000 UTC"
    fb.mkdir(parents=True)
    (fb / "assessment.html").write_text("<html></html>")
    s.results_button.click()
    assert "assessment.html" in s.results.value


def test_submit_failure_is_reported_not_raised(assessment, monkeypatch, tmp_path):
    monkeypatch.setenv("XUEFA_EXCHANGE", str(tmp_path / "no-such-exchange"))
    s = xf.Submit()
    s.button.click()
    assert "提交失败" in s.status.value and not s.button.disabled


def test_receipt_names_questions_not_files():
    from widgets.model import Question
    from widgets.submit import receipt_html

    qs = {"q01": Question(type="single", id="q01", stem="甲", options=["a", "b"]),
          "q02": Question(type="truefalse", id="q02", stem="乙"),
          "q03": Question(type="essay", id="q03", stem="丙")}
    html = receipt_html(qs, ["q02"], "2026-11-29 03:11:44.552199 UTC")
    assert "已提交" in html and "2026-11-29 11:11" in html
    assert "共 3 题，已作答 2 题" in html and "未作答：第 2 题" in html
    assert "讲师评阅" in html
    assert ".json" not in html and ".ipynb" not in html and "UTC" not in html
    assert "未作答" not in receipt_html(qs, [], "later")


def test_quiz_kernel_imports_no_nbgrader():
    """提交 hands in from a short-lived process (widgets/exchange_files.py): a quiz kernel that
    imports the widgets holds neither nbgrader nor nbformat (~55 MB) for as long as the page
    stays open."""
    import subprocess
    import sys

    code = ("import sys, widgets; from widgets.submit import Submit, write_essays; "
            "print(sorted(m for m in ('nbgrader', 'nbformat', 'jsonschema', 'sqlalchemy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""提交 widget: hands the learner's work to nbgrader from the kernel, then shows the result.

On 提交 it (1) copies each essay answer into the notebook's nbgrader "Manually graded
answer" markdown cell with the same grade_id, so formgrader shows it and flags it for
manual grading, (2) hands the folder in to nbgrader's exchange for the session's
course/assignment (exchange root from ``XUEFA_EXCHANGE``), both in a short-lived child process
(:mod:`widgets.exchange_files`, standard library: 0.05 s and 18 MB where importing nbgrader
took 1.2 CPU-seconds and 95 MB),
(3) shows what was sent and when. 查看成绩 asks the records service (``GET api/results``, as
the learner) for released results and falls back to nbgrader's fetched feedback files.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ipywidgets as W

from widgets.answers import atomic_write_json
from widgets.events import records_request
from widgets.exchange_files import write_essays  # noqa: F401 - kept importable from here
from widgets.session import Session, current


SUBMIT_TIMEOUT = 300.0  # seconds for the hand-in process, under load
SUBMIT_FAILED = "提交未被接收"


def nbgrader_submit(session: Session, essays: dict | None = None) -> dict:
    """Hand in ``session``'s notebook (``essays`` {grade_id: text} written into it first) in a
    short-lived process (:mod:`widgets.exchange_files`);
    returns {timestamp, files}. Raises RuntimeError on failure."""
    nb_path = session.notebook_path()
    nb_dir = nb_path.parent
    request = {"action": "submit", "notebook": str(nb_path), "course": session.course, "assignment": session.assignment,
               "student_id": session.username, "essays": essays or {}}
    # the file, not ``-m widgets.exchange_files``: the widgets package (ipywidgets) would be
    # most of the process; -P: the script's folder is not put on the module path
    cmd = [sys.executable, "-P", str(Path(__file__).with_name("exchange_files.py"))]
    try:
        r = subprocess.run(cmd, input=json.dumps(request, ensure_ascii=False), capture_output=True,
                           text=True, timeout=SUBMIT_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(SUBMIT_FAILED) from e
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        # nbgrader's reason goes to the server's log (the process's own stderr), not the page
        print(f"xuefa submit: exit {r.returncode}\n{r.stderr[-4000:]}",
              file=sys.__stderr__ or sys.stderr, flush=True)
        raise RuntimeError(SUBMIT_FAILED)
    timestamp = json.loads(lines[-1])["timestamp"]
    files = sorted(str(p.relative_to(nb_dir)) for p in nb_dir.rglob("*")
                   if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    return {"timestamp": timestamp, "files": files}


def fetch_results_answer(session: Session, timeout: float = 10) -> dict | None:
    """The records service's results answer for the session's assignment: ``results`` (details
    already cut to what the reveal rule allows), and ``attempts`` (used, max, ...) where the
    course has exam rules. None: unreachable."""
    try:
        answer = records_request("api/results", timeout=timeout,
                                 query={"course": session.course, "assignment": session.assignment})
    except Exception:  # noqa: BLE001 - no results yet is shown as "waiting", whatever the cause
        return None
    return answer if isinstance(answer, dict) else None


def fetch_results(session: Session, timeout: float = 10) -> list[dict] | None:
    """Released results of this learner for the session's assignment (None: unreachable)."""
    answer = fetch_results_answer(session, timeout)
    return None if answer is None else list(answer.get("results") or [])


def feedback_files(session: Session) -> list[Path]:
    """nbgrader fetch_feedback output beside the notebook (fallback when offline)."""
    fb = session.notebook_path().parent / "feedback"
    return sorted(fb.rglob("*.html")) if fb.is_dir() else []


def shown_answer(q, v) -> str:
    """An answer or key as the learner saw it: option texts, not stored letters (options are
    shuffled per learner, so "C" names a different line on their screen) and 正确/错误, not
    JSON ``true``."""
    from widgets import model

    if q is None:
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    if q.type in ("single", "multiple", "ordering") and isinstance(v, str) and q.options:
        texts = [q.options[model.LETTERS.index(L)] for L in v
                 if L in model.LETTERS and model.LETTERS.index(L) < len(q.options)]
        return ("→" if q.type == "ordering" else "；").join(texts) or v
    if q.type == "case" and isinstance(v, dict):
        return "；".join(f"（{i}）{shown_answer(sub, v.get(sub.id))}"
                        for i, sub in enumerate(q.questions, 1) if sub.id in v)
    return model.display_answer(q, v)


REFUSED = "refused"  # a submission the exam rules did not count (grading.records.exams)
WITHHELD = "正确答案与解析按考试规则暂不公布（通过测试、用完考试机会或考试结束后可查看）。"


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) else html.escape(str(x))


def _item_name(d: dict, q, numbers: dict) -> str:
    """第 N 题 and the start of its stem: from this notebook's question, else from the item
    (an earlier paper's slot and stem)."""
    if q is not None:
        stem = q.stem or q.scenario
        number = numbers[d["id"]]
    else:
        stem = str(d.get("stem") or "")
        slot = str(d.get("slot") or "")
        number = int(slot[1:]) if slot[1:].isdigit() else None
        if number is None:
            return str(d.get("id"))
    stem = stem if len(stem) <= 40 else stem[:39] + "…"
    return f"第 {number} 题 {stem}".strip()


def attempts_html(attempts: dict | None) -> str:
    """已提交 n/m 次；还可提交 k 次 (or 考试机会已用完), from the service's attempt state."""
    if not isinstance(attempts, dict):
        return ""
    used, mx = attempts.get("used"), attempts.get("max")
    if not isinstance(used, int) or not isinstance(mx, int):
        return ""
    left = max(0, mx - used)
    text = f"已提交 {used}/{mx} 次；" + (f"还可提交 {left} 次。" if left else "考试机会已用完。")
    if left and attempts.get("reason_zh"):
        text += html.escape(str(attempts["reason_zh"]))
    return f"<p>{text}</p>"


def results_html(results: list[dict], questions: dict | None = None,
                 attempts: dict | None = None) -> str:
    """The latest attempt as the reveal rule allows: ``reveal`` "score" (the score only),
    "wrong" (which questions were wrong, with the learner's answers), "key" or absent (every
    question with key, 解析 and 法律依据: whatever the service sent)."""
    if not results:
        return "<p>成绩尚未发布，请稍后点击“查看成绩”。</p>"
    questions = questions or {}
    numbers = {qid: i for i, qid in enumerate(questions, 1)}
    r = results[-1]
    if r.get("outcome") == REFUSED:
        head = f"<p role='alert'><b>第 {_num(r.get('attempt', 1))} 次提交未计分</b></p>"
    else:
        head = (f"<p><b>第 {_num(r.get('attempt', 1))} 次提交：{_num(r.get('score', 0))} / "
                f"{_num(r.get('max_score', 0))} 分 · {'已通过' if r.get('passed') else '未通过'}</b></p>")
    if r.get("message"):
        head += f"<p>{html.escape(str(r['message']))}</p>"
    head += attempts_html(attempts)
    reveal = r.get("reveal")
    if r.get("outcome") == REFUSED:
        return head
    if reveal == "score":
        return head + f"<p>本次只公布总分。{WITHHELD}</p>"
    details = [d for d in r.get("details") or [] if isinstance(d, dict)]
    if reveal == "wrong":
        details = [d for d in details if d.get("correct") is False]
        if not details:
            return head + "<p>本次全部答对。</p>"
        head += f"<p><b>答错的题</b>（{WITHHELD}）</p>"
    rows = []
    for d in details:
        ok = d.get("correct")
        mark = "✔" if ok else ("—" if ok is None else "✘")
        q = questions.get(d.get("id"))
        name = _item_name(d, q, numbers)
        parts = [f"<b>{mark} {html.escape(name)}</b>（{_num(d.get('points', 0))}/"
                 f"{_num(d.get('max_points', 0))} 分）"]
        for label, k in (("你的答案", "answer"), ("正确答案", "key"), ("解析", "explanation"),
                         ("法律依据", "legal_basis")):
            v = d.get(k)
            if v not in (None, "", [], {}):
                v = shown_answer(q, v) if k in ("answer", "key") else (
                    v if isinstance(v, str) else "；".join(str(x) for x in v.values())
                    if isinstance(v, dict) else json.dumps(v, ensure_ascii=False))
                parts.append(f"{label}：{html.escape(v)}")
        rows.append("<li style='margin-bottom:6px'>" + "<br>".join(parts) + "</li>")
    return head + "<ol style='padding-left:1.2em'>" + "".join(rows) + "</ol>"


def submitted_at(timestamp) -> str:
    """nbgrader's UTC timestamp ("2026-11-29 03:11:44.552199 UTC") as Beijing time to the
    minute; anything else is shown as it is."""
    text = str(timestamp)
    try:
        t = datetime.strptime(text.replace(" UTC", ""), "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        return text
    t = t.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=8)))
    return f"{t:%Y-%m-%d %H:%M}"


def receipt_html(questions: dict, missing: list[str], timestamp) -> str:
    """What the learner handed in, in their terms: how many questions were answered and which
    were not (never the files nbgrader moved: learners never see code or file names)."""
    numbers = {qid: i for i, qid in enumerate(questions, 1)}
    total = len(questions)
    answered = total - len(missing)
    lines = [f"<b>已提交</b>（{html.escape(submitted_at(timestamp))}）",
             f"共 {total} 题，已作答 {answered} 题" + ("。" if not missing else "；")
             + (f"未作答：{'、'.join(f'第 {numbers[q]} 题' for q in missing)}（按未得分计）。"
                if missing else "")]
    if any(getattr(q, "type", "") == "essay" for q in questions.values()):
        lines.append("简答题由讲师评阅，评阅后可在此查看。")
    lines.append("系统正在评分，稍后点击“查看成绩”。")
    return "<div role='status'>" + "<br>".join(lines) + "</div>"


class Submit(W.VBox):
    """提交 button + what was submitted + released score and explanations.

    With a drawn paper (``xf.Paper()`` above it) it also says how many submissions are left,
    stays disabled when the paper was refused (考试机会已用完, 已截止 ...), and after a graded
    attempt offers 再次作答: the next attempt's paper, with empty answers."""

    def __init__(self, **kw):
        self.session = current()
        full = W.Layout(width="100%")
        self.button = W.Button(description="提交", button_style="primary", icon="check",
                               tooltip="提交本次作答，提交后由系统评分", layout=W.Layout(width="auto"))
        self.results_button = W.Button(description="查看成绩", tooltip="查看已发布的成绩和解析",
                                       layout=W.Layout(width="auto"))
        self.again_button = W.Button(description="再次作答", icon="refresh",
                                     tooltip="领取下一次作答的试卷（答案从空白开始）",
                                     layout=W.Layout(width="auto", display="none"))
        self.status = W.HTML(layout=full)
        self.results = W.HTML(layout=full)
        self.button.on_click(lambda _b: self.submit())
        self.results_button.on_click(lambda _b: self.show_results())
        self.again_button.on_click(lambda _b: self.again())
        buttons = W.HBox([self.button, self.results_button, self.again_button],
                         layout=W.Layout(width="100%", flex_flow="row wrap"))
        super().__init__([buttons, self.status, self.results],
                         layout=W.Layout(width="100%", border="1px solid #ddd", padding="8px"), **kw)
        self.last = None
        self._seen: int | None = None  # results already there before the last 提交
        if self.paper is not None:
            self.paper.listeners.append(self._paper_state)
        self._paper_state()

    @property
    def paper(self):
        from widgets.paper import current_paper

        return current_paper()

    def _paper_state(self) -> None:
        """A refused paper (no questions) cannot be submitted."""
        paper = self.paper
        if paper is not None and paper.refused is not None:
            self.button.disabled = True
            self.status.value = ("<span role='status'>本次不能提交："
                                 f"{html.escape(paper.refused['error'])}</span>")
        elif paper is not None and self.button.disabled:
            self.button.disabled = False
            self.status.value = ""

    def unanswered(self) -> list[str]:
        store = self.session.store
        return [qid for qid in self.session.questions if store.get(qid) in (None, "", [], {})]

    def submit(self) -> dict | None:
        s = self.session
        self.button.disabled = True
        self.status.value = "正在提交……"
        # a later attempt: the results already there are not this submission's
        before = fetch_results_answer(s, timeout=5)
        self._seen = len(before.get("results") or []) if before is not None else None
        try:
            store = s.reload()
            if not store.path.exists():  # an empty attempt still submits an answers file
                atomic_write_json(store.path, {})
            essays = {qid: store.answers.get(qid) for qid, q in s.questions.items()
                      if q.type == "essay"}
            info = nbgrader_submit(s, essays)
        except Exception as e:  # noqa: BLE001 - the page says so; the learner may retry
            self.status.value = (f"<span style='color:#c00' role='alert'>提交失败：{html.escape(str(e) or type(e).__name__)}"
                                 "。请稍后重试，或联系管理员。</span>")
            return None
        finally:
            self.button.disabled = False
        self.last = info
        self.status.value = receipt_html(s.questions, self.unanswered(), info["timestamp"])
        threading.Thread(target=self._poll, daemon=True).start()
        return info

    def _new_results(self, answer: dict | None) -> bool:
        results = (answer or {}).get("results") or []
        return len(results) > self._seen if self._seen is not None else bool(results)

    def _poll(self, tries: int = 12, every: float = 5) -> None:
        for _ in range(tries):
            time.sleep(every)
            answer = fetch_results_answer(self.session, timeout=5)
            if self._new_results(answer):
                self.show_answer(answer)
                return

    def show_answer(self, answer: dict) -> None:
        """Show the service's results answer (and offer 再次作答 when a paper may follow)."""
        results = list(answer.get("results") or [])
        attempts = answer.get("attempts") if isinstance(answer.get("attempts"), dict) else None
        self.results.value = results_html(results, self.session.questions, attempts)
        paper = self.paper
        # after a graded attempt the next paper is drawn; after a refused one (a stale paper
        # from another tab) the current one
        graded = bool(results) and results[-1].get("outcome") != "error"
        more = (attempts is not None and isinstance(attempts.get("max"), int)
                and isinstance(attempts.get("used"), int) and attempts["used"] < attempts["max"])
        show = (paper is not None and paper.token is not None and graded and more
                and not paper.from_file)
        self.again_button.layout.display = None if show else "none"

    def again(self) -> bool:
        """Load the paper the service holds for the next attempt (drawn once the last one
        is graded)."""
        paper = self.paper
        if paper is None:
            return False
        old = paper.token
        self.again_button.layout.display = "none"
        paper.load()
        if paper.token is not None and paper.token == old:
            self.status.value = "<span role='status'>试卷没有变化，请按当前试卷作答后提交。</span>"
        elif paper.token is not None:
            self.results.value = ""
            self.status.value = "<span role='status'>已领取新试卷，请在上方作答后提交。</span>"
        return paper.token not in (None, old)

    def show_results(self) -> None:
        answer = fetch_results_answer(self.session)
        if answer is not None:
            self.show_answer(answer)
            return
        files = feedback_files(self.session)
        if files:
            self.results.value = ("<p>成绩服务暂不可用。已发布的反馈：</p><ul>"
                                  + "".join(f"<li>{html.escape(str(f.name))}</li>" for f in files) + "</ul>")
        else:
            self.results.value = "<p>成绩服务暂不可用，请稍后再试。</p>"

"""Reading progress of a lesson: sections the learner marked read and practice questions
tried. It counts evidence of learning only — there is no timer anywhere
(国办函〔2026〕12号 bars assessing staff by online time).

    bar = xf.ReadingProgress(sections=["一、立法目的", "二、受案范围"])
    ...
    xf.Section("一、立法目的")     # at the end of that section: a 「本节已读」 button

Progress is kept in ``~/.xuefa/progress/<course>/<lesson>.json`` (not beside the notebook,
so it is never swept into an nbgrader submission).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import ipywidgets as W

from widgets.answers import atomic_write_json
from widgets.session import current


def _progress_file() -> Path:
    s = current()
    nb = s.notebook or None
    lesson = s.lesson or (nb.stem if nb else None)
    if not lesson:
        from widgets.answers import find_notebook

        found = find_notebook()
        lesson = found.stem if found else "lesson"
    root = Path(os.environ.get("XUEFA_PROGRESS_DIR", Path.home() / ".xuefa" / "progress"))
    return root / (s.course or "default") / f"{lesson}.json"


class ReadingProgress(W.VBox):
    """A bar: sections read (of ``sections``) and practice questions tried."""

    def __init__(self, sections=(), practice=None, **kw):
        self.sections = list(sections)
        self.practice_ids = list(practice) if practice is not None else None
        self.path = _progress_file()
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            assert isinstance(state, dict)
        except Exception:  # noqa: BLE001 - a missing or damaged progress file starts afresh
            state = {}
        self.read = [s for s in state.get("read", []) if isinstance(s, str)]
        self.tried = [s for s in state.get("tried", []) if isinstance(s, str)]
        self.bar = W.FloatProgress(min=0, max=1, value=0, layout=W.Layout(width="100%"),
                                   description="学习进度", style={"description_width": "initial"})
        self.label = W.HTML(layout=W.Layout(width="100%"))
        super().__init__([self.bar, self.label], layout=W.Layout(width="100%"), **kw)
        current()._progress.append(self)
        self.refresh()

    def _practice_total(self) -> list[str]:
        if self.practice_ids is not None:
            return self.practice_ids
        s = current()
        return [q for q in s.questions if not s.assessment and s.questions[q].type != "essay"]

    def refresh(self) -> None:
        practice = self._practice_total()
        n_read = len([s for s in self.sections if s in self.read])
        n_tried = len([q for q in practice if q in self.tried])
        total = len(self.sections) + len(practice)
        self.bar.value = (n_read + n_tried) / total if total else 0
        self.label.value = (f"<span role='status'>已读 {n_read}/{len(self.sections)} 节 · "
                            f"练习已做 {n_tried}/{len(practice)} 题</span>")

    def _save(self) -> None:
        try:
            atomic_write_json(self.path, {"read": self.read, "tried": self.tried})
        except OSError:
            pass

    def mark_read(self, section: str) -> None:
        if section not in self.read:
            self.read.append(section)
            self._save()
            current().event("section_read", item=section)
        self.refresh()

    def mark_tried(self, qid: str) -> None:
        if qid not in self.tried:
            self.tried.append(qid)
            self._save()
        self.refresh()


class Section(W.HBox):
    """「本节已读」 button placed at the end of a section; updates every progress bar."""

    def __init__(self, title: str, **kw):
        self.title = title
        bars = current()._progress
        done = any(title in b.read for b in bars)
        self.button = W.Button(description="本节已读 ✓" if done else f"我已读完：{title}",
                               button_style="success" if done else "",
                               tooltip="标记本节为已读", layout=W.Layout(width="auto", max_width="100%"))
        self.button.on_click(lambda _b: self.mark())
        super().__init__([self.button], layout=W.Layout(width="100%", flex_flow="row wrap"), **kw)

    def mark(self) -> None:
        bars = current()._progress
        for b in bars:
            b.mark_read(self.title)
        if not bars:
            current().event("section_read", item=self.title)
        self.button.description = "本节已读 ✓"
        self.button.button_style = "success"

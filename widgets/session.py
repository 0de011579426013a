"""The notebook-wide context set by ``xf.setup``: course, assignment, mode, answers file.

One kernel runs one notebook, so one module-level :class:`Session` is enough; questions
register here so ``xf.grade`` (run later in the same kernel) can find their options and
points, and so the answers file can be located from the ids the notebook uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from widgets.answers import AnswerStore, answers_path, find_notebook
from widgets.exchange import ASSIGNMENT
from widgets.identity import learner_name

MODES = ("practice", "assessment")


@dataclass
class Session:
    course: str = ""
    assignment: str = ASSIGNMENT
    mode: str = "practice"
    notebook: Path | None = None
    username: str = field(default_factory=learner_name)
    lesson: str = ""
    send_events: bool = True
    questions: dict[str, Any] = field(default_factory=dict)  # id -> Question (data)
    widgets: dict[str, Any] = field(default_factory=dict)  # id -> question widget
    _store: AnswerStore | None = None
    _events: Any = None
    _progress: list = field(default_factory=list)

    def _ipython_display_(self) -> None:
        """The setup cell shows nothing to learners."""

    @property
    def assessment(self) -> bool:
        return self.mode == "assessment"

    def notebook_path(self) -> Path:
        if self.notebook is None:
            found = find_notebook(ids=list(self.questions), mode=self.mode)
            # no notebook (plain IPython): keep answers in cwd rather than nowhere
            self.notebook = found or Path(os.getcwd()) / "xuefa.ipynb"
        return self.notebook

    @property
    def store(self) -> AnswerStore:
        if self._store is None:
            self._store = AnswerStore(answers_path(self.notebook_path()))
        return self._store

    def reload(self) -> AnswerStore:
        """Re-read the answers file (``xf.grade`` must see what is on disk)."""
        self._store = AnswerStore(answers_path(self.notebook_path()))
        return self._store

    def register(self, question, widget=None) -> None:
        self.questions[question.id] = question
        if widget is not None:
            self.widgets[question.id] = widget
        for bar in list(self._progress):  # a bar at the top learns of questions below it
            bar.refresh()

    def event(self, kind: str, item: str | None = None, correct: bool | None = None, **payload) -> None:
        """Queue a learning event (never blocks, never raises)."""
        if not self.send_events:
            return
        try:
            from widgets.events import EventClient

            # don't pin the notebook path yet: at setup no question ids are known
            nb = self.notebook or find_notebook()
            if self._events is None:
                self._events = EventClient.for_learner()
            self._events.send(
                kind=kind,
                course_id=self.course or None,
                lesson=self.lesson or (nb.stem if nb else None),
                item=item,
                correct=correct,
                payload=payload,
            )
        except Exception:  # noqa: BLE001 - events are evidence, never a reason for a lesson to fail
            pass

    def practice_tried(self, qid: str, correct: bool) -> None:
        self.event("practice_answered", item=qid, correct=correct)
        for bar in list(self._progress):
            bar.mark_tried(qid)


_current = Session()


def current() -> Session:
    return _current


def setup(
    course: str = "",
    assignment: str = ASSIGNMENT,
    mode: str = "practice",
    *,
    notebook: str | os.PathLike | None = None,
    username: str | None = None,
    lesson: str = "",
    events: bool | None = None,
) -> Session:
    """Start a lesson or quiz notebook. Call once, in the first code cell.

    ``notebook`` overrides where answers are kept (``<stem>.answers.json`` beside it);
    otherwise it is found from JupyterLab/Voila or the ids used in the notebook.
    ``events`` (default: on when running under JupyterHub) sends learning events.
    """
    global _current
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if events is None:
        # only a learner's own server: the grading service's autograde kernels carry a
        # service token and must not record events
        events = bool(
            os.environ.get("JUPYTERHUB_API_TOKEN")
            and os.environ.get("JUPYTERHUB_USER")
            and not os.environ.get("JUPYTERHUB_SERVICE_NAME")
        )
    _current = Session(
        course=course,
        assignment=assignment,
        mode=mode,
        notebook=Path(notebook).resolve() if notebook else None,
        username=username or learner_name(),
        lesson=lesson,
        send_events=events,
    )
    if events:
        _current.event("lesson_opened")
    return _current

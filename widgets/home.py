"""我的学习 helpers in the learner's kernel and server: fetching a module through nbgrader, its
feedback, the URLs of the learner's pages.

The 我的学习 page itself is plain HTML rendered by the learner's server without a kernel
(``hub_config.home.page``, ``hub_config.home.server_ext``); its 开始学习 fetches in a
short-lived process (:mod:`widgets.exchange_files`) into ``~/<course_id>/module/``, never over
an existing copy (the learner's answers live there).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from widgets.exchange import ASSIGNMENT, exchange_app

# the pages hub_config.home installs into every learner's home (widgets may not import it)
HOME_PAGE = "我的学习.ipynb"
WRONGBOOK_PAGE = "我的错题本.ipynb"


def home_dir() -> Path:
    return Path(os.environ.get("XUEFA_HOME") or Path.home())


def server_prefix() -> str:
    """URL prefix of this learner's server, e.g. ``/user/ganbu1/``."""
    return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").rstrip("/") + "/"


def voila_url(*parts: str) -> str:
    return server_prefix() + "voila/render/" + "/".join(quote(p) for p in parts)


def module_dir(course_id: str) -> Path:
    return home_dir() / course_id / ASSIGNMENT


def _exchange(course_id: str, kind: str):
    """nbgrader's ``kind`` exchange app for this module in the learner's home."""
    return exchange_app(kind, course=course_id, assignment=ASSIGNMENT, assignment_dir=home_dir(),
                        path_includes_course=True, quiet=True)


def fetch_module(course_id: str) -> Path:
    """nbgrader's fetch_assignment into ``~/<course_id>/module`` unless it is already there
    (the platform's exchange, ``XUEFA_EXCHANGE``, read by :mod:`widgets.exchange_files`; else
    nbgrader itself, configured by its own config files)."""
    dest = module_dir(course_id)
    if dest.is_dir() and any(dest.glob("*.ipynb")):
        return dest
    if os.environ.get("XUEFA_EXCHANGE"):
        from widgets.exchange_files import fetch

        return fetch(course_id, ASSIGNMENT, Path(os.environ["XUEFA_EXCHANGE"]), home_dir())
    _exchange(course_id, "FetchAssignment").start()
    if not dest.is_dir():
        raise RuntimeError("课程尚未发布，请联系讲师")
    return dest


def fetch_feedback(course_id: str) -> list[Path]:
    """nbgrader fetch_feedback: the released feedback of every submission of this module
    (re-fetched each time: a trainer's later essay grade replaces the autograded one)."""
    try:
        _exchange(course_id, "FetchFeedback").start()
    except BaseException:  # noqa: BLE001 - nbgrader exits through self.fail when nothing is released yet
        pass
    return feedback_files(course_id)


def feedback_files(course_id: str) -> list[Path]:
    """nbgrader feedback HTML already fetched for this module, newest first."""
    root = module_dir(course_id) / "feedback"
    return sorted(root.glob("*/assessment.html"), reverse=True) if root.is_dir() else []

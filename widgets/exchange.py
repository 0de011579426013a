"""The kernel side of nbgrader's exchange: fetch a module, fetch its feedback, submit it.

The learner's kernel runs nbgrader's exchange apps itself (as the learner, so the exchange's
file permissions say who handed what in). Both callers (我的学习 in :mod:`widgets.home` and
提交 in :mod:`widgets.submit`) need the same configuration — exchange root from
``XUEFA_EXCHANGE`` when set, else the usual nbgrader config files — so it is built here once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

ASSIGNMENT = "module"  # every course has one nbgrader assignment of this name


def exchange_app(kind: str, *, course: str, assignment: str, assignment_dir: Path | str,
                 path_includes_course: bool, student_id: str | None = None,
                 config_dirs: list[str] | None = None, quiet: bool = False):
    """An nbgrader exchange app (``kind``: ``FetchAssignment``, ``FetchFeedback``, ``Submit``)
    for ``course``/``assignment`` whose local copy lives under ``assignment_dir``.

    ``config_dirs`` are searched for ``nbgrader_config.py`` after Jupyter's config path;
    ``quiet`` hides nbgrader's "no nbgrader_config.py" warning, which is expected when the
    configuration comes from the environment."""
    # imported here: nbgrader is slow to import and most notebooks never use the exchange
    from jupyter_core.paths import jupyter_config_path
    from nbgrader.apps import NbGrader
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory

    app = NbGrader()
    if quiet:
        app.log.setLevel(logging.ERROR)
    app.config_file_paths.extend(jupyter_config_path() + list(config_dirs or []))
    app.load_config_file()
    config = app.config
    if os.environ.get("XUEFA_EXCHANGE"):
        config.Exchange.root = os.environ["XUEFA_EXCHANGE"]
    config.Exchange.assignment_dir = str(assignment_dir)
    config.Exchange.path_includes_course = path_includes_course
    config.CourseDirectory.course_id = course
    config.CourseDirectory.assignment_id = assignment
    if student_id is not None:
        # the roster 账号, not the unix user "xf-<账号>"
        config.CourseDirectory.student_id = student_id
    coursedir = CourseDirectory(config=config)
    factory = getattr(ExchangeFactory(config=config), kind)
    return factory(coursedir=coursedir, authenticator=Authenticator(config=config), config=config)

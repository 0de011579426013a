"""提交's hand-in, in a short-lived process: essays into the notebook, then nbgrader submit.

``python -P -m widgets.exchange_submit`` reads one JSON request on stdin::

    {"notebook": "/home/.../module/assessment.ipynb", "course": "...", "assignment": "module",
     "student_id": "<账号>", "essays": {"<grade_id>": "<text>", ...}}

and prints one JSON line ``{"timestamp": "<nbgrader's timestamp>"}``; on failure it exits
non-zero with nbgrader's log on stderr.

Why a process of its own: nbgrader (with nbconvert, its SQLAlchemy gradebook, requests, ...) is
about 50 MB once imported, and a quiz kernel lives as long as the learner keeps the page open,
for one click. The process is the kernel's own child: the same system user, environment
(``XUEFA_EXCHANGE``), working directory and nbgrader configuration as when the kernel ran the
exchange itself, so the exchange's file permissions still say who handed what in.

Standard library at import (``write_essays`` is imported by the 提交 widget in the kernel).
"""

from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path


def write_essays(notebook: Path, answers: dict, essay_ids: list[str]) -> list[str]:
    """Put essay answers into the matching manually graded markdown cells (atomic write), as
    text: HTML-escaped, so the learner's copy never renders their typing as markup. (What a
    trainer grades is not this cell: the grading service writes the essay from the answers
    file into the course's own cell, escaped.) Returns the ids written."""
    import nbformat  # ~5 MB with jsonschema: only in the hand-in process

    nb = nbformat.read(notebook, as_version=4)
    written = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type == "markdown" and meta.get("solution") and gid in essay_ids:
            text = answers.get(gid)
            if isinstance(text, str) and text.strip():
                cell.source = html.escape(text)
                written.append(gid)
    if written:
        tmp = notebook.with_name("." + notebook.name + ".tmp")
        nbformat.write(nb, str(tmp))
        os.replace(tmp, notebook)
    return written


def layout(nb_dir: Path, course: str, assignment: str) -> tuple[Path, bool]:
    """(Exchange.assignment_dir, path_includes_course) for a notebook in ``nb_dir``."""
    if nb_dir.name == assignment and nb_dir.parent.name == course:
        return nb_dir.parent.parent, True
    return nb_dir.parent, False


def submit(notebook: Path, course: str, assignment: str, student_id: str) -> str:
    """nbgrader submit of the notebook's directory; nbgrader's timestamp."""
    from widgets.exchange import exchange_app

    nb_dir = notebook.parent
    assignment_dir, includes_course = layout(nb_dir, course, assignment)
    sub = exchange_app("Submit", course=course, assignment=assignment,
                       assignment_dir=assignment_dir, path_includes_course=includes_course,
                       student_id=student_id, config_dirs=[str(nb_dir)])
    sub.start()
    return str(sub.timestamp)


def main() -> int:
    # as hub_config.home.lean does for kernels (widgets cannot import it): jsonschema's optional
    # IRI checker builds a 17 MB grammar at import that nothing here uses
    sys.modules.setdefault("rfc3987_syntax", None)
    req = json.load(sys.stdin)
    notebook = Path(req["notebook"])
    essays = {k: v for k, v in (req.get("essays") or {}).items() if isinstance(v, str)}
    if essays:
        write_essays(notebook, essays, list(essays))
    timestamp = submit(notebook, str(req["course"]), str(req["assignment"]), str(req["student_id"]))
    print(json.dumps({"timestamp": timestamp}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

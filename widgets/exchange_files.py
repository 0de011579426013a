"""nbgrader's local exchange, written with the standard library: 开始学习's fetch and 提交's
hand-in, each in a short-lived process of the learner's own.

``python -P .../widgets/exchange_files.py`` (the file: importing the widgets package would pull
in ipywidgets) reads one JSON request on stdin, either::

    {"action": "fetch", "course": "...", "assignment": "module", "home": "/home/..."}
    {"action": "submit", "notebook": "/home/.../module/assessment.ipynb", "course": "...",
     "assignment": "module", "student_id": "<账号>", "essays": {"<grade_id>": "<text>", ...}}

and prints one JSON line (``{"path": ...}`` or ``{"timestamp": "<nbgrader's timestamp>"}``); on
failure it exits non-zero with the reason on stderr.

Why a process of its own: the learner's server and quiz kernel live for the whole visit, for
one click each. The process is their child: the same system user, environment
(``XUEFA_EXCHANGE``) and working directory, so the exchange's file permissions still say who
handed what in.

Why not nbgrader's own ``ExchangeFetchAssignment`` / ``ExchangeSubmit``: importing nbgrader at
all (its package imports its server extensions: tornado, nbconvert, SQLAlchemy) costs about 1.2
CPU-seconds and 95 MB per click, which on a deadline morning was most of what a learner cost the
machine (README, capacity). What nbgrader's local exchange reads and leaves on disk is a small,
documented layout, which the grading service parses as hostile data anyway
(:mod:`grading.exchange.intake`), so this module reads and writes exactly that layout, as
nbgrader 0.9 does with the platform's configuration (nbgrader's defaults);
tests/widgets/test_exchange_files.py runs both on the same folders and compares what they
leave. Without ``XUEFA_EXCHANGE`` (a notebook used outside the platform, configured by its own
``nbgrader_config.py``) nbgrader itself does the work.
"""

from __future__ import annotations

import base64
import fnmatch
import html
import json
import os
import secrets
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

# nbgrader's CourseDirectory.ignore / max_file_size / max_dir_size defaults (kilobytes)
IGNORE = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")
MAX_FILE_KB = 100000
MAX_DIR_KB = 100000
# nbgrader's Exchange.timestamp_format in its default timezone, UTC
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"


class ExchangeRefused(Exception):
    """The exchange refused the fetch or hand-in (the reason goes to the server's log)."""


def write_essays(notebook: Path, answers: dict, essay_ids: list[str]) -> list[str]:
    """Put essay answers into the matching manually graded markdown cells (atomic write), as
    text: HTML-escaped, so the learner's copy never renders their typing as markup. (What a
    trainer grades is not this cell: the grading service writes the essay from the answers
    file into the course's own cell, escaped.) Returns the ids written.

    Plain JSON, written as nbformat writes a notebook (one-space indent, sorted keys, UTF-8):
    nbformat with its schema validator would be most of this process's memory."""
    notebook = Path(notebook)
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    written = []
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.get("cell_type") == "markdown" and meta.get("solution") and gid in essay_ids:
            text = answers.get(gid)
            if isinstance(text, str) and text.strip():
                cell["source"] = html.escape(text)
                written.append(gid)
    if written:
        tmp = notebook.with_name("." + notebook.name + ".tmp")
        tmp.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        os.replace(tmp, notebook)
    return written


def layout(nb_dir: Path, course: str, assignment: str) -> tuple[Path, bool]:
    """(Exchange.assignment_dir, path_includes_course) for a notebook in ``nb_dir``."""
    if nb_dir.name == assignment and nb_dir.parent.name == course:
        return nb_dir.parent.parent, True
    return nb_dir.parent, False


def submit_with_nbgrader(notebook: Path, course: str, assignment: str, student_id: str) -> str:
    """nbgrader's own submit of the notebook's directory (configured by nbgrader_config.py);
    nbgrader's timestamp."""
    from widgets.exchange import exchange_app

    nb_dir = notebook.parent
    assignment_dir, includes_course = layout(nb_dir, course, assignment)
    sub = exchange_app("Submit", course=course, assignment=assignment,
                       assignment_dir=assignment_dir, path_includes_course=includes_course,
                       student_id=student_id, config_dirs=[str(nb_dir)])
    sub.start()
    return str(sub.timestamp)


def _ignored(directory: str, names: list[str]) -> list[str]:
    """nbgrader.utils.ignore_patterns with nbgrader's defaults: excluded globs, too large files."""
    out = []
    for name in names:
        full = os.path.join(directory, name)
        if any(fnmatch.fnmatch(name, glob) for glob in IGNORE):
            out.append(name)
        elif os.path.isfile(full) and os.path.getsize(full) > 1000 * MAX_FILE_KB:
            print(f"xuefa submit: ignoring file too large {full}", file=sys.stderr)
            out.append(name)
    return out


def _copy(src: Path, dest: Path) -> None:
    """nbgrader's Exchange.do_copy: refuse a folder over max_dir_size, copytree the rest."""
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(src) for f in files
               if not os.path.islink(os.path.join(d, f)))
    if size > 1000 * MAX_DIR_KB:
        raise ExchangeRefused(f"Directory size is too big. Size is {size}, maximum size is {1000 * MAX_DIR_KB}")
    shutil.copytree(src, dest, ignore=_ignored)


def _write_last(folder: Path, timestamp: str, secret: str) -> None:
    """submission_secret.txt, then timestamp.txt, which the grading service waits for: renamed
    into place, so it is never seen half written."""
    (folder / "submission_secret.txt").write_text(secret)
    tmp = folder / ".timestamp.txt.tmp"
    tmp.write_text(timestamp)
    os.replace(tmp, folder / "timestamp.txt")


def fetch(course: str, assignment: str, exchange: Path, home: Path) -> Path:
    """nbgrader's fetch_assignment into ``home/<course>/<assignment>`` (path_includes_course):
    the released folder without nbgrader's ignored files. Never over a learner's files: an
    existing notebook there means it was fetched already; files missing from an existing
    folder are put back (nbgrader's ``replace_missing_files``). A first fetch is copied beside
    and renamed into place, so an interrupted one leaves nothing half there."""
    src = exchange / course / "outbound" / assignment
    if not course:
        raise ExchangeRefused("No course id specified. Re-run with --course flag.")
    if not src.is_dir():
        raise ExchangeRefused(f"Assignment not found at: {src}")
    if not os.access(src, os.R_OK | os.X_OK):
        raise ExchangeRefused(f"You don't have read permissions for the directory: {src}")
    dest = home / course / assignment
    if dest.is_dir() and any(dest.glob("*.ipynb")):
        return dest
    ignore = shutil.ignore_patterns(*IGNORE)
    if dest.is_dir():
        _copy_if_missing(src, dest, ignore)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{assignment}.fetching-{secrets.token_hex(4)}")
    try:
        shutil.copytree(src, tmp, ignore=ignore)
        os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _copy_if_missing(src: Path, dest: Path, ignore) -> None:
    names = sorted(set(os.listdir(src)) - set(ignore(str(src), os.listdir(src))))
    for name in names:
        s, d = src / name, dest / name
        if not os.path.lexists(d):
            if s.is_dir():
                d.mkdir()
            else:
                shutil.copy(s, d)
        if s.is_dir() and d.is_dir() and not d.is_symlink():
            _copy_if_missing(s, d, ignore)


def hand_in(notebook: Path, course: str, assignment: str, student_id: str, exchange: Path,
            cache: Path | None = None, now: datetime | None = None) -> str:
    """What nbgrader 0.9's local ``ExchangeSubmit`` leaves for the notebook's folder, with the
    platform's configuration: ``exchange/<course>/inbound/<student>+<assignment>+<timestamp>+
    <random>`` (files 0644, folders 0755, the top one 0777 so the course side may remove it)
    and a copy in the learner's nbgrader cache. Returns nbgrader's timestamp."""
    src = Path(notebook).parent.absolute()
    # nbgrader hands in <assignment_dir>/[<course>/]<assignment>: the folder carries its name
    if src.name != assignment or not src.is_dir():
        raise ExchangeRefused(f"Assignment not found at: {src}")
    if not (exchange.is_dir() and os.access(exchange, os.W_OK | os.X_OK)):
        raise ExchangeRefused(f"Unwritable directory, please contact your instructor: {exchange}")
    if not course:
        raise ExchangeRefused("No course id specified. Re-run with --course flag.")
    if not student_id or "*" in student_id or "+" in student_id:
        raise ExchangeRefused(f"The student ID should contain no '*' nor '+'; got {student_id}")
    inbound = exchange / course / "inbound"
    if not inbound.is_dir():
        raise ExchangeRefused(f"Inbound directory doesn't exist: {inbound}")
    if not os.access(inbound, os.W_OK | os.X_OK):
        raise ExchangeRefused(f"You don't have write permissions to the directory: {inbound}")
    release = exchange / course / "outbound" / assignment
    if not release.is_dir():
        raise ExchangeRefused(f"Assignment not found: {release}")
    if not os.access(release, os.R_OK | os.X_OK):
        raise ExchangeRefused(f"You don't have read permissions for the directory: {release}")

    timestamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)
    random_str = base64.urlsafe_b64encode(os.urandom(9)).decode("ascii")
    name = f"{student_id}+{assignment}+{timestamp}"
    secret = secrets.token_hex(64)
    dest = inbound / f"{name}+{random_str}"
    _copy(src, dest)
    _write_last(dest, timestamp, secret)
    for d, _, files in os.walk(dest):
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    for d in sorted((d for d, _, _ in os.walk(dest)), key=len, reverse=True):
        os.chmod(d, 0o755)
    os.chmod(dest, 0o777)

    cache = cache if cache is not None else _nbgrader_cache()
    (cache / course).mkdir(parents=True, exist_ok=True)
    _copy(src, cache / course / name)
    _write_last(cache / course / name, timestamp, secret)
    return timestamp


def _nbgrader_cache() -> Path:
    """nbgrader's Exchange.cache default: jupyter_data_dir()/nbgrader_cache (jupyter_core is
    light; it reads JUPYTER_DATA_DIR and the platform's defaults as nbgrader would)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "nbgrader_cache"


def main() -> int:
    req = json.load(sys.stdin)
    course, assignment = str(req["course"]), str(req.get("assignment") or "module")
    exchange = os.environ.get("XUEFA_EXCHANGE")
    try:
        if req.get("action") == "fetch":
            home = Path(req["home"])
            if exchange:
                path = fetch(course, assignment, Path(exchange), home)
            else:
                _lean_imports()
                from widgets.home import fetch_module
                path = fetch_module(course)
            print(json.dumps({"path": str(path)}, ensure_ascii=False), flush=True)
            return 0
        notebook = Path(req["notebook"])
        essays = {k: v for k, v in (req.get("essays") or {}).items() if isinstance(v, str)}
        if essays:
            write_essays(notebook, essays, list(essays))
        student = str(req["student_id"])
        if exchange:
            timestamp = hand_in(notebook, course, assignment, student, Path(exchange))
        else:
            _lean_imports()
            timestamp = submit_with_nbgrader(notebook, course, assignment, student)
    except (ExchangeRefused, OSError) as e:
        print(f"xuefa exchange: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"timestamp": timestamp}), flush=True)
    return 0


def _lean_imports() -> None:
    # as hub_config.home.lean does for kernels (widgets cannot import it): jsonschema's optional
    # IRI checker builds a 17 MB grammar at import that nothing here uses
    sys.modules.setdefault("rfc3987_syntax", None)


if __name__ == "__main__":
    sys.exit(main())

"""``formgrader-<course_id>``: nbgrader's formgrader for one course, as a hub-managed service.

The upstream layout of nbgrader's "JupyterHub with multiple classes and multiple graders": one
Jupyter server per course, started by the hub as a service, rooted at that course's directory
with the course's ``nbgrader_config.py`` (written by :func:`grading.exchange.nbconfig.ensure_course`:
the gradebook and exchange the grading service uses), reached at
``/services/formgrader-<course_id>/formgrader``. Only the trainers the course's ``course.yaml``
lists may open it, through the role ``formgrader-<course_id>`` from :func:`service_roles` (read
at hub start: a change of the list takes effect at the next start; the Chinese 阅卷 page,
:mod:`hub_config.pages.essays`, reads it at each request and is the documented path);
administrators hold ``access:services`` anyway; everyone else gets 403 from the hub's OAuth.

Only courses with manually graded items (``assessment.manual`` in ``course.yaml``: essays such
as the 述法 report) get a server, to keep memory modest: courses already published (records DB)
and the shipped courses under ``courses/`` (so a course a trainer publishes while the hub runs
already has its formgrader). A course published from elsewhere after start-up needs a hub
restart for its formgrader. ``XUEFA_DISABLE_SERVICES=formgrader`` leaves them all out,
``formgrader-<course_id>`` one of them.

The server runs as root (the gradebook is shared with the root grading workers), so it is cut
down to the formgrader: no JupyterLab, no terminals, no kernels from the REST API, read-only
contents, and formgrader's ``?path=`` (which would load an ``nbgrader_config.py`` from any
directory) is refused by :class:`FormgraderGuard`.

Formgrader's own autograde, collect, generate-feedback and release-feedback actions are refused
(403, with a Chinese message): autograde would execute learners' notebooks as root in this
process, and the grading service already does all four for every submission, in its sandbox,
with the keys withheld from the feedback of attempts that have not passed. Trainers grade
essays here; the service picks their marks up and releases the feedback itself.

Run by the hub as ``python -m hub_config.formgrader_service <course_id>``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web

from grading.host.datadir import DataDir
from grading.host.perms import private_umask
from grading.host.sysusers import is_root

MODULE = "hub_config.formgrader_service"  # not __name__: that is "__main__" under -m
PREFIX = "formgrader-"
SERVICE_TIMEOUT = 180
FORMGRADER_EXTENSION = "nbgrader.server_extensions.formgrader"
# every other server extension installed in the venv is switched off explicitly: the
# config.d files enable them for learners' and trainers' own servers
OTHER_EXTENSIONS = [
    "jupyterlab", "notebook", "notebook_shim", "voila", "jupyter_lsp", "jupyter_server_terminals",
    "nbgrader.server_extensions.validate_assignment", "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
]

log = logging.getLogger("xuefa.formgrader")


def service_name(course_id: str) -> str:
    return f"{PREFIX}{course_id}"


def manual_courses(datadir: DataDir) -> list[str]:
    """Courses whose assessment has manually graded items: published ones and shipped ones."""
    from grading.content.courses import course_dirs, load_course
    from grading.grader.manual import published_manual_courses

    found = set()
    try:
        found.update(published_manual_courses(datadir.records_db_url))
    except Exception as exc:  # noqa: BLE001 - no records DB yet: shipped courses only
        log.warning("published courses not read: %s", exc)
    for d in course_dirs():
        try:
            spec = load_course(d)
        except Exception:  # noqa: BLE001 - `xuefa course validate` reports broken courses
            continue
        if spec.assessment.manual:
            found.add(spec.id)
    return sorted(found)


def service_spec(datadir: DataDir, course_id: str, port: int, title: str | None = None) -> dict:
    """The ``c.JupyterHub.services`` entry of one course's formgrader."""
    return {
        "name": service_name(course_id),
        "url": f"http://127.0.0.1:{port}",
        "command": [sys.executable, "-m", MODULE, course_id],
        "environment": {"XUEFA_DATA_DIR": str(datadir.root)},
        "oauth_no_confirm": True,
        # the hub exits when a managed service is not up in time (30 s by default): a gradebook
        # migration plus a Jupyter server start can take longer on a loaded machine
        "timeout": SERVICE_TIMEOUT,
        "display": True,
        "info": {"title": f"批改作业 · {title or course_id}", "course_id": course_id},
    }


def course_title(datadir: DataDir, course_id: str) -> str:
    from grading.content.courses import course_dirs, load_course

    for d in course_dirs():
        if d.name == course_id:
            try:
                return load_course(d).title
            except Exception:  # noqa: BLE001
                break
    return course_id


def service_specs(datadir: DataDir, free_port) -> list[dict]:
    return [service_spec(datadir, c, free_port(), course_title(datadir, c))
            for c in manual_courses(datadir)]


def service_roles(datadir: DataDir, names: list[str]) -> list[dict]:
    """One role per course's formgrader, held by that course's listed trainers only (the
    ``course.yaml`` ``trainers`` of :func:`grading.grader.essays.course_trainers`, as at hub
    start; administrators hold ``access:services`` anyway). Names that are not active trainers
    on the roster are left out: a role's users are created in the hub DB."""
    from grading.grader.essays import course_trainers, grader_role

    roles = []
    for name in names:
        course_id = name.removeprefix(PREFIX)
        users = []
        for trainer in course_trainers(datadir, course_id):
            try:
                ok = grader_role(datadir.records_db_url, trainer) == "trainer"
            except Exception as exc:  # noqa: BLE001 - no records DB yet: nobody but admins
                log.warning("trainers of %s not checked: %s", course_id, exc)
                ok = False
            if ok:
                users.append(trainer)
        roles.append({
            "name": name,
            "description": f"讲师：批改课程 {course_id} 的作业",
            "scopes": [f"access:services!service={name}"],
            "users": users,
        })
    return roles


# --- inside the service: a Jupyter server that is only a formgrader --------------------------------

class NoKernels(AsyncMappingKernelManager):
    """Kernels would run as root: nobody starts one through this server's REST API.
    (Formgrader's own autograde button runs nbconvert in-process, not through this manager.)"""

    async def start_kernel(self, *args, **kwargs):
        raise web.HTTPError(403, "kernels are disabled in formgrader")


class ReadOnlyContents(AsyncLargeFileManager):
    """The course directory can be browsed, never written (an nbgrader_config.py is code)."""

    def _refuse(self, *args, **kwargs):
        raise web.HTTPError(403, "the course directory is read-only here")

    save = _refuse
    delete_file = _refuse
    rename_file = _refuse
    new = _refuse
    new_untitled = _refuse
    copy = _refuse


def _formgrader_guard():
    from nbgrader.server_extensions.formgrader.handlers import FormgraderHandler

    class FormgraderGuard(FormgraderHandler):
        """formgrader's ``?path=DIR`` re-roots it and loads ``DIR/nbgrader_config.py``."""

        def get(self):
            if self.get_argument("path", ""):
                raise web.HTTPError(403, "formgrader is fixed to this course")
            return super().get()

    return FormgraderGuard


# formgrader API actions the grading service owns (see the module doc)
SERVICE_ACTIONS = [
    r"formgrader/api/submission/[^/]+/[^/]+/autograde",
    r"formgrader/api/assignment/[^/]+/collect",
    r"formgrader/api/assignment/[^/]+/generate_feedback",
    r"formgrader/api/assignment/[^/]+/release_feedback",
    r"formgrader/api/assignment/[^/]+/[^/]+/generate_feedback",
    r"formgrader/api/assignment/[^/]+/[^/]+/release_feedback",
]
SERVICE_ACTION_MESSAGE = ("自动评分、收取作业和发布反馈由评分服务在学员提交后自动完成（在隔离环境中运行），"
                          "此处不再提供。讲师只需在此批改简答题，保存后成绩和反馈会自动更新。")


def _service_action_refusal():
    from jupyter_server.base.handlers import APIHandler

    class ServiceActionRefused(APIHandler):
        """403 for every method: the grading service does this, sandboxed."""

        def _refuse(self, *args, **kwargs):
            self.set_status(403)
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({"success": False, "error": SERVICE_ACTION_MESSAGE},
                                   ensure_ascii=False))

        get = post = put = delete = _refuse

    return ServiceActionRefused


def _load_jupyter_server_extension(serverapp) -> None:
    # loaded before nbgrader's extension (alphabetical order), so these rules match first
    from jupyter_server.utils import url_path_join

    webapp = serverapp.web_app
    base = webapp.settings["base_url"]
    refused = _service_action_refusal()
    webapp.add_handlers(".*$", [(url_path_join(base, p), refused) for p in SERVICE_ACTIONS]
                        + [(url_path_join(base, "formgrader/?"), _formgrader_guard())])


def _jupyter_server_extension_points():
    return [{"module": MODULE}]


def server_argv(root: Path, *, as_root: bool) -> list[str]:
    extensions = {name: False for name in OTHER_EXTENSIONS}
    extensions[FORMGRADER_EXTENSION] = True
    extensions[MODULE] = True
    argv = [
        f"--ServerApp.root_dir={root}",
        "--ServerApp.default_url=/formgrader",
        "--ServerApp.terminals_enabled=False",
        f"--ServerApp.kernel_manager_class={MODULE}.NoKernels",
        f"--ServerApp.contents_manager_class={MODULE}.ReadOnlyContents",
        f"--ServerApp.jpserver_extensions={extensions!r}",
    ]
    if as_root:
        argv.append("--allow-root")
    return argv


def main(argv: list[str] | None = None) -> None:
    from grading.grader.manual import published_manual_courses
    from grading.exchange.nbconfig import ensure_course

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m hub_config.formgrader_service <course_id>")
    course_id = args[0]
    logging.basicConfig(level=logging.INFO)
    private_umask()  # gradebook and course files: root's alone
    datadir = DataDir.from_env()
    try:
        published = course_id in published_manual_courses(datadir.records_db_url)
    except Exception:  # noqa: BLE001 - records DB not there yet
        published = False
    # course root, nbgrader_config.py, and once published its audience in the gradebook
    # (publishing adds them later otherwise)
    root = ensure_course(datadir, course_id, students=published)
    # formgrader reads nbgrader_config.py from the working directory
    os.chdir(root)
    as_root = is_root()
    cmd = [sys.executable, "-m", "jupyterhub.singleuser", *server_argv(root, as_root=as_root)]
    log.info("formgrader of %s: %s", course_id, " ".join(cmd))
    os.execv(sys.executable, cmd)


if __name__ == "__main__":
    main()

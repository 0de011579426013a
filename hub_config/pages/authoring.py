"""课程编写 (issue 15): trainers create, check, preview and publish their courses in the browser.

``/hub/xuefa/author`` lists the courses the person may edit and creates new ones;
``/hub/xuefa/author/<id>`` is one course: bank import/export (Excel), 法条表, 校验, previews
and 发布. The course's files live in its workspace folder (grading.content.workspace), which
trainers edit in JupyterLab as ``~/课程/<id>``.

Who may do what is checked here, on the server, before any course file is read: administrators
(hub group role-admin and 管理员 on the roster) for every course; 讲师 (role-trainer and 讲师)
for the courses whose course.yaml lists them, anyone else gets 403 -- also for a course that does
not exist, so a trainer learns nothing about other courses. Everything the hub does with a
course works on a private snapshot of its folder (no links, devices or hard links followed),
and the hub never runs a trainer's code: 校验 is the static checks only.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timedelta, timezone

from tornado import web
from tornado.escape import url_escape

from grading.content import workspace
from grading.content.courses import ID_RE, TYPE_LABELS_ZH
from grading.host.datadir import DataDir
from grading.records import people
from hub_config.pages.base import XuefaPage, client_ip, off_loop
from hub_config.roles import ADMIN_GROUP, TRAINER_GROUP

MSG_STAFF_ONLY = "只有讲师和管理员可以使用课程编写。"
MSG_NOT_YOURS = "您不是这门课程的讲师，不能查看或修改它。"
LOCAL_TZ = timezone(timedelta(hours=8))
MID_COURSE_NOTE = ("重新发布不会影响已经开始学习的学员：他们保留已获取的课程内容、已作答的练习和已有的成绩；"
                   "此后开始学习（首次获取课程）的学员得到新版本。")
TF_LABELS = {True: "对", False: "错"}


def render_markdown(text: str) -> str:
    """Lesson Markdown as HTML with every raw HTML tag escaped and unsafe link targets removed
    (a trainer's text is shown on a hub page: it must not run as markup)."""
    return _md()(text or "")


@functools.lru_cache(maxsize=1)
def _md():
    import mistune

    return mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])


def key_text(item: dict) -> str:
    """A key as the paper writes it (B, ABD, 对, 六十|60；六|6, BCAD)."""
    key = item.get("key")
    if item.get("type") == "truefalse" and isinstance(key, bool):
        return TF_LABELS[key]
    if item.get("type") == "fill" and isinstance(key, list):
        return "；".join("|".join(map(str, b)) if isinstance(b, list) else str(b) for b in key)
    if isinstance(key, list):
        return "".join(map(str, key))
    if isinstance(key, dict):
        return "；".join(f"{k}：{v}" for k, v in key.items())
    return "" if key is None else str(key)


def local_time(ts: float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts, LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _status(datadir: DataDir, cid: str) -> dict:
    stamp = datadir.course_root(cid) / ".published.sha256"
    try:
        return {"published": True, "at": local_time(stamp.stat().st_mtime)}
    except OSError:
        return {"published": False, "at": ""}


def _title(datadir: DataDir, cid: str) -> tuple[str, str]:
    """(课程名称, first lesson file) from course.yaml as it is now (read safely)."""
    import yaml

    try:
        data = yaml.safe_load(workspace.read_file(datadir, cid, "course.yaml", 1024 * 1024))
    except (OSError, ValueError, yaml.YAMLError):
        return cid, "lesson1.ipynb"
    if not isinstance(data, dict):
        return cid, "lesson1.ipynb"
    title = data.get("title") if isinstance(data.get("title"), str) else cid
    lessons = data.get("lessons") if isinstance(data.get("lessons"), list) else []
    first = lessons[0].get("file") if lessons and isinstance(lessons[0], dict) else None
    return title, first if isinstance(first, str) and re.fullmatch(r"[\w.\-]+\.ipynb", first) else "lesson1.ipynb"


def course_list(datadir: DataDir, username: str, admin: bool) -> list[dict]:
    ids = workspace.course_ids(datadir) if admin else workspace.courses_of(datadir, username)
    return [{"id": cid, "title": _title(datadir, cid)[0], **_status(datadir, cid)} for cid in ids]


def course_overview(datadir: DataDir, cid: str) -> dict:
    title, first = _title(datadir, cid)
    try:
        laws = workspace.missing_statutes(datadir, cid)
        laws_error = None
    except (workspace.UnsafeWorkspace, ValueError) as e:
        laws, laws_error = [], str(e)
    return {"id": cid, "title": title, "first_lesson": first, "laws": laws, "laws_error": laws_error,
            **_status(datadir, cid)}


class AuthorPage(XuefaPage):
    """Shared checks of the 课程编写 pages."""

    @property
    def datadir(self) -> DataDir:
        return DataDir.from_env(getattr(self.authenticator, "data_dir", None) or None)

    async def require_staff(self):
        """(user, is administrator) for an active 讲师 or 管理员; 403 for anyone else."""
        user = self.current_user
        if user is None or getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403, MSG_STAFF_ONLY)
        groups = {g.name for g in user.groups}
        info = await off_loop(people.learner_info, self.db_url, user.name)
        if not info or not info["active"]:
            raise web.HTTPError(403, MSG_STAFF_ONLY)
        if info["role"] == "admin" and ADMIN_GROUP in groups:
            return user, True
        if info["role"] == "trainer" and TRAINER_GROUP in groups:
            return user, False
        raise web.HTTPError(403, MSG_STAFF_ONLY)

    async def require_course(self, cid: str):
        user, admin = await self.require_staff()
        if not re.fullmatch(ID_RE, cid or ""):
            raise web.HTTPError(404 if admin else 403, "没有这门课程" if admin else MSG_NOT_YOURS)
        if admin:
            if not await off_loop(workspace.exists, self.datadir, cid):
                raise web.HTTPError(404, "没有这门课程")
        elif not await off_loop(workspace.may_edit, self.datadir, cid, user.name):
            raise web.HTTPError(403, MSG_NOT_YOURS)
        return user, admin

    def lab_url(self, user, cid: str, lesson: str) -> str:
        path = f"{workspace.LINK_DIR}/{cid}/source/module/{lesson}"
        return f"{user.url}lab/tree/{url_escape(path, plus=False).replace('%2F', '/')}"

    async def render_course(self, user, cid: str, *, ok: str | None = None, errors: list[str] | None = None,
                            section: str = "", published: dict | None = None):
        info = await off_loop(course_overview, self.datadir, cid)
        self.finish(await self.render_template("xuefa_author_course.html", **self.page_ns(
            c=info, ok=ok, errors=errors or [], section=section, published=published,
            lab_url=self.lab_url(user, cid, info["first_lesson"]), mid_course=MID_COURSE_NOTE)))


class AuthorHandler(AuthorPage):
    """课程编写: my courses and 新建课程."""

    @web.authenticated
    async def get(self):
        user, admin = await self.require_staff()
        await self._render(user, admin)

    async def _render(self, user, admin: bool, *, error: str | None = None, form: dict | None = None):
        courses = await off_loop(course_list, self.datadir, user.name, admin)
        self.finish(await self.render_template("xuefa_author.html", **self.page_ns(
            courses=courses, admin=admin, error=error, form=form or {},
            audiences=workspace.AUDIENCE_CHOICES)))

    @web.authenticated
    async def post(self):
        user, admin = await self.require_staff()
        cid = self.get_body_argument("course_id", "", strip=True)[:64]
        title = self.get_body_argument("title", "", strip=True)[:200]
        audience = [a for a in self.get_body_arguments("audience", strip=True) if a][:10]
        try:
            await off_loop(functools.partial(
                workspace.new_course, self.datadir, cid, title, audience, [user.name],
                actor=user.name, client=client_ip(self)))
        except ValueError as e:
            self.set_status(400)
            return await self._render(user, admin, error=str(e),
                                      form={"course_id": cid, "title": title, "audience": audience})
        self.log.info("Course %s created in the workspace by %s", cid, user.name)
        self.redirect(f"{self.hub.base_url}xuefa/author/{cid}")


class AuthorCourseHandler(AuthorPage):
    """One course's page."""

    @web.authenticated
    async def get(self, cid: str):
        user, _ = await self.require_course(cid)
        # trainers added to or removed from course.yaml in Lab get (or lose) the folder now
        await off_loop(workspace.sync_quietly, self.datadir, cid)
        await self.render_course(user, cid)


class AuthorBankHandler(AuthorPage):
    """导入题库 (POST, .xlsx upload): all rows valid or nothing written."""

    @web.authenticated
    async def post(self, cid: str):
        from grading.content.bankxlsx import BankXlsxError
        from grading.content.courses import FormatError

        user, _ = await self.require_course(cid)
        files = self.request.files.get("bank") or []
        if not files:
            self.set_status(400)
            return await self.render_course(user, cid, section="bank", errors=[workspace.NO_BANK_FILE])
        upload = files[0]
        try:
            report = await off_loop(functools.partial(
                workspace.import_bank, self.datadir, cid, upload["body"], upload.get("filename") or ""))
        except BankXlsxError as e:
            self.set_status(400)
            return await self.render_course(user, cid, section="bank", errors=[
                f"题库文件有 {len(e.lines)} 个问题，题库未作任何修改：", *e.lines])
        except FormatError as e:
            self.set_status(400)
            return await self.render_course(user, cid, section="bank", errors=[f"{f}：{m}" for f, m in e.problems])
        except workspace.UnsafeWorkspace as e:
            self.set_status(400)
            return await self.render_course(user, cid, section="bank", errors=e.problems)
        except ValueError as e:
            self.set_status(400)
            return await self.render_course(user, cid, section="bank", errors=[str(e)])
        await off_loop(workspace.sync_quietly, self.datadir, cid)
        self.log.info("Bank of %s imported by %s: %s", cid, user.name, report.summary())
        verb = "已导入" if report.written else "题库没有变化"
        await self.render_course(user, cid, section="bank",
                                 ok=f"{verb}：共 {len(report.bank.questions)} 道题；{report.summary()}。")


class AuthorBankExportHandler(AuthorPage):
    """导出题库: Excel (bank.xlsx) or Word (bank.docx)."""

    MIME = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
    NAME = {"xlsx": "题库.xlsx", "docx": "题库.docx"}

    @web.authenticated
    async def get(self, cid: str, fmt: str):
        user, _ = await self.require_course(cid)
        try:
            data, _n = await off_loop(workspace.export_bank, self.datadir, cid, fmt)
        except (workspace.UnsafeWorkspace, ValueError) as e:
            self.set_status(400)
            errors = e.problems if isinstance(e, workspace.UnsafeWorkspace) else [str(e)]
            return await self.render_course(user, cid, section="bank", errors=errors)
        self.set_header("Content-Type", self.MIME[fmt])
        self.set_header("Content-Disposition", f"attachment; filename={cid}-bank.{fmt}; filename*=UTF-8''"
                        f"{url_escape(cid + '-' + self.NAME[fmt], plus=False)}")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(data)


class AuthorStatutesHandler(AuthorPage):
    """保存法条表: versions for the cited laws statutes.yaml lacks."""

    @web.authenticated
    async def post(self, cid: str):
        user, _ = await self.require_course(cid)
        laws = self.get_body_arguments("law", strip=True)[:200]
        versions = self.get_body_arguments("version", strip=True)[:200]
        given = {law[:100]: v[:40] for law, v in zip(laws, versions) if law and v}
        if not given:
            self.set_status(400)
            return await self.render_course(user, cid, section="statutes", errors=["请至少填写一部法律法规的现行版本"])
        try:
            written = await off_loop(workspace.save_statutes, self.datadir, cid, given)
        except (workspace.UnsafeWorkspace, ValueError) as e:
            self.set_status(400)
            errors = e.problems if isinstance(e, workspace.UnsafeWorkspace) else [str(e)]
            return await self.render_course(user, cid, section="statutes", errors=errors)
        if not written:
            self.set_status(400)
            return await self.render_course(user, cid, section="statutes", errors=["没有需要保存的法律法规"])
        await self.render_course(user, cid, section="statutes", ok=f"已保存法条表：{'、'.join(written)}")


class AuthorValidateHandler(AuthorPage):
    """校验 (static checks only: the hub never runs a trainer's notebook)."""

    @web.authenticated
    async def post(self, cid: str):
        user, _ = await self.require_course(cid)
        problems = await off_loop(workspace.check_course, self.datadir, cid)
        if problems:
            self.set_status(200)
            return await self.render_course(user, cid, section="validate",
                                            errors=[f"发现 {len(problems)} 个问题：", *problems])
        await self.render_course(user, cid, section="validate", ok="校验通过")


class AuthorPreviewHandler(AuthorPage):
    """学员预览 / 讲师预览 (``?as=learner|trainer``)."""

    @web.authenticated
    async def get(self, cid: str):
        user, _ = await self.require_course(cid)
        trainer = self.get_argument("as", "learner") == "trainer"
        try:
            data = await off_loop(functools.partial(workspace.preview, self.datadir, cid, trainer=trainer))
        except workspace.UnsafeWorkspace as e:
            self.set_status(400)
            return await self.render_course(user, cid, section="preview", errors=e.problems)
        self.finish(await self.render_template("xuefa_author_preview.html", **self.page_ns(
            cid=cid, p=data, trainer=trainer, md=render_markdown, key_text=key_text,
            type_labels=TYPE_LABELS_ZH, practice_types=workspace.PRACTICE_TYPES)))


class AuthorPracticeCheckHandler(AuthorPage):
    """学员预览's 核对答案 (POST lesson, qid, answer as JSON): the practice feedback as JSON."""

    @web.authenticated
    async def post(self, cid: str):
        await self.require_course(cid)
        try:
            answer = json.loads(self.get_body_argument("answer", "null"))
        except ValueError:
            return self._json({"error": "答案格式无效"}, 400)
        try:
            result = await off_loop(functools.partial(
                workspace.check_practice, self.datadir, cid, self.get_body_argument("lesson", ""),
                self.get_body_argument("qid", ""), answer))
        except workspace.UnsafeWorkspace as e:
            return self._json({"error": "；".join(e.problems)}, 400)
        except ValueError as e:  # check_practice's own, in Chinese
            return self._json({"error": str(e)}, 400)
        self._json(result)

    def _json(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False))


class AuthorPublishHandler(AuthorPage):
    """发布: checks first; then the release, audited, and optionally the elective."""

    @web.authenticated
    async def post(self, cid: str):
        user, _ = await self.require_course(cid)
        elective = bool(self.get_body_argument("elective", ""))
        client = client_ip(self)
        result = await off_loop(functools.partial(
            workspace.publish, self.datadir, cid, actor=user.name, client=client, elective=elective))
        if not result["ok"]:
            self.set_status(400)
            return await self.render_course(user, cid, section="publish",
                                            errors=["未发布：请先修正以下问题。", *result["problems"]])
        await off_loop(workspace.sync_quietly, self.datadir, cid)
        rep = result["report"]
        self.log.info("Course %s published from the workspace by %s from %s", cid, user.name, client)
        msg = f"已发布“{rep.title}”（满分 {rep.max_score:g}），面向{'、'.join(rep.audience)}。"
        added = result.get("elective")
        if elective:
            if added is None:
                msg += "当前没有学习活动，未加入选修课。"
            elif added[1]:
                msg += f"已作为选修课加入学习活动“{added[0]}”（{'、'.join(added[1])}）。"
            else:
                msg += f"学习活动“{added[0]}”中已有这门课程。"
        await self.render_course(user, cid, section="publish", ok=msg + MID_COURSE_NOTE)


_ID = r"([^/]+)"
HANDLERS = [
    (r"/xuefa/author", AuthorHandler),
    (rf"/xuefa/author/{_ID}", AuthorCourseHandler),
    (rf"/xuefa/author/{_ID}/bank", AuthorBankHandler),
    (rf"/xuefa/author/{_ID}/bank\.(xlsx|docx)", AuthorBankExportHandler),
    (rf"/xuefa/author/{_ID}/preview/check", AuthorPracticeCheckHandler),
    (rf"/xuefa/author/{_ID}/statutes", AuthorStatutesHandler),
    (rf"/xuefa/author/{_ID}/validate", AuthorValidateHandler),
    (rf"/xuefa/author/{_ID}/preview", AuthorPreviewHandler),
    (rf"/xuefa/author/{_ID}/publish", AuthorPublishHandler),
]

"""阅卷 (issue 15): trainers grade essays (述法 reports and other manually graded answers) on a
Chinese hub page instead of nbgrader's English formgrader.

- ``/hub/xuefa/essays``: the courses with essays the logged-in person may grade, with
  待评阅/已评阅 counts;
- ``/hub/xuefa/essays/<course>``: that course's submissions (one per learner: the attempt
  nbgrader holds), waiting ones first;
- ``/hub/xuefa/essays/<course>/<账号>``: the learner's text (escaped, as text), the question,
  the rubric, 得分 and 评语 per essay, 保存 (XSRF). Saving writes nbgrader's gradebook and makes
  the attempt final at once (:func:`grading.grader.essays.save_grade`), audited as the trainer.

Who may: city-wide administrators, and the trainers the course's ``course.yaml`` lists
(:func:`grading.grader.essays.may_grade`, read at each request). Everyone else, unit
administrators included (they are not graders), gets 403 before any course file or gradebook
is read. The person is always the logged-in one; the URL only names the course and learner.
"""

from __future__ import annotations

import functools

from tornado import web

from grading.exchange.names import valid_id, valid_username
from grading.grader import essays
from grading.host.datadir import DataDir
from hub_config.pages.base import XuefaPage, client_ip, off_loop
from hub_config.pages.law_review import local_time
from hub_config.roles import ADMIN_GROUP, TRAINER_GROUP

MAX_ITEMS = 50


class EssaysPage(XuefaPage):
    def datadir(self) -> DataDir:
        return DataDir.from_env(getattr(self.authenticator, "data_dir", None) or None)

    async def grader(self) -> tuple[str, str]:
        """(username, "admin"|"trainer") of the logged-in grader; 403 for anyone else. The hub
        group and the records DB must agree (a stale group never outlives the roster)."""
        user = self.current_user
        if user is None or getattr(user, "kind", "user") != "user":
            raise web.HTTPError(403, essays.MSG_FORBIDDEN)
        groups = {g.name for g in user.groups}
        if not groups & {ADMIN_GROUP, TRAINER_GROUP}:
            raise web.HTTPError(403, essays.MSG_FORBIDDEN)
        role = await off_loop(essays.grader_role, self.db_url, user.name)
        if role is None or (role == "admin" and ADMIN_GROUP not in groups) or (
                role == "trainer" and TRAINER_GROUP not in groups):
            raise web.HTTPError(403, essays.MSG_FORBIDDEN)
        return user.name, role

    async def course_grader(self, course_id: str) -> tuple[str, str]:
        name, role = await self.grader()
        if not valid_id(course_id) or not await off_loop(
                essays.may_grade, self.datadir(), course_id, name, role):
            raise web.HTTPError(403, essays.MSG_FORBIDDEN)
        return name, role

    async def course_title(self, course_id: str) -> str:
        from grading.records.results import manual_courses

        titles = dict(await off_loop(manual_courses, self.db_url))
        if course_id not in titles:
            raise web.HTTPError(404, "没有找到这门课程，或者这门课程没有需要人工评阅的题目。")
        return titles[course_id]

    async def show(self, **ns):
        self.finish(await self.render_template("xuefa_essays.html", **self.page_ns(
            local_time=local_time, waiting=essays.WAITING, **ns)))


class EssaysHandler(EssaysPage):
    """阅卷: my courses with essays."""

    @web.authenticated
    async def get(self):
        name, role = await self.grader()
        courses = await off_loop(essays.gradable_courses, self.datadir(), name, role)
        await self.show(view="courses", courses=courses)


class EssayCourseHandler(EssaysPage):
    """One course's submissions."""

    @web.authenticated
    async def get(self, course_id: str):
        await self.course_grader(course_id)
        title = await self.course_title(course_id)
        rows = await off_loop(essays.submissions, self.datadir(), course_id)
        await self.show(view="course", course_id=course_id, title=title, rows=rows)


class EssayGradeHandler(EssaysPage):
    """One learner's essays: read, score, comment, 保存."""

    async def _detail(self, course_id: str, username: str, *, message: str | None = None,
                      error: str | None = None, form: dict | None = None):
        title = await self.course_title(course_id)
        e = None
        if valid_username(username):
            e = await off_loop(essays.essay, self.datadir(), course_id, username)
        if e is None:
            raise web.HTTPError(404, essays.MSG_NO_SUBMISSION)
        await self.show(view="detail", course_id=course_id, title=title, e=e, message=message,
                        error=error, form=form or {})

    @web.authenticated
    async def get(self, course_id: str, username: str):
        await self.course_grader(course_id)
        await self._detail(course_id, username)

    @web.authenticated
    async def post(self, course_id: str, username: str):
        name, _ = await self.course_grader(course_id)
        scores, comments = {}, {}
        for key in list(self.request.body_arguments)[:4 * MAX_ITEMS]:
            if key.startswith("score-"):
                scores[key[6:70]] = self.get_body_argument(key, "", strip=True)[:20]
            elif key.startswith("comment-"):
                comments[key[8:72]] = self.get_body_argument(key, "", strip=False)[:essays.MAX_COMMENT * 2]
        stamp = self.get_body_argument("stamp", "", strip=True)[:40]
        client = client_ip(self)
        if not valid_username(username):
            raise web.HTTPError(404, essays.MSG_NO_SUBMISSION)
        try:
            done = await off_loop(functools.partial(
                essays.save_grade, self.datadir(), course_id, username, scores, comments,
                actor=name, stamp=stamp, client=client))
        except essays.GradeError as e:
            self.set_status(400)
            return await self._detail(course_id, username, error=str(e),
                                      form={"scores": scores, "comments": comments})
        self.log.info("Essay grade: %s graded %s in %s (%g/%g) from %s", name, username,
                      course_id, done["score"], done["max_score"], client)
        await self._detail(course_id, username, message=(
            f"已保存。本次考试成绩 {done['score']:g}/{done['max_score']:g} 分，"
            "学员刷新测试页面即可看到得分和评语。"))

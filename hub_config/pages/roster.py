"""花名册导入 (issue 16): the roster upload page, the same import as ``xuefa roster import``.

Upload → preview (a dry run of :func:`grading.records.roster.import_roster`: who is created,
updated, moved between units, deactivated; bad rows as ``第N行 [字段] 原因``, nothing changed)
→ 确认导入 of exactly the previewed bytes. Between the two steps the file waits in
``DATA/reports/roster-uploads/`` (0700 directory, 0600 files) under a random one-time token,
bound to the administrator who uploaded it and to its SHA-256; the file name the browser sent
is only ever displayed (escaped), never used in a path. Confirming re-validates everything.

After the import the running hub is brought in step through its own REST API with the
``xuefa-cli`` token (:mod:`hub_config.hubsync`, as the CLI does; run in a worker thread, so the
hub's event loop answers those requests meanwhile). Generated initial passwords become a
workbook (formula-safe cells) that can be downloaded once: the first download removes it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path

from jupyterhub import orm
from jupyterhub.utils import new_token
from tornado import web
from tornado.escape import url_escape

from grading.host.datadir import DataDir
from grading.records import roster
from hub_config.pages.accounts import require_city_admin
from hub_config.pages.base import XuefaPage, client_ip, off_loop

MAX_UPLOAD = 5 * 1024 * 1024  # a city's roster is well under 1 MB; a cap keeps the hub's memory safe
UPLOAD_TTL = 3600  # an unconfirmed preview expires after an hour
SUFFIXES = (".xlsx", ".csv")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
DEACTIVATE_CHOICES = {"": "不停用任何人（默认）",
                      "units": "停用名单中各单位里、但不在名单上的人员",
                      "all": "停用所有不在名单上的人员（名单为全市完整名单时使用）"}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _upload_dir(datadir: DataDir) -> Path:
    d = datadir.reports / "roster-uploads"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def _display_name(filename: str) -> str:
    """The browser's file name for showing only: last path part, no control characters."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable())
    return name[:100] or "名单"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _purge_old(d: Path) -> None:
    now = time.time()
    for p in d.iterdir():
        try:
            if now - p.lstat().st_mtime > UPLOAD_TTL:
                p.unlink()
        except OSError:
            pass


def save_upload(datadir: DataDir, data: bytes, suffix: str, meta: dict) -> str:
    d = _upload_dir(datadir)
    _purge_old(d)
    token = secrets.token_urlsafe(24)
    _write_private(d / f"{token}{suffix}", data)
    _write_private(d / f"{token}.json", json.dumps(
        {**meta, "suffix": suffix, "sha256": hashlib.sha256(data).hexdigest(),
         "at": time.time()}).encode())
    return token


def load_upload(datadir: DataDir, token: str, admin: str) -> tuple[Path, dict] | None:
    """The previewed file of ``token`` if it is ``admin``'s, unexpired and unchanged."""
    if not TOKEN_RE.match(token or ""):
        return None
    d = _upload_dir(datadir)
    try:
        meta = json.loads((d / f"{token}.json").read_text())
    except (OSError, ValueError):
        return None
    path = d / f"{token}{meta.get('suffix')}"
    if (meta.get("admin") != admin or meta.get("suffix") not in SUFFIXES
            or time.time() - meta.get("at", 0) > UPLOAD_TTL or path.is_symlink()):
        return None
    try:
        if hashlib.sha256(path.read_bytes()).hexdigest() != meta.get("sha256"):
            return None
    except OSError:
        return None
    return path, meta


def drop_upload(datadir: DataDir, token: str) -> None:
    if TOKEN_RE.match(token or ""):
        for p in _upload_dir(datadir).glob(f"{token}.*"):
            p.unlink(missing_ok=True)


def save_passwords(datadir: DataDir, rows: list[tuple[str, str, str]], admin: str) -> str:
    token = secrets.token_urlsafe(24)
    d = _upload_dir(datadir)
    _write_private(d / f"{token}.pw.xlsx", roster.passwords_xlsx(rows))
    _write_private(d / f"{token}.pw.json", json.dumps({"admin": admin}).encode())
    return token


def take_passwords(datadir: DataDir, token: str, admin: str) -> bytes | None:
    """The workbook once: it is renamed away first, so of two racing downloads one gets it."""
    if not TOKEN_RE.match(token or ""):
        return None
    d = _upload_dir(datadir)
    try:
        meta = json.loads((d / f"{token}.pw.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("admin") != admin:
        return None
    taken = d / f"{token}.taken-{secrets.token_hex(4)}"
    try:
        os.rename(d / f"{token}.pw.xlsx", taken)
    except OSError:
        return None
    try:
        return taken.read_bytes()
    finally:
        taken.unlink(missing_ok=True)
        (d / f"{token}.pw.json").unlink(missing_ok=True)


def _hub_sync(datadir: DataDir, records_url: str):
    from hub_config.hubsync import running_hub, sync_hub

    hub = running_hub(datadir)
    if hub is None:
        raise RuntimeError("找不到平台的接口地址或令牌")
    return sync_hub(*hub, records_url)


class RosterHandler(XuefaPage):
    """花名册导入: GET the form; POST ``step=preview`` (a file) or ``step=confirm`` (a token)."""

    @property
    def datadir(self) -> DataDir:
        return DataDir.from_env(self.authenticator.data_dir)

    @web.authenticated
    async def get(self):
        await require_city_admin(self)
        await self._render()

    async def _render(self, **ns):
        ns.setdefault("choices", DEACTIVATE_CHOICES)
        for key in ("errors", "report", "token", "file_name", "deactivate", "message",
                    "warning", "passwords_token", "done", "error"):
            ns.setdefault(key, None)
        self.finish(await self.render_template("xuefa_roster.html", **self.page_ns(**ns)))

    @web.authenticated
    async def post(self):
        admin = await require_city_admin(self)
        step = self.get_body_argument("step", "")
        if step == "preview":
            return await self._preview(admin)
        if step == "confirm":
            return await self._confirm(admin)
        self.set_status(400)
        await self._render(error="请求无效。")

    async def _preview(self, admin):
        files = self.request.files.get("roster") or []
        deactivate = self.get_body_argument("deactivate", "")
        if deactivate not in DEACTIVATE_CHOICES:
            self.set_status(400)
            return await self._render(error="请求无效：停用选项未知。")
        if len(files) != 1 or not files[0].body:
            self.set_status(400)
            return await self._render(error="请选择要导入的名单文件（.xlsx 或 .csv）。")
        upload = files[0]
        name = _display_name(upload.filename)
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            self.set_status(400)
            return await self._render(error="只能导入 .xlsx 或 .csv 文件；旧版 .xls 或 WPS 表格请先“另存为” .xlsx。")
        if len(upload.body) > MAX_UPLOAD:
            self.set_status(413)
            return await self._render(error=f"文件太大（上限 {MAX_UPLOAD // (1024 * 1024)} MB）。")
        token = await off_loop(save_upload, self.datadir, upload.body, suffix,
                               {"admin": admin.name, "name": name, "deactivate": deactivate})
        path, _meta = await off_loop(load_upload, self.datadir, token, admin.name)
        report = await off_loop(functools.partial(
            roster.import_roster, path, self.db_url, dry_run=True,
            deactivate_missing=deactivate or None))
        if report.errors:
            await off_loop(drop_upload, self.datadir, token)
            self.set_status(400)
            return await self._render(errors=[str(e) for e in report.errors], file_name=name)
        await self._render(report=report, token=token, file_name=name, deactivate=deactivate)

    async def _confirm(self, admin):
        token = self.get_body_argument("token", "")
        found = await off_loop(load_upload, self.datadir, token, admin.name)
        if found is None:
            self.set_status(400)
            return await self._render(error="预览已失效或不属于您：请重新选择文件并预览。")
        path, meta = found
        client = client_ip(self)
        try:
            report = await off_loop(functools.partial(
                roster.import_roster, path, self.db_url, deactivate_missing=meta["deactivate"] or None,
                actor=admin.name, client=client, source_name=meta["name"], write_passwords=False))
        finally:
            await off_loop(drop_upload, self.datadir, token)
        if report.errors:  # the DB changed since the preview (e.g. another import)
            self.set_status(400)
            return await self._render(errors=[str(e) for e in report.errors], file_name=meta["name"])
        self.log.info("Roster %s imported by %s from %s: %d created, %d updated, %d deactivated",
                      meta["name"], admin.name, client, len(report.created), len(report.updated),
                      len(report.deactivated))
        passwords_token = None
        if report.generated_passwords:
            passwords_token = await off_loop(save_passwords, self.datadir,
                                             report.generated_passwords, admin.name)
        self._end_sessions(report.deactivated)
        warning = None
        try:
            await off_loop(_hub_sync, self.datadir, self.db_url)
        except Exception as exc:  # noqa: BLE001 - the records DB is imported; say what is left
            self.log.exception("Hub sync after the roster import failed")
            warning = (f"名单已导入，但同步到运行中的平台失败（{str(exc)[:200]}）：请稍后重新导入同一文件，"
                       "或重启平台（启动时会载入用户和分组）。")
        await self._render(report=report, done=True, file_name=meta["name"],
                           deactivate=meta["deactivate"], passwords_token=passwords_token,
                           warning=warning)


    def _end_sessions(self, usernames: list[str]) -> None:
        """The deactivated are logged out at once (as 账号管理's 停用 does): a new cookie id voids
        their hub login cookies, and their tokens go; the sync then stops their servers."""
        for name in usernames:
            orm_user = orm.User.find(self.db, name)
            if orm_user is None:
                continue
            orm_user.cookie_id = new_token()
            for token in list(orm_user.api_tokens):
                self.db.delete(token)
        if usernames:
            self.db.commit()


class RosterPasswordsHandler(XuefaPage):
    """The initial passwords of one import, downloadable once by the administrator who ran it."""

    @web.authenticated
    async def get(self, token):
        admin = await require_city_admin(self)
        data = await off_loop(take_passwords, DataDir.from_env(self.authenticator.data_dir),
                              token, admin.name)
        if data is None:
            raise web.HTTPError(410, "初始密码表已被下载过或已失效，不能再次下载。")
        self.set_header("Content-Type", XLSX_TYPE)
        self.set_header("Content-Disposition", "attachment; filename=initial-passwords.xlsx; "
                        f"filename*=UTF-8''{url_escape('初始密码.xlsx', plus=False)}")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(data)

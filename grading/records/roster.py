"""Import the administrators' roster (.xlsx or .csv) into the records DB.

Every row is validated before anything is written; if any row is bad the import changes
nothing and each bad row is reported with the line number a person sees in Excel (header =
line 1) and the field at fault. Re-import is idempotent: people are matched by 账号 and changes
are applied.

People missing from the file are left alone by default: a clerk's partial file (one township, a
few new hires) must not switch off the rest of the city. Deactivation (their records stay) is an
explicit choice, ``deactivate_missing=``:

``"units"``  people missing from the file *whose unit appears in the file* (exactly that unit,
             not its sub-units): a township's file retires that township's leavers and nobody
             in the villages or elsewhere;
``"all"``    everyone missing from the file (the file is the whole city).

Either way the last active 管理员 is never deactivated: when the import would leave no active
administrator, the missing administrators stay active (``ImportReport.kept_admins``).
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, true

from grading.records.accounts import check_strength, hash_password, password_matches
from grading.records.db import session_scope
from grading.records.models import AUDIENCE_LABELS, ROLE_LABELS, Credential, Learner, Role, Unit
from grading.records.sheets import write_csv_rows

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_]{2,19}$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
REQUIRED = ("账号", "姓名", "单位", "身份", "角色")
OPTIONAL = ("手机", "初始密码")
MAX_UNIT_DEPTH = 3  # city / township or department / village or community
DEACTIVATE_SCOPES = ("units", "all")
AUDIENCE_BY_LABEL = {label: a for a, label in AUDIENCE_LABELS.items()}
ROLE_BY_LABEL = {label: r for r, label in ROLE_LABELS.items()}

@dataclass(frozen=True)
class RowError:
    line: int  # 0 = the file as a whole
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"第{self.line}行" if self.line else "文件"
        return f"{where} [{self.field}] {self.reason}"

@dataclass
class RosterRow:
    line: int
    username: str
    name: str
    unit_path: str
    audience: object
    role: object
    phone: str | None
    password: str | None

@dataclass
class ImportReport:
    total: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    # active people missing from the file who were NOT deactivated (no option, or another unit)
    missing_kept: list[str] = field(default_factory=list)
    # administrators kept active because deactivating them would leave no active 管理员
    kept_admins: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    passwords_file: Path | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

# --- reading ---------------------------------------------------------------------------

def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK) as Chinese Excel writes."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")

def read_table(path: Path) -> list[list[str]]:
    """Rows of cells as strings (header first). Raises ValueError (zh-CN) for unreadable files."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a broken file
            raise ValueError(f"无法读取 Excel 文件 {path.name}：{exc}") from exc
        ws = wb.worksheets[0]
        rows = [["" if v is None else _cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
        return rows
    if suffix == ".csv":
        text = _decode(path.read_bytes())
        first = text.split("\n", 1)[0]
        delimiter = "\t" if "\t" in first and "," not in first else ","  # tab: Excel's Unicode text
        return [list(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter)]
    if suffix in (".xls", ".et", ".wps"):  # old Excel / WPS formats openpyxl cannot read
        raise ValueError(f"不支持旧版表格格式 {path.suffix}：请在 Excel 或 WPS 中“另存为” .xlsx 或 .csv 后再导入")
    raise ValueError(f"不支持的文件类型 {path.suffix}：请使用 .xlsx 或 .csv")

def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed as numbers in Excel
    return str(value)

# --- validation ------------------------------------------------------------------------

HEADER_SEARCH_ROWS = 5


def _header_name(cell: str) -> str:
    # "账号*" / "账号（必填）" / full-width spaces are common in templates handed round by offices
    name = re.sub(r"[\s\u3000*＊]", "", cell or "")
    return re.sub(r"[（(].*?[)）]$", "", name)


def parse_rows(table: list[list[str]]) -> tuple[list[RosterRow], list[RowError]]:
    if not table:
        return [], [RowError(0, "表头", "文件为空")]
    # offices often put a title row (e.g. 海安市学法人员名单) above the header
    start = next((i for i, r in enumerate(table[:HEADER_SEARCH_ROWS])
                  if "账号" in [_header_name(h) for h in r]), 0)
    header = [_header_name(h) for h in table[start]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [RowError(start + 1, c, f"缺少必填列“{c}”") for c in missing]
    col = {name: header.index(name) for name in REQUIRED + OPTIONAL if name in header}
    rows: list[RosterRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(table[start + 1:], start=start + 2):
        cells = [c.strip() for c in raw]
        if not any(cells):
            continue  # blank lines at the end of a sheet are not rows

        def get(name: str, cells: list[str] = cells) -> str:
            i = col.get(name)
            return cells[i] if i is not None and i < len(cells) else ""

        username, name, unit = get("账号"), get("姓名"), get("单位")
        audience_label, role_label = get("身份"), get("角色")
        phone, password = get("手机") or None, get("初始密码") or None
        row_errors = []
        if not username:
            row_errors.append(RowError(line, "账号", "账号为空"))
        elif not USERNAME_RE.match(username):
            row_errors.append(RowError(line, "账号", f"账号“{username}”不合法：须以小写字母开头，"
                                       "只含小写字母、数字和下划线，3～20位"))
        elif username in seen:
            row_errors.append(RowError(line, "账号", f"账号“{username}”与第{seen[username]}行重复"))
        else:
            seen[username] = line
        if not name:
            row_errors.append(RowError(line, "姓名", "姓名为空"))
        parts = [p.strip() for p in unit.split("/") if p.strip()] if unit else []
        if not parts:
            row_errors.append(RowError(line, "单位", "单位为空"))
        elif len(parts) > MAX_UNIT_DEPTH:
            row_errors.append(RowError(line, "单位", f"单位层级过深（最多{MAX_UNIT_DEPTH}级：市/镇或部门/村或社区）"))
        audience = AUDIENCE_BY_LABEL.get(audience_label)
        if audience is None:
            row_errors.append(RowError(line, "身份", f"未知身份“{audience_label}”，应为：{'、'.join(AUDIENCE_BY_LABEL)}"))
        role = ROLE_BY_LABEL.get(role_label)
        if role is None:
            row_errors.append(RowError(line, "角色", f"未知角色“{role_label}”，应为：{'、'.join(ROLE_BY_LABEL)}"))
        if phone and not PHONE_RE.match(phone):
            row_errors.append(RowError(line, "手机", f"手机号“{phone}”格式不正确（应为11位大陆手机号）"))
        if password is not None:
            try:
                check_strength(password)
            except ValueError as exc:
                row_errors.append(RowError(line, "初始密码", str(exc).replace("新密码", "初始密码")))
        if row_errors:
            errors.extend(row_errors)
            continue
        rows.append(RosterRow(line, username, name, "/".join(parts), audience, role, phone, password))
    if not rows and not errors:
        errors.append(RowError(0, "内容", "名单中没有人员"))
    return rows, errors

# --- import ----------------------------------------------------------------------------

def _ensure_unit(session, path: str, cache: dict[str, Unit]) -> Unit:
    if path in cache:
        return cache[path]
    parts = path.split("/")
    parent = _ensure_unit(session, "/".join(parts[:-1]), cache) if len(parts) > 1 else None
    unit = session.scalar(select(Unit).where(Unit.path == path))
    if unit is None:
        unit = Unit(path=path, name=parts[-1], level=len(parts) - 1, parent=parent)
        session.add(unit)
        session.flush()
    cache[path] = unit
    return unit

def _random_password() -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(10))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw

def import_roster(path: str | os.PathLike, url: str, *, dry_run: bool = False,
                  reports_dir: Path | None = None,
                  deactivate_missing: str | None = None) -> ImportReport:
    """Validate then import ``path`` into the records DB at ``url`` in one transaction.

    ``deactivate_missing``: None (default: nobody is deactivated), ``"units"`` or ``"all"``
    (see the module doc)."""
    if deactivate_missing not in (None, *DEACTIVATE_SCOPES):
        raise ValueError(f"deactivate_missing must be None or one of {DEACTIVATE_SCOPES}")
    path = Path(path)
    report = ImportReport(dry_run=dry_run)
    try:
        table = read_table(path)
    except (ValueError, OSError) as exc:
        report.errors.append(RowError(0, "文件", str(exc)))
        return report
    rows, errors = parse_rows(table)
    report.total = len(rows)
    if errors:
        report.errors = errors
        return report

    generated: list[tuple[str, str, str]] = []
    with session_scope(url) as s:
        cache: dict[str, Unit] = {}
        existing = {p.username: p for p in s.scalars(select(Learner))}
        for row in rows:
            unit = _ensure_unit(s, row.unit_path, cache)
            person = existing.get(row.username)
            if person is None:
                person = Learner(username=row.username, name=row.name, unit=unit, audience=row.audience,
                                 role=row.role, phone=row.phone, active=True)
                password = row.password or _random_password()
                if row.password is None:
                    generated.append((row.username, row.name, password))
                hashed = hash_password(password)
                person.credential = Credential(password_hash=hashed, must_change=True,
                                               roster_password_hash=hashed if row.password else None)
                s.add(person)
                report.created.append(row.username)
                continue
            changed = False
            for attr, value in (("name", row.name), ("unit_id", unit.id), ("audience", row.audience),
                                ("role", row.role), ("phone", row.phone)):
                if getattr(person, attr) != value:
                    setattr(person, attr, value)
                    changed = True
            if not person.active:
                person.active = True
                report.reactivated.append(row.username)
            if row.password is not None and _is_new_initial_password(person.credential, row.password):
                # a different 初始密码 in the sheet is an explicit reset by the administrator
                hashed = hash_password(row.password)
                if person.credential is None:
                    person.credential = Credential(password_hash=hashed)
                cred = person.credential
                cred.password_hash = cred.roster_password_hash = hashed
                cred.must_change = True
                cred.failed_attempts = 0
                cred.locked_until = None
                changed = True
            (report.updated if changed else report.unchanged).append(row.username)
        _deactivate_missing(s, rows, existing, deactivate_missing, report)
        if dry_run:
            s.rollback()
            return report
        if generated:
            report.passwords_file = _write_passwords(generated, reports_dir or path.parent)
    return report

def _deactivate_missing(s, rows: list[RosterRow], existing: dict[str, Learner],
                        scope: str | None, report: ImportReport) -> None:
    listed = {r.username for r in rows}
    missing = sorted(u for u, p in existing.items() if u not in listed and p.active)
    if scope == "units":
        file_units = {r.unit_path for r in rows}
        by_id = {u.id: u.path for u in s.scalars(select(Unit))}
        leaving = [u for u in missing if by_id.get(existing[u].unit_id) in file_units]
    elif scope == "all":
        leaving = missing
    else:
        leaving = []
    s.flush()  # role changes from the file count in the admin check below
    admins_left = s.scalar(select(func.count()).select_from(Learner).where(
        Learner.active.is_(True), Learner.role == Role.admin,
        Learner.username.not_in(leaving) if leaving else true()))
    if not admins_left:
        # the platform must keep someone who can repair it: missing admins stay
        report.kept_admins = [u for u in leaving if existing[u].role == Role.admin]
        leaving = [u for u in leaving if u not in report.kept_admins]
    for username in leaving:
        existing[username].active = False
    report.deactivated = leaving
    report.missing_kept = [u for u in missing if u not in leaving]


def _is_new_initial_password(cred: Credential | None, password: str) -> bool:
    """True when the sheet's 初始密码 differs from the one the roster gave last time."""
    if cred is None:
        return True
    if cred.roster_password_hash:
        return not password_matches(cred.roster_password_hash, password)
    # no roster password remembered (it was generated): only a password other than the
    # current one is a reset
    return not password_matches(cred.password_hash, password)


def _write_passwords(rows: list[tuple[str, str, str]], reports_dir: Path) -> Path:
    """Initial passwords go to a CSV only the administrator (file owner) can read."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    target = reports_dir / f"initial-passwords-{datetime.now():%Y%m%d-%H%M%S}.csv"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as f:
        write_csv_rows(f, [["账号", "姓名", "初始密码"], *rows])
    os.chmod(target, 0o600)
    return target

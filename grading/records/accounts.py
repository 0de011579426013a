"""Passwords and login checks for roster accounts (argon2 hashes in ``credentials``).

Every refused login gets the same zh-CN message (:data:`GENERIC_FAILURE`) whatever the cause
(unknown account, wrong password, deactivated), and costs one argon2 verification either way, so
neither the page nor its timing tells an attacker which accounts exist. The cause is kept for
the hub's log (``LoginResult.cause``).

There is no account-wide lock here any more: a lock that anyone can trigger by typing a wrong
password five times lets a learner lock ``admin`` out of the platform. Throttling lives in the
hub (``hub_config.auth.LoginThrottle``: per client address, per account *and* address, and a
bounded per-account delay); ``failed_attempts`` still counts consecutive failures for the
administrators' information. These functions are blocking (argon2, SQL): the hub calls them in
a worker thread, never on its event loop.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from grading.records import audit
from grading.records.db import session_scope
from grading.records.models import ROLE_LABELS, Credential, Learner, Role, Unit, utcnow
from grading.records.people import AUDIENCE_GROUP, ROLE_GROUP, UNIT_GROUP

MIN_LENGTH = 8

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): argon2-cffi's default (64 MiB, 4 lanes)
# took ~0.5 s a hash on a busy 2-core server, i.e. minutes for a town's roster import and a slow
# login rush at 9 a.m.; older hashes are upgraded at the next login (check_needs_rehash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verifying against this keeps unknown usernames as slow as known ones (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("xuefa-dummy-password")
GENERIC_FAILURE = "账号或密码错误，或账号暂时无法登录。请核对后重试；如多次失败，请稍后再试或联系本单位管理员。"


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    reason: str | None = None  # zh-CN, shown on the login page: GENERIC_FAILURE for any refusal
    must_change: bool = False
    role: Role | None = None
    cause: str | None = None  # for the log only: unknown / wrong-password / deactivated


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(hash_: str, password: str) -> bool:
    try:
        return _hasher.verify(hash_, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_strength(password: str) -> None:
    """Raise ValueError (zh-CN) when a new password is too weak."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"新密码至少需要 {MIN_LENGTH} 位。")
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        raise ValueError("新密码须同时包含字母和数字。")


def verify_login(url: str, username: str, password: str) -> LoginResult:
    """Check a password; count consecutive failures of known accounts. Blocking."""
    with session_scope(url) as s:
        learner = s.scalar(select(Learner).where(Learner.username == username))
        # row lock (PostgreSQL): parallel guesses must not lose failure counts
        cred = s.scalar(select(Credential).where(Credential.learner_id == learner.id)
                        .with_for_update()) if learner is not None else None
        if learner is None or cred is None:
            password_matches(_DUMMY_HASH, password)
            return LoginResult(False, GENERIC_FAILURE, cause="unknown")
        if not password_matches(cred.password_hash, password):
            cred.failed_attempts = (cred.failed_attempts or 0) + 1
            return LoginResult(False, GENERIC_FAILURE, cause="wrong-password")
        if not learner.active:
            # the same words as a wrong password: a deactivated account is not confirmed to anyone
            return LoginResult(False, GENERIC_FAILURE, cause="deactivated")
        cred.failed_attempts = 0
        cred.locked_until = None  # set by versions that locked accounts; no longer honoured
        if _hasher.check_needs_rehash(cred.password_hash):
            cred.password_hash = hash_password(password)
        return LoginResult(True, None, must_change=bool(cred.must_change), role=learner.role)


def change_password(url: str, username: str, old: str, new: str, *, client: str | None = None) -> None:
    """Change a password after checking the old one; raises ValueError with a zh-CN message.
    The change is in the audit log (actor = the person themself)."""
    check_strength(new)
    if new == old:
        raise ValueError("新密码不能与原密码相同。")
    with session_scope(url) as s:
        learner = s.scalar(select(Learner).where(Learner.username == username))
        cred = learner.credential if learner is not None else None
        if learner is None or cred is None or not learner.active:
            raise ValueError("账号不存在或已停用。")
        if not password_matches(cred.password_hash, old):
            raise ValueError("原密码不正确。")
        cred.password_hash = hash_password(new)
        cred.must_change = False
        cred.failed_attempts = 0
        cred.locked_until = None
        cred.changed_at = utcnow()
        audit.add(s, actor=username, action="change_password", target=username, client=client)


def _store_password(person: Learner, password: str, *, must_change: bool) -> None:
    """A new password set by someone else (roster, administrator): its hash, the forced change
    at next login, and the failure count cleared."""
    if person.credential is None:
        person.credential = Credential(password_hash=hash_password(password))
    else:
        person.credential.password_hash = hash_password(password)
    person.credential.must_change = must_change
    person.credential.failed_attempts = 0
    person.credential.locked_until = None


# --- administrators' account tools (hub pages ``/hub/xuefa/accounts`` and ``xuefa account``) ---
# One implementation for both: each function checks, changes the records DB and writes its audit
# row in one transaction, and raises ValueError with a zh-CN message a page or the CLI shows as is.
# Keeping the hub's groups and servers in step is the caller's part (hub handler or hub REST API).

ACTIONS = ("reset", "unlock", "deactivate", "reactivate", "role")
ROLE_BY_LABEL = {**{r.value: r for r in Role}, **{label: r for r, label in ROLE_LABELS.items()}}


def initial_password() -> str:
    """A new random initial password: 10 letters and digits, at least one of each, without the
    look-alikes (0/O, 1/l/I) that older volunteers mistype from a printed slip."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(10))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    unit_path: str
    audience: str
    role: str
    role_label: str
    active: bool
    must_change: bool
    failed_attempts: int
    phone: str
    admin_scope: str = ""  # an administrator's 管理范围 (unit path; "" city-wide or not an admin)


def _account(p: Learner, scope_paths: dict[int, str] | None = None) -> Account:
    cred = p.credential
    scope = ""
    if p.role == Role.admin and p.admin_scope_unit_id is not None:
        scope = (scope_paths or {}).get(p.admin_scope_unit_id, "?")
    return Account(p.username, p.name, p.unit.path, p.audience.label, p.role.value, p.role.label,
                   bool(p.active), bool(cred.must_change) if cred else True,
                   int(cred.failed_attempts or 0) if cred else 0, p.phone or "", scope)


def _scope_paths(s, people) -> dict[int, str]:
    ids = {p.admin_scope_unit_id for p in people if p.admin_scope_unit_id is not None}
    return dict(s.execute(select(Unit.id, Unit.path).where(Unit.id.in_(ids))).all()) if ids else {}


def search(url: str, query: str, limit: int = 50, *, unit_ids=None) -> list[Account]:
    """People whose 账号, 姓名, 手机 or unit path contains ``query`` (all of them, up to
    ``limit``, when it is empty), ordered by 账号. ``unit_ids`` (a unit administrator's
    :class:`grading.records.scopes.Scope` ``unit_ids``) limits the search to those units."""
    q = (select(Learner).join(Unit, Learner.unit_id == Unit.id)
         .options(selectinload(Learner.unit), selectinload(Learner.credential))
         .order_by(Learner.username).limit(limit))
    if unit_ids is not None:
        q = q.where(Learner.unit_id.in_(sorted(unit_ids) or [-1]))
    query = (query or "").strip()[:64]
    if query:
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(or_(*(col.like(like, escape="\\") for col in
                          (Learner.username, Learner.name, Learner.phone, Unit.path))))
    with session_scope(url) as s:
        found = list(s.scalars(q))
        paths = _scope_paths(s, found)
        return [_account(p, paths) for p in found]


def get_account(url: str, username: str) -> Account | None:
    with session_scope(url) as s:
        p = s.scalar(select(Learner).options(selectinload(Learner.unit), selectinload(Learner.credential))
                     .where(Learner.username == username))
        return _account(p, _scope_paths(s, [p])) if p is not None else None


def _person(s, username: str) -> Learner:
    p = s.scalar(select(Learner).where(Learner.username == username).with_for_update())
    if p is None:
        raise ValueError(f"账号 {username} 不存在。")
    return p


def _other_active_admins(s, username: str) -> int:
    return s.scalar(select(func.count()).select_from(Learner).where(
        Learner.active.is_(True), Learner.role == Role.admin, Learner.username != username)) or 0


def reset_password(url: str, username: str, *, actor: str, client: str | None = None) -> str:
    """A new initial password (returned once, never stored in clear), changed at next login."""
    password = initial_password()
    with session_scope(url) as s:
        p = _person(s, username)
        _store_password(p, password, must_change=True)
        audit.add(s, actor=actor, action="reset_password", target=username,
                  detail={"must_change": True}, client=client)
    return password


def unlock(url: str, username: str, *, actor: str, client: str | None = None) -> None:
    """Clear the failure count (the hub clears its in-memory throttle for the account too)."""
    with session_scope(url) as s:
        p = _person(s, username)
        before = int(p.credential.failed_attempts or 0) if p.credential else 0
        if p.credential is not None:
            p.credential.failed_attempts = 0
            p.credential.locked_until = None
        audit.add(s, actor=actor, action="unlock", target=username,
                  detail={"failed_attempts_before": before}, client=client)


def set_active(url: str, username: str, active: bool, *, actor: str, client: str | None = None) -> bool:
    """Deactivate or reactivate; False when it already was so (still audited). Never deactivates
    the last active administrator (nor lets an administrator deactivate themself)."""
    with session_scope(url) as s:
        p = _person(s, username)
        if not active:
            if username == actor:
                raise ValueError("不能停用自己的账号。")
            if p.role == Role.admin and p.active and _other_active_admins(s, username) == 0:
                raise ValueError("这是最后一个启用的管理员，不能停用。")
        changed = bool(p.active) != active
        p.active = active
        audit.add(s, actor=actor, action="reactivate" if active else "deactivate", target=username,
                  detail={"changed": changed}, client=client)
        return changed


def set_role(url: str, username: str, role: str | Role, *, actor: str, client: str | None = None) -> bool:
    """Change a person's role (``learner``/``trainer``/``admin`` or 学员/讲师/管理员); False
    when unchanged. The last active administrator keeps the role."""
    new = role if isinstance(role, Role) else ROLE_BY_LABEL.get(str(role).strip())
    if new is None:
        raise ValueError(f"角色“{role}”无效，应为：学员、讲师或管理员。")
    with session_scope(url) as s:
        p = _person(s, username)
        old = p.role
        if old == Role.admin and new != Role.admin and p.active and _other_active_admins(s, username) == 0:
            raise ValueError("这是最后一个启用的管理员，不能变更其角色。")
        p.role = new
        audit.add(s, actor=actor, action="change_role", target=username,
                  detail={"from": old.value, "to": new.value}, client=client)
        return old != new


def set_scope(url: str, username: str, unit_path: str | None, *, actor: str,
              client: str | None = None) -> bool:
    """Set an administrator's 管理范围 to the unit at ``unit_path`` and its sub-units (empty or
    None, or the city root itself: city-wide); False when unchanged. Only city-wide
    administrators may call this (the caller checks); nobody narrows their own scope, so the
    platform never loses its last city-wide administrator by accident."""
    from grading.records.scopes import unit_by_path

    with session_scope(url) as s:
        p = _person(s, username)
        if p.role != Role.admin:
            raise ValueError(f"{p.name}（{username}）不是管理员，不能设置管理范围。")
        unit = None
        if unit_path and str(unit_path).strip():
            unit = unit_by_path(s, unit_path)
            if unit is None:
                raise ValueError(f"单位“{str(unit_path)[:64]}”不存在。")
            if unit.parent_id is None:
                unit = None  # the city itself: the same as city-wide
        new = unit.id if unit is not None else None
        if new is not None and username == actor:
            raise ValueError("不能缩小自己的管理范围。")
        old = p.admin_scope_unit_id
        old_path = s.get(Unit, old).path if old is not None and s.get(Unit, old) is not None else ""
        p.admin_scope_unit_id = new
        audit.add(s, actor=actor, action="change_scope", target=username,
                  detail={"scope_from": old_path or "全市",
                          "scope_to": unit.path if unit is not None else "全市"},
                  client=client)
        return old != new


def hub_groups_of(url: str, username: str) -> set[str]:
    """The managed hub groups (``people.MANAGED_PREFIXES``) this person belongs in now: the
    same rule as :func:`grading.records.people.hub_groups` (none when inactive)."""
    with session_scope(url) as s:
        p = s.scalar(select(Learner).where(Learner.username == username))
        if p is None or not p.active:
            return set()
        groups = {ROLE_GROUP.format(p.role.value), AUDIENCE_GROUP.format(p.audience.value)}
        unit = s.get(Unit, p.unit_id)
        while unit is not None:
            groups.add(UNIT_GROUP.format(unit.id))
            unit = s.get(Unit, unit.parent_id) if unit.parent_id is not None else None
        return groups

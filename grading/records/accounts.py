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
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from grading.records.db import session_scope
from grading.records.models import Credential, Learner, Role, utcnow

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


def change_password(url: str, username: str, old: str, new: str) -> None:
    """Change a password after checking the old one; raises ValueError with a zh-CN message."""
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


def set_password(url: str, username: str, password: str, *, must_change: bool = True) -> None:
    """Administrator reset (or roster initial password): no old password needed."""
    with session_scope(url) as s:
        learner = s.scalar(select(Learner).where(Learner.username == username))
        if learner is None:
            raise ValueError(f"账号 {username} 不存在。")
        if learner.credential is None:
            learner.credential = Credential(password_hash=hash_password(password))
        else:
            learner.credential.password_hash = hash_password(password)
        learner.credential.must_change = must_change
        learner.credential.failed_attempts = 0
        learner.credential.locked_until = None

"""Login checks: hashes, forced first change, one message for every refusal, deactivation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from grading.records import accounts
from grading.records.db import session_scope
from grading.records.models import Audience, Credential, Learner, Role, Unit


@pytest.fixture
def person(records_url):
    with session_scope(records_url) as s:
        unit = Unit(path="海安市", name="海安市", level=0)
        s.add(Learner(username="zhangsan", name="张三", unit=unit, audience=Audience.cadre, role=Role.learner,
                      credential=Credential(password_hash=accounts.hash_password("Init-pass-1"))))
    return records_url


def test_right_password_logs_in_and_must_change(person):
    r = accounts.verify_login(person, "zhangsan", "Init-pass-1")
    assert r.ok and r.must_change and r.role is Role.learner


def test_wrong_password_and_unknown_user_give_the_same_message(person):
    wrong = accounts.verify_login(person, "zhangsan", "nope")
    unknown = accounts.verify_login(person, "nobody", "nope")
    assert not wrong.ok and not unknown.ok
    assert wrong.reason == unknown.reason == accounts.GENERIC_FAILURE
    assert (wrong.cause, unknown.cause) == ("wrong-password", "unknown")


def test_failures_are_counted_but_never_lock_the_account(person):
    # a lock anyone can trigger locks admins out; throttling is the hub's (per address)
    for _ in range(8):
        assert not accounts.verify_login(person, "zhangsan", "nope").ok
    with session_scope(person) as s:
        assert s.scalar(select(Credential)).failed_attempts == 8
    assert accounts.verify_login(person, "zhangsan", "Init-pass-1").ok
    with session_scope(person) as s:
        assert s.scalar(select(Credential)).failed_attempts == 0


def test_change_password_rules(person):
    with pytest.raises(ValueError, match="至少"):
        accounts.change_password(person, "zhangsan", "Init-pass-1", "a1")
    with pytest.raises(ValueError, match="字母和数字"):
        accounts.change_password(person, "zhangsan", "Init-pass-1", "abcdefghij")
    with pytest.raises(ValueError, match="原密码"):
        accounts.change_password(person, "zhangsan", "wrong-old-1", "New-pass-22")
    with pytest.raises(ValueError, match="相同"):
        accounts.change_password(person, "zhangsan", "Init-pass-1", "Init-pass-1")
    accounts.change_password(person, "zhangsan", "Init-pass-1", "New-pass-22")
    r = accounts.verify_login(person, "zhangsan", "New-pass-22")
    assert r.ok and not r.must_change
    assert not accounts.verify_login(person, "zhangsan", "Init-pass-1").ok


def test_deactivated_person_is_refused(person):
    with session_scope(person) as s:
        s.scalar(select(Learner).where(Learner.username == "zhangsan")).active = False
    r = accounts.verify_login(person, "zhangsan", "Init-pass-1")
    assert not r.ok and r.reason == accounts.GENERIC_FAILURE and r.cause == "deactivated"


def test_deactivated_wrong_password_gets_the_generic_message(person):
    with session_scope(person) as s:
        s.scalar(select(Learner).where(Learner.username == "zhangsan")).active = False
    r = accounts.verify_login(person, "zhangsan", "nope")
    assert not r.ok and r.reason == accounts.GENERIC_FAILURE


def test_hash_with_older_parameters_is_upgraded_at_login(person):
    from argon2 import PasswordHasher

    with session_scope(person) as s:
        s.scalar(select(Credential)).password_hash = PasswordHasher(memory_cost=65536).hash("Init-pass-1")
    assert accounts.verify_login(person, "zhangsan", "Init-pass-1").ok
    with session_scope(person) as s:
        upgraded = s.scalar(select(Credential)).password_hash
    assert "m=19456" in upgraded and accounts.verify_login(person, "zhangsan", "Init-pass-1").ok

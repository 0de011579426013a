"""Who is on the platform, as JupyterHub needs it: active people, admins, and groups.

Group names are ASCII so they are safe in hub URLs: ``role-<role>``, ``audience-<code>`` and
``unit-<id>`` for every unit on a person's path (a township group holds its villages' people).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from grading.records.db import session_scope
from grading.records.models import Learner, Role, Unit

ROLE_GROUP = "role-{}"
AUDIENCE_GROUP = "audience-{}"
UNIT_GROUP = "unit-{}"
MANAGED_PREFIXES = ("role-", "audience-", "unit-")


def _ancestors(unit: Unit, by_id: dict[int, Unit]) -> list[Unit]:
    chain = []
    while unit is not None:
        chain.append(unit)
        unit = by_id.get(unit.parent_id) if unit.parent_id is not None else None
    return chain


def hub_groups(url: str) -> dict[str, list[str]]:
    """Group name -> sorted usernames of ACTIVE people."""
    groups: dict[str, set[str]] = {ROLE_GROUP.format(r.value): set() for r in Role}
    with session_scope(url) as s:
        by_id = {u.id: u for u in s.scalars(select(Unit))}
        for p in s.scalars(select(Learner).where(Learner.active.is_(True))):
            groups.setdefault(ROLE_GROUP.format(p.role.value), set()).add(p.username)
            groups.setdefault(AUDIENCE_GROUP.format(p.audience.value), set()).add(p.username)
            for unit in _ancestors(by_id[p.unit_id], by_id):
                groups.setdefault(UNIT_GROUP.format(unit.id), set()).add(p.username)
    return {name: sorted(members) for name, members in groups.items()}


def group_properties(url: str) -> dict[str, dict]:
    """Properties the hub stores with each unit group (the readable unit path)."""
    with session_scope(url) as s:
        return {UNIT_GROUP.format(u.id): {"path": u.path, "level": u.level} for u in s.scalars(select(Unit))}


def admins(url: str) -> list[str]:
    with session_scope(url) as s:
        return sorted(s.scalars(select(Learner.username).where(
            Learner.active.is_(True), Learner.role == Role.admin)))


def active_usernames(url: str) -> set[str]:
    with session_scope(url) as s:
        return set(s.scalars(select(Learner.username).where(Learner.active.is_(True))))


def all_usernames(url: str) -> set[str]:
    with session_scope(url) as s:
        return set(s.scalars(select(Learner.username)))


def learner_info(url: str, username: str) -> dict | None:
    with session_scope(url) as s:
        p = s.scalar(select(Learner).options(selectinload(Learner.unit))
                     .where(Learner.username == username))
        if p is None:
            return None
        return {"name": p.name, "unit_path": p.unit.path, "audience": p.audience,
                "role": p.role, "active": p.active}


def is_active(url: str, username: str) -> bool:
    """One person's row (the hub asks at every auth refresh; loading everyone would not scale)."""
    with session_scope(url) as s:
        return bool(s.scalar(select(Learner.active).where(Learner.username == username)))

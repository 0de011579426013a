"""Unit administrators (issue 16): an administrator's 管理范围 and what it covers.

``learners.admin_scope_unit_id`` names the unit whose subtree an administrator manages; NULL is
a city-wide administrator. Every page, dashboard, export, certificate archive and reminder that
shows or acts on people asks :func:`scope_of` for the viewer and passes the resulting
:class:`Scope` (or its ``unit_id``) down to the query, so the check is made server-side where the
rows are read, never by hiding links. A scope naming a unit that no longer exists covers
nothing (fail closed), it never widens to the whole city.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from grading.records.db import session_scope
from grading.records.models import Learner, Role, Unit

MSG_OUT_OF_SCOPE = "该单位或人员不在您的管理范围内。"


@dataclass(frozen=True)
class Scope:
    """What one administrator may see: ``unit_id`` None and ``unit_ids`` None is city-wide."""

    unit_id: int | None
    unit_path: str  # "" for city-wide
    unit_ids: frozenset[int] | None

    @property
    def city_wide(self) -> bool:
        return self.unit_ids is None

    @property
    def label(self) -> str:
        return "全市" if self.city_wide else self.unit_path

    def covers(self, unit_id: int | None) -> bool:
        return self.unit_ids is None or (unit_id is not None and int(unit_id) in self.unit_ids)


CITY = Scope(None, "", None)


def children_map(session) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for uid, parent in session.execute(select(Unit.id, Unit.parent_id)):
        if parent is not None:
            out.setdefault(int(parent), []).append(int(uid))
    return out


def subtree_ids(session, unit_id: int) -> frozenset[int]:
    """``unit_id`` and every unit below it (empty when the unit does not exist)."""
    if session.get(Unit, unit_id) is None:
        return frozenset()
    children = children_map(session)
    out, stack = set(), [int(unit_id)]
    while stack:
        u = stack.pop()
        if u not in out:
            out.add(u)
            stack.extend(children.get(u, []))
    return frozenset(out)


def scope_in(session, unit_id: int | None) -> Scope:
    if unit_id is None:
        return CITY
    unit = session.get(Unit, unit_id)
    return Scope(int(unit_id), unit.path if unit is not None else "?", subtree_ids(session, unit_id))


def scope_of(url: str, username: str) -> Scope:
    """The scope of an administrator. Anyone who is not an active administrator gets an empty
    scope (covers nothing): callers check the role first, this never grants more than it must."""
    with session_scope(url) as s:
        p = s.scalar(select(Learner).where(Learner.username == username))
        if p is None or not p.active or p.role != Role.admin:
            return Scope(-1, "?", frozenset())
        return scope_in(s, p.admin_scope_unit_id)


def covers_person(url: str, scope: Scope, username: str) -> bool:
    """Whether the person ``username`` is in ``scope`` (False for unknown accounts)."""
    if scope.city_wide:
        return True
    with session_scope(url) as s:
        uid = s.scalar(select(Learner.unit_id).where(Learner.username == username))
    return scope.covers(uid)


def units_in(url: str, scope: Scope) -> list[tuple[int, str]]:
    """(id, path) of the units an administrator may pick, by path."""
    with session_scope(url) as s:
        rows = s.execute(select(Unit.id, Unit.path).order_by(Unit.path)).all()
    return [(int(i), p) for i, p in rows if scope.covers(i)]


def unit_by_path(session, path: str) -> Unit | None:
    path = "/".join(part.strip() for part in str(path or "").strip().strip("/").split("/") if part.strip())
    return session.scalar(select(Unit).where(Unit.path == path)) if path else None

"""Unit-level checks of the issue 16 page helpers: the verification page's rate limit and the
dashboards' ``?unit=`` refusal for unit administrators (the HTTP attacks are in
tests/security/test_unit_admin.py)."""

from __future__ import annotations

from sqlalchemy import select

from grading.records.db import session_scope
from grading.records.models import Learner, Role, Unit
from hub_config.dashboards_service import admin_scope_refusal
from hub_config.pages import certificates
from hub_config.tools import synth


def test_verify_rate_limit_per_address():
    certificates._HITS.clear()
    assert all(certificates._allowed("10.0.0.1", now=100.0) for _ in range(certificates.VERIFY_PER_MINUTE))
    assert not certificates._allowed("10.0.0.1", now=100.5)
    assert certificates._allowed("10.0.0.2", now=100.5)  # another address is not affected
    assert certificates._allowed("10.0.0.1", now=161.0)  # a minute later


def test_dashboards_refuse_units_outside_the_scope(records_url):
    synth.generate(records_url, 60, seed=1, events_per_participant=(1, 2))
    with session_scope(records_url) as s:
        towns = list(s.scalars(select(Unit.id).where(Unit.level == 1).order_by(Unit.id)))
        village = s.scalar(select(Unit.id).where(Unit.parent_id == towns[0]))
        admin = s.scalar(select(Learner).order_by(Learner.id))
        admin.role, admin.admin_scope_unit_id = Role.admin, towns[0]
        name = admin.username
    assert admin_scope_refusal(f"campaign=x&unit={village}", name, url=records_url) == (towns[0], None)
    assert admin_scope_refusal(f"unit={towns[1]}", name, url=records_url)[1]
    assert admin_scope_refusal("unit=1%20OR%201%3D1", name, url=records_url)[1]
    assert admin_scope_refusal("", "nobody", url=records_url) == (-1, None)  # covers nobody

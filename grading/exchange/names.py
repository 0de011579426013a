"""Names in the nbgrader exchange: the one parser of inbound submission folder names.

``inbound/<student>+<assignment>+<timestamp>+<random>`` is written by nbgrader submit, i.e. by a
learner: every part is hostile data until it has been parsed here. A name is accepted only when
each part has the shape the platform itself gives it (roster 账号, course and assignment ids,
nbgrader's timestamp and random suffix), so no part can be ``..``, empty, or carry a path
separator into a path the service builds from it.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import NamedTuple

# the roster's 账号 rule (grading.records.roster.USERNAME_RE), a little wider so a longer name
# made by an operator elsewhere still parses; the roster check decides who is a learner
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# course ids (grading.content.courses.ID_RE) and nbgrader assignment names: no dots at all
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$", re.IGNORECASE)
# nbgrader's get_timestamp(): "2026-12-03 15:40:12.123456 UTC" (parsed by parse_utc below)
TIMESTAMP_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
                          r"( ?(UTC|GMT|Z)|[-][0-9]{2}:?[0-9]{2})?$")
# ExchangeSubmit.add_random_string: urlsafe base64 of 9 random bytes
RANDOM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Inbound(NamedTuple):
    username: str
    assignment: str
    submitted_at: datetime  # naive UTC, as nbgrader's gradebook stores it


def valid_username(name: str) -> bool:
    return isinstance(name, str) and bool(USERNAME_RE.match(name))


def valid_id(name: str) -> bool:
    """A course id or an assignment name the service may put into a path."""
    return isinstance(name, str) and bool(ID_RE.match(name))


@functools.lru_cache(maxsize=1 << 17)
def parse_inbound(name: str) -> Inbound | None:
    """The parts of an inbound folder name, or None when it is not one nbgrader submit makes.

    Cached: every scan re-reads the whole inbound dir, which only grows during a learning month,
    and dateutil parsing of every name at every poll cost a service a large share of a core at a
    few hundred submissions (a name's meaning never changes)."""
    from nbgrader.utils import parse_utc

    if not isinstance(name, str) or len(name) > 255:
        return None
    parts = name.split("+")
    if len(parts) == 4:
        if not RANDOM_RE.match(parts[3]):
            return None
    elif len(parts) != 3:
        return None
    user, assignment, stamp = parts[:3]
    if not (valid_username(user) and valid_id(assignment) and TIMESTAMP_RE.match(stamp)):
        return None
    try:
        return Inbound(user, assignment, parse_utc(stamp).replace(tzinfo=None))
    except Exception:  # noqa: BLE001 - dateutil raises several types: not a timestamp
        return None

"""Names in the nbgrader exchange: the one parser of inbound submission folder names.

``inbound/<student>+<assignment>+<timestamp>+<random>`` is written by nbgrader submit, i.e. by a
learner: every part is hostile data until it has been parsed here.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import NamedTuple


class Inbound(NamedTuple):
    username: str
    assignment: str
    submitted_at: datetime  # naive UTC, as nbgrader's gradebook stores it


@functools.lru_cache(maxsize=1 << 17)
def parse_inbound(name: str) -> Inbound | None:
    """The parts of an inbound folder name, or None when it is not one.

    Cached: every scan re-reads the whole inbound dir, which only grows during a learning month,
    and dateutil parsing of every name at every poll cost a service a large share of a core at a
    few hundred submissions (a name's meaning never changes)."""
    from nbgrader.utils import parse_utc

    parts = name.rsplit("+", 3)
    if len(parts) < 3:
        return None
    try:
        return Inbound(parts[0], parts[1], parse_utc(parts[2]).replace(tzinfo=None))
    except Exception:
        return None

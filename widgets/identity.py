"""Who the learner is (for per-learner shuffling) and deterministic option orders."""

from __future__ import annotations

import getpass
import hashlib
import os
import random


def learner_name() -> str:
    """The hub username when spawned by JupyterHub, else the unix user."""
    name = os.environ.get("JUPYTERHUB_USER")
    if name:
        return name
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers), any OS error alike
        return "anonymous"
    # system users are "xf-<账号>" (see the hub's spawner); the roster name is what matters
    return name[3:] if name.startswith("xf-") else name


def shuffled(items: list, username: str, qid: str, salt: str = "") -> list:
    """``items`` in an order fixed by (username, question id): the same learner always sees
    the same order, different learners usually see different ones."""
    seed = hashlib.sha256(f"xuefa|{username}|{qid}|{salt}".encode()).hexdigest()
    out = list(items)
    random.Random(int(seed[:16], 16)).shuffle(out)
    return out

"""The unix accounts of a platform's people: ``<prefix><账号>``, one prefix per platform.

Two platforms on one host must not share accounts: with one ``xf-learner1`` for both, learner1
of one platform ran with the uid that owns learner1's home and exchange submissions of the
other. So the prefix belongs to the data dir:

- ``$XUEFA_USER_PREFIX`` when the operator sets one;
- else the prefix recorded in ``DATA/hub/system_user_prefix`` (written the first time, so it
  never changes under a running platform's people);
- else ``xf-`` for the default data dir ``/var/lib/xuefa`` and for a data dir whose homes already
  belong to ``xf-`` accounts (an existing platform keeps its accounts: nothing is migrated in
  place), and ``xf<4 hex digits of the data dir's path>-`` for any other new data dir.

The grading service and the spawner both ask here, so an inbound folder's owner uid can be
checked against the account the spawner made for that person.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
from pathlib import Path

PREFIX_VAR = "XUEFA_USER_PREFIX"
LEGACY_PREFIX = "xf-"
DEFAULT_ROOT = Path("/var/lib/xuefa")
PREFIX_FILE = "system_user_prefix"  # under DATA/hub
# useradd's own rule (NAME_REGEX) minus what would be confusing in `ps`; usernames are at most
# 20 characters (roster), so a prefix of up to 11 keeps every account within 32
PREFIX_RE = re.compile(r"^[a-z_][a-z0-9_]{0,9}-$")


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def derived_prefix(root: str | os.PathLike) -> str:
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:4]
    return f"xf{digest}-"


def _legacy_homes(root: Path) -> bool:
    """Whether homes of this data dir already belong to ``xf-<name>`` accounts."""
    try:
        entries = list(os.scandir(root / "home"))
    except OSError:
        return False
    for e in entries:
        try:
            entry = pwd.getpwnam(LEGACY_PREFIX + e.name)
            st = e.stat(follow_symlinks=False)
        except (KeyError, OSError):
            continue
        if st.st_uid == entry.pw_uid and entry.pw_dir == e.path:
            return True
    return False


def user_prefix(root: str | os.PathLike) -> str:
    """The account prefix of the platform whose data dir is ``root``."""
    env = os.environ.get(PREFIX_VAR, "").strip()
    if env:
        if not PREFIX_RE.match(env):
            raise ValueError(f"{PREFIX_VAR}={env!r}: expected e.g. 'xf-' (lowercase, ending in '-')")
        return env
    root = Path(root).resolve()
    recorded = root / "hub" / PREFIX_FILE
    try:
        text = recorded.read_text(encoding="ascii").strip()
        if PREFIX_RE.match(text):
            return text
    except (OSError, UnicodeDecodeError):
        pass
    if root == DEFAULT_ROOT or _legacy_homes(root):
        prefix = LEGACY_PREFIX
    else:
        prefix = derived_prefix(root)
    if is_root() and recorded.parent.is_dir():
        try:
            tmp = recorded.with_name(f".{PREFIX_FILE}.{os.getpid()}")
            tmp.write_text(prefix + "\n", encoding="ascii")
            tmp.replace(recorded)
        except OSError:
            pass
    return prefix


def system_username(name: str, prefix: str = LEGACY_PREFIX) -> str:
    return f"{prefix}{name}"


def uid_of(name: str, prefix: str) -> int | None:
    """The uid of ``name``'s account, None when the spawner has not made it (yet)."""
    try:
        return pwd.getpwnam(system_username(name, prefix)).pw_uid
    except KeyError:
        return None


def person_of_uid(uid: int, prefix: str) -> str | None:
    """The 账号 whose account has ``uid`` (None for root, other accounts and unknown uids)."""
    try:
        account = pwd.getpwuid(uid).pw_name
    except KeyError:
        return None
    if not account.startswith(prefix) or len(account) == len(prefix):
        return None
    return account[len(prefix):]


def platform_accounts(root: str | os.PathLike) -> list[str]:
    """The accounts made for the platform at ``root``: the platform's prefix and a home under
    its ``home/`` (so another platform's ``xf-`` accounts are never counted). For a throwaway
    platform's teardown (``userdel`` each), since every data dir has accounts of its own."""
    root = Path(root).resolve()
    prefix = user_prefix(root)
    homes = str(root / "home") + os.sep
    return sorted(e.pw_name for e in pwd.getpwall()
                  if e.pw_name.startswith(prefix) and e.pw_dir.startswith(homes))

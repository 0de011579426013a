"""The learner's home page 我的学习.ipynb and how it gets into each home.

The page is a platform file, not the learner's work: :func:`install_home` copies it into a
home at every spawn (replacing an older copy), so an update reaches everyone on their next
start. Learners land on ``/voila/render/我的学习.ipynb`` (see hub_config.config).

:data:`SKEL` holds only files meant for homes, so it can also serve as the spawner's
``skeleton_dir`` (``c.XuefaSpawner.skeleton_dir = str(hub_config.home.SKEL)``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKEL = HERE / "skel"
HOME_NOTEBOOK = "我的学习.ipynb"


def install_home(home_dir: str | os.PathLike, uid: int | None = None, gid: int | None = None) -> Path:
    """Put 我的学习.ipynb into ``home_dir`` (idempotent); chown it when ``uid`` is given."""
    home = Path(home_dir)
    home.mkdir(parents=True, exist_ok=True)
    src = SKEL / HOME_NOTEBOOK
    dest = home / HOME_NOTEBOOK
    if not dest.exists() or dest.read_bytes() != src.read_bytes():
        tmp = home / f".{HOME_NOTEBOOK}.tmp"
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    dest.chmod(0o644)
    if uid is not None:
        os.chown(dest, uid, gid if gid is not None else -1)
    return dest

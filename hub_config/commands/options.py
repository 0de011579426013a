"""Options every ``xuefa`` command shares."""

from __future__ import annotations

import functools

import click

from grading.host.datadir import ENV_VAR, DataDir


def data_dir_option(func):
    """Add ``--data-dir`` (default ``$XUEFA_DATA_DIR``, else the documented default) and pass
    a :class:`grading.host.datadir.DataDir` as ``datadir``."""

    @click.option(
        "--data-dir",
        "data_dir",
        type=click.Path(file_okay=False),
        default=None,
        help=f"Platform data dir (default: ${ENV_VAR}, else /var/lib/xuefa as root, "
        "else ~/.local/share/xuefa).",
    )
    @functools.wraps(func)
    def wrapper(*args, data_dir=None, **kwargs):
        return func(*args, datadir=DataDir.from_env(data_dir), **kwargs)

    return wrapper

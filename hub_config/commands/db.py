"""``xuefa db``: records database maintenance."""

from __future__ import annotations

import click

from grading.records import migrate
from hub_config.commands.options import data_dir_option


@click.group()
def db() -> None:
    """Records database."""


@db.command("upgrade")
@data_dir_option
def upgrade(datadir) -> None:
    """Create or migrate the records database to the newest schema."""
    datadir.ensure()
    migrate.upgrade(datadir.records_db_url)
    click.echo(f"records DB up to date: {datadir.records_db_url}")

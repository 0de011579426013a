"""Subcommands of ``xuefa``, one module per area; shared options live in ``options``.

Each area registers its command group here (one line each)."""

from hub_config.commands.account import account
from hub_config.commands.course import campaign, course
from hub_config.commands.db import db
from hub_config.commands.grade import grade
from hub_config.commands.load import load
from hub_config.commands.ops import backup, logs, restore
from hub_config.commands.report import report
from hub_config.commands.remind import remind
from hub_config.commands.roster import roster
from hub_config.commands.up import up

COMMANDS = [db, report, backup, restore, logs, up, grade, roster, account, course, campaign, load,
            remind]

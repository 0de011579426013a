"""The ``xuefa`` admin CLI: root group; each area's commands live in ``hub_config/commands/``."""

from __future__ import annotations

import click

from hub_config.commands import COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """xuefa (学法): rule-of-law training platform administration."""


for _cmd in COMMANDS:
    main.add_command(_cmd)


if __name__ == "__main__":
    main()

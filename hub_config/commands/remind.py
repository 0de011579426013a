"""``xuefa remind``: remind a campaign's laggards (the same function as the 发送提醒 page)."""

from __future__ import annotations

import getpass

import click

from hub_config.commands.options import data_dir_option


@click.command()
@click.option("--campaign", "campaign_id", required=True, help="Campaign id (学习活动编号).")
@click.option("--unit", "unit_path", default=None,
              help="Only the laggards under this unit path, e.g. 海安市/城东镇 (default: everyone).")
@click.option("--dry-run", is_flag=True, help="Show who would be reminded; send and record nothing.")
@data_dir_option
def remind(datadir, campaign_id: str, unit_path: str | None, dry_run: bool) -> None:
    """Remind the laggards of a campaign by email and group robot (XUEFA_SMTP_*,
    XUEFA_REMINDER_WEBHOOK or DATA/notify.toml); at most once per person per day, audited."""
    from grading.records import completion, migrate, scopes
    from grading.records.db import session_scope
    from grading.reports import certificates, notify

    url = datadir.records_db_url
    migrate.upgrade(url)
    unit_id = None
    if unit_path:
        with session_scope(url) as s:
            unit = scopes.unit_by_path(s, unit_path)
            if unit is None:
                raise click.ClickException(f"单位“{unit_path}”不存在。")
            unit_id = unit.id
    try:
        settings = notify.load_settings(datadir.root)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not (settings.smtp_host or settings.webhook):
        click.echo("提醒渠道尚未配置（XUEFA_SMTP_HOST 或 XUEFA_REMINDER_WEBHOOK）。", err=True)
    try:
        actor = f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no passwd entry (containers)
        actor = "cli:?"
    import os

    link = os.environ.get(certificates.PUBLIC_URL_ENV, "")
    try:
        report = notify.send_reminders(url, campaign_id, actor=actor, unit_id=unit_id, dry_run=dry_run,
                                       client="local", settings=settings, link=link)
    except completion.CampaignNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    for line in report.lines():
        click.echo(line)
    if report.failures:
        raise SystemExit(1)

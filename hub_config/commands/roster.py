"""``xuefa roster``: import the administrators' roster (units, people, roles)."""

from __future__ import annotations

import getpass
import sys

import click

from grading.records import migrate
from grading.records.roster import import_roster
from hub_config.commands.options import data_dir_option


def _names(usernames: list[str], limit: int = 50) -> str:
    shown = "、".join(usernames[:limit])
    return shown + (f" 等 {len(usernames)} 人" if len(usernames) > limit else "")


def cli_actor() -> str:
    """Who ran a command, as the audit log names it (``cli:<unix user>``)."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no passwd entry (containers): still say it was the CLI
        return "cli:?"


@click.group()
def roster() -> None:
    """People, units and roles (花名册)."""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; write nothing.")
@click.option("--deactivate-missing", "deactivate", flag_value="units",
              help="Deactivate people missing from FILE whose unit appears in FILE "
                   "(a township's file retires that township's leavers only).")
@click.option("--deactivate-missing-everywhere", "deactivate", flag_value="all",
              help="Deactivate everyone missing from FILE (FILE is the whole roster).")
@data_dir_option
def import_(file, dry_run, deactivate, datadir) -> None:
    """Import FILE (.xlsx or .csv: 账号, 姓名, 单位, 身份, 角色[, 手机, 初始密码]).

    By default nobody missing from FILE is deactivated; the last active administrator never
    is. Preview with --dry-run first."""
    datadir.ensure()
    migrate.upgrade(datadir.records_db_url)
    report = import_roster(file, datadir.records_db_url, dry_run=dry_run, reports_dir=datadir.reports,
                           deactivate_missing=deactivate, actor=cli_actor(), client="local")
    if report.errors:
        click.echo(f"导入失败：{file} 中有 {len(report.errors)} 处错误，未导入任何人员。", err=True)
        for err in report.errors:
            click.echo(f"  {err}", err=True)
        sys.exit(1)
    prefix = "（试运行，未写入）" if dry_run else ""
    click.echo(f"{prefix}名单共 {report.total} 人：新增 {len(report.created)}，更新 {len(report.updated)}，"
               f"未变 {len(report.unchanged)}，停用 {len(report.deactivated)}，恢复 {len(report.reactivated)}。")
    if report.moved:
        click.echo(f"  {'将调动单位' if dry_run else '调动单位'} {len(report.moved)} 人：" + _names(
            [f"{u}（{old} → {new}）" for u, old, new in report.moved]))
    if report.deactivated:
        click.echo(f"  {'将停用' if dry_run else '停用'}：" + "、".join(report.deactivated))
    if report.kept_admins:
        click.echo("  以下管理员不在名单中，但停用后平台将没有可用的管理员，因此保留："
                   + "、".join(report.kept_admins))
    if report.missing_kept:
        hint = ("" if deactivate else
                "（如需停用，请先加 --dry-run 预览，再使用 --deactivate-missing 或 "
                "--deactivate-missing-everywhere）")
        click.echo(f"  名单外仍保持启用 {len(report.missing_kept)} 人{hint}："
                   + _names(report.missing_kept))
    if report.passwords_file:
        click.echo(f"  随机初始密码已写入（仅管理员可读）：{report.passwords_file}")
    if dry_run:
        return
    from hub_config.hubsync import running_hub, sync_hub

    hub = running_hub(datadir)
    if hub is None:
        click.echo("平台未运行：用户和分组将在下次启动时载入。")
        return
    try:
        sync = sync_hub(*hub, datadir.records_db_url)
    except Exception as exc:  # noqa: BLE001 - the records DB is already imported; say what is left
        click.echo(f"名单已导入，但同步到运行中的平台失败：{exc}\n"
                   "请稍后重新运行本命令，或重启平台（启动时会载入用户和分组）。", err=True)
        sys.exit(2)
    click.echo(f"已同步到平台：新建用户 {len(sync.users_created)}，分组变更 {len(sync.groups_changed)}，"
               f"停止服务器 {len(sync.servers_stopped)}。")

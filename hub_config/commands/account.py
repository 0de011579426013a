"""``xuefa account``: one person's account (the same functions as the 账号管理 page).

Each command changes the records DB and writes its audit row (actor ``cli:<unix user>``, from
``local``) through :mod:`grading.records.accounts`, then pushes groups and stopped servers to a
running hub the way ``xuefa roster import`` does. What lives only in hub memory (the login
throttle, hub login cookies) is the page's part: 解锁 on the page also clears the throttle.
"""

from __future__ import annotations

import getpass
import sys

import click

from grading.records import accounts, migrate
from hub_config.commands.options import data_dir_option


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no passwd entry (containers): still say it was the CLI
        return "cli:?"


def _run(datadir, func, username: str, *args):
    datadir.ensure()
    migrate.upgrade(datadir.records_db_url)
    try:
        return func(datadir.records_db_url, username, *args, actor=_actor(), client="local")
    except ValueError as e:
        click.echo(f"操作失败：{e}", err=True)
        sys.exit(1)


def _sync(datadir) -> None:
    from hub_config.hubsync import running_hub, sync_hub

    hub = running_hub(datadir)
    if hub is None:
        click.echo("平台未运行：分组将在下次启动时载入。")
        return
    try:
        sync_hub(*hub, datadir.records_db_url)
    except Exception as exc:  # noqa: BLE001 - the records DB is already changed; say what is left
        click.echo(f"已修改，但同步到运行中的平台失败：{exc}\n请稍后运行 xuefa roster import 或重启平台。",
                   err=True)
        sys.exit(2)
    click.echo("已同步到运行中的平台。")


@click.group()
def account() -> None:
    """One person's account: reset, unlock, deactivate, reactivate, role (audited)."""


@account.command("reset")
@click.argument("username")
@data_dir_option
def reset(username, datadir) -> None:
    """New random initial password for USERNAME (printed once; must be changed at next login)."""
    password = _run(datadir, accounts.reset_password, username)
    click.echo(f"已重置 {username} 的密码。新的初始密码（只显示这一次）：{password}")
    click.echo("本人用此密码登录后须立即修改密码。")


@account.command("unlock")
@click.argument("username")
@data_dir_option
def unlock(username, datadir) -> None:
    """Clear USERNAME's failed-login count (the page also clears the hub's login throttle)."""
    _run(datadir, accounts.unlock, username)
    click.echo(f"已解锁 {username}（登录失败计数已清零；平台内存中的登录暂停请在账号管理页面解锁）。")


@account.command("deactivate")
@click.argument("username")
@data_dir_option
def deactivate(username, datadir) -> None:
    """Deactivate USERNAME: login refused, server stopped (never the last active admin)."""
    _run(datadir, accounts.set_active, username, False)
    click.echo(f"已停用 {username}。")
    _sync(datadir)


@account.command("reactivate")
@click.argument("username")
@data_dir_option
def reactivate(username, datadir) -> None:
    """Reactivate USERNAME."""
    _run(datadir, accounts.set_active, username, True)
    click.echo(f"已恢复 {username}。")
    _sync(datadir)


@account.command("role")
@click.argument("username")
@click.argument("role")
@data_dir_option
def role(username, role, datadir) -> None:
    """Set USERNAME's ROLE: learner|trainer|admin (or 学员|讲师|管理员)."""
    _run(datadir, accounts.set_role, username, role)
    click.echo(f"已将 {username} 的角色改为 {role}。")
    _sync(datadir)

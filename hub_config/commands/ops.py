"""``xuefa backup`` / ``xuefa restore``: operations on a whole platform's data."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from hub_config.commands.options import data_dir_option


@click.command("backup")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Archive to write (default: ./xuefa-backup-<UTC time>.tar.gz), mode 0600: it "
                   "holds password hashes, answer keys and submissions.")
@click.option("--homes", is_flag=True, help="Also archive learners' home directories.")
@data_dir_option
def backup(datadir, output: Path | None, homes: bool) -> None:
    """Back up the records DB, every course gradebook and the course dirs (备份)."""
    from grading.records import backup as ops

    if output is None:
        output = Path(f"xuefa-backup-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.tar.gz")
    manifest = ops.backup(datadir, output, homes=homes)
    click.echo(
        f"已备份到 {output}：学习记录 {sum(manifest.records_rows.values())} 行"
        f"（{manifest.records_backend}），成绩库 {len(manifest.gradebooks)} 个，文件 {manifest.files} 个"
    )
    click.echo("备份文件含密码哈希、答案和学员提交，权限为 0600（仅 root 可读），请妥善保管。")


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Overwrite existing data even if the platform seems to be running.")
@data_dir_option
def restore(datadir, archive: Path, force: bool) -> None:
    """Restore a backup archive into the data dir (恢复); refuses to overwrite data without --force,
    and refuses an archive with members outside the data dir, links pointing out or device files."""
    from grading.records import backup as ops

    try:
        manifest = ops.restore(datadir, archive, force=force)
    except ops.RestoreRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"已从 {archive} 恢复（备份时间 {manifest.created_at}）：学习记录 "
        f"{sum(manifest.records_rows.values())} 行，成绩库 {len(manifest.gradebooks)} 个，"
        f"文件 {manifest.files} 个"
    )

"""``xuefa backup`` / ``xuefa restore`` / ``xuefa logs``: operations on a whole platform."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from hub_config.commands.options import data_dir_option


@click.command("backup")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Archive to write (default: ./xuefa-backup-<UTC time>.tar.gz), mode 0600: it "
                   "holds password hashes, answer keys and submissions.")
@click.option("--homes/--no-homes", default=True, show_default=True,
              help="Archive learners' homes (their unfinished answers and notebooks); "
                   "--no-homes leaves them out.")
@data_dir_option
def backup(datadir, output: Path | None, homes: bool) -> None:
    """Back up the records DB, every course gradebook, the course dirs, the exchange and
    learners' homes (备份)."""
    from grading.records import backup as ops

    if output is None:
        output = Path(f"xuefa-backup-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.tar.gz")
    manifest = ops.backup(datadir, output, homes=homes)
    click.echo(
        f"已备份到 {output}：学习记录 {sum(manifest.records_rows.values())} 行"
        f"（{manifest.records_backend}），成绩库 {len(manifest.gradebooks)} 个，文件 {manifest.files} 个"
        + (f"（含学员主目录 {manifest.home_files} 个文件）" if homes else "（未含学员主目录）")
    )
    if manifest.skipped:
        click.echo(f"学员目录中的链接、管道等特殊文件 {manifest.skipped} 个未备份（只备份普通文件和目录）。")
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


LOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _log_chain(path: Path) -> list[Path]:
    """``name.log`` and its rotated files, oldest first (``.5`` ... ``.1``, then the live one)."""
    rotated = []
    for p in path.parent.glob(path.name + ".*"):
        suffix = p.name[len(path.name) + 1:]
        if suffix.isdigit():
            rotated.append((int(suffix), p))
    return [p for _, p in sorted(rotated, reverse=True)] + ([path] if path.exists() else [])


def tail_lines(path: Path, n: int) -> list[str]:
    """The last ``n`` lines of ``path`` and, when it holds fewer, of its rotated files."""
    lines: list[str] = []
    for p in reversed(_log_chain(path)):
        if len(lines) >= n:
            break
        with p.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size, block, data = f.tell(), 64 * 1024, b""
            while size > 0 and data.count(b"\n") <= n - len(lines):
                step = min(block, size)
                size -= step
                f.seek(size)
                data = f.read(step) + data
        lines = data.decode("utf-8", errors="replace").splitlines() + lines
    return lines[-n:] if n else []


def _log_files(datadir) -> dict[str, Path]:
    if not datadir.logs.is_dir():
        return {}
    return {p.name[:-4]: p for p in sorted(datadir.logs.glob("*.log")) if p.is_file()}


def follow(paths: dict[str, Path], echo, *, interval: float = 0.5, stop=None) -> None:
    """Print lines appended to ``paths`` as they come, across rotations (a new inode or a
    shorter file starts again from its beginning), until ``stop()`` is true or Ctrl-C."""
    state: dict[str, tuple[int, int]] = {}
    for name, p in paths.items():
        try:
            st = p.stat()
            state[name] = (st.st_ino, st.st_size)
        except FileNotFoundError:
            state[name] = (0, 0)
    many = len(paths) > 1
    try:
        while not (stop and stop()):
            for name, p in paths.items():
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                ino, pos = state[name]
                if st.st_ino != ino or st.st_size < pos:
                    pos = 0
                if st.st_size > pos:
                    with p.open("rb") as f:
                        f.seek(pos)
                        data = f.read()
                    # only whole lines; a half-written one waits for its end
                    cut = data.rfind(b"\n") + 1
                    for line in data[:cut].decode("utf-8", errors="replace").splitlines():
                        echo(f"{name}: {line}" if many else line)
                    pos += cut
                state[name] = (st.st_ino, pos)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


@click.command("logs")
@click.argument("service", required=False)
@click.option("-n", "--lines", "lines", type=click.IntRange(min=0), default=50, show_default=True,
              help="How many of the last lines to show.")
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@data_dir_option
def logs(datadir, service: str | None, lines: int, follow_: bool) -> None:
    """Show the platform's logs (查看日志): DATA/logs/<SERVICE>.log of the hub, proxy and each
    service, e.g. `xuefa logs grading -n 100 -f`; without SERVICE, every log."""
    files = _log_files(datadir)
    if service is not None:
        if not LOG_NAME.match(service) or service not in files:
            known = "、".join(files) or "（无）"
            raise click.ClickException(f"没有名为 {service!r} 的日志；{datadir.logs} 中现有：{known}")
        files = {service: files[service]}
    elif not files:
        raise click.ClickException(f"{datadir.logs} 中还没有日志：平台启动（xuefa up）后才会生成")
    for name, path in files.items():
        if len(files) > 1:
            click.echo(f"==> {name} ({path}) <==")
        for line in tail_lines(path, lines):
            click.echo(line)
    if follow_:
        follow(files, click.echo)

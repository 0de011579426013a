"""``xuefa up``: run the platform in the foreground (hub, proxy, services, learners' servers).

Ctrl-C or SIGTERM stops everything it started: the hub is asked to shut down (it stops the proxy,
the managed services and every single-user server), then any process still carrying this run's
``XUEFA_RUN_ID`` in its environment is terminated, so nothing is left behind.

With ``--ssl-cert``/``--ssl-key`` (or ``XUEFA_SSL_CERT``/``XUEFA_SSL_KEY``) the public port serves
HTTPS. The hub, the proxy and the services write ``DATA/logs/<name>.log`` (rotated,
:mod:`hub_config.logpipe`); ``xuefa logs`` reads them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import click

from hub_config.commands.options import data_dir_option

HUB_CONFIG = Path(__file__).resolve().parent.parent / "jupyterhub_config.py"
RUN_ID_VAR = "XUEFA_RUN_ID"
STOP_GRACE = 45  # seconds the hub gets to stop its servers, services and proxy


def processes_of_run(run_id: str) -> list[int]:
    """Pids whose environment carries ``XUEFA_RUN_ID=run_id`` (root sees every process)."""
    from hub_config.tools.platform import pids_with_env

    return pids_with_env(RUN_ID_VAR, run_id)


def stop_run(run_id: str, grace: float = 10.0) -> dict[int, str]:
    """SIGTERM, then SIGKILL, every leftover process of the run; returns those found
    (pid -> command line)."""
    found = {}
    for pid in processes_of_run(run_id):
        try:
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()[:120]
        except OSError:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_of_run(run_id):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while processes_of_run(run_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not processes_of_run(run_id):
            break
    return found


def prepare_run(datadir, ip: str, port: int, hub_port: int | None = None) -> None:
    """What this hub run needs on disk before the hub reads its config (which writes nothing):
    a fresh ``xuefa-cli`` API token, the hub API URL ``xuefa roster import`` uses (through the
    public proxy; with TLS the hub's own loopback port ``hub_port`` instead, whose plain HTTP
    needs no trust in the site's certificate), and JupyterLab's zh-CN settings override in the venv."""
    from hub_config.services import ensure_api_token
    from hub_config.spawner import ensure_lab_locale

    ensure_api_token(datadir)
    host = "127.0.0.1" if ip in ("0.0.0.0", "") else ip
    url = (f"http://127.0.0.1:{hub_port}/hub/api" if hub_port
           else f"http://{host}:{port}/hub/api")
    datadir.hub_url_file.write_text(url)
    try:
        ensure_lab_locale()
    except OSError as exc:  # a read-only venv keeps JupyterLab in English, nothing worse
        click.echo(f"could not write the zh-CN JupyterLab override: {exc}", err=True)


def check_tls(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """Both files or neither; readable PEM; a key others may read is refused (zh-CN messages:
    the operator reads them)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise click.UsageError("--ssl-cert 与 --ssl-key（或 XUEFA_SSL_CERT 与 XUEFA_SSL_KEY）须同时提供")
    cert, key = cert.expanduser().resolve(), key.expanduser().resolve()
    for what, path, marker in (("证书", cert, b"-----BEGIN CERTIFICATE-----"),
                               ("私钥", key, b"PRIVATE KEY-----")):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise click.UsageError(f"无法读取{what}文件 {path}：{exc.strerror}") from None
        if marker not in data:
            raise click.UsageError(f"{what}文件 {path} 不是 PEM 格式的{what}")
    # 0640 with a group like Debian's ssl-cert is common; readable by anyone is not
    if key.stat().st_mode & 0o027:
        raise click.UsageError(f"私钥文件 {key} 的权限过宽（{oct(key.stat().st_mode & 0o777)}），"
                               f"其他用户可读或可写；请执行 chmod 600 {key}")
    return cert, key


def print_demo_banner(port: int, ip: str, scheme: str = "http") -> None:
    from hub_config import demo

    host = "127.0.0.1" if ip in ("0.0.0.0", "") else ip
    click.echo("")
    click.echo(f"学法平台已启动 / xuefa is starting on {scheme}://{host}:{port}")
    click.echo("演示账号 / demo accounts:")
    for username, name, what in demo.demo_accounts():
        click.echo(f"  {username:<12} {name:<8} {what}")
    click.echo(f"初始密码 / initial password: {demo.DEMO_PASSWORD}")
    click.echo("首次登录须修改密码 / first login asks for a new password.")
    click.echo("")


def _publish_workspace_step(datadir) -> str:
    """``--demo``'s course step: the shipped courses published from their workspace folders
    (only those changed since the last start), so a restart never reverts trainers' edits."""
    from grading.content import workspace
    from grading.content.courses import course_dirs

    shipped = [d.name for d in course_dirs()]
    done = workspace.publish_workspace(datadir, only=shipped)
    return (f"演示课程 demo courses (workspace): 已发布 published {len(done)}, "
            f"未变化 unchanged {len(shipped) - len(done)}")


@click.command("up")
@click.option("--port", type=int, default=8000, show_default=True, envvar="XUEFA_PORT",
              show_envvar=True, help="Public port.")
@click.option("--ip", default="127.0.0.1", show_default=True, envvar="XUEFA_IP",
              show_envvar=True, help="Public address.")
@click.option("--demo", is_flag=True, help="Import the demo roster (and demo courses) first.")
@click.option("--ssl-cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="XUEFA_SSL_CERT", show_envvar=True,
              help="PEM certificate (with its chain): serve HTTPS on the public port.")
@click.option("--ssl-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="XUEFA_SSL_KEY", show_envvar=True,
              help="PEM private key of --ssl-cert (mode 0600).")
@data_dir_option
def up(datadir, port: int, ip: str, demo: bool, ssl_cert: Path | None,
       ssl_key: Path | None) -> None:
    """Start the platform in the foreground (启动平台); Ctrl-C stops it."""
    from grading.host.perms import private_umask
    from grading.records import migrate
    from hub_config import logpipe
    from hub_config.services import free_port

    tls = check_tls(ssl_cert, ssl_key)
    try:
        logpipe.settings()
    except ValueError as exc:
        raise click.UsageError(f"日志设置有误：{exc}") from None
    private_umask()  # 077: the hub, its services and people's servers create private files
    datadir.ensure()
    migrate.upgrade(datadir.records_db_url)
    click.echo(f"data dir: {datadir.root}")
    from grading.content import workspace

    seeded = workspace.seed(datadir)  # shipped courses, once: trainers' edits are never overwritten
    if seeded:
        click.echo(f"course workspace: {len(seeded)} shipped course(s) copied to {datadir.workspace}")
    if demo:
        from hub_config import demo as demo_steps

        click.echo("演示数据 / demo data:")
        # the demo courses are published from the workspace, as their trainers edited them
        for step in demo_steps.STEPS:
            if step is demo_steps.publish_demo_courses:
                step = _publish_workspace_step
            summary = step(datadir)
            if summary:
                click.echo(f"  - {summary}")
    if os.geteuid() != 0:
        click.secho("WARNING: not root: every learner's server runs as your own user, learners are "
                    "not isolated from each other (警告：未以 root 运行，学员之间没有隔离).",
                    fg="red", err=True)

    env = dict(os.environ, XUEFA_DATA_DIR=str(datadir.root), XUEFA_PORT=str(port), XUEFA_IP=ip)
    hub_port = None
    for var in ("XUEFA_SSL_CERT", "XUEFA_SSL_KEY"):
        env.pop(var, None)
    if tls:
        env["XUEFA_SSL_CERT"], env["XUEFA_SSL_KEY"] = map(str, tls)
        # the CLI reaches the hub on loopback HTTP (the public certificate may be one only
        # browsers trust), so the hub's port is chosen here, not in its config
        hub_port = int(env.get("XUEFA_HUB_PORT") or free_port())
        env["XUEFA_HUB_PORT"] = str(hub_port)
        click.echo(f"HTTPS: {tls[0]}")
    prepare_run(datadir, ip, port, hub_port)
    if any(datadir.config_d.glob("*.py")):
        click.echo(f"operator settings: {datadir.config_d}/*.py")
    click.echo(f"logs: {datadir.logs}/ (xuefa logs)")
    run_id = uuid.uuid4().hex
    bindir = Path(sys.executable).parent
    env["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    env[RUN_ID_VAR] = run_id
    hub_cmd = logpipe.wrap(datadir.logs / "hub.log",
                           [str(bindir / "jupyterhub"), "-f", str(HUB_CONFIG)])
    hub = subprocess.Popen(hub_cmd, cwd=datadir.hub, env=env, start_new_session=True)
    if demo:
        print_demo_banner(port, ip, "https" if tls else "http")

    stopping = {"signal": None, "since": None}

    def forward(signum, _frame):
        again = stopping["signal"] is not None
        stopping["signal"] = signum
        if hub.poll() is not None:
            return
        if again:  # a second Ctrl-C: no more waiting for a clean shutdown
            hub.kill()
        else:
            stopping["since"] = time.monotonic()
            hub.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = hub.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                # a hub stuck in its own shutdown (seen after a failed spawn) must not keep
                # `xuefa up` waiting forever: kill it, the sweep below stops the rest
                if stopping["since"] and time.monotonic() - stopping["since"] > STOP_GRACE:
                    click.echo(f"hub did not stop within {STOP_GRACE}s: killing it", err=True)
                    hub.kill()
                    stopping["since"] = None
            except KeyboardInterrupt:  # pragma: no cover - handled by the signal handler
                continue
    finally:
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait()
        leftovers = stop_run(run_id)
        if leftovers:
            click.echo(f"stopped {len(leftovers)} leftover process(es): "
                       + ", ".join(f"{pid} {cmd}" for pid, cmd in leftovers.items()), err=True)
        for s, h in old.items():
            signal.signal(s, h)
    if stopping["signal"] is None and code != 0:
        raise SystemExit(code)
    click.echo("学法平台已停止 / xuefa stopped")

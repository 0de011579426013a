"""Log files of the hub, the proxy and the services (``hub_config.logpipe``) and ``xuefa logs``.

Real processes and real files: a command run through the log pipe, its rotated files, and the
command lines the hub config gives the proxy and the services. The whole wiring on a running
platform is checked in ``test_tls.py`` (its one start-up also looks at ``DATA/logs``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from traitlets.config import Config

from hub_config import logpipe
from hub_config.cli import main as cli


def run_through_pipe(log: Path, code: str, *, max_bytes: int, backups: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub_config.logpipe", str(log), "--max-bytes", str(max_bytes),
         "--backups", str(backups), "--", sys.executable, "-c", code],
        capture_output=True, timeout=60)


def wait_until(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_output_and_errors_land_in_a_private_file_rotated_at_the_size_limit(tmp_path):
    log = tmp_path / "logs" / "grading.log"
    code = ("import sys\n"
            "for i in range(400):\n"
            "    print(f'line {i:04d} 评分服务', flush=True)\n"
            "print('Traceback: boom', file=sys.stderr, flush=True)\n")
    done = run_through_pipe(log, code, max_bytes=4000, backups=2)
    assert done.returncode == 0
    # the sink outlives the command by a moment: it writes until the pipe closes
    assert wait_until(lambda: log.exists() and "Traceback: boom" in log.read_text(encoding="utf-8"))
    files = sorted(p.name for p in log.parent.iterdir())
    assert files == ["grading.log", "grading.log.1", "grading.log.2"]  # backups=2: older ones dropped
    for p in log.parent.iterdir():
        # RotatingFileHandler counts characters, not bytes: a line of CJK may pass the limit
        assert p.stat().st_size <= 4000 + 100
        assert oct(p.stat().st_mode & 0o777) == "0o600"
    assert "line 0399 评分服务" in log.read_text(encoding="utf-8")
    # the console copy keeps every line too (xuefa up's terminal, journald under systemd)
    assert "line 0000 评分服务" in done.stderr.decode()


def test_command_keeps_its_pid_and_its_last_words_on_sigterm(tmp_path):
    """The hub stops the proxy and services by pid: the pipe must exec, not wrap."""
    log = tmp_path / "proxy.log"
    code = ("import signal, sys, time\n"
            "def bye(*a):\n"
            "    print('stopping cleanly', flush=True); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen(logpipe.wrap(log, [sys.executable, "-c", code]),
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_until(lambda: log.exists() and "ready" in log.read_text())
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"-c" in cmdline and b"hub_config.logpipe" not in cmdline
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_until(lambda: "stopping cleanly" in log.read_text())


def test_services_and_proxy_are_started_with_their_own_log_file(tmp_path, monkeypatch):
    from grading.host.datadir import DataDir
    from hub_config.config import apply_config

    monkeypatch.delenv("XUEFA_LOG_FILES", raising=False)
    monkeypatch.setenv("XUEFA_LOG_MAX_MB", "5")
    monkeypatch.setenv("XUEFA_LOG_BACKUPS", "3")
    datadir = DataDir(tmp_path / "data").ensure()
    c = Config()
    apply_config(c, datadir)
    proxy = list(c.ConfigurableHTTPProxy.command)
    assert proxy[1:4] == ["-m", "hub_config.logpipe", str(datadir.logs / "proxy.log")]
    assert proxy[proxy.index("--max-bytes") + 1] == str(5 * 1024 * 1024)
    assert proxy[proxy.index("--backups") + 1] == "3"
    assert proxy[proxy.index("--") + 1].endswith("configurable-http-proxy")
    started = [s for s in c.JupyterHub.services if s.get("command")]
    assert {s["name"] for s in started} >= {"records", "grading", "dashboards", "idle-culler"}
    for spec in started:
        cmd = spec["command"]
        assert cmd[2:4] == ["hub_config.logpipe", str(datadir.logs / f"{spec['name']}.log")], cmd

    monkeypatch.setenv("XUEFA_LOG_FILES", "0")  # e.g. Kubernetes: stdout only
    c = Config()
    apply_config(c, datadir)
    assert "hub_config.logpipe" not in c.ConfigurableHTTPProxy.command
    assert all("hub_config.logpipe" not in s.get("command", []) for s in c.JupyterHub.services)


def test_bad_log_settings_stop_xuefa_up_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XUEFA_LOG_BACKUPS", "0")
    result = CliRunner().invoke(cli, ["up", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code != 0 and "日志设置有误" in result.output


def write_rotated(logs: Path, name: str) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{name}.log.2").write_text("".join(f"old {i}\n" for i in range(3)))
    (logs / f"{name}.log.1").write_text("".join(f"mid {i}\n" for i in range(3)))
    (logs / f"{name}.log").write_text("".join(f"new {i}\n" for i in range(3)))


def test_xuefa_logs_shows_the_last_lines_across_rotated_files(tmp_path):
    logs = tmp_path / "data" / "logs"
    write_rotated(logs, "grading")
    (logs / "hub.log").write_text("hub started\n")
    runner = CliRunner()
    out = runner.invoke(cli, ["logs", "grading", "-n", "5", "--data-dir", str(tmp_path / "data")])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == ["mid 1", "mid 2", "new 0", "new 1", "new 2"]
    out = runner.invoke(cli, ["logs", "--data-dir", str(tmp_path / "data"), "-n", "1"])
    assert "==> grading" in out.output and "new 2" in out.output and "hub started" in out.output
    out = runner.invoke(cli, ["logs", "../../etc/passwd", "--data-dir", str(tmp_path / "data")])
    assert out.exit_code != 0 and "没有名为" in out.output and "grading" in out.output


def test_follow_prints_new_lines_and_carries_on_after_a_rotation(tmp_path):
    from hub_config.commands.ops import follow

    log = tmp_path / "records.log"
    log.write_text("before\n")
    seen: list[str] = []
    steps = iter(range(100))

    def stop() -> bool:
        i = next(steps)
        if i == 1:
            with log.open("a") as f:
                f.write("appended\npartial")
        elif i == 3:
            with log.open("a") as f:
                f.write(" line\n")
        elif i == 5:  # what RotatingFileHandler does: rename, start a new file
            os.replace(log, log.with_name("records.log.1"))
            log.write_text("after rotation\n")
        return i >= 8

    follow({"records": log}, seen.append, interval=0.01, stop=stop)
    assert seen == ["appended", "partial line", "after rotation"]


@pytest.mark.parametrize("value", ["0", "off"])
def test_log_files_can_be_switched_off(monkeypatch, value):
    monkeypatch.setenv("XUEFA_LOG_FILES", value)
    assert logpipe.wrap("/x/hub.log", ["jupyterhub"]) == ["jupyterhub"]

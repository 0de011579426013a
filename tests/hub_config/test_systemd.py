"""The systemd unit the installer writes: valid for systemd itself (``systemd-analyze verify``),
restarting a failed platform, stopping every learner's process with it, and written only where
systemd runs."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hub_config import installer


def unit_sections(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#",))
    parser.optionxform = str
    parser.read_string(text)
    return parser


def test_unit_runs_the_venvs_xuefa_up_restarts_on_failure_and_stops_the_whole_cgroup():
    unit = unit_sections(installer.systemd_unit())
    service = unit["Service"]
    assert service["ExecStart"] == f"{installer.vbin('xuefa')} up"
    assert Path(service["ExecStart"].split()[0]).exists()
    assert service["Restart"] == "on-failure"
    assert service["KillMode"] == "control-group"
    assert service["EnvironmentFile"] == "-/etc/default/xuefa"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="systemd-analyze not installed (Debian package systemd)")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    path = tmp_path / "xuefa.service"
    path.write_text(installer.systemd_unit(), encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "xuefa.service" not in done.stderr, done.stderr  # no warning about our own unit

    # and the check has teeth: a broken unit is refused
    bad = tmp_path / "broken.service"
    bad.write_text(installer.systemd_unit().replace(str(installer.vbin("xuefa")), "/nonexistent/xuefa"))
    assert subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True,
                          timeout=120).returncode != 0


def test_installer_writes_the_unit_only_where_systemd_is_pid_1(tmp_path, monkeypatch):
    target = tmp_path / "xuefa.service"
    calls = []
    monkeypatch.setattr(installer, "run", lambda *cmd, **kw: calls.append(cmd))

    monkeypatch.setattr(installer, "systemd_running", lambda: False)
    assert installer.ensure_systemd_unit(target) is False and not target.exists()

    if os.geteuid() != 0:
        pytest.skip("the unit is installed by root only")
    monkeypatch.setattr(installer, "systemd_running", lambda: True)
    assert installer.ensure_systemd_unit(target) is True
    assert target.read_text() == installer.systemd_unit()
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert calls == [("systemctl", "daemon-reload")]
    assert installer.ensure_systemd_unit(target) is False  # unchanged: nothing to reload
    assert len(calls) == 1

"""A whole platform (``xuefa up``) run as a child process: start it, wait until it answers,
stop it leaving nothing behind.

Used where a program needs a real running platform it owns: ``xuefa load`` (the load test)
and the integration/browser test fixtures. Processes of the platform are recognised by the
``XUEFA_DATA_DIR`` in their environment (the hub passes it to the services, the spawner to
learners' servers, and their kernels inherit it).
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from grading.host.datadir import DataDir
from hub_config.services import free_port

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120
STOP_TIMEOUT = 120


def ensure_proxy() -> None:
    """configurable-http-proxy comes from npm; the installer puts it into the venv."""
    if (VENV_BIN / "configurable-http-proxy").exists():
        return
    subprocess.run([sys.executable, "-m", "hub_config.installer", "setup"], cwd=REPO, check=True)


def pids_with_env(name: str, value: str) -> list[int]:
    """Live processes (not this one) whose environment has ``name=value``: root sees all."""
    marker = f"{name}={value}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_bytes()
                if stat.split(b") ", 1)[1][:1] != b"Z":
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def platform_pids(datadir: DataDir) -> list[int]:
    """Processes started for this platform: they carry its ``XUEFA_DATA_DIR``."""
    return pids_with_env("XUEFA_DATA_DIR", str(datadir.root))


@dataclass
class Platform:
    """A running ``xuefa up``: ``url`` is the public proxy URL, ``api_token`` the
    ``xuefa-cli`` admin token the hub wrote to ``DATA/hub/api_token``."""

    url: str
    datadir: DataDir
    proc: subprocess.Popen
    log_path: Path
    api_token: str = ""
    # requests' ``verify``: the CA file of a platform started with ``tls``
    verify: str | bool = True

    @classmethod
    def start(cls, datadir: DataDir, *, demo: bool = False, port: int | None = None,
              env: dict[str, str] | None = None, log_path: Path | None = None,
              timeout: float = START_TIMEOUT, tls: tuple[Path, Path, Path] | None = None,
              **fields) -> "Platform":
        """Run ``xuefa up`` on a loopback port for ``datadir`` and wait until the hub's REST API
        answers with the admin token. Extra ``fields`` go to the (sub)class constructor.
        ``tls=(cert, key, ca)`` serves HTTPS (``--ssl-cert``/``--ssl-key``); ``ca`` is what
        this side trusts for it."""
        ensure_proxy()
        port = port or free_port()
        log_path = log_path or datadir.root.parent / "xuefa-up.log"
        full_env = dict(os.environ, XUEFA_DATA_DIR=str(datadir.root),
                        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {}))
        full_env.pop("JUPYTERHUB_API_TOKEN", None)
        cmd = [str(VENV_BIN / "xuefa"), "up", *(["--demo"] if demo else []),
               "--data-dir", str(datadir.root), "--port", str(port), "--ip", "127.0.0.1"]
        if tls:
            cmd += ["--ssl-cert", str(tls[0]), "--ssl-key", str(tls[1])]
            fields["verify"] = str(tls[2])
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, cwd=datadir.root.parent, env=full_env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        p = cls(url=f"{'https' if tls else 'http'}://127.0.0.1:{port}", datadir=datadir, proc=proc,
                log_path=log_path, **fields)
        try:
            p.wait_up(timeout)
        except BaseException:
            p.stop()
            raise
        return p

    def api(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        """Hub REST call (``path`` after ``/hub/api``) with the admin token by default."""
        headers = dict(kw.pop("headers", {}) or {})
        headers["Authorization"] = f"token {token or self.api_token}"
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers,
                                timeout=kw.pop("timeout", 30), verify=kw.pop("verify", self.verify), **kw)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_up(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        token_file = self.datadir.hub / "api_token"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"xuefa up exited with {self.proc.returncode}:\n"
                                   f"{self.log_text()[-8000:]}")
            try:
                r = requests.get(f"{self.url}/hub/api/", timeout=5, verify=self.verify)
                if r.status_code == 200 and token_file.exists():
                    self.api_token = token_file.read_text().strip()
                    if self.api("GET", "/users").status_code == 200:
                        return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"hub not up after {timeout}s:\n{self.log_text()[-8000:]}")

    def stop(self) -> list[int]:
        """SIGTERM ``xuefa up`` (as Ctrl-C would) and wait; returns the platform's pids still
        alive after that (they are then killed, so a failed run leaves nothing behind)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # kernels notice their parent is gone within a few seconds
        deadline = time.monotonic() + 15
        while platform_pids(self.datadir) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = platform_pids(self.datadir)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left

    def remove_accounts(self) -> list[str]:
        """``userdel`` the system accounts this throwaway platform made (its people's and its
        grader's): every data dir has accounts of its own, so each test platform would
        otherwise leave a dozen behind on the host."""
        from grading.host.sandbox import grader_username
        from grading.host.sysusers import is_root, platform_accounts

        if not is_root():
            return []
        names = platform_accounts(self.datadir.root)
        try:
            pwd.getpwnam(grader_username(self.datadir.root))
            names.append(grader_username(self.datadir.root))
        except KeyError:
            pass
        for name in names:
            subprocess.run(["userdel", name], capture_output=True)
        # course workspaces' groups (one per course a listed trainer has started a server for)
        from grading.content.workspace import platform_groups

        for group in platform_groups(self.datadir.root):
            subprocess.run(["groupdel", group], capture_output=True)
        return names


def wait_for(pred, timeout: float = 180, every: float = 1.0):
    """Poll ``pred`` until it returns something truthy (returned); AssertionError on timeout.
    What tests of a running platform wait with (a score, a result row, a removed folder)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s")

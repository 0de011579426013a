"""The offline install (issue 18): ``installer bundle`` where the registries answer, then, in a
clean copy of the checkout (no venv) inside a network namespace with nothing but loopback,
``installer up --offline BUNDLE --demo`` sets everything up from the bundle alone and the
platform answers ``GET /hub/login`` with 200.

pip runs with no configuration at all (``PIP_CONFIG_FILE=/dev/null``: this machine's local
indexes and ``/opt/wheels`` would otherwise be reachable without a network), npm with its
registry on a closed port. The Debian part is proven with one small package (GNU ``hello``,
purged afterwards) instead of the real list: bundling and unpacking Chromium, PostgreSQL and
the CJK fonts (~330 MB) is what the manual ``bundle --test`` does; the code path is the same.
The driver swaps in that list and keeps the installer away from this machine's systemd unit.

The unit tests below need no network and no root."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from grading.host.datadir import DataDir
from hub_config import installer
from hub_config.services import free_port
from hub_config.tools.platform import Platform

REPO = Path(__file__).resolve().parents[2]
SMALL_DEB = ("hello", "/usr/bin/hello")
DRIVER = ("import sys; from hub_config import installer as i; "
          f"i.APT_RUNTIME = {{{SMALL_DEB[0]!r}: {SMALL_DEB[1]!r}}}; i.APT_TEST = {{}}; "
          "i.systemd_running = lambda: False; i.main(sys.argv[1:])")
UP_TIMEOUT = 300


def netns_curl(pid: int, url: str) -> str:
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "curl", "-sS", "-o", "/dev/null",
                          "-w", "%{http_code}", "--max-time", "10", url],
                         capture_output=True, text=True, timeout=30)
    return out.stdout


@pytest.mark.integration
@pytest.mark.slow
def test_offline_install_from_the_bundle_with_no_network_then_up_demo_answers():
    python = getattr(sys, "_base_executable", None) or shutil.which("python3")
    for tool in ("unshare", "nsenter", "ip", "npm", "apt-get", "curl"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespace, apt)")
    had_deb = Path(SMALL_DEB[1]).exists()
    root = Path(tempfile.mkdtemp(prefix="xuefa-offline-"))
    root.chmod(0o755)
    repo = root / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(*installer.BUNDLE_SKIP), symlinks=True)
    archive = root / "xuefa-offline.tar"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "XUEFA_", "JUPYTERHUB_", "npm_config_", "VIRTUAL_ENV"))}
    datadir = DataDir(root / "data").ensure()
    proc, left = None, []
    try:
        made = subprocess.run([python, "-c", DRIVER, "bundle", "-o", str(archive)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile(f"{installer.BUNDLE_TOP}/manifest.json"))
        assert any(w.startswith("xuefa-") for w in manifest["wheels"])
        assert manifest["apt"]["packages"] == [SMALL_DEB[0]]
        assert SMALL_DEB[0] in {d["package"] for d in manifest["apt"]["debs"]}

        port = free_port()
        offline_env = dict(env, PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1",
                           npm_config_registry="http://127.0.0.1:9/", XUEFA_DATA_DIR=str(datadir.root),
                           # the hub and the proxy answering is the point: spare the CPU
                           XUEFA_DISABLE_SERVICES="dashboards,grading,formgrader")
        script = ('ip link set lo up && exec "$0" -c "$1" up --offline "$2" --demo --ip 127.0.0.1 '
                  '--port "$3" --data-dir "$4"')
        log_path = root / "offline-up.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(["unshare", "--net", "sh", "-c", script, python, DRIVER, str(archive),
                                     str(port), str(datadir.root)],
                                    cwd=repo, env=offline_env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        deadline = time.monotonic() + UP_TIMEOUT
        while netns_curl(proc.pid, f"http://127.0.0.1:{port}/hub/login") != "200":
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no 200 from /hub/login after the offline install:\n"
                            f"{log_path.read_text(errors='replace')[-6000:]}")
            time.sleep(2)

        # it really had no network: only loopback in its namespace
        links = subprocess.run(["nsenter", f"--net=/proc/{proc.pid}/ns/net", "ip", "-o", "link"],
                               capture_output=True, text=True, timeout=30).stdout
        assert [ln.split(":")[1].strip() for ln in links.splitlines()] == ["lo"], links
        out = log_path.read_text(errors="replace")
        assert "offline bundle" in out and "--no-index" in out and "--offline" in out, out[-3000:]
        assert (repo / ".venv" / "bin" / "xuefa").exists()
        assert (repo / ".venv" / "bin" / "configurable-http-proxy").exists()
        assert Path(SMALL_DEB[1]).exists()
    finally:
        if proc is not None:
            platform = Platform(url="", datadir=datadir, proc=proc, log_path=root / "offline-up.log")
            left = platform.stop()
            platform.remove_accounts()
        if not had_deb and Path(SMALL_DEB[1]).exists():
            subprocess.run(["dpkg", "--purge", SMALL_DEB[0]], capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
    assert not left, f"processes left after stopping xuefa up: {left}"


# --- no network, no root ---------------------------------------------------------------------

def tiny_bundle(path: Path, **manifest) -> Path:
    data = json.dumps({"format": installer.BUNDLE_FORMAT, "python": installer.python_tag(),
                       "platform": installer.sysconfig.get_platform(), "wheels": [],
                       "pyproject_sha256": installer.pyproject_digest(),
                       "npm": {"package": installer.PROXY_NPM, "registry": "https://r.example/"},
                       "apt": {"packages": ["hello"], "debs": []}, **manifest}).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(f"{installer.BUNDLE_TOP}/manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_offline_source_points_pip_npm_and_apt_at_the_bundle_only(tmp_path):
    source = installer.open_bundle(tiny_bundle(tmp_path / "b.tar"), tmp_path / "x")
    top = tmp_path / "x" / installer.BUNDLE_TOP
    assert source.pip_args() == ["--no-index", "--find-links", str(top / "wheels")]
    assert source.npm_args() == ["--offline", "--cache", str(top / "npm-cache"),
                                 "--registry", "https://r.example/"]
    options = source.apt_options()
    assert f"Dir::Etc::SourceList={top / 'apt-sources.list'}" in options
    assert "Dir::Etc::SourceParts=/nonexistent" in options
    assert (top / "apt-sources.list").read_text() == f"deb [trusted=yes] file:{top / 'debs'} ./\n"
    assert installer.ONLINE.pip_args() == [] and installer.ONLINE.npm_args() == []


def test_the_same_ensure_steps_run_with_the_offline_source(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(installer, "run", lambda *cmd, **kw: calls.append([str(c) for c in cmd]))
    monkeypatch.setattr(installer, "VENV", tmp_path / "venv")
    monkeypatch.setattr(installer.os, "geteuid", lambda: 0)
    monkeypatch.setattr(installer, "systemd_running", lambda: False)
    monkeypatch.setattr(installer, "APT_RUNTIME", {"hello": str(tmp_path / "no-hello")})
    monkeypatch.setattr(installer.shutil, "which", lambda name: f"/usr/bin/{name}")
    source = installer.open_bundle(tiny_bundle(tmp_path / "b.tar"), tmp_path / "x")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    monkeypatch.setattr(Path, "symlink_to", lambda self, target: None)
    installer.setup(source=source)
    apt = [c for c in calls if c[0] == "apt-get"]
    assert [c[1] for c in apt] == ["update", "install"]
    assert all("Dir::Etc::SourceParts=/nonexistent" in c for c in apt) and apt[1][-1] == "hello"
    pip = [c for c in calls if "pip" in c]
    assert pip and all("--no-index" in c for c in pip)
    npm = [c for c in calls if c[0] == "npm"]
    assert npm and "--offline" in npm[0]


def test_a_bundle_for_another_python_or_missing_packages_is_refused_clearly(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="python 3.9"):
        installer.open_bundle(tiny_bundle(tmp_path / "a.tar", python="3.9"), tmp_path / "a")
    source = installer.open_bundle(tiny_bundle(tmp_path / "b.tar"), tmp_path / "b")
    monkeypatch.setattr(installer.os, "geteuid", lambda: 0)
    with pytest.raises(SystemExit, match="bundle --test"):
        installer.ensure_apt({"chromium": str(tmp_path / "none")}, source)


def test_a_bundle_with_a_member_outside_its_folder_is_refused(tmp_path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(SystemExit, match="unexpected member"):
        installer.open_bundle(bad, tmp_path / "x")
    assert not (tmp_path / "evil").exists()


def test_pop_option_takes_the_offline_archive_out_of_what_xuefa_up_gets():
    argv = ["--offline", "b.tar", "--demo", "--port", "8001"]
    assert installer.pop_option(argv, "--offline") == "b.tar"
    assert argv == ["--demo", "--port", "8001"]
    argv = ["--demo", "--offline=b.tar"]
    assert installer.pop_option(argv, "--offline") == "b.tar" and argv == ["--demo"]
    assert installer.pop_option(["--demo"], "--offline") is None

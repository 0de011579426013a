"""Set up a machine for xuefa and run it: the two README commands.

    python3 -m hub_config.installer up --demo   # set up, then start the platform with demo data
    python3 -m hub_config.installer test        # set up (plus test-only packages), ruff, pytest

Standard library only: it runs before anything is installed. Like TLJH's installer it is a
checklist of idempotent ``ensure_*`` steps, so running it again only does what is missing.
Everything is installed from this repository's own files (pyproject.toml, the npm package
named here, Debian packages named here).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("XUEFA_VENV", REPO / ".venv"))
PROXY_NPM = "configurable-http-proxy@5.3.0"
# Debian packages by purpose; only installed when missing and we are root.
APT_RUNTIME = {
    "sudo": "/usr/bin/sudo",
    # certificates (结业证书) embed a CJK font
    "fonts-noto-cjk": "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
}
SYSTEMD_TEMPLATE = REPO / "hub_config" / "systemd" / "xuefa.service"
SYSTEMD_UNIT = Path("/etc/systemd/system/xuefa.service")
APT_TEST = {
    "chromium": "/usr/bin/chromium",
    "postgresql": "/usr/lib/postgresql/15/bin/initdb",
}


def log(msg: str) -> None:
    print(f"[xuefa-installer] {msg}", flush=True)


def run(*cmd: str | os.PathLike, **kw) -> None:
    log(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def vbin(name: str) -> Path:
    return VENV / "bin" / name


def ensure_venv() -> None:
    if not vbin("python").exists():
        run(sys.executable, "-m", "venv", VENV)
        run(vbin("python"), "-m", "pip", "install", "-q", "--upgrade", "pip")


def ensure_python_packages() -> None:
    """pip install the project (editable) with its test extra, when pyproject.toml changed."""
    stamp = VENV / ".xuefa-pyproject.sha256"
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and vbin("xuefa").exists():
        return
    run(vbin("python"), "-m", "pip", "install", "-q", "-e", f"{REPO}[test]")
    stamp.write_text(digest)


def ensure_proxy() -> None:
    """configurable-http-proxy from npm, into the venv so the hub finds it on PATH."""
    target = vbin("configurable-http-proxy")
    if target.exists():
        return
    if not shutil.which("npm"):
        raise SystemExit("npm not found: install Node.js 20 (apt-get install nodejs npm)")
    prefix = VENV / "node"
    run("npm", "install", "--no-audit", "--no-fund", "--prefix", prefix, PROXY_NPM)
    target.symlink_to(prefix / "node_modules" / ".bin" / "configurable-http-proxy")


def ensure_apt(packages: dict[str, str]) -> None:
    missing = [pkg for pkg, probe in packages.items() if not Path(probe).exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        log(f"not root: please install Debian packages {' '.join(missing)}")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-q", env=env)
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=env)


def systemd_running() -> bool:
    """Whether systemd is PID 1 (sd_booted(3)'s test): only then is a unit of any use."""
    return Path("/run/systemd/system").is_dir()


def systemd_unit() -> str:
    """``xuefa.service`` for this checkout: ExecStart is the venv's ``xuefa up``."""
    return SYSTEMD_TEMPLATE.read_text(encoding="utf-8").replace("@XUEFA@", str(vbin("xuefa")))


def ensure_systemd_unit(unit_path: Path = SYSTEMD_UNIT) -> bool:
    """Install (or update) the unit when root on a systemd machine; True when written. Not
    enabled or started here: `installer up` may be running the platform in the foreground."""
    if os.geteuid() != 0 or not systemd_running():
        return False
    text = systemd_unit()
    if unit_path.exists() and unit_path.read_text(encoding="utf-8") == text:
        return False
    unit_path.write_text(text, encoding="utf-8")
    unit_path.chmod(0o644)
    run("systemctl", "daemon-reload")
    log(f"installed {unit_path}: start it with `systemctl enable --now xuefa` "
        "(settings in /etc/default/xuefa, see docs/operations.md)")
    return True


def setup(test: bool = False) -> None:
    ensure_apt(APT_RUNTIME | (APT_TEST if test else {}))
    ensure_venv()
    ensure_python_packages()
    ensure_proxy()
    ensure_systemd_unit()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    action = argv.pop(0) if argv else "setup"
    path = f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["PATH"] = path
    if action == "setup":
        setup(test="--test" in argv)
    elif action == "up":
        setup()
        os.execv(vbin("xuefa"), [str(vbin("xuefa")), "up", *argv])
    elif action == "test":
        setup(test=True)
        os.chdir(REPO)
        # lint first: the README's two commands are the whole of CI (.ci/run)
        try:
            run(vbin("ruff"), "check", ".")
        except subprocess.CalledProcessError:
            raise SystemExit("ruff check found problems (listed above); pytest not run") from None
        # the slowest tests are named in every run, so their cost stays in view (CI has 90 min)
        os.execv(vbin("python"), [str(vbin("python")), "-m", "pytest", "--durations=15", *argv])
    else:
        raise SystemExit(f"usage: python3 -m hub_config.installer [setup|up|test] [args...]; got {action!r}")


if __name__ == "__main__":
    main()

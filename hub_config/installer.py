"""Set up a machine for xuefa and run it: the two README commands.

    python3 -m hub_config.installer up --demo   # set up, then start the platform with demo data
    python3 -m hub_config.installer test        # set up (plus test-only packages), ruff, pytest

and, for a machine with no internet (a county intranet):

    python3 -m hub_config.installer bundle [-o FILE] [--test]   # where the registries answer
    python3 -m hub_config.installer setup --offline FILE        # on the machine without them
    python3 -m hub_config.installer up --offline FILE --demo

Standard library only: it runs before anything is installed. Like TLJH's installer it is a
checklist of idempotent ``ensure_*`` steps, so running it again only does what is missing.
Everything is installed from this repository's own files (pyproject.toml, the npm package
named here, Debian packages named here).

Offline is not a second installer: the same ``ensure_*`` steps run with a :class:`Source` that
points pip (``--no-index --find-links``), npm (``--offline`` with the bundle's cache) and apt
(a flat repository of the bundle's .debs, the only source apt sees) at the unpacked bundle
instead of the registries. The bundle holds the wheels pip resolved for this Python and
platform (the project with its test extra: the venv step always installs it), npm's cache
after installing configurable-http-proxy into an empty prefix, and the Debian packages with
their whole dependency closure as seen from an empty dpkg status (so a machine with less
installed than this one still finds every dependency), plus ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
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
    # certutil: tests/browser/test_https.py trusts its throwaway CA in Chromium's NSS database
    "libnss3-tools": "/usr/bin/certutil",
}


def log(msg: str) -> None:
    print(f"[xuefa-installer] {msg}", flush=True)


def run(*cmd: str | os.PathLike, **kw) -> None:
    log(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def vbin(name: str) -> Path:
    return VENV / "bin" / name


BUNDLE_FORMAT = 1
BUNDLE_TOP = "xuefa-offline"  # the one directory at the top of a bundle archive
# what a bundle never takes from the checkout: built, private or machine-local things
BUNDLE_SKIP = (".venv", ".git", "node_modules", "test-artifacts", "build", "data", "__pycache__",
               "*.egg-info", ".pytest_cache", "*.sqlite", "*.sqlite-wal", "*.sqlite-shm")


def pyproject_digest() -> str:
    return hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass
class Source:
    """Where the ``ensure_*`` steps get packages: the registries (``bundle=None``) or an
    unpacked offline bundle (its top directory and manifest)."""

    bundle: Path | None = None
    manifest: dict = field(default_factory=dict)

    def pip_args(self) -> list[str]:
        if self.bundle is None:
            return []
        return ["--no-index", "--find-links", str(self.bundle / "wheels")]

    def npm_args(self) -> list[str]:
        if self.bundle is None:
            return []
        # npm's cache keys name the registry it was filled from: ask for the same one
        return ["--offline", "--cache", str(self.bundle / "npm-cache"),
                "--registry", self.manifest["npm"]["registry"]]

    def apt_options(self) -> list[str]:
        """apt-get options that make the bundle's flat repository the only source apt knows,
        with package lists of its own (the machine's lists and sources stay untouched)."""
        assert self.bundle is not None
        sources = self.bundle / "apt-sources.list"
        sources.write_text(f"deb [trusted=yes] file:{self.bundle / 'debs'} ./\n", encoding="utf-8")
        lists = self.bundle / "apt-lists"
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        return ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/nonexistent",
                "-o", f"Dir::State::Lists={lists}", "-o", "Acquire::Languages=none"]


ONLINE = Source()


def ensure_venv(source: Source = ONLINE) -> None:
    if not vbin("python").exists():
        run(sys.executable, "-m", "venv", VENV)
        run(vbin("python"), "-m", "pip", "install", "-q", *source.pip_args(), "--upgrade", "pip")


def ensure_python_packages(source: Source = ONLINE) -> None:
    """pip install the project (editable) with its test extra, when pyproject.toml changed."""
    stamp = VENV / ".xuefa-pyproject.sha256"
    digest = pyproject_digest()
    if stamp.exists() and stamp.read_text() == digest and vbin("xuefa").exists():
        return
    run(vbin("python"), "-m", "pip", "install", "-q", *source.pip_args(), "-e", f"{REPO}[test]")
    stamp.write_text(digest)


def ensure_proxy(source: Source = ONLINE) -> None:
    """configurable-http-proxy from npm, into the venv so the hub finds it on PATH."""
    target = vbin("configurable-http-proxy")
    if target.exists():
        return
    if not shutil.which("npm"):
        raise SystemExit("npm not found: install Node.js 20 (apt-get install nodejs npm)")
    prefix = VENV / "node"
    run("npm", "install", "--no-audit", "--no-fund", *source.npm_args(), "--prefix", prefix, PROXY_NPM)
    target.symlink_to(prefix / "node_modules" / ".bin" / "configurable-http-proxy")


def ensure_apt(packages: dict[str, str], source: Source = ONLINE) -> None:
    missing = [pkg for pkg, probe in packages.items() if not Path(probe).exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        log(f"not root: please install Debian packages {' '.join(missing)}")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    options: list[str] = []
    if source.bundle is not None:
        bundled = set(source.manifest.get("apt", {}).get("packages", []))
        if not set(missing) <= bundled:
            raise SystemExit(f"the offline bundle lacks Debian packages {' '.join(sorted(set(missing) - bundled))}: "
                             "make it with `bundle --test` for the test packages, or install them first")
        options = source.apt_options()
    run("apt-get", "update", "-q", *options, env=env)
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", *options, *missing, env=env)


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


def setup(test: bool = False, source: Source = ONLINE) -> None:
    ensure_apt(APT_RUNTIME | (APT_TEST if test else {}), source)
    ensure_venv(source)
    ensure_python_packages(source)
    ensure_proxy(source)
    ensure_systemd_unit()


# --- the offline bundle ---------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_wheels(dest: Path, work: Path) -> list[str]:
    """Wheels of the project (with its test extra), every dependency, and pip/setuptools/wheel
    (the new venv's pip upgrade and the editable install's build backend), for this Python and
    platform. Built from a copy: ``pip wheel`` of the checkout itself would leave build/ there."""
    src = work / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*BUNDLE_SKIP), symlinks=True)
    run(vbin("python"), "-m", "pip", "wheel", "-q", "--wheel-dir", dest, f"{src}[test]",
        "pip", "setuptools>=68", "wheel")
    return sorted(p.name for p in dest.glob("*.whl"))


def bundle_npm(cache: Path, work: Path) -> dict:
    """npm's cache after installing the proxy into an empty prefix with an empty cache: all
    that ``npm install --offline`` of the same package needs (metadata and tarballs)."""
    if not shutil.which("npm"):
        raise SystemExit("npm not found: install Node.js 20 (apt-get install nodejs npm)")
    registry = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True,
                              check=True).stdout.strip()
    run("npm", "install", "--no-audit", "--no-fund", "--cache", cache, "--registry", registry,
        "--prefix", work / "npm-prefix", PROXY_NPM)
    return {"package": PROXY_NPM, "registry": registry}


def bundle_debs(dest: Path, packages: list[str], work: Path) -> list[dict]:
    """The Debian packages and their whole dependency closure (apt resolving against an empty
    dpkg status: what a machine with nothing installed would need, Recommends left out as the
    installer leaves them out), plus a ``Packages`` index so apt reads the folder as a flat
    repository offline."""
    status = work / "empty-dpkg-status"
    status.touch()
    (dest / "partial").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-q", env=env)
    run("apt-get", "install", "-y", "-q", "--download-only", "--no-install-recommends",
        "-o", f"Dir::State::status={status}", "-o", f"Dir::Cache::archives={dest}",
        # the scratch dir is root's (0700): download as root rather than as apt's _apt user
        "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root", *packages, env=env)
    shutil.rmtree(dest / "partial", ignore_errors=True)
    (dest / "lock").unlink(missing_ok=True)
    debs, index = [], []
    for deb in sorted(dest.glob("*.deb")):
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                                 check=True).stdout.rstrip("\n")
        digest = sha256_file(deb)
        index.append(f"{control}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\n"
                     f"SHA256: {digest}\n")
        fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line
                      and not line.startswith(" "))
        debs.append({"file": deb.name, "package": fields.get("Package"),
                     "version": fields.get("Version"), "sha256": digest})
    (dest / "Packages").write_text("\n".join(index), encoding="utf-8")
    return debs


def os_release() -> dict[str, str]:
    try:
        lines = Path("/etc/os-release").read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return {k: v.strip('"') for k, _, v in (ln.partition("=") for ln in lines) if k}


def bundle(output: Path | None = None, test: bool = False) -> Path:
    """Write the offline bundle: one tar (``.tar.gz``/``.tgz`` when ``output`` says so)."""
    ensure_venv()
    machine = platform.machine()
    output = Path(output or f"xuefa-offline-py{python_tag()}-{machine}.tar").resolve()
    work = Path(tempfile.mkdtemp(prefix="xuefa-bundle-"))
    try:
        top = work / BUNDLE_TOP
        top.mkdir()
        wheels = bundle_wheels(top / "wheels", work)
        npm = bundle_npm(top / "npm-cache", work)
        apt_packages = sorted(APT_RUNTIME | (APT_TEST if test else {}))
        debs: list[dict] = []
        if os.geteuid() == 0 and shutil.which("apt-get"):
            debs = bundle_debs(top / "debs", apt_packages, work)
        else:
            log(f"not root or no apt-get: no Debian packages bundled ({' '.join(apt_packages)})")
            apt_packages = []
        release = os_release()
        manifest = {
            "format": BUNDLE_FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "pyproject_sha256": pyproject_digest(),
            "python": python_tag(),
            "platform": sysconfig.get_platform(),
            "test": test,
            "wheels": wheels,
            "npm": npm,
            "apt": {"packages": apt_packages, "debs": debs,
                    "os": f"{release.get('ID', '?')} {release.get('VERSION_CODENAME', '?')}"},
        }
        (top / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
        partial = output.with_name(output.name + ".part")
        mode = "w:gz" if output.name.endswith((".tar.gz", ".tgz")) else "w"
        with tarfile.open(partial, mode) as tar:
            tar.add(top, arcname=BUNDLE_TOP)
        partial.replace(output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {output} ({output.stat().st_size // 2**20} MB): {len(wheels)} wheels, "
        f"{PROXY_NPM}, {len(debs)} Debian packages")
    return output


def safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Only regular files and directories under the bundle's top directory."""
    members = []
    for m in tar.getmembers():
        parts = Path(m.name).parts
        if (m.name.startswith("/") or ".." in parts or not parts or parts[0] != BUNDLE_TOP
                or not (m.isfile() or m.isdir())):
            raise SystemExit(f"refusing the offline bundle: unexpected member {m.name!r}")
        members.append(m)
    return members


def open_bundle(archive: Path, into: Path) -> Source:
    """Unpack ``archive`` under ``into`` and check it fits this machine and checkout."""
    with tarfile.open(archive, "r:*") as tar:
        members = safe_members(tar)
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(into, members=members, **kwargs)
    top = into / BUNDLE_TOP
    try:
        manifest = json.loads((top / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{archive} is not an xuefa offline bundle (no manifest.json: {exc})") from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise SystemExit(f"{archive}: bundle format {manifest.get('format')!r}, this installer reads {BUNDLE_FORMAT}")
    here = {"python": python_tag(), "platform": sysconfig.get_platform()}
    for key, value in here.items():
        if manifest.get(key) != value:
            raise SystemExit(f"{archive} was made for {key} {manifest.get(key)}, this machine has {value}: "
                             "make the bundle on a machine like this one")
    for deb in manifest.get("apt", {}).get("debs", []):
        if sha256_file(top / "debs" / deb["file"]) != deb["sha256"]:
            raise SystemExit(f"{archive}: {deb['file']} is damaged (sha256 differs)")
    if manifest.get("pyproject_sha256") != pyproject_digest():
        log(f"warning: {archive} was made from another pyproject.toml; pip says what is missing")
    log(f"offline bundle {archive} ({manifest.get('created')}): {len(manifest.get('wheels', []))} wheels, "
        f"{len(manifest.get('apt', {}).get('debs', []))} Debian packages")
    return Source(bundle=top, manifest=manifest)


def pop_option(argv: list[str], *names: str) -> str | None:
    """Remove ``NAME VALUE`` or ``NAME=VALUE`` from ``argv``; its value, else None."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name:
                if i + 1 >= len(argv):
                    raise SystemExit(f"{name} needs a value")
                value = argv[i + 1]
                del argv[i:i + 2]
                return value
            if arg.startswith(name + "="):
                del argv[i]
                return arg.split("=", 1)[1]
    return None


def setup_from(archive: str | None, test: bool) -> None:
    """``setup`` from the registries, or from ``archive`` unpacked in a scratch directory."""
    if archive is None:
        setup(test=test)
        return
    scratch = Path(tempfile.mkdtemp(prefix="xuefa-offline-"))
    try:
        setup(test=test, source=open_bundle(Path(archive), scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    action = argv.pop(0) if argv else "setup"
    path = f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["PATH"] = path
    offline = pop_option(argv, "--offline") if action in ("setup", "up", "test") else None
    if action == "setup":
        setup_from(offline, test="--test" in argv)
    elif action == "bundle":
        output = pop_option(argv, "-o", "--output")
        bundle(Path(output) if output else None, test="--test" in argv)
    elif action == "up":
        setup_from(offline, test=False)
        os.execv(vbin("xuefa"), [str(vbin("xuefa")), "up", *argv])
    elif action == "test":
        setup_from(offline, test=True)
        os.chdir(REPO)
        # lint first: the README's two commands are the whole of CI (.ci/run)
        try:
            run(vbin("ruff"), "check", ".")
        except subprocess.CalledProcessError:
            raise SystemExit("ruff check found problems (listed above); pytest not run") from None
        # the slowest tests are named in every run, so their cost stays in view (CI has 90 min)
        os.execv(vbin("python"), [str(vbin("python")), "-m", "pytest", "--durations=15", *argv])
    else:
        raise SystemExit("usage: python3 -m hub_config.installer [setup|up|test] [--offline BUNDLE] [args...]"
                         f" | bundle [-o FILE] [--test]; got {action!r}")


if __name__ == "__main__":
    main()

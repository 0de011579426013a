"""The sandbox every grading kernel runs in: who, with what, limited how.

A grading kernel only ever executes the course's own cells (the grader rebuilds the notebook
from the course and feeds the learner's answers in as data), so this is defence in depth, not
the first line. Each kernel is started through a command prefix built from util-linux tools
(present on every Debian/Ubuntu host and in the platform image):

- ``prlimit``: address space, processes, file size, CPU seconds and open files (rlimits);
- ``unshare --net``: a network namespace of its own with only a loopback that is down, so a
  kernel reaches nothing over the network. Kernels therefore talk to the grader over ZeroMQ
  ``ipc`` sockets (files in the kernel's private dir), never TCP;
- ``setpriv``: the dedicated per-platform grader user ``xfg-<hash of the data dir>``, no
  supplementary groups, no new privileges.

The kernel gets an empty environment (``PATH``, ``HOME``, ``LANG`` and what nbgrader would set:
no hub token, no ``XUEFA_*`` database URLs) and a private directory (mode 0700, owned by the
grader user) as its home and working dir, removed when it is shut down.

Not root (a developer's machine): no user switch and no network namespace are possible, so the
kernel runs as the service's own user with the empty environment and the rlimits, and a warning
is logged once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grading.host.sysusers import is_root

log = logging.getLogger("grading.host.sandbox")

GRADER_PREFIX = "xfg-"

# a kernel with ipywidgets and the widgets package maps ~0.6 GB of address space (thread
# stacks, arenas): 2 GiB leaves room for honest course code and stops a 20 GB allocation
DEFAULT_LIMITS = {
    "as": 2 * 1024 ** 3,
    "nproc": 256,  # per uid: every grading kernel of this platform shares it (threads count)
    "fsize": 64 * 1024 ** 2,
    "cpu": 3600,  # a warm kernel's lifetime total; a single cell is bounded by the cell timeout
    "nofile": 256,
}


def grader_username(data_root: str | os.PathLike) -> str:
    """``xfg-<8 hex>``: one grader user per platform (data dir), so two platforms on one host
    never share the account their kernels run as."""
    digest = hashlib.sha256(str(Path(data_root).resolve()).encode()).hexdigest()[:8]
    return f"{GRADER_PREFIX}{digest}"


def ensure_grader_user(data_root: str | os.PathLike) -> pwd.struct_passwd:
    """Create the grader system user (no home, no login shell) if missing; idempotent."""
    name = grader_username(data_root)
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", "--user-group", "--comment", "xuefa grader", name],
        capture_output=True, text=True)
    try:  # another worker may have created it a moment ago: fine
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"useradd {name} failed: {made.stderr.strip()}") from None


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@dataclass
class Sandbox:
    """How grading kernels of one platform are started (decided once per worker process)."""

    data_root: Path
    limits: dict = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    user: pwd.struct_passwd | None = None
    network_isolated: bool = False
    prefix: list[str] = field(default_factory=list)

    @classmethod
    def for_platform(cls, data_root: str | os.PathLike, limits: dict | None = None) -> "Sandbox":
        sb = cls(Path(data_root), dict(DEFAULT_LIMITS, **(limits or {})))
        prlimit, unshare, setpriv = (shutil.which(n) for n in ("prlimit", "unshare", "setpriv"))
        prefix: list[str] = []
        if prlimit:
            lim = sb.limits
            prefix = [prlimit, f"--as={lim['as']}", f"--nproc={lim['nproc']}",
                      f"--fsize={lim['fsize']}", f"--cpu={lim['cpu']}",
                      f"--nofile={lim['nofile']}", "--"]
        if is_root():
            sb.user = ensure_grader_user(data_root)
            if unshare and _works([unshare, "--net", "--"]):
                prefix += [unshare, "--net", "--"]
                sb.network_isolated = True
            else:
                log.warning("unshare --net is not permitted here: grading kernels keep the "
                            "host's network namespace")
            if not setpriv:
                raise RuntimeError("setpriv (util-linux) is needed to run grading kernels as "
                                   "the unprivileged grader user")
            prefix += [setpriv, f"--reuid={sb.user.pw_uid}", f"--regid={sb.user.pw_gid}",
                       "--clear-groups", "--no-new-privs", "--"]
        else:
            log.warning("grading service not running as root: grading kernels run as %s with "
                        "an empty environment and rlimits, without a user switch or network "
                        "isolation", pwd.getpwuid(os.getuid()).pw_name)
        if not prlimit:
            log.warning("prlimit (util-linux) not found: grading kernels get rlimits from "
                        "preexec_fn")
        sb.prefix = prefix
        return sb

    @property
    def uid(self) -> int:
        return self.user.pw_uid if self.user else os.getuid()

    @property
    def gid(self) -> int:
        return self.user.pw_gid if self.user else os.getgid()

    def private_dir(self, parent: str | os.PathLike | None = None, prefix: str = "xuefa-grade-") -> Path:
        """A fresh directory only the kernel's user (and root) can enter."""
        d = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        os.chmod(d, 0o700)
        if self.user is not None:
            os.chown(d, self.uid, self.gid)
        return d

    def give(self, path: str | os.PathLike, mode: int = 0o600) -> None:
        """Hand a file root wrote in a private dir over to the kernel's user."""
        os.chmod(path, mode)
        if self.user is not None:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def env(self, home: Path) -> dict[str, str]:
        """The kernel's whole environment: nothing inherited from the service."""
        bindir = str(Path(sys.executable).parent)
        return {
            "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "IPYTHONDIR": str(home / ".ipython"),
            "MPLCONFIGDIR": str(home / ".matplotlib"),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "NBGRADER_EXECUTION": "autograde",  # what nbgrader's Execute gives its kernels
        }

    def preexec(self):
        """rlimits without prlimit (a host without util-linux); None when prlimit does it."""
        if self.prefix and "prlimit" in os.path.basename(self.prefix[0]):
            return None
        import resource

        lim = self.limits

        def apply():  # runs in the child between fork and exec: syscalls only
            for res, v in ((resource.RLIMIT_AS, lim["as"]), (resource.RLIMIT_NPROC, lim["nproc"]),
                           (resource.RLIMIT_FSIZE, lim["fsize"]), (resource.RLIMIT_CPU, lim["cpu"]),
                           (resource.RLIMIT_NOFILE, lim["nofile"])):
                try:
                    resource.setrlimit(res, (v, v))
                except (ValueError, OSError):
                    pass

        return apply


def sandboxed_kernel_manager_class():
    """jupyter_client's AsyncKernelManager, launching its kernel through a :class:`Sandbox`.

    ``sandbox`` and ``home`` are set on the instance before ``start_kernel``."""
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        sandbox: Sandbox | None = None
        home: Path | None = None

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            return list(self.sandbox.prefix) + cmd if self.sandbox else cmd

        def write_connection_file(self, **kwargs):
            super().write_connection_file(**kwargs)
            if self.sandbox is not None:
                # the kernel (another uid) must read its ports and key; nobody else may
                self.sandbox.give(self.connection_file, 0o400)

    return SandboxedKernelManager


def start_kernel(sandbox: Sandbox, kernel_name: str = "python3", extra_arguments=None,
                 parent_dir: str | os.PathLike | None = None):
    """Start one sandboxed kernel in a private dir; returns its (started) kernel manager."""
    from jupyter_core.utils import run_sync

    home = sandbox.private_dir(parent_dir)
    cls = sandboxed_kernel_manager_class()
    km = cls(kernel_name=kernel_name, transport="ipc", ip=str(home / "ipc"),
             connection_file=str(home / "kernel.json"))
    km.sandbox, km.home = sandbox, home
    kwargs = {"env": sandbox.env(home), "cwd": str(home)}
    pre = sandbox.preexec()
    if pre is not None:
        kwargs["preexec_fn"] = pre
    try:
        run_sync(km.start_kernel)(extra_arguments=list(extra_arguments or []), **kwargs)
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    return km


def stop_kernel(km) -> None:
    """Kill the kernel (and whatever it forked in its process group) and remove its dir."""
    from jupyter_core.utils import run_sync

    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # already dead (e.g. killed by its rlimits)
        log.debug("kernel shutdown failed", exc_info=True)
    home = getattr(km, "home", None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)

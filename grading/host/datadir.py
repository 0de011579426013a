"""The one module that owns the filesystem layout of a platform's data dir.

Everything a platform keeps lives under one directory, so several platforms can live
side by side and a backup is one tree::

    DATA/
      hub/            jupyterhub.sqlite, cookie secret, this run's CLI token (api_token),
                      the hub API URL the CLI uses (hub_url) and the secret exam papers
                      are drawn with (paper_secret), mode 0700
      jupyterhub_config.d/  the operator's own hub settings (*.py, loaded by ``xuefa up``
                      after the packaged config), mode 0700
      records.sqlite  learning records (units, learners, events, results)
      courses/<id>/   nbgrader course root (source/ release/ submitted/ autograded/
                      feedback/ gradebook.sqlite nbgrader_config.py)
      exchange/       nbgrader exchange root (unix permissions protect learners)
      home/<user>/    learners' and trainers' homes
      logs/           one log file per service
      reports/        admin-only reports (e.g. generated initial passwords), mode 0700
      run/            pid files, queues
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grading.host.perms import protect

ENV_VAR = "XUEFA_DATA_DIR"


def default_data_dir() -> Path:
    """``$XUEFA_DATA_DIR``, else ``/var/lib/xuefa`` for root, else ``~/.local/share/xuefa``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/xuefa")
    return Path.home() / ".local" / "share" / "xuefa"


@dataclass(frozen=True)
class DataDir:
    """Paths inside one platform's data dir. Creating it is explicit (:meth:`ensure`)."""

    root: Path

    @classmethod
    def from_env(cls, path: str | os.PathLike | None = None) -> "DataDir":
        return cls(Path(path).expanduser().resolve() if path else default_data_dir())

    # --- hub -----------------------------------------------------------------
    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def hub_db_url(self) -> str:
        return os.environ.get("XUEFA_HUB_DB_URL") or f"sqlite:///{self.hub / 'jupyterhub.sqlite'}"

    @property
    def cookie_secret(self) -> Path:
        return self.hub / "jupyterhub_cookie_secret"

    @property
    def api_token_file(self) -> Path:
        """The ``xuefa-cli`` service token of the running hub (root only)."""
        return self.hub / "api_token"

    @property
    def hub_url_file(self) -> Path:
        """The hub REST API URL ``xuefa`` commands on this machine talk to."""
        return self.hub / "hub_url"

    @property
    def paper_secret(self) -> Path:
        """32 random bytes keying the per-learner paper draw (``bank.paper_seed``): without it
        nobody can work out which questions another learner's paper holds."""
        return self.hub / "paper_secret"

    def paper_secret_bytes(self) -> bytes:
        """The paper secret, made on first use (0600, root's) if ``ensure`` has not made it."""
        try:
            data = self.paper_secret.read_bytes()
        except FileNotFoundError:
            data = b""
        if len(data) < 32:
            self._make_paper_secret()
            data = self.paper_secret.read_bytes()
        return data

    def _make_paper_secret(self) -> None:
        self.hub.mkdir(parents=True, exist_ok=True)
        tmp = self.hub / f".paper_secret.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(32))
        finally:
            os.close(fd)
        try:  # two processes at once: the first one's secret stays
            os.link(tmp, self.paper_secret)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()

    @property
    def hub_pid_file(self) -> Path:
        return self.run / "jupyterhub.pid"

    @property
    def config_d(self) -> Path:
        """``jupyterhub_config.d/``: the operator's settings (e.g. single sign-on), kept out of
        the packaged config so an upgrade never overwrites them."""
        return self.root / "jupyterhub_config.d"

    # --- records -------------------------------------------------------------
    @property
    def records_db_url(self) -> str:
        return os.environ.get("XUEFA_RECORDS_DB_URL") or f"sqlite:///{self.root / 'records.sqlite'}"

    # --- nbgrader ------------------------------------------------------------
    @property
    def courses(self) -> Path:
        return self.root / "courses"

    def course_root(self, course_id: str) -> Path:
        return self.courses / course_id

    def gradebook_url(self, course_id: str) -> str:
        tmpl = os.environ.get("XUEFA_GRADEBOOK_DB_URL")  # e.g. postgresql+psycopg://.../gradebook_{course}
        if tmpl:
            return tmpl.format(course=course_id)
        return f"sqlite:///{self.course_root(course_id) / 'gradebook.sqlite'}"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    # --- people --------------------------------------------------------------
    @property
    def homes(self) -> Path:
        return self.root / "home"

    def home(self, username: str) -> Path:
        return self.homes / username

    # --- operations ----------------------------------------------------------
    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def workspace(self) -> Path:
        """Trainers' editable courses, one folder per course (grading.content.workspace)."""
        return self.root / "workspace"

    @property
    def run(self) -> Path:
        return self.root / "run"

    def ensure(self) -> "DataDir":
        """Create the tree with the permissions the platform relies on (idempotent)."""
        for d in (self.root, self.hub, self.courses, self.homes, self.logs, self.run):
            d.mkdir(parents=True, exist_ok=True)
        self.hub.chmod(0o700)
        if not self.paper_secret.exists():
            self._make_paper_secret()
        # root runs these files inside the hub: nobody else may write (or read: SSO secrets)
        self.config_d.mkdir(parents=True, exist_ok=True)
        self.config_d.chmod(0o700)
        self.reports.mkdir(parents=True, exist_ok=True)
        self.reports.chmod(0o700)
        # nbgrader's exchange must be world-writable with the sticky bit, like /tmp:
        # learners (separate unix users) create their own inbound files, nobody else's.
        self.exchange.mkdir(parents=True, exist_ok=True)
        self.exchange.chmod(0o1777)
        # every other mode (data dir and homes 0711, records DB 0600, course roots 0700, ...)
        # is what learners' accounts may and may not see: one place, grading.host.perms
        protect(self)
        return self

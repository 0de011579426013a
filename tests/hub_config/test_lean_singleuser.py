"""Learners' servers start without JupyterHub's handlers, ORM and SQLAlchemy
(hub_config.home.lean): the access log still works, and anything that really uses the ORM or
SQLAlchemy still gets the real ones."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from hub_config.home import lean
lean.block()
lean.lean_singleuser()
import jupyterhub.singleuser, jupyterhub.log
import voila.app
heavy = sorted(m for m in ("alembic", "sqlalchemy.orm", "sqlalchemy.sql", "sqlalchemy.engine",
                           "jupyterhub.handlers.base", "requests.api", "urllib3") if m in sys.modules)
print("heavy", heavy)
print("stand-in", jupyterhub.log.HealthCheckHandler is lean.HealthCheckHandler)

class Handler:  # what log_request reads of a handler
    class request:
        method, uri, remote_ip, request_time, headers = "GET", "/user/x/api", "127.0.0.1", (lambda: 0.01), {}
    current_user = None
    def get_status(self):
        return 200
jupyterhub.log.log_request(Handler())
print("logged")
from jupyterhub import orm
print("orm", orm.User.__tablename__, "alembic" in sys.modules)
import jupyterhub.scopes, sqlalchemy
print("same", jupyterhub.scopes.orm is orm, jupyterhub.scopes.sa is sqlalchemy,
      jupyterhub.scopes.roles.func is sqlalchemy.func)
"""

DIRECT = """
import sys
from hub_config.home import lean
lean.lean_singleuser()
import jupyterhub.singleuser
from sqlalchemy.sql.schema import Column  # a submodule first: the package wakes before it
import sqlalchemy
from sqlalchemy.exc import SQLAlchemyError
from jupyterhub.utils import SQLAlchemyError as hub_error
print(Column is sqlalchemy.Column, sqlalchemy.sql is sys.modules["sqlalchemy.sql"],
      SQLAlchemyError is hub_error is sqlalchemy.exc.SQLAlchemyError,
      sqlalchemy.create_engine("sqlite://").connect().exec_driver_sql("select 1").scalar())
from requests.exceptions import RequestException  # likewise for requests
import requests, jupyterlab_server.listings_handler as listings
print(RequestException is requests.RequestException, listings.requests is requests,
      callable(listings.requests.get))
"""


def test_learner_server_imports_leave_out_the_hub_orm():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "heavy []" in lines
    assert "stand-in True" in lines
    assert "logged" in lines
    # the lazy module is the real ORM the moment anything uses it
    assert "orm users True" in lines
    assert "same True True True" in lines


def test_sqlalchemy_submodule_imported_first_is_the_real_one():
    out = subprocess.run([sys.executable, "-c", DIRECT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "1", "True", "True", "True"]


def test_lean_starts_the_single_user_server_module():
    out = subprocess.run([sys.executable, "-m", "hub_config.home.lean", "jupyterhub.singleuser",
                          "--help"], capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    assert "Options" in out.stdout  # ran the server module's command line with the stand-ins


KERNEL_PROBE = """
import os, runpy, sys
from hub_config.home import lean
runpy.run_module = lambda *a, **k: print(a[0], "debugpy" in sys.modules and sys.modules["debugpy"] is None,
                                         os.environ.get("XUEFA_LEAN_KERNELS"))
lean.main(["lean", sys.argv[1]])
"""


def test_learners_kernels_leave_out_the_debugger():
    """A learner's server marks its kernels (XUEFA_LEAN_KERNELS=1); their kernels start without
    debugpy. Trainers' kernels (no mark) keep JupyterLab's debugger."""
    import os

    def probe(module, **env):
        base = {k: v for k, v in os.environ.items() if k != "XUEFA_LEAN_KERNELS"}
        out = subprocess.run([sys.executable, "-c", KERNEL_PROBE, module], capture_output=True,
                             text=True, timeout=60, env={**base, **env}, check=True)
        return out.stdout.split()

    assert probe("jupyterhub.singleuser") == ["jupyterhub.singleuser", "False", "1"]
    assert probe("ipykernel_launcher", XUEFA_LEAN_KERNELS="1") == ["ipykernel_launcher", "True", "1"]
    assert probe("ipykernel_launcher") == ["ipykernel_launcher", "False", "None"]

"""A grading kernel is sandboxed: the platform's grader user (when root), an empty environment,
rlimits, no network, a private dir that is gone after the kernel stops."""

from __future__ import annotations

import json
import os

import pytest

from grading.host.sandbox import Sandbox, grader_username, start_kernel, stop_kernel

PROBE = r"""
import json, os, resource, socket
out = {"uid": os.getuid(), "env": sorted(os.environ), "cwd": os.getcwd(),
       "as": resource.getrlimit(resource.RLIMIT_AS)[0],
       "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0]}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    out["net"] = "open"
except OSError as e:
    out["net"] = type(e).__name__
try:
    open(SECRET).read()
    out["secret"] = "read"
except OSError as e:
    out["secret"] = type(e).__name__
try:
    bytearray(20 * 1024 ** 3)
    out["alloc"] = "20 GB"
except MemoryError:
    out["alloc"] = "MemoryError"
print(json.dumps(out))
"""


def _run(km, code: str) -> dict:
    from jupyter_client import BlockingKernelClient

    kc = BlockingKernelClient()
    kc.load_connection_info(km.get_connection_info())
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        lines = []
        kc.execute_interactive(code, timeout=60, output_hook=lambda m: lines.append(
            m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
        return json.loads("".join(lines).strip().splitlines()[-1])
    finally:
        kc.stop_channels()


def test_grader_user_is_per_platform(tmp_path):  # names only: no user is created
    assert grader_username(tmp_path / "a") != grader_username(tmp_path / "b")
    assert grader_username(tmp_path / "a").startswith("xfg-")


# one fixed platform path, so repeated runs reuse one grader user instead of adding one each
PLATFORM = "/tmp/xuefa-test-sandbox-platform"


def test_kernel_runs_unprivileged_with_an_empty_env_and_limits(monkeypatch):
    import tempfile

    monkeypatch.setenv("XUEFA_RECORDS_DB_URL", "postgresql://secret@db/records")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-secret")
    fd, secret = tempfile.mkstemp(prefix="xuefa-root-only-")  # 0600, the service's own file
    os.close(fd)
    sb = Sandbox.for_platform(PLATFORM)
    km = start_kernel(sb)
    home = km.home
    try:
        assert oct(home.stat().st_mode & 0o777) == "0o700"
        out = _run(km, PROBE.replace("SECRET", repr(secret)))
    finally:
        stop_kernel(km)
        os.unlink(secret)
    assert not home.exists()
    assert not {"XUEFA_RECORDS_DB_URL", "JUPYTERHUB_API_TOKEN"} & set(out["env"]), out["env"]
    assert out["cwd"] == str(home)
    assert out["as"] == sb.limits["as"] and out["nproc"] == sb.limits["nproc"]
    assert out["alloc"] == "MemoryError"
    if os.geteuid() == 0:
        assert out["uid"] == sb.uid != 0
        assert out["secret"] == "PermissionError"
        if sb.network_isolated:
            assert out["net"] != "open"
    else:
        pytest.skip("not root: no user switch or network namespace to check")

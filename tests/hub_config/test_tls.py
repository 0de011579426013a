"""``xuefa up --ssl-cert --ssl-key``: a real platform serving HTTPS with a self-signed
certificate, reached by ``curl --cacert``; the same start-up shows the hub, proxy and service
log files under ``DATA/logs`` (one start-up for both: each costs about a minute here). The last two
tests check the settings without a platform."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from grading.host.datadir import DataDir
from hub_config.services import free_port
from hub_config.tools.platform import ensure_proxy, platform_pids


VENV_BIN = Path(sys.executable).parent
START_TIMEOUT = 240


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 made with `cryptography`, and its key (0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                           *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def https_platform():
    if not shutil.which("curl"):
        pytest.skip("curl not installed")
    ensure_proxy()
    root = Path(tempfile.mkdtemp(prefix="xuefa-tls-"))
    root.chmod(0o755)
    datadir = DataDir(root / "data").ensure()
    cert, key = self_signed(root)
    port = free_port()
    env = dict(os.environ, XUEFA_DATA_DIR=str(datadir.root),
               PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               # the hub, the proxy, and two services that start quickly
               XUEFA_DISABLE_SERVICES="dashboards,grading,formgrader")
    env.pop("JUPYTERHUB_API_TOKEN", None)
    console = root / "xuefa-up.log"
    with console.open("wb") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "xuefa"), "up", "--data-dir", str(datadir.root), "--port", str(port),
             "--ip", "127.0.0.1", "--ssl-cert", str(cert), "--ssl-key", str(key)],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"https://localhost:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while curl("--cacert", str(cert), f"{url}/hub/login").stdout != "200":
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"xuefa up did not answer over HTTPS:\n{console.read_text()[-6000:]}")
            time.sleep(1)
        yield {"url": url, "cert": cert, "datadir": datadir, "console": console, "port": port}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while platform_pids(datadir) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = platform_pids(datadir)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"processes left after stopping xuefa up: {left}"


@pytest.mark.integration
@pytest.mark.slow
def test_hub_login_page_answers_200_over_https_to_a_client_trusting_the_certificate(https_platform):
    done = curl("--cacert", str(https_platform["cert"]), f"{https_platform['url']}/hub/login")
    assert done.stdout == "200", done.stderr
    # the same request without trusting the certificate is refused: it really is TLS
    untrusted = curl(f"{https_platform['url']}/hub/login")
    assert untrusted.returncode == 60, (untrusted.returncode, untrusted.stderr)
    # and nothing answers in the clear on the public port
    plain = curl(f"http://localhost:{https_platform['port']}/hub/login")
    assert plain.stdout != "200"


@pytest.mark.integration
@pytest.mark.slow
def test_cli_still_reaches_the_hub_api_when_the_public_side_is_https(https_platform):
    from hub_config.hubsync import running_hub

    datadir = https_platform["datadir"]
    api_url = datadir.hub_url_file.read_text().strip()
    assert api_url.startswith("http://127.0.0.1:")
    found = running_hub(datadir)
    assert found is not None and found[0] == api_url
    users = requests.get(f"{api_url}/users", headers={"Authorization": f"token {found[1]}"},
                         timeout=20)
    assert users.status_code == 200


@pytest.mark.integration
@pytest.mark.slow
def test_hub_proxy_and_services_write_private_log_files_that_xuefa_logs_reads(https_platform):
    logs = https_platform["datadir"].logs
    for name in ("hub", "proxy", "records", "idle-culler"):
        path = logs / f"{name}.log"
        assert path.exists(), sorted(p.name for p in logs.iterdir())
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert path.stat().st_uid == os.geteuid()
    assert oct(logs.stat().st_mode & 0o777) == "0o700"
    assert "JupyterHub is now running" in (logs / "hub.log").read_text(encoding="utf-8")
    assert "Starting proxy @ https://" in (logs / "hub.log").read_text(encoding="utf-8")
    out = subprocess.run([str(VENV_BIN / "xuefa"), "logs", "hub", "-n", "500", "--data-dir",
                          str(https_platform["datadir"].root)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "JupyterHub is now running" in out.stdout
    # the console of `xuefa up` still gets every line too
    assert "JupyterHub is now running" in https_platform["console"].read_text(errors="replace")


def test_config_serves_https_on_the_public_side_only_when_given_both_files(monkeypatch, tmp_path):
    from traitlets.config import Config

    from hub_config.config import configure_network

    monkeypatch.setenv("XUEFA_SSL_CERT", "/etc/xuefa/cert.pem")
    monkeypatch.setenv("XUEFA_SSL_KEY", "/etc/xuefa/key.pem")
    c = Config()
    configure_network(c)
    assert c.JupyterHub.bind_url.startswith("https://")
    assert (c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key) == ("/etc/xuefa/cert.pem", "/etc/xuefa/key.pem")
    assert c.JupyterHub.hub_ip == "127.0.0.1"

    monkeypatch.delenv("XUEFA_SSL_KEY")
    with pytest.raises(ValueError, match="同时设置"):
        configure_network(Config())


def test_up_refuses_a_lone_certificate_a_non_pem_file_and_a_key_others_can_read(tmp_path):
    from click.testing import CliRunner

    from hub_config.cli import main as cli

    cert, key = self_signed(tmp_path)

    def up(*args):
        return CliRunner().invoke(cli, ["up", "--data-dir", str(tmp_path / "d"), *args])

    assert "须同时提供" in up("--ssl-cert", str(cert)).output
    assert "不是 PEM" in up("--ssl-cert", str(key), "--ssl-key", str(key)).output
    key.chmod(0o644)
    refused = up("--ssl-cert", str(cert), "--ssl-key", str(key))
    assert refused.exit_code != 0 and "chmod 600" in refused.output
    assert not (tmp_path / "d").exists()  # refused before anything was created

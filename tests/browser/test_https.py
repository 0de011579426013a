"""The learner's journey over HTTPS (issue 18): ``xuefa up --ssl-cert --ssl-key`` with a server
certificate from a throwaway CA, and Chromium trusting that CA the way an operator would make a
browser trust the city's CA: in the NSS database Chromium reads on Linux
(``$HOME/.pki/nssdb``, filled with ``certutil``), never ``--ignore-certificate-errors``.

A learner logs in, starts 平台入门 on 我的学习, opens its quiz (Voila: kernel messages over
``wss://`` through the proxy), answers, submits and sees the score; ``curl --cacert`` reaches
the hub while plain ``curl`` and a Chromium without the CA refuse it.

Lean on purpose: no ``--demo`` (it publishes every course), one course published, no dashboards
or formgraders."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT
from tests.browser.test_journeys import PINGTAI, login_first_time, open_voila
from tests.integration.conftest import platform_dir, running_hub

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN = REPO / "courses" / "campaigns" / "xuexiyue_2026.yaml"
LEARNER = "ganbu1"  # 干部 of the demo roster: 平台入门 is an elective of every audience
# Found by this test: learners' servers got XUEFA_RECORDS_URL on the public port, which with
# --ssl-cert speaks only HTTPS; with TLS they now get the records service's loopback address.


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """(server cert, its key 0600, CA cert): a CA, and a server certificate it signed for
    localhost and 127.0.0.1, as a city's CA would issue one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = {"not_valid_before": now - datetime.timedelta(minutes=5),
             "not_valid_after": now + datetime.timedelta(days=2)}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xuefa test CA")])
    ca = (x509.CertificateBuilder(subject_name=ca_name, issuer_name=ca_name, **valid)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder(
                subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
                issuer_name=ca_name, **valid)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path, ca_path


def nss_home(home: Path, ca: Path | None) -> Path:
    """A HOME whose NSS database (what Chromium on Linux trusts besides the system store)
    holds ``ca`` as a trusted CA for TLS servers ("C,,"), or nothing."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True,
                   capture_output=True, timeout=60)
    if ca is not None:
        subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-t", "C,,", "-n", "xuefa-ca",
                        "-i", str(ca)], check=True, capture_output=True, timeout=60)
    return home


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                           *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def https_platform():
    for tool, what in ((CHROMIUM, "chromium"), (shutil.which("certutil"), "libnss3-tools"),
                       (shutil.which("curl"), "curl")):
        if not tool or not Path(tool).exists():
            pytest.skip(f"{what} is not installed")
    from grading.content.courses import course_dirs, load_course
    from grading.content.publish import load_campaign, publish_course, upsert_course
    from grading.records import migrate
    from grading.records.roster import import_roster
    from hub_config.demo import DEMO_ROSTER

    root, datadir = platform_dir("xuefa-https-")
    tls = make_ca_and_server_cert(root)
    url = datadir.records_db_url
    migrate.upgrade(url)
    report = import_roster(DEMO_ROSTER, url, reports_dir=datadir.reports)
    assert not report.errors, report.errors
    for d in course_dirs(REPO / "courses"):
        upsert_course(url, load_course(d))
    publish_course(datadir, PINGTAI.course_id)
    load_campaign(datadir, CAMPAIGN)
    with running_hub(root, datadir, tls=tls, roster_path=DEMO_ROSTER,
                     env={"XUEFA_DISABLE_SERVICES": "dashboards,formgrader"}) as h:
        h.tls_root = root
        yield h


@pytest.fixture(scope="module")
def trusting_browser(https_platform):
    """Chromium whose HOME has an NSS database trusting the platform's CA (nothing else)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    home = nss_home(https_platform.tls_root / "browser-home", Path(https_platform.verify))
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                               env=dict(os.environ, HOME=str(home)))
        try:
            yield b
        finally:
            b.close()


def test_curl_reaches_the_hub_with_the_ca_and_is_refused_without_it(https_platform):
    login = f"{https_platform.url}/hub/login"
    trusted = curl("--cacert", https_platform.verify, login)
    assert trusted.stdout == "200", trusted.stderr
    untrusted = curl(login)
    assert untrusted.returncode == 60, (untrusted.returncode, untrusted.stderr)  # peer cert not trusted


def test_chromium_without_the_ca_refuses_the_platform(https_platform):
    sync_api = pytest.importorskip("playwright.sync_api")
    home = nss_home(https_platform.tls_root / "untrusting-home", None)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                               env=dict(os.environ, HOME=str(home)))
        try:
            page = b.new_page()
            with pytest.raises(sync_api.Error, match="ERR_CERT_AUTHORITY_INVALID"):
                page.goto(f"{https_platform.url}/hub/login")
        finally:
            b.close()


def test_learner_submits_a_quiz_and_sees_the_score_over_https(https_platform, trusting_browser, shot):
    url = https_platform.url
    context = trusting_browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        login_first_time(page, url, LEARNER, shot, "https")
        card = page.locator(".xf-module", has_text=PINGTAI.title)
        try:
            card.first.wait_for(timeout=PAGE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001  (say where the learner got stuck)
            shot(page, "https-03-stuck")
            raise AssertionError(f"no 我的学习 card at {page.url}:\n{page.inner_text('body')[:2000]}\n"
                                 f"{https_platform.log_text()[-4000:]}") from exc
        assert page.url.startswith("https://127.0.0.1:"), page.url
        card.get_by_role("button", name="开始学习").click()
        card.get_by_text("已准备好").wait_for(timeout=PAGE_TIMEOUT)
        shot(page, "https-03-module-ready")

        # the quiz page's widgets talk to its kernel over wss:// through the proxy
        open_voila(page, f"{url}/user/{LEARNER}/voila/render/{PINGTAI.course_id}/module/assessment.ipynb")
        submit = page.get_by_role("button", name="提交")
        submit.wait_for(timeout=PAGE_TIMEOUT)
        PINGTAI.answer(page)
        page.wait_for_timeout(1500)  # answers are saved by the kernel on change
        submit.click()
        score = page.get_by_text(re.compile(r"第 1 次提交：[\d.]+ / 100 分"))
        score.wait_for(timeout=PAGE_TIMEOUT)
        score.scroll_into_view_if_needed()
        shot(page, "https-04-score")
        assert f"第 1 次提交：{PINGTAI.score} / 100 分 · 已通过" in score.inner_text(), score.inner_text()
    finally:
        context.close()

"""Browser fixtures: one real ``xuefa up --demo`` for the browser tests, driven by headless Chromium.

``platform`` (package scope: starting it publishes every shipped course, a minute or more;
test_authoring runs first, then test_journeys and test_units_admin on the same platform) starts the platform exactly as an administrator's first try does
(``xuefa up --demo``: demo roster, demo courses published, demo campaign loaded) on a free
loopback port with a throwaway data dir (:class:`hub_config.tools.platform.Platform`: start-up wait,
the admin API token, clean stop), as the integration fixture's :class:`Hub`.

``browser`` (module scope) is Debian's ``/usr/bin/chromium`` through pip's Playwright
(Playwright's own browser downloads are not used: only the system Chromium is). ``shot(page, name)`` saves a screenshot under
:data:`SHOTS` (printed once) so a reviewer can look at the key pages.

Mark tests ``@pytest.mark.browser``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import platform_dir, running_hub

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("XUEFA_SCREENSHOTS", REPO / "test-artifacts" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
DEMO_PASSWORD = "xuefa-demo-2026"
NEW_PASSWORD = "Xuefa2026new"
# Voila pages execute a whole notebook in a fresh kernel: slow on a loaded 2-core machine
PAGE_TIMEOUT = 180_000
START_TIMEOUT = 420


@pytest.fixture(scope="package")
def platform():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    root, datadir = platform_dir("xuefa-br-")
    # --demo publishes every shipped course before the hub starts: minutes on a loaded machine
    with running_hub(root, datadir, demo=True, timeout=START_TIMEOUT,
                     roster_path=REPO / "courses" / "demo" / "roster.csv") as h:
        yield h


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SHOTS}")
    return SHOTS


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shot(screenshots):
    def save(page, name: str) -> Path:
        path = screenshots / f"{name}.png"
        # the viewport, not full_page: Voila scrolls inside its own container, so callers scroll
        # what matters into view first
        page.screenshot(path=str(path))
        return path
    return save


# --- "no English on these pages" (shared: any page test may use it) -------------------

def english_words(page, selector: str, data=()) -> set[str]:
    """Latin words a reader sees inside ``selector`` of a Playwright ``page``: its rendered text
    (hidden elements and scripts excluded, as the browser lays it out) plus placeholders, titles
    and aria-labels, after removing ``data`` (account names, ids, addresses: not prose)."""
    import re

    text = page.inner_text(selector)
    text += " " + " ".join(page.eval_on_selector_all(
        f"{selector} [placeholder], {selector} [title], {selector} [aria-label]",
        "els => els.map(e => [e.getAttribute('placeholder'), e.getAttribute('title'),"
        " e.getAttribute('aria-label')].filter(Boolean).join(' '))"))
    for d in sorted(data, key=len, reverse=True):
        text = text.replace(d, " ")
    return set(re.findall(r"[A-Za-z]{2,}", text))

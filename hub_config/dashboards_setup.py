"""What every dashboard notebook (``hub_config/dashboards/*.ipynb``) does first, in one place.

A notebook's setup cell is::

    from hub_config.dashboards_setup import setup
    URL, CAMPAIGN = setup("overview")

:func:`setup` waits for the administrator's request (the preheated kernel has already imported
everything), picks the records DB, reads ``?campaign=`` and shows the page header with the
links to the other pages. The campaign id is the one value of the request that reaches the
page, so it must name a known campaign; anything else gets a Chinese message and the page
stops there. Every value echoed into HTML is escaped all the same.
"""

from __future__ import annotations

import html
import os
from urllib.parse import parse_qs, quote

from grading.host.datadir import DataDir
from grading.reports import queries as reports
from hub_config.dashboards_service import DB_URL_ENV
from widgets import charts

CAMPAIGN_ENV = "XUEFA_CAMPAIGN"  # the campaign shown when the URL names none (else the latest)
PAGES = [("overview", "总览"), ("by_unit", "分单位"), ("trend", "每日进度"), ("laggards", "未完成名单"),
         ("items", "试题分析"), ("law_review", "述法评议")]


def records_url() -> str:
    return os.environ.get(DB_URL_ENV) or DataDir.from_env().records_db_url


def page_link(page: str, campaign: str | None = None) -> str:
    """The URL of another dashboard page (relative: the service's base URL stays out of it)."""
    return f"{page}.ipynb" + (f"?campaign={quote(campaign, safe='')}" if campaign else "")


def nav_html(current: str, campaign: str, name: str) -> str:
    links = " | ".join(
        f"<b>{html.escape(label)}</b>" if page == current
        else f'<a href="{html.escape(page_link(page, campaign))}">{html.escape(label)}</a>'
        for page, label in PAGES)
    return charts.STYLE + f'<div class="xf-page"><h2>{html.escape(name)}</h2><p>{links}</p></div>'


def message_html(text: str, *, link: bool = False) -> str:
    back = f' <a href="{page_link("overview")}">返回总览</a>' if link else ""
    return (charts.STYLE + f'<div class="xf-page" role="alert"><p>{html.escape(text)}{back}</p></div>')


def choose_campaign(query_string: str, campaigns) -> tuple[str | None, str | None]:
    """(campaign id, None) for the request, or (None, the zh-CN reason the page cannot show)."""
    known = [str(c) for c in campaigns["id"]] if len(campaigns) else []
    asked = parse_qs(query_string).get("campaign")
    if asked:
        wanted = asked[0]
    else:
        wanted = os.environ.get(CAMPAIGN_ENV) or (known[0] if known else "")
    if not known:
        return None, "还没有学习活动。"
    if wanted not in known:
        # never echo the unknown value back: it is whatever the link said
        return None, "没有找到该学习活动，请从总览页重新选择。"
    return wanted, None


def stop_page() -> None:
    """Run no further cell of this notebook: Voila executes every cell whatever happened
    before (a failing one shows an English "There was an error" box), so the remaining cells
    are turned into no-ops. A preheated kernel serves one request, so this ends with it."""
    from IPython import get_ipython

    ip = get_ipython()
    if ip is not None:
        ip.input_transformers_cleanup.append(lambda lines: [])


def setup(page: str) -> tuple[str, str]:
    """Wait for the request, then (records DB URL, campaign id); shows the page header."""
    from IPython.display import HTML, display
    from voila.utils import wait_for_request

    wait_for_request()
    url = records_url()
    campaigns = reports.campaigns(url)
    campaign, problem = choose_campaign(os.environ.get("QUERY_STRING", ""), campaigns)
    if problem:
        display(HTML(message_html(problem, link=bool(len(campaigns)))))
        stop_page()
        return url, ""
    name = campaigns.set_index("id")["name"].get(campaign, campaign)
    display(HTML(nav_html(page, campaign, str(name))))
    return url, campaign

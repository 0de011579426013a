"""``xuefa report``: completion exports, certificates and the dashboard query benchmark."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import click

from hub_config.commands.options import data_dir_option


@click.group()
def report() -> None:
    """Learning-month reports (学习月报表)."""


def _fail_unknown_campaign(fn, *args, **kwargs):
    from grading.records.completion import CampaignNotFound

    try:
        return fn(*args, **kwargs)
    except CampaignNotFound as exc:
        raise click.ClickException(str(exc)) from exc


@report.command("export")
@click.option("--campaign", "campaign_id", required=True, help="Campaign id (学习活动编号).")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@data_dir_option
def export(datadir, campaign_id: str, fmt: str, output: Path) -> None:
    """Export the completion report: xlsx (汇总/分单位/未完成名单) or csv (by unit)."""
    from grading.reports import exports

    url = datadir.records_db_url
    if fmt == "xlsx":
        _fail_unknown_campaign(exports.write_xlsx, url, campaign_id, output)
    else:
        _fail_unknown_campaign(exports.write_csv, url, campaign_id, output)
    click.echo(f"wrote {output}")


@report.command("certificates")
@click.option("--campaign", "campaign_id", required=True, help="Campaign id (学习活动编号).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--public-url", default=None, envvar="XUEFA_PUBLIC_URL",
              help="Address learners and checkers reach the platform at, for the QR code "
                   "(default: $XUEFA_PUBLIC_URL).")
@data_dir_option
def certificates(datadir, campaign_id: str, output: Path, public_url: str | None) -> None:
    """Write one 结业证书 PDF per learner who completed the campaign (numbered as on the
    platform: the same number as the learner's own download, with the verification QR code)."""
    from grading.reports import certificates as certs

    if not public_url:
        click.echo("warning: no --public-url / XUEFA_PUBLIC_URL: the QR codes hold only the path "
                   "/hub/xuefa/verify/<number>", err=True)
    paths = _fail_unknown_campaign(certs.write_all, datadir.records_db_url, campaign_id, output,
                                   public_url=public_url)
    click.echo(f"wrote {len(paths)} certificates to {output}")


@report.command("items")
@click.argument("course_id")
@click.option("--assignment", default="module", show_default=True, help="nbgrader assignment.")
@click.option("--xlsx", "xlsx", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the analysis as an Excel workbook (题目分析, 选项分布).")
@data_dir_option
def items(datadir, course_id: str, assignment: str, xlsx: Path | None) -> None:
    """Item analysis (题目分析) of a course's assessment: facility, discrimination (upper vs
    lower 27%), option counts and flags, over each learner's first counted attempt."""
    from grading.records.db import session_scope
    from grading.records.models import Course
    from grading.reports import items as ia

    url = datadir.records_db_url
    with session_scope(url) as s:
        course = s.get(Course, course_id)
        title = course.title if course is not None else ""
    if course is None:
        raise click.ClickException(f"没有找到课程 {course_id}（尚未发布？）")
    stats = ia.item_analysis(url, course_id, assignment, course_root=datadir.course_root(course_id))
    click.echo(f"{title}（{course_id}）题目分析：{ia.learners_counted(url, course_id, assignment)} 名学员的首次计分考试")
    for it in stats:
        click.echo(f"{it.question_id}\t{ia.TYPE_LABELS.get(it.type or '', it.type or '')}\t"
                   f"作答 {it.n}\t得分率 {ia.pct(it.facility)}\t区分度 {ia.fmt_d(it.discrimination)}\t"
                   f"{ia.options_text(it)}\t{'；'.join(it.flags)}\t{it.stem[:40]}")
    if xlsx:
        ia.write_xlsx(stats, xlsx, title=title)
        click.echo(f"wrote {xlsx}")


def bench_queries(url: str, campaign_id: str) -> list[tuple[str, object]]:
    """Every query a dashboard page runs, by name (the bench times each)."""
    from grading.reports import items
    from grading.reports import queries as reports
    from hub_config.tools.synth import COURSES

    first_unit = int(reports.by_unit(url, campaign_id)["unit_id"].iloc[0])
    queries = [
        ("overview", lambda: reports.overview(url, campaign_id)),
        ("by_unit", lambda: reports.by_unit(url, campaign_id)),
        ("by_unit_drilldown", lambda: reports.by_unit(url, campaign_id, first_unit)),
        ("people_of_unit", lambda: reports.people(url, campaign_id, first_unit)),
        ("daily_trend", lambda: reports.daily_trend(url, campaign_id)),
        ("laggards", lambda: reports.laggards(url, campaign_id)),
    ]
    # the item-analysis pages show one course at a time (administrators' and trainers')
    for cid, *_ in COURSES:
        queries.append((f"item_analysis[{cid}]", lambda cid=cid: reports.item_analysis(url, campaign_id, cid)))
        queries.append((f"course_items[{cid}]", lambda cid=cid: items.item_analysis(url, cid, bank=[])))
    return queries


@report.command("bench")
@click.option("--learners", type=int, default=20000, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the temporary database and print its path.")
@click.option("--db", "db_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Time the queries on a city kept by an earlier --keep run instead of generating one.")
def bench(learners: int, seed: int, keep: bool, db_file: Path | None) -> None:
    """Generate a synthetic city in a temp DB and time every dashboard query."""
    from grading.records import migrate
    from hub_config.tools import synth

    tmp = Path(tempfile.mkdtemp(prefix="xuefa-bench-"))
    url = f"sqlite:///{db_file.resolve() if db_file else tmp / 'records.sqlite'}"
    try:
        if db_file:
            summary = synth.summarize(url)
            click.echo(f"reusing {db_file}: learners={summary.learners} events={summary.events}")
        else:
            migrate.upgrade(url)
            t0 = time.perf_counter()
            summary = synth.generate(url, learners, seed=seed)
            click.echo(
                f"generated units={summary.units} learners={summary.learners} results={summary.results} "
                f"items={summary.items} events={summary.events} in {time.perf_counter() - t0:.1f}s"
            )
        worst = 0.0
        # best of three, as timeit does: on a shared machine the first run also measures the
        # neighbours; both are printed
        for name, fn in bench_queries(url, summary.campaign_id):
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - t)
            worst = max(worst, min(runs))
            click.echo(f"query {name:<34} best {min(runs):.3f}s  first {runs[0]:.3f}s")
        if keep and not db_file:
            click.echo(f"database kept at {url}")
        click.echo(f"RESULT learners={summary.learners} events={summary.events} max_query_s={worst:.3f}")
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)

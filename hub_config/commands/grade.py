"""``xuefa grade``: run the grading service, look at its queue, benchmark it against nbgrader."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import click

from hub_config.commands.options import data_dir_option


@click.group()
def grade() -> None:
    """Automatic grading (自动评分) of submissions with nbgrader."""


@grade.command("serve")
@click.option("--workers", type=int, default=None, help="Worker processes (default: CPU cores).")
@data_dir_option
def serve(datadir, workers: int | None) -> None:
    """Run the grading service in the foreground (the hub normally runs it as a service)."""
    from grading.grader.service import GradingService

    os.environ["XUEFA_DATA_DIR"] = str(datadir.root)
    argv = [f"--GradingService.data_dir={datadir.root}"]
    if workers:
        argv.append(f"--GradingService.workers={workers}")
    GradingService.launch_instance(argv=argv)


@grade.command("status")
@data_dir_option
def status(datadir) -> None:
    """Jobs per state (queued, running, done, failed) and whether the service runs."""
    from grading.records import jobs
    from grading.records import migrate

    migrate.upgrade(datadir.records_db_url)
    counts = jobs.counts(datadir.records_db_url)
    pidfile = datadir.run / "grading.pid"
    running = False
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), 0)
            running = True
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            running = True
    click.echo(f"评分服务：{'运行中' if running else '未运行'}")
    for state in ("queued", "running", "done", "failed"):
        click.echo(f"{state}: {counts.get(state, 0)}")


@grade.command("bench")
@click.option("--submissions", "n", type=int, default=60, show_default=True)
@click.option("--tries", type=int, default=20, show_default=True,
              help="Single submissions timed on the idle service.")
@click.option("--workers", type=int, default=None, help="Service workers (default: CPU cores).")
@click.option("--per-process/--no-per-process", default=True, show_default=True,
              help="Also time one `nbgrader autograde --student` process per submission "
                   "(the grading-on-submit-with-stock-tools anchor).")
@click.option("--papers", type=int, default=12, show_default=True,
              help="Learners who each draw a paper from a shipped course's question bank and submit "
                   "it; their scores (service and one nbgrader batch) are checked against each "
                   "paper's keys (0 skips the case).")
@click.option("--keep", is_flag=True, help="Keep the temporary data dirs.")
def bench_cmd(n: int, tries: int, workers: int | None, per_process: bool, papers: int, keep: bool) -> None:
    """Grade N synthetic submissions with ONE batch `nbgrader autograde` (the baseline), with
    one nbgrader process per submission, and with the service; compare times and scores. Then
    grade per-learner papers drawn from a bank against the scores their keys give."""
    from hub_config.tools.bench import bench

    work = Path(tempfile.mkdtemp(prefix="xuefa-grade-bench-"))
    try:
        r = bench(work, n, tries=tries, workers=workers, per_process=per_process, papers=papers,
                  echo=click.echo)
    finally:
        if keep:
            click.echo(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    # ratio: the service against ONE batch `nbgrader autograde` of the same submissions
    pp = f" ratio_per_process={r.ratio_per_process:.2f}" if r.ratio_per_process else ""
    click.echo(f"RESULT ratio={r.ratio:.2f}{pp} p95_idle_s={r.p95_idle_s:.2f} "
               f"mismatches={r.mismatches} submissions={r.submissions} "
               f"paper_mismatches={r.paper_mismatches} papers={r.papers}")
    sys.stdout.flush()

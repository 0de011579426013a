"""``xuefa load``: the load test (N simulated learners against a throwaway platform)."""

from __future__ import annotations

import sys

import click


@click.command("load")
@click.option("--learners", "-n", type=click.IntRange(1, 999), default=50, show_default=True,
              help="Simulated learners (accounts load001, load002, ...).")
@click.option("--course", default="pingtai_rumen", show_default=True,
              help="Course whose assessment every learner takes.")
@click.option("--ramp", type=float, default=None,
              help="Seconds over which the learners arrive (default: 2 per learner).")
@click.option("--score-timeout", type=float, default=600, show_default=True,
              help="Seconds a learner waits for the score after 提交.")
@click.option("--keep", is_flag=True, help="Keep the temporary data dir and system users.")
def load(learners: int, course: str, ramp: float | None, score_timeout: float, keep: bool) -> None:
    """Start a throwaway platform on loopback and run LEARNERS simulated learners through it:
    log in, spawn, open 我的学习, answer, 提交, wait for the score. Needs root (learners' servers
    run as system users). The last line is the RESULT line; exit status 1 if anything was lost
    or failed."""
    from hub_config.tools.loadtest import load as run

    report = run(learners, course=course, ramp=ramp, score_timeout=score_timeout, keep=keep,
                 log=lambda m: click.echo(m, err=True))
    for line in report.lines():
        click.echo(line)
    sys.exit(1 if report.lost or report.errors else 0)

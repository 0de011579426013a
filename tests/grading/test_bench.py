"""``xuefa grade bench`` on a handful of submissions: the batch baseline, the per-process anchor
and the service all run, scores agree and the last line is machine-readable (the 60-submission
figures are run by hand). Three learners draw papers from a bank (one of each answer kind): the
service and one nbgrader batch give exactly the scores computed from each paper's keys."""

from __future__ import annotations

import re

from click.testing import CliRunner

from hub_config.cli import main


def test_bench_small_run_prints_result_line():
    r = CliRunner().invoke(main, ["grade", "bench", "--submissions", "4", "--tries", "1", "--papers", "3"])
    assert r.exit_code == 0, r.output
    last = r.output.strip().splitlines()[-1]
    m = re.fullmatch(r"RESULT ratio=([\d.]+) ratio_per_process=[\d.]+ p95_idle_s=([\d.]+) "
                     r"mismatches=(\d+) submissions=(\d+) paper_mismatches=(\d+) papers=(\d+)", last)
    assert m, last
    assert "one batch" in r.output and "per submission" in r.output
    assert int(m.group(3)) == 0 and int(m.group(4)) == 4
    assert int(m.group(5)) == 0 and int(m.group(6)) == 3, r.output
    assert "different papers" in r.output
    assert float(m.group(1)) > 0 and float(m.group(2)) > 0

"""CPU priority that holds under Linux autogroup scheduling.

With ``kernel.sched_autogroup_enabled`` (on by default in most kernels) the CPU is shared
between sessions first -- every ``setsid()`` makes an autogroup -- and only then by niceness
inside a session. JupyterHub starts each server, and jupyter_client each kernel, in a session of
its own, so a plain ``nice()`` changes nothing against other sessions: the autogroup's nice value
(``/proc/<pid>/autogroup``) is what counts. Both are set here; where either is not allowed
(no autogroup support, no CAP_SYS_NICE for a negative value) the process keeps its priority.
"""

from __future__ import annotations

import os

GRADING_NICE = -5  # the grading service and its kernels: what a learner waits on after 提交
# People's servers stay at 0: at 10 a burst's new servers lost to the running learners' kernels
# (each in a session of its own at 0) and two spawns timed out at 180 s.
SERVER_NICE = 0


def set_priority(nice: int, pid: int = 0) -> None:
    """Give process ``pid`` (0: this one) and its session's autogroup niceness ``nice``."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError:
        pass
    try:
        with open(f"/proc/{pid or 'self'}/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass

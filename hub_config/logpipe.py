"""Log files of a platform's long-running processes, with rotation.

The hub, the proxy and every hub-managed service write ``DATA/logs/<name>.log``::

    python -m hub_config.logpipe LOGFILE [--max-bytes N] [--backups K] -- COMMAND [ARGS...]

starts a sink (``--sink``), points its own stdout and stderr at the sink's stdin and then
*execs* COMMAND. The command keeps the pid its starter knows, which matters: the hub stops the
proxy and the services by pid, ``xuefa up`` signals the hub's pid. The sink writes every line to
LOGFILE through :class:`logging.handlers.RotatingFileHandler` (``LOGFILE.1`` ... ``.K``) and copies
it to the stderr it was started with (``xuefa up``'s console, or the journal under systemd). It
exits when the last writer closes the pipe, so the final lines of a stopping process are kept
(SIGTERM and SIGINT are ignored for that reason; a platform stop's SIGKILL sweep still ends it).

Files are created 0600 (the sink runs with umask 077): logs name people and paths.
Whatever the command's children inherit (the hub's learners' servers, a service's workers) goes
to the same file.

Settings, read where the command line is built (:func:`wrap`): ``XUEFA_LOG_MAX_MB`` (size at
which a file rotates, default 20), ``XUEFA_LOG_BACKUPS`` (rotated files kept, default 5),
``XUEFA_LOG_FILES=0`` (no files: output stays on the console only, e.g. on Kubernetes).

Standard library only and no package imports: it starts once per process of the platform.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

DEFAULT_MAX_MB = 20
DEFAULT_BACKUPS = 5


def settings() -> tuple[int, int] | None:
    """(max bytes, backups) from the environment; None when log files are switched off."""
    if os.environ.get("XUEFA_LOG_FILES", "1").strip() in ("0", "false", "no", "off"):
        return None
    max_mb = float(os.environ.get("XUEFA_LOG_MAX_MB") or DEFAULT_MAX_MB)
    backups = int(os.environ.get("XUEFA_LOG_BACKUPS") or DEFAULT_BACKUPS)
    if max_mb <= 0 or backups < 1:
        raise ValueError("XUEFA_LOG_MAX_MB must be > 0 and XUEFA_LOG_BACKUPS >= 1")
    return int(max_mb * 1024 * 1024), backups


def wrap(logfile: str | os.PathLike, command: list[str]) -> list[str]:
    """``command`` run with its output in ``logfile`` (rotated), or ``command`` unchanged when
    log files are off."""
    conf = settings()
    if conf is None:
        return list(command)
    max_bytes, backups = conf
    return [sys.executable, "-m", "hub_config.logpipe", str(logfile), "--max-bytes", str(max_bytes),
            "--backups", str(backups), "--", *command]


def open_handler(logfile: Path, max_bytes: int, backups: int) -> RotatingFileHandler:
    os.umask(0o077)
    logfile.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = RotatingFileHandler(logfile, maxBytes=max_bytes, backupCount=backups,
                                  encoding="utf-8", errors="backslashreplace")
    # a file left by an older run with wider bits is narrowed too
    os.chmod(logfile, 0o600)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def sink(logfile: Path, max_bytes: int, backups: int, source=None, echo=None) -> None:
    """Copy lines from ``source`` (stdin) to the rotating ``logfile`` and to ``echo`` (stdout)
    until end of file."""
    source = source if source is not None else sys.stdin.buffer
    echo = echo if echo is not None else sys.stdout.buffer
    try:
        handler = open_handler(logfile, max_bytes, backups)
    except OSError as exc:  # e.g. a service run as another user: keep the console copy
        handler = None
        echo.write(f"logpipe: cannot write {logfile}: {exc}\n".encode())
    for line in iter(source.readline, b""):
        if handler is not None:
            text = line.decode("utf-8", errors="replace").rstrip("\n")
            handler.emit(logging.makeLogRecord({"msg": text, "args": None}))
        if echo is not None:
            try:
                echo.write(line)
                echo.flush()
            except (OSError, ValueError):  # console gone: the file still gets every line
                echo = None
    if handler is not None:
        handler.close()


def _parse(argv: list[str]) -> tuple[dict, list[str]]:
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    else:
        command = []
    opts = {"logfile": None, "max_bytes": DEFAULT_MAX_MB * 1024 * 1024,
            "backups": DEFAULT_BACKUPS, "sink": False}
    it = iter(argv)
    for arg in it:
        if arg == "--sink":
            opts["sink"] = True
        elif arg == "--max-bytes":
            opts["max_bytes"] = int(next(it))
        elif arg == "--backups":
            opts["backups"] = int(next(it))
        elif opts["logfile"] is None:
            opts["logfile"] = arg
        else:
            raise SystemExit(f"logpipe: unexpected argument {arg!r}")
    if opts["logfile"] is None:
        raise SystemExit("usage: python -m hub_config.logpipe LOGFILE [--max-bytes N] "
                         "[--backups K] -- COMMAND [ARGS...]")
    return opts, command


def main(argv: list[str] | None = None) -> None:
    opts, command = _parse(list(sys.argv[1:] if argv is None else argv))
    logfile = Path(opts["logfile"])
    if opts["sink"]:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        sink(logfile, opts["max_bytes"], opts["backups"])
        return
    if not command:
        raise SystemExit("logpipe: no command after --")
    sink_proc = subprocess.Popen(
        [sys.executable, "-m", "hub_config.logpipe", str(logfile), "--sink",
         "--max-bytes", str(opts["max_bytes"]), "--backups", str(opts["backups"])],
        stdin=subprocess.PIPE, stdout=sys.stderr.fileno(), start_new_session=True)
    fd = sink_proc.stdin.fileno()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sink_proc.stdin.close()
    # Python's own buffered sys.stdout still points at fd 1: nothing was written to it
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()

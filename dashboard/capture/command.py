"""`capture(cmd, experiment=…)`: run a job as a new run and store what it prints (`trainboard run`)."""
from __future__ import annotations

import shlex
import shutil
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import Engine

from dashboard.capture.batcher import Batcher, BatcherStats
from dashboard.capture.common import CaptureError, make_parser, open_engine, warn
from dashboard.capture.process import ChildState, PassThrough, SignalForwarder, pump, start_child
from dashboard.db import runs as runs_db


@dataclass
class CaptureResult:
    run_id: int
    status: str
    exit_code: int
    stats: BatcherStats


def _check_command(cmd: Sequence[str]) -> None:
    if not cmd:
        raise CaptureError("no command given (trainboard run --experiment NAME -- CMD ARGS…)", 2)
    if shutil.which(cmd[0]) is None:
        raise CaptureError(f"command not found: {cmd[0]}", 127)


def capture(
    cmd: Sequence[str] | str,
    *,
    experiment: str,
    name: str | None = None,
    db: str | Engine | None = None,
    patterns: Sequence[str] = (),
    patterns_file: str | None = None,
    flush_chunks: int = 8,
    flush_s: float = 2.0,
    heartbeat_s: float = 5.0,
    report_after_s: float = 30.0,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    echo: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stop: threading.Event | None = None,
    announce: bool = False,
) -> CaptureResult:
    """Run `cmd` (a list, or a string split like a shell would, without a shell) as a new run of
    `experiment`, pass its output through to `stdout`/`stderr` (default: ours; `echo=False`
    discards it), store the output and its metrics, and return when the job has ended.

    The run ends `completed` (exit 0), `failed` (exit code kept) or `interrupted` (SIGINT,
    SIGTERM or SIGHUP to us, forwarded to the job, or `stop` set, which terminates the job).
    `announce` says on stderr which run this is, and how it ended (the CLI does on a terminal).
    Raises CaptureError when the job cannot start, parsing.PatternError for a bad pattern.
    """
    cmd = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    parser = make_parser(patterns, patterns_file)
    _check_command(cmd)
    outputs = [PassThrough((stdout or sys.stdout.buffer) if echo else None),
               PassThrough((stderr or sys.stderr.buffer) if echo else None)]
    with open_engine(db) as engine:
        exp_id = runs_db.get_or_create_experiment(engine, experiment)
        run_id = runs_db.create_run(engine, exp_id, name, command=shlex.join(cmd))
        try:
            proc = start_child(cmd, env=env, cwd=cwd)
        except OSError as exc:
            code = 126 if isinstance(exc, PermissionError) else 127  # the shell's codes
            runs_db.set_status(engine, run_id, "failed", exit_code=code, finished=True)
            raise CaptureError(f"cannot run {cmd[0]}: {exc.strerror or exc}", code) from exc
        batcher = Batcher(engine, run_id, parser, flush_chunks=flush_chunks, flush_s=flush_s,
                          heartbeat_s=heartbeat_s, report_after_s=report_after_s).start()
        state = ChildState()
        if announce:
            warn(f"run {run_id} of experiment {experiment!r} ({engine.url.render_as_string()})")
        # The reader must get the GIL back quickly when output arrives while the writer thread
        # runs Python code: with the default 5 ms a stdout line and the next stderr bar redraw
        # can land in the same read, and the parser would give the line the wrong step. Only on
        # the main thread (the command line): a library caller's process keeps its setting.
        switch = sys.getswitchinterval()
        if threading.current_thread() is threading.main_thread():
            sys.setswitchinterval(min(switch, 0.0005))
        try:
            with SignalForwarder(proc, state):
                pump(proc, batcher.put, outputs, state, stop)
        finally:
            sys.setswitchinterval(switch)
            if state.returncode is None:  # our own failure mid-read: never leave the job behind
                proc.kill()
                state.returncode = proc.wait()
            status = "interrupted" if state.interrupted else "completed" if state.exit_code == 0 else "failed"
            stats = batcher.close(status, state.exit_code)
    if announce:
        warn(f"run {run_id} {status} (exit code {state.exit_code}): {stats.points:,} points, "
             f"{stats.chunks:,} log chunks stored")
    return CaptureResult(run_id=run_id, status=status, exit_code=state.exit_code, stats=stats)

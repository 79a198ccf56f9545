"""Logs that already exist: import a file (`ingest`), tail a growing one (`--follow`), and parse a
stored log again (`reparse`).

Ingest is idempotent and resumable: the run is found by name (default: the file's name), the
part of the file already stored as its log is parsed again but not stored again, and points
are upserted by (run, name, step); importing the same file twice leaves the same rows.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from dashboard.capture.batcher import WAITING_S, Batcher, BatcherStats
from dashboard.capture.decoding import CHUNK_BYTES, clean_text
from dashboard.capture.common import CaptureError, make_parser, open_engine, warn
from dashboard.db import runs as runs_db
from dashboard.db.points import PointColumns, PointMaker
from dashboard.db.writer import write_batch

# A file can wait for the database (unlike a live job): at most this many reads queued (16 MiB of
# text). Four writes' worth, so the reader runs ahead while the writer writes; with one write's
# worth (64) the writer waited ~30 ms for the reader after every write: 200 MB in 5.7 -> 4.9 s.
MAX_QUEUED_READS = 256
# Chunks per write while importing what a file already holds: a live job's 8 keep it prompt, but a
# backlog is written fastest in bigger transactions (4 MiB of log each: 3.5 -> 2.6 s of writer CPU
# per 100 MB). What `--follow` reads after that goes at the live rate (`flush_chunks`).
BACKLOG_FLUSH_CHUNKS = 64
# A file at least this big is parsed in a process of its own (two cores instead of one GIL); a
# smaller one would not earn back the process's start (about 0.2 s).
PARSE_PROCESS_MIN_BYTES = 16 * 1024 * 1024
REPARSE_BATCH_POINTS = 50_000


@dataclass
class IngestResult:
    run_id: int
    status: str
    bytes_read: int
    resumed_chars: int  # characters of the file that were already stored (a repeated import)
    stats: BatcherStats


class Progress:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.start = self._last = time.monotonic()

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self._last < 0.1):
            return
        self._last = now
        rate = done / max(now - self.start, 1e-9) / 1e6
        frac = min(done / self.total, 1.0) if self.total else 1.0
        filled = int(frac * 30)
        sys.stderr.write(f"\r{self.label} {frac:4.0%} |{'█' * filled}{' ' * (30 - filled)}| "
                         f"{done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB {rate:,.1f} MB/s")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


class _StopOnSignal:
    """SIGTERM (and SIGINT) set `stop` instead of killing us mid-write (main thread only)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop, self._old = stop, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._old[signum] = signal.signal(signum, lambda *_: self.stop.set())
        return self

    def __exit__(self, *exc):
        for signum, handler in self._old.items():
            signal.signal(signum, handler)


def _resume_at(engine: Engine, run_id: int, path: Path) -> tuple[int, int]:
    """(next seq, characters already stored) for a run that may hold part of this file already.

    A run of that name holding a different log is an error, not something to mix into."""
    from dashboard.db import queries

    stored = queries.log_length(engine, run_id)
    if not stored:
        return queries.last_log_seq(engine, run_id) + 1, 0
    first = queries.log_chunks(engine, run_id, limit=1)[0][1]
    with path.open("rb") as f:
        head = clean_text(f.read(len(first.encode("utf-8")) + 4).decode("utf-8", "replace"))
    if not head.startswith(first):
        raise CaptureError(f"run {run_id} already holds a different log than {path}; choose another --name")
    return queries.last_log_seq(engine, run_id) + 1, stored


def ingest(
    path: str | os.PathLike,
    *,
    experiment: str,
    name: str | None = None,
    db: str | Engine | None = None,
    patterns: Sequence[str] = (),
    patterns_file: str | None = None,
    follow: bool = False,
    idle_exit_s: float | None = None,
    poll_s: float = 0.25,
    progress: bool | None = None,
    flush_chunks: int = 8,
    flush_s: float = 2.0,
    heartbeat_s: float = 5.0,
    stop: threading.Event | None = None,
    parse_process: bool | None = None,
) -> IngestResult:
    """Import the log file at `path` into the run `name` (default: the file's name) of
    `experiment`: its text as log chunks, its metrics as points.

    With `follow`, keep reading what is appended until `stop` is set (SIGINT/SIGTERM do that on
    the main thread; the run ends `interrupted`) or, with `idle_exit_s`, until the file has not
    grown for that long (the run ends `completed`). `progress` (default: stderr is a terminal)
    draws a progress bar on stderr while importing what the file already holds. `parse_process`
    (default: for a file of PARSE_PROCESS_MIN_BYTES or more) parses in a child process.
    """
    path = Path(path)
    parser = make_parser(patterns, patterns_file)
    if not path.is_file():
        raise CaptureError(f"no such file: {path}", 2)
    stop = stop or threading.Event()
    progress = sys.stderr.isatty() if progress is None else progress
    with open_engine(db) as engine:
        exp_id = runs_db.get_or_create_experiment(engine, experiment)
        run_name = name or path.name
        run_id = runs_db.find_run(engine, exp_id, run_name)
        if run_id is None:
            run_id = runs_db.create_run(engine, exp_id, run_name, command=f"trainboard ingest {path}")
            start_seq, skip = 0, 0
        else:
            start_seq, skip = _resume_at(engine, run_id, path)
            runs_db.set_status(engine, run_id, "running")
        if parse_process is None:
            parse_process = path.stat().st_size >= PARSE_PROCESS_MIN_BYTES
        batcher = Batcher(engine, run_id, None if parse_process else parser,
                          flush_chunks=max(flush_chunks, BACKLOG_FLUSH_CHUNKS),
                          flush_s=flush_s, heartbeat_s=heartbeat_s, start_seq=start_seq, skip_chars=skip,
                          max_queued=MAX_QUEUED_READS, gather_s=0.0 if not follow else 0.05,
                          parse_in_reader=True,
                          parse_process=(tuple(patterns), patterns_file) if parse_process else None).start()
        status = "interrupted"
        offset = 0
        try:
            with _StopOnSignal(stop):
                offset, finished = _read(path, batcher, follow, idle_exit_s, poll_s, progress, stop, flush_chunks)
            status = "completed" if finished else "interrupted"
        finally:
            stats = batcher.close(status)
    return IngestResult(run_id=run_id, status=status, bytes_read=offset, resumed_chars=skip, stats=stats)


def _read(path: Path, batcher: Batcher, follow: bool, idle_exit_s: float | None, poll_s: float,
          progress: bool, stop: threading.Event, flush_chunks: int) -> tuple[int, bool]:
    """Feed the file to the batcher; returns (bytes read, whether it ended on its own)."""
    # A finished file's lines without a timestamp of their own get the file's time (so a repeated
    # import writes the same rows); a followed file's lines get the time they were read.
    file_ts = None if follow else path.stat().st_mtime
    offset = 0
    with path.open("rb") as f:
        bar = Progress(f"ingest {path.name}", os.fstat(f.fileno()).st_size, progress)
        while not stop.is_set():
            data = f.read(CHUNK_BYTES)
            if data:
                batcher.put(data, 0, file_ts)
                offset += len(data)
                bar.update(offset)
                continue
            bar.update(offset, final=True)
            bar.enabled = False
            if not follow:
                return offset, True
            batcher.flush_chunks = flush_chunks  # the backlog is in: what follows is live
            idle_since, quiet = time.monotonic(), False
            while not stop.wait(poll_s):
                size = os.fstat(f.fileno()).st_size
                if size < offset:
                    warn(f"{path} was truncated; following it from its new start")
                    f.seek(0)
                    offset = 0
                if size != offset:
                    break
                if not quiet and time.monotonic() - idle_since >= WAITING_S:
                    batcher.quiet()  # a message waiting for a bar's redraw that did not come
                    quiet = True
                if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                    return offset, True
    return offset, False


@dataclass
class ReparseResult:
    run_id: int
    records: int
    points: int


def reparse(
    run_id: int,
    *,
    db: str | Engine | None = None,
    patterns: Sequence[str] = (),
    patterns_file: str | None = None,
    force: bool = False,
) -> ReparseResult:
    """Parse a run's stored log again and replace its metric points with what comes out: the
    backfill for runs that predate metric capture, or after a parser upgrade. A point's time is
    its line's own timestamp, else the time its chunk was stored."""
    from dashboard.db import queries  # pandas: only for the commands that read runs back

    parser = make_parser(patterns, patterns_file)
    with open_engine(db) as engine:
        run = queries.get_run(engine, run_id)
        if run is None:
            raise CaptureError(f"no run with id {run_id}", 2)
        if run["status"] == "running" and not force:
            raise CaptureError(f"run {run_id} is still running; its capture parses it already (--force to reparse anyway)")
        runs_db.clear_metrics(engine, run_id)
        maker, pending, records, written = PointMaker(), PointColumns(), 0, 0
        ts = time.time()
        for _seq, text, ts in queries.iter_log_chunks(engine, run_id):
            found = parser.feed(text)
            records += len(found)
            maker.add(found, ts, pending)
            if len(pending) >= REPARSE_BATCH_POINTS:
                written += write_batch(engine, run_id, pending)
                pending = PointColumns()
        found = parser.finish()
        records += len(found)
        maker.add(found, ts, pending)
        written += write_batch(engine, run_id, pending)
    return ReparseResult(run_id=run_id, records=records, points=written)

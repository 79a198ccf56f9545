"""The one writer thread of a capture: raw output in, log chunks and metric points out in batches.

Modelled on datasette's write thread: whoever reads output only puts bytes on a queue and never
waits for the database; this thread decodes them into log chunks, feeds the parser, and writes
both with `write_batch` every `flush_chunks` chunks or `flush_s` seconds, whichever comes first.
A log chunk is the output read within `chunk_s` (0.1 s) of its first byte, at most 64 KiB: a
job printing 10,000 lines a second in tiny writes makes ten chunks a second, not thousands, so
the flush rule stays cheap whatever the job's write pattern.
A file being imported (`parse_in_reader`) is parsed by its reader instead, so that parsing one
part of the file overlaps with writing the part before (SQLite and PostgreSQL drivers let go of
the GIL while the database works); a live job's reader must never wait, so it never parses.
A record the parser keeps until a progress bar is redrawn (a tqdm.write() message) is given out
at the bar before once a live job has been quiet WAITING_S without that redraw (a followed file:
once it stopped growing that long, `quiet`).
A failed write keeps its batch in memory and is retried with backoff while the queue keeps
filling; a long outage is reported once on stderr. A write (even an empty one) at least every
`heartbeat_s` keeps the run's heartbeat fresh, so a capture that dies is seen as stale.
"""
from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import NoResultFound

from dashboard.capture.common import warn
from dashboard.capture.decoding import CHUNK_BYTES, StreamDecoder
from dashboard.db import runs as runs_db
from dashboard.db.logtext import pack
from dashboard.db.points import PointColumns, PointMaker
from dashboard.db.writer import write_batch

CHUNK_S = 0.1
# A record waiting for its bar's redraw (parsing.StreamParser.waiting) is given out after the job
# has been quiet this long: tqdm redraws at once after a message, or not at all.
WAITING_S = 0.5
_STOP = object()


@dataclass
class BatcherStats:
    flushes: int = 0          # writes that carried chunks or points
    heartbeats: int = 0       # empty writes that only touched the heartbeat
    failed_writes: int = 0    # attempts that raised and were retried
    chunks: int = 0           # chunks stored
    points: int = 0           # points stored
    records: int = 0          # parsed records
    parse_s: float = 0.0      # time spent in the parser
    write_s: float = 0.0      # time spent in successful database writes
    lost_chunks: int = 0      # given up on at the end (database down for good)
    lost_points: int = 0
    spill_path: str | None = None
    errors: list[str] = field(default_factory=list)


class Batcher:
    """Decode, parse and store the output of one run, on a thread of its own.

    `put(data, stream, ts)` is all a reader does (thread-safe, never blocks). `close()` stops
    the thread after everything put so far is parsed and written (the final flush), then sets
    the run's status when one is given.
    """

    def __init__(
        self,
        engine: Engine,
        run_id: int,
        parser,
        *,
        flush_chunks: int = 8,
        flush_s: float = 2.0,
        chunk_s: float = CHUNK_S,
        heartbeat_s: float = 5.0,
        start_seq: int = 0,
        skip_chars: int = 0,
        report_after_s: float = 30.0,
        final_retry_s: float = 60.0,
        max_backoff_s: float = 5.0,
        max_queued: int = 0,
        gather_s: float = 0.05,
        parse_in_reader: bool = False,
        parse_process: tuple[Sequence[str], str | None] | None = None,
        on_warning: Callable[[str], None] = warn,
    ) -> None:
        if flush_chunks < 1 or flush_s <= 0 or heartbeat_s <= 0:
            raise ValueError("flush_chunks >= 1, flush_s > 0 and heartbeat_s > 0 required")
        self.engine, self.run_id, self.parser = engine, run_id, parser
        self.flush_chunks, self.flush_s, self.heartbeat_s = flush_chunks, flush_s, heartbeat_s
        self.chunk_s, self.gather_s = chunk_s, gather_s
        self.parse_in_reader = parse_in_reader or parse_process is not None
        self._process_args, self._process = parse_process, None
        self.report_after_s, self.final_retry_s, self.max_backoff_s = report_after_s, final_retry_s, max_backoff_s
        self.warn = on_warning
        self.stats = BatcherStats()
        # Unbounded for a live job (its reader must never wait); bounded for a file, which can.
        self._queue: queue.Queue = queue.Queue(maxsize=max_queued)
        self._thread = threading.Thread(target=self._loop, name=f"trainboard-writer-{run_id}", daemon=True)
        self._decoder = StreamDecoder()
        self._seq = start_seq
        # Text already stored for this run (a resumed ingest): parsed again, not stored again.
        self._skip_chars = skip_chars
        self._steps = PointMaker()
        self._points = PointColumns()
        self._last_ts = time.time()  # of the last read: the time of what the end of input completes
        self._last_read = time.monotonic()
        self._chunks: list[tuple] = []  # closed chunks, not yet written: (seq, text[, packed])
        self._open: list[str] = []  # the chunk being filled: its pieces, its size, when it began
        self._open_chars, self._open_ts = 0, 0.0
        self._open_packed: tuple | None = None  # the open chunk's stored columns, if compressed already
        self._last_flush = self._last_write = time.monotonic()
        self._failing_since: float | None = None
        self._retry_at = 0.0
        self._attempts = 0
        self._reported = False
        self._run_gone = False
        self._final: tuple[str | None, int | None] = (None, None)
        self._tail: list[str] = []  # text the decoders held until the end

    # -- the reader's side -------------------------------------------------------------------
    def start(self) -> "Batcher":
        if self._process_args is not None:
            from dashboard.capture.parse_process import ParseProcess

            self._process = ParseProcess(self._parsed, *self._process_args)
        self._thread.start()
        return self

    def put(self, data: bytes, stream: int = 0, ts: float | None = None) -> None:
        """Output as read: `stream` keeps each source's partial UTF-8 sequences apart.
        Blocks only when the queue is bounded (`max_queued`) and full."""
        if not data:
            return
        ts = time.time() if ts is None else ts
        if not self.parse_in_reader:
            self._queue.put((data, stream, ts))
            return
        self._last_ts = ts
        if self._process is not None:
            # The bytes as read: the process decodes them into the same text as below, so the
            # reader holds the GIL for no pickling of text.
            self._process.send(data, stream, ts)
        for text, utf8 in self._decoder.decode_exact(data, stream):
            # The piece is compressed here, on the reader's thread (zstd lets go of the GIL), so
            # that a file's chunks cost the writer no compression; from the bytes read when they
            # are the text's UTF-8, so the reader holds the GIL for no encoding.
            self._queue.put((text, None if self._process is not None else self._parse(text), ts, pack(text, utf8)))

    def quiet(self) -> None:
        """The reader's word, with `parse_in_reader`, that its input went quiet (a followed file
        that stopped growing): the records the parser keeps for a bar's redraw go out now (a live
        job's are given out by the writer thread itself, WAITING_S after its last read)."""
        if self._process is not None:
            self._process.release()
        elif self.parse_in_reader and self.parser is not None and self.parser.waiting:
            self._queue.put(("", self._waiting_records(), self._last_ts))

    def close(self, status: str | None = None, exit_code: int | None = None, timeout: float | None = None) -> BatcherStats:
        """Final flush, then the run's status (with exit code and finish time) when given.
        With `parse_in_reader`, to be called by the reader, after its last `put`."""
        self._final = (status, exit_code)
        if self._process is not None:
            self._decoder_tails()  # the process's own decoder ends with the same text
            self._process.finish()  # its last points are on the queue now
        elif self.parse_in_reader:
            self._queue.put(("", self._end_of_input(), self._last_ts))
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return self.stats

    # -- the writer thread -------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            self._serve()
        finally:
            self._finish()  # whatever happened, what was read gets its final flush

    def _serve(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=max(self._next_wakeup() - time.monotonic(), 0.0))
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if item is not None and self.parse_in_reader:
                text, records, ts, *packed = item
                if isinstance(records, PointColumns):  # from the parser process
                    self._points.extend(records)
                elif records:
                    self._steps.add(records, ts, self._points)
                self._store(text, ts, *packed)
            elif item is not None:
                self._absorb(*item)
            self._release_waiting()
            if self._due():
                self._flush()
            if self.gather_s and self._queue.empty():
                # Let output gather instead of waking for every read: a live job's reads then
                # cost this thread about 1/gather_s wake-ups a second, whatever its rate.
                time.sleep(self.gather_s)

    # -- decoding and parsing: on the writer thread, or the reader's with `parse_in_reader` -------
    def _parse(self, text: str) -> list:
        if self.parser is None:
            return []
        t = time.perf_counter()
        try:
            records = self.parser.feed(text)
        except Exception as exc:  # noqa: BLE001 - a parser bug must not cost the log
            self._parser_failed(f"{type(exc).__name__}: {exc}")
            records = []
        self.stats.parse_s += time.perf_counter() - t
        self.stats.records += len(records)
        return records

    def _end_of_input(self) -> list:
        """The records of what the decoders and the parser still held at the end (their time:
        the last read's); the decoders' last text waits in `_tail` for the final flush to store it."""
        records = []
        for tail in self._decoder_tails():
            records += self._parse(tail)
        if self.parser is not None:
            try:
                last = self.parser.finish()
            except Exception as exc:  # noqa: BLE001
                self._parser_failed(f"{type(exc).__name__}: {exc}")
                last = []
            self.stats.records += len(last)
            records += last
        return records

    def _decoder_tails(self) -> list[str]:
        """What the decoders still held at the end; it waits in `_tail` for the final flush."""
        tails = self._decoder.tails()
        self._tail += tails
        return tails

    def _parsed(self, columns: PointColumns | None, records: int, parse_s: float, error: str | None) -> None:
        """An answer of the parser process (on its receiver thread)."""
        self.stats.records += records
        self.stats.parse_s += parse_s
        if error is not None:
            self._parser_failed(error)
        if columns is not None and len(columns):
            self._queue.put(("", columns, 0.0))

    def _absorb(self, data: bytes, stream: int, ts: float) -> None:
        self._last_ts, self._last_read = ts, time.monotonic()
        for text in self._decoder.decode(data, stream):
            self._steps.add(self._parse(text), ts, self._points)
            self._store(text, ts)

    def _waiting_due(self) -> float | None:
        """When the parser's waiting records are to be given out (a live job only), else None."""
        if self.parse_in_reader or self.parser is None or not self.parser.waiting:
            return None
        return self._last_read + WAITING_S

    def _release_waiting(self) -> None:
        due = self._waiting_due()
        if due is not None and time.monotonic() >= due:
            self._steps.add(self._waiting_records(), self._last_ts, self._points)

    def _waiting_records(self) -> list:
        """The records the parser kept for a bar's redraw, given out now."""
        try:
            records = self.parser.release_waiting()
        except Exception as exc:  # noqa: BLE001 - a parser bug must not cost the log
            self._parser_failed(f"{type(exc).__name__}: {exc}")
            return []
        self.stats.records += len(records)
        return records

    def _store(self, text: str, ts: float, packed: tuple | None = None) -> None:
        """Text into the log chunk being filled (text already stored by a previous import is
        skipped); `packed`: the text's stored columns, when the reader compressed it already."""
        if not text:
            return
        if self._skip_chars:
            if len(text) <= self._skip_chars:
                self._skip_chars -= len(text)
                return
            text, self._skip_chars, packed = text[self._skip_chars:], 0, None
        if self._open and (ts - self._open_ts >= self.chunk_s or self._open_chars + len(text) > CHUNK_BYTES):
            self._close_chunk()
        if not self._open:
            self._open_ts, self._open_packed = ts, packed
        else:
            self._open_packed = None  # two pieces in one chunk: the writer compresses the whole
        self._open.append(text)
        self._open_chars += len(text)

    def _close_chunk(self) -> None:
        if self._open:
            text = "".join(self._open)
            packed = () if self._open_packed is None else (self._open_packed,)
            self._chunks.append((self._seq, text, *packed))
            self._seq += 1
            self._open, self._open_chars, self._open_packed = [], 0, None

    def _parser_failed(self, error: str) -> None:
        self.parser = None
        self.stats.errors.append(f"parser: {error}")
        self.warn(f"the parser failed ({error}); the log is still stored, "
                  f"metrics stop here (`trainboard reparse {self.run_id}` later)")

    def _next_wakeup(self) -> float:
        if self._failing_since is not None:
            return self._retry_at
        nxt = self._last_write + self.heartbeat_s
        if self._chunks or self._points or self._open:
            nxt = min(nxt, self._last_flush + self.flush_s)
        waiting = self._waiting_due()
        return nxt if waiting is None else min(nxt, waiting)

    def _due(self) -> bool:
        now = time.monotonic()
        if self._failing_since is not None and now < self._retry_at:
            return False
        if len(self._chunks) >= self.flush_chunks:
            return True
        if (self._chunks or self._points or self._open) and now >= self._last_flush + self.flush_s:
            return True
        return now >= self._last_write + self.heartbeat_s

    def _flush(self) -> bool:
        """Write what is pending; on failure keep it and schedule a retry. True when written."""
        self._close_chunk()
        if self._run_gone:
            self._points, self._chunks = PointColumns(), []
            return True
        points, chunks = self._points, self._chunks
        t = time.perf_counter()
        try:
            write_batch(self.engine, self.run_id, points, chunks)
        except NoResultFound:
            self._run_gone = True
            self.warn(f"run {self.run_id} was deleted; its output is no longer stored")
            self._points, self._chunks = PointColumns(), []
            return True
        except ValueError as exc:
            # write_batch refused a malformed point before writing anything: retrying can never
            # succeed, so the points go (reported) and the log chunks are written on the retry.
            self.warn(f"dropped {len(points)} points the database cannot store: {exc}")
            self.stats.errors.append(f"ValueError: {exc}")
            self._points = PointColumns()
            self._retry_at = time.monotonic()
            return False
        except Exception as exc:  # noqa: BLE001 - any database error: keep the batch, retry
            self._write_failed(exc)
            return False
        now = time.monotonic()
        self.stats.write_s += time.perf_counter() - t
        if points or chunks:
            self.stats.flushes += 1
            self._last_flush = now
        else:
            self.stats.heartbeats += 1
        self._last_write = now
        self.stats.chunks += len(chunks)
        self.stats.points += len(points)
        self._points, self._chunks = PointColumns(), []
        if self._reported:
            self.warn("database writes resumed; nothing was lost")
        self._failing_since, self._attempts, self._reported = None, 0, False
        return True

    def _write_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self.stats.failed_writes += 1
        if self._failing_since is None:
            self._failing_since = now
        self._attempts += 1
        self._retry_at = now + min(0.1 * 2 ** (self._attempts - 1), self.max_backoff_s)
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if not self.stats.errors or self.stats.errors[-1] != message:
            self.stats.errors.append(message)
        if not self._reported and now - self._failing_since >= self.report_after_s:
            self._reported = True
            self.warn(
                f"cannot write to the database for {now - self._failing_since:.0f} s ({message}); "
                f"still retrying, keeping {len(self._chunks)} log chunks and {len(self._points)} points in memory"
            )

    def _finish(self) -> None:
        if not self.parse_in_reader:
            self._steps.add(self._end_of_input(), self._last_ts, self._points)
        for tail in self._tail:
            self._store(tail, time.time())
        deadline = time.monotonic() + self.final_retry_s
        while not self._flush():
            if time.monotonic() >= deadline:
                self._give_up()
                break
            time.sleep(max(self._retry_at - time.monotonic(), 0.0))
        status, exit_code = self._final
        if status is None or self._run_gone:
            return
        while True:
            try:
                runs_db.set_status(self.engine, self.run_id, status, exit_code=exit_code, finished=True)
                return
            except Exception as exc:  # noqa: BLE001
                if time.monotonic() >= deadline:
                    self.warn(f"could not set run {self.run_id} to {status}: {exc}")
                    return
                time.sleep(0.5)

    def _give_up(self) -> None:
        """The database stayed down past the end: keep the unsaved log in a file and say where."""
        self.stats.lost_chunks, self.stats.lost_points = len(self._chunks), len(self._points)
        if self._chunks:
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", prefix=f"trainboard-run{self.run_id}-unsaved-", suffix=".log", delete=False
            ) as f:
                f.writelines(chunk[1] for chunk in self._chunks)
            self.stats.spill_path = f.name
        self.warn(
            f"gave up writing to the database after {self.final_retry_s:.0f} s ({self.stats.errors[-1]}): "
            f"{len(self._chunks)} log chunks and {len(self._points)} points of run {self.run_id} were not stored"
            + (f"; the unsaved log is in {self.stats.spill_path}" if self.stats.spill_path else "")
        )

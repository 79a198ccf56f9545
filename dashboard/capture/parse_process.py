"""Parsing in a process of its own, for importing a big file: the importer's reader and writer
threads share one GIL, so with the parser in a child process, parsing and the database writes use
two cores instead of taking turns on one.

The child is `python -m dashboard.capture.parse_process` on two pipes. The reader sends each piece
of decoded text (with its time) down one and goes on reading; the child parses it and sends back
the points as `PointColumns`, numbered in record order, on the other, where a receiver thread
hands them to the writer. The child holds the parser and the `PointMaker`, so steps and times are
exactly what parsing in the reader would give. A child that fails (a parser bug, or the process
dying) costs the metrics from there on, never the log.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

from dashboard.db.points import PointColumns, PointMaker

_FINISH = None
MAX_AHEAD = 256  # pieces of text (64 KiB each) queued for the child: 16 MiB


def _serve(requests: Connection, replies: Connection) -> None:
    """The child: (patterns, patterns file) first, then (text, ts) in, (columns, records, parse
    seconds, error, final) out; `_FINISH` flushes the parser's last line and open block (their
    time: the last text's), answers, and ends."""
    from dashboard.capture.common import make_parser

    # Ctrl-C reaches the whole process group: the importer decides when to stop, and this child
    # parses everything it was sent first, ending when told or when its pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    patterns, patterns_file = requests.recv()
    parser, maker, numbered, last_ts = make_parser(patterns, patterns_file), PointMaker(), 0, time.time()
    while True:
        try:
            message = requests.recv()
        except EOFError:  # the importer is gone
            return
        columns, error, t = PointColumns(numbered), None, time.perf_counter()
        records = []
        if parser is not None:
            try:
                records = parser.finish() if message is _FINISH else parser.feed(message[0])
            except Exception as exc:  # noqa: BLE001 - a parser bug costs the metrics, not the log
                parser, error = None, f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
        maker.add(records, message[1] if message is not _FINISH else last_ts, columns)
        numbered = columns.records
        try:
            columns.freeze()  # arrays: cheap to send, and the writer only concatenates them
        except ValueError as exc:  # not from a parser that works: treated as the parser failing
            parser, columns, error = None, PointColumns(numbered), f"ValueError: {exc}"
        replies.send((columns, len(records), time.perf_counter() - t, error, message is _FINISH))
        if message is _FINISH:
            return
        last_ts = message[1]


class ParseProcess:
    """A parser in a child process. `send(text, ts)` from one thread (the reader); every answer
    goes to `deliver(columns, records, parse_s, error)` on a receiver thread of its own;
    `finish()` returns once the parser's last answer was delivered."""

    def __init__(self, deliver: Callable[[PointColumns | None, int, float, str | None], None],
                 patterns: Sequence[str] = (), patterns_file: str | None = None) -> None:
        # A plain child interpreter on two pipes of its own, not multiprocessing's spawn, which
        # would import the caller's main module again (a script without a __main__ guard).
        requests_in, requests_out = os.pipe()
        replies_in, replies_out = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "dashboard.capture.parse_process", str(requests_in), str(replies_out)],
            pass_fds=(requests_in, replies_out), env=env, stdin=subprocess.DEVNULL)
        os.close(requests_in)
        os.close(replies_out)
        self._requests_out = Connection(requests_out, readable=False)
        self._replies = Connection(replies_in, writable=False)
        self._deliver = deliver
        self._done = threading.Event()
        self._broken = False
        # The reader hands text to a sender thread, so that the child starting up (about 0.2 s)
        # or busy parsing never holds up the reader, and so the writer, by up to MAX_AHEAD pieces.
        self._outbox: queue.Queue = queue.Queue(maxsize=MAX_AHEAD)
        self._outbox.put((tuple(patterns), patterns_file))  # the child's first message: its formats
        self._sender = threading.Thread(target=self._send_all, name="trainboard-parser-sender", daemon=True)
        self._receiver = threading.Thread(target=self._receive, name="trainboard-parser-replies", daemon=True)
        self._sender.start()
        self._receiver.start()

    def send(self, text: str, ts: float) -> None:
        """Text to parse and its time (the reader's thread only)."""
        self._outbox.put((text, ts))

    def finish(self, timeout: float | None = None) -> None:
        self._outbox.put(_FINISH)
        self._done.wait(timeout)
        self._sender.join(timeout)
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._replies.close()

    def _send_all(self) -> None:
        try:
            while True:
                message = self._outbox.get()
                if not self._broken:
                    try:
                        self._requests_out.send(message)
                    except OSError:  # the child died: the receiver reports it
                        self._broken = True
                if message is _FINISH:
                    return
        finally:
            self._requests_out.close()

    def _receive(self) -> None:
        try:
            while True:
                try:
                    columns, records, parse_s, error, final = self._replies.recv()
                except (EOFError, OSError):
                    self._broken = True
                    try:
                        code = self._process.wait(1)
                    except subprocess.TimeoutExpired:
                        code = None
                    self._deliver(None, 0, 0.0, f"the parser process ended (exit code {code})")
                    return
                self._deliver(columns, records, parse_s, error)
                if final:
                    return
        finally:
            self._done.set()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))

"""Parsing in a process of its own, for importing a big file: the importer's reader and writer
threads share one GIL, so with the parser in a child process, parsing and the database writes use
two cores instead of taking turns on one.

The child is `python -m dashboard.capture.parse_process` on two pipes. The reader sends each read
(its bytes as read, its stream and time) down one and goes on reading: the child decodes it into
the text the importer stores (`decoding.StreamDecoder`, the same code), parses it and sends back
the points as `PointColumns`, numbered in record order, on the other, where a receiver thread
hands them to the writer. The child holds the parser and the `PointMaker`, so steps and times are
exactly what parsing in the reader would give. A child that fails (a parser bug, or the process
dying) costs the metrics from there on, never the log.
"""
from __future__ import annotations

import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

from dashboard.capture.decoding import StreamDecoder
from dashboard.db.points import PointColumns, PointMaker

# A read goes down as raw bytes, never pickled: this header (its time, its stream), then the bytes.
# An empty message is the end.
_HEADER = struct.Struct("<dI")
_FINISH = b""
_RELEASE = b"r"  # the input went quiet: records waiting for a bar's redraw go out (StreamParser.release_waiting)
MAX_AHEAD = 256  # reads (64 KiB each) queued for the child: 16 MiB


def _serve(requests: Connection, replies: Connection) -> None:
    """The child: (patterns, patterns file) first, then reads in, (columns, records, parse
    seconds, error, final) out; `_FINISH` flushes the decoders' and the parser's last text and
    open block (their time: the last read's), answers, and ends."""
    from dashboard.capture.common import make_parser

    # Ctrl-C reaches the whole process group: the importer decides when to stop, and this child
    # parses everything it was sent first, ending when told or when its pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    patterns, patterns_file = requests.recv()
    parser, maker, numbered, ts = make_parser(patterns, patterns_file), PointMaker(), 0, time.time()
    decoder = StreamDecoder()
    while True:
        try:
            message = requests.recv_bytes()
        except EOFError:  # the importer is gone
            return
        final, release = message == _FINISH, message == _RELEASE
        if final:
            texts = decoder.tails()
        elif release:
            texts = []
        else:
            ts, stream = _HEADER.unpack_from(message)
            texts = decoder.decode(message[_HEADER.size:], stream)
        columns, error, t = PointColumns(numbered), None, time.perf_counter()
        records = []
        if parser is not None:
            try:
                for text in texts:
                    records += parser.feed(text)
                if final:
                    records += parser.finish()
                elif release:
                    records += parser.release_waiting()
            except Exception as exc:  # noqa: BLE001 - a parser bug costs the metrics, not the log
                parser, error = None, f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
        maker.add(records, ts, columns)
        numbered = columns.records
        try:
            columns.freeze()  # arrays: cheap to send, and the writer only concatenates them
        except ValueError as exc:  # not from a parser that works: treated as the parser failing
            parser, columns, error = None, PointColumns(numbered), f"ValueError: {exc}"
        replies.send((columns, len(records), time.perf_counter() - t, error, final))
        if final:
            return


class ParseProcess:
    """A parser in a child process. `send(data, stream, ts)` from one thread (the reader); every answer
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
        self._outbox.put((tuple(patterns), patterns_file))  # the child's first message (pickled): its formats
        self._sender = threading.Thread(target=self._send_all, name="trainboard-parser-sender", daemon=True)
        self._receiver = threading.Thread(target=self._receive, name="trainboard-parser-replies", daemon=True)
        self._sender.start()
        self._receiver.start()

    def send(self, data: bytes, stream: int, ts: float) -> None:
        """A read to decode and parse, its stream and its time (the reader's thread only)."""
        self._outbox.put(_HEADER.pack(ts, stream) + data)

    def release(self) -> None:
        """The input went quiet: the records the parser keeps for a bar's redraw go out."""
        self._outbox.put(_RELEASE)

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
                        send = self._requests_out.send_bytes if isinstance(message, bytes) else self._requests_out.send
                        send(message)
                    except OSError:  # the child died: the receiver reports it
                        self._broken = True
                if message == _FINISH:
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

"""Run a command with its output captured: the read loop, pass-through, and signal forwarding.

The loop reads the child's stdout and stderr in binary as soon as either has data, writes every
byte through to our own stdout/stderr at once (so `\\r` progress bars still animate), and hands
the same bytes to the writer thread; it never waits for the database.
"""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from dashboard.capture.decoding import CHUNK_BYTES

# After the child exits, output from grandchildren that still hold its pipes is read until
# the pipes stay quiet this long (a daemon holding them open must not keep us forever).
ORPHAN_QUIET_S = 1.0
_POLL_S = 0.25
# Reads closer together than 2 ms mean a busy job: the loop then pauses 2 ms after each pass so
# that a job writing 20,000 times a second (Python's print() is two writes per line) costs about
# 500 reads a second, not 20,000; what it prints still reaches the terminal within milliseconds.
# A job printing less often is read at once, without the pause (a wake-up costs more than a read).
READ_INTERVAL_S = 0.002
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class PassThrough:
    """Write bytes to one of our own streams unchanged and unbuffered.

    A closed reader (`trainboard run … | head`) stops the pass-through, never the capture."""

    def __init__(self, stream: BinaryIO | None) -> None:
        self.stream = stream
        if stream is not None:
            stream.flush()  # whatever was buffered before the job's first byte goes first

    def write(self, data: bytes) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(data)
            self.stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.stream = None


@dataclass
class ChildState:
    """What happened to the child, as far as capture is concerned."""
    signals: int = 0          # SIGINT/SIGTERM/SIGHUP received by us (or the stop event)
    returncode: int | None = None

    @property
    def interrupted(self) -> bool:
        return self.signals > 0

    @property
    def exit_code(self) -> int:
        """The shell's convention: a child killed by signal N exits 128 + N."""
        rc = self.returncode if self.returncode is not None else 1
        return 128 - rc if rc < 0 else rc


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The job's environment: ours (or `env`), with PYTHONUNBUFFERED=1 unless it is set."""
    out = dict(os.environ if env is None else env)
    out.setdefault("PYTHONUNBUFFERED", "1")
    return out


def start_child(cmd: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> subprocess.Popen:
    # stdin is inherited: a job that asks a question (or hits a breakpoint) still can.
    return subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                            env=child_env(env), cwd=cwd)


def _terminal_sent_it(signum: int) -> bool:
    """A Ctrl-C typed at the terminal already reached the child (same foreground process group):
    forwarding it again would hand the job a second KeyboardInterrupt in its cleanup."""
    if signum not in (signal.SIGINT, signal.SIGHUP):
        return False
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


class SignalForwarder:
    """While the child runs: SIGINT/SIGTERM/SIGHUP to us go to the child; the third one kills it.

    Only the main thread can own signal handlers; elsewhere (capture() called from a thread)
    this does nothing and the caller stops the job with its stop event instead."""

    def __init__(self, proc: subprocess.Popen, state: ChildState) -> None:
        self.proc, self.state, self._old = proc, state, {}

    def __enter__(self) -> "SignalForwarder":
        if threading.current_thread() is threading.main_thread():
            for signum in FORWARDED_SIGNALS:
                self._old[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._old.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame) -> None:
        self.state.signals += 1
        if self.proc.poll() is not None:
            return
        try:
            if self.state.signals >= 3:
                self.proc.kill()
            elif not _terminal_sent_it(signum):
                self.proc.send_signal(signum)
        except ProcessLookupError:
            pass


def pump(
    proc: subprocess.Popen,
    sink: Callable[[bytes, int], None],
    outputs: Sequence[PassThrough],
    state: ChildState,
    stop: threading.Event | None = None,
    read_interval_s: float = READ_INTERVAL_S,
) -> None:
    """Read the child's stdout (stream 1) and stderr (stream 2) until both close, writing each
    read through to `outputs[stream - 1]` before handing it to `sink(data, stream)`."""
    selector = selectors.DefaultSelector()
    for stream, pipe in ((1, proc.stdout), (2, proc.stderr)):
        selector.register(pipe.fileno(), selectors.EVENT_READ, stream)
    open_pipes, quiet_since, last_read = 2, None, 0.0
    try:
        while open_pipes:
            events = selector.select(_POLL_S)
            if len(events) > 1:
                # Both pipes ready: the order of writes across two pipes is lost. Read stderr
                # first: a tqdm bar (stderr) redrawn just before a message (stdout) is the
                # common case, and the parser takes a message's step from that bar.
                events.sort(key=lambda e: -e[0].data)
            for key, _ in events:
                data = os.read(key.fd, CHUNK_BYTES)
                if not data:
                    selector.unregister(key.fd)
                    open_pipes -= 1
                    continue
                outputs[key.data - 1].write(data)
                sink(data, key.data)
            if stop is not None and not state.signals and stop.is_set() and proc.poll() is None:
                state.signals += 1
                proc.terminate()
            if events:
                quiet_since = None
                now = time.monotonic()
                if now - last_read < read_interval_s:
                    time.sleep(read_interval_s)  # a busy writer: let its output gather
                last_read = now
            elif proc.poll() is not None:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= ORPHAN_QUIET_S:
                    break
    finally:
        selector.close()
        proc.stdout.close()
        proc.stderr.close()
    state.returncode = proc.wait()

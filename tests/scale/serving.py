"""`trainboard serve` as a child process on a free loopback port: start, probe, stop.

Shared by the serve test and bench/scale_bench.py; loopback only, every wait bounded.
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(port: int, path: str) -> int | None:
    """The HTTP status of GET path, or None when nothing answers."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        code = conn.getresponse().status
        conn.close()
        return code
    except OSError:
        return None


def start_serve(db_url: str, workers: int, port: int, output=subprocess.DEVNULL) -> subprocess.Popen:
    """`python -m dashboard serve --workers N` in a session of its own (so it can be killed whole)."""
    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard", "serve", "--workers", str(workers), "--host", "127.0.0.1",
         "--port", str(port), "--db", db_url],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_until_serving(server: subprocess.Popen, port: int, path: str, timeout_s: float) -> bool:
    """True once GET path answers 200; False if the server exits or timeout_s passes first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        if status(port, path) == 200:
            return True
        time.sleep(0.2)
    return False


def stop(server: subprocess.Popen, timeout_s: float = 30) -> bool:
    """SIGTERM (gunicorn's graceful stop); SIGKILL to the whole session if that is not enough.
    True when the graceful stop sufficed."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout_s)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
        return False

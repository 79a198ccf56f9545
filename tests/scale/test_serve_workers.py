"""`trainboard serve --workers N` runs gunicorn with N worker processes that answer requests."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.server import serve

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_serve_workers_2_runs_gunicorn_with_two_answering_workers(db_url, tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("GUNICORN_CMD_ARGS", None)
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "serve", "--workers", "2", "--host", "127.0.0.1",
             "--port", str(port), "--db", db_url],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_for(lambda: server.poll() is not None or _get(port, "/") == 200, START_TIMEOUT_S,
                  f"the server on port {port}")
        assert server.poll() is None, log.read_text()
        _wait_for(lambda: len(_children(server.pid)) == 2, 30, "2 worker processes of the master")
        # Every worker built its app: each new connection gets an answer, whichever worker takes it.
        assert [_get(port, "/") for _ in range(8)] == [200] * 8
        assert _get(port, "/_dash-layout") == 200
        text = log.read_text()
        assert "gunicorn" in text and text.count("Booting worker with pid") == 2, text
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    assert "Shutting down: Master" in log.read_text()


def test_serve_refuses_zero_workers():
    from dashboard.config import Settings

    with pytest.raises(ValueError, match="at least 1"):
        serve(Settings(db_url="sqlite://"), workers=0)

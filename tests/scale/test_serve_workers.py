"""`trainboard serve --workers N` runs gunicorn with N worker processes that answer requests."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from dashboard.config import Settings
from dashboard.server import serve
from tests.scale.serving import free_port, start_serve, status, stop, wait_until_serving

START_TIMEOUT_S = 90


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_serve_workers_2_runs_gunicorn_with_two_answering_workers(db_url, tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = start_serve(db_url, 2, port, out)
    try:
        assert wait_until_serving(server, port, "/", START_TIMEOUT_S), log.read_text()
        deadline = time.monotonic() + 30
        while len(_children(server.pid)) != 2:
            assert time.monotonic() < deadline, f"workers: {_children(server.pid)}\n{log.read_text()}"
            time.sleep(0.2)
        # Every worker built its app: each new connection is answered, whichever worker takes it.
        assert [status(port, "/") for _ in range(8)] == [200] * 8
        assert status(port, "/api/experiments") == 200
        text = log.read_text()
        assert "gunicorn" in text and text.count("Booting worker with pid") == 2, text
    finally:
        stopped = stop(server)
    assert stopped and "Shutting down: Master" in log.read_text()


def test_serve_refuses_zero_workers():
    with pytest.raises(ValueError, match="at least 1"):
        serve(Settings(db_url="sqlite://"), workers=0)

"""Faults during capture: kill -9 mid-batch, a disk that fills up, a PostgreSQL connection
dropped mid-batch. Each test ends with every acknowledged point present and the run's status
truthful. (A locked SQLite database is tests/capture/test_capture.py::
test_a_locked_sqlite_database_loses_nothing.)

A point is acknowledged once the transaction that wrote it has committed. The faults strike
inside a transaction: an engine `commit` hook stops the writer between its inserts and its
COMMIT, which is the moment the tests kill or cut it.
"""
from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid

import psycopg
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from dashboard.capture import Batcher, capture
from dashboard.db import queries
from dashboard.db import runs as runs_db
from dashboard.db.engine import init_db, make_engine, upgrade
from parsing import StreamParser, parse_text
from tests.capture.conftest import PY, REPO, TOY, wait_for
from tests.conftest import PG_URL
from tests.security.hooks import on_points_commit

TOY_JOB = [PY, TOY, "--steps", "150", "--speed", "150", "--log-every", "1", "--quiet-bar"]


def _stored(engine, run_id: int) -> tuple[list[tuple[int, float]], str]:
    """(the run's loss points by step, its stored log)."""
    s = queries.metric_series(engine, run_id, ["loss"])
    log = "".join(t for _, t in queries.log_chunks(engine, run_id, limit=100_000))
    return list(zip(s.step.tolist(), s.value.tolist())), log


def _printed_loss(output: str) -> list[tuple[int, float]]:
    return [(r.step, r.metrics["loss"]) for r in parse_text(output) if "loss" in r.metrics]


# ---------------------------------------------------------------- kill -9 mid-batch

KILLED_CAPTURE = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from dashboard.capture import capture
    from dashboard.db.engine import init_db
    from tests.security.hooks import on_points_commit

    def stall(n):
        if n == 3:  # the third batch has inserted its points: say so, then wait to be killed
            with open({marker!r}, "w") as f:
                f.write("mid-batch")
            time.sleep(120)

    engine = init_db({url!r})
    on_points_commit(engine, stall)
    capture({job!r}, experiment="k9", name="killed", db=engine, echo=False, flush_s=0.1, flush_chunks=5,
            heartbeat_s=0.2)
""")


def test_kill_9_mid_batch_keeps_every_acknowledged_point(db_url, tmp_path):
    marker = tmp_path / "mid-batch"
    script = tmp_path / "killed_capture.py"
    job = [PY, TOY, "--steps", "100000", "--speed", "300", "--log-every", "1", "--quiet-bar"]
    script.write_text(KILLED_CAPTURE.format(repo=str(REPO), url=db_url, marker=str(marker), job=job))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    engine = init_db(db_url)
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.stderr.read().decode()
        # (reads only: the stalled capture holds SQLite's write lock)
        run_id = queries.list_runs(engine, queries.list_experiments(engine)[0]["id"])[0]["id"]
        acknowledged = _stored(engine, run_id)
        summary = queries.get_run(engine, run_id)["metrics"]["loss"]
        os.kill(proc.pid, signal.SIGKILL)  # the capture, inside its third points transaction
        proc.wait(timeout=10)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the job it was capturing
        proc.stderr.close()

    points, log = _stored(engine, run_id)
    # The two committed batches are all there; the killed one left nothing half-written.
    assert (points, log) == acknowledged
    assert len(points) > 0 and summary["count"] == len(points)
    assert summary["last_step"] == points[-1][0]
    # What is stored agrees with itself: the points are those of the stored log's whole lines.
    assert points == _printed_loss(log[: log.rfind("\n") + 1])
    seqs = [seq for seq, _ in queries.log_chunks(engine, run_id, limit=100_000)]
    assert seqs == list(range(len(seqs)))
    # Truthful status: not completed, not failed; interrupted once its heartbeat is stale.
    run = wait_for(lambda: (r := queries.get_run(engine, run_id, stale_after_s=0.5))["status"] == "interrupted" and r)
    assert run["finished_at"] is None and run["exit_code"] is None
    engine.dispose()


# ---------------------------------------------------------------- disk full

def _disk_full_error(engine) -> Exception:
    if engine.dialect.name == "postgresql":
        return psycopg.errors.DiskFull("could not extend file: No space left on device")
    return sqlite3.OperationalError("database or disk is full")


class FullDisk:
    """While `full` is set, every write fails as a full disk fails it; `refused` counts them."""

    def __init__(self, engine) -> None:
        self.full = threading.Event()
        self.refused = 0
        event.listen(engine, "before_cursor_execute", self._refuse)
        self.error = _disk_full_error(engine)

    def _refuse(self, conn, cursor, statement, parameters, context, executemany):
        if self.full.is_set() and statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            self.refused += 1
            raise self.error

    def fill(self) -> None:
        """Fill the disk and wait for a write to fail: the one writer thread has then finished
        whatever write it was in when the disk filled."""
        self.full.set()
        wait_for(lambda: self.refused > 0)


def test_disk_full_for_a_while_loses_nothing(db_url):
    engine = init_db(db_url)
    disk = FullDisk(engine)
    out, result = io.BytesIO(), {}
    worker = threading.Thread(target=lambda: result.update(r=capture(
        TOY_JOB, experiment="disk", db=engine, stdout=out, stderr=io.BytesIO(), flush_s=0.1, report_after_s=0.5)))
    worker.start()
    run_id = wait_for(lambda: (exps := queries.list_experiments(engine)) and
                      (runs := queries.list_runs(engine, exps[0]["id"])) and runs[0]["metrics"] and runs[0]["id"])
    disk.fill()
    before = _stored(engine, run_id)
    # the job runs to its end while nothing can be written; its output still streams through
    wait_for(lambda: b"train_runtime" in out.getvalue(), timeout=30)
    assert _stored(engine, run_id) == before
    disk.full.clear()
    worker.join(timeout=60)
    res = result["r"]
    assert res.status == "completed" and res.stats.failed_writes > 0 and res.stats.lost_points == 0
    assert any(str(disk.error) in e for e in res.stats.errors), res.stats.errors
    points, log = _stored(engine, run_id)
    assert log == out.getvalue().decode()
    assert points == _printed_loss(log) and len(points) == 150
    assert queries.get_run(engine, run_id)["status"] == "completed"
    engine.dispose()


def test_disk_full_to_the_end_keeps_the_unsaved_log_in_a_file(db_url):
    engine = init_db(db_url)
    disk = FullDisk(engine)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "full"), "f")
    warnings: list[str] = []
    batcher = Batcher(engine, run_id, StreamParser(), flush_s=0.05, heartbeat_s=0.1, final_retry_s=0.5,
                      report_after_s=0.1, gather_s=0, on_warning=warnings.append).start()
    lines = [f"step {i}: loss {1 / (i + 1):.6f}\n" for i in range(40)]
    for line in lines[:20]:
        batcher.put(line.encode(), 1)
    wait_for(lambda: queries.point_count(engine, run_id, "loss") == 20)
    disk.fill()
    for line in lines[20:]:
        batcher.put(line.encode(), 1)
    stats = batcher.close("completed", 0)

    points, log = _stored(engine, run_id)
    assert stats.lost_points == 20 and stats.lost_chunks > 0 and stats.spill_path is not None
    with open(stats.spill_path, encoding="utf-8") as f:
        spilled = f.read()
    os.unlink(stats.spill_path)
    # nothing vanished silently: what is not in the database is in the file the warning names
    assert log + spilled == "".join(lines)
    assert points == _printed_loss(log) == [(i, round(1 / (i + 1), 6)) for i in range(20)]
    assert any(stats.spill_path in w for w in warnings), warnings
    # The capture could not record the end: the run reads interrupted (stale), never completed.
    assert queries.get_run(engine, run_id, stale_after_s=3600)["status"] == "running"
    wait_for(lambda: queries.get_run(engine, run_id, stale_after_s=0.3)["status"] == "interrupted")
    disk.full.clear()
    engine.dispose()


# ---------------------------------------------------------------- PostgreSQL connection dropped

@pytest.fixture
def pg_app_url(db_url):
    """The test's PostgreSQL schema, with an application_name of its own that the test (and
    only the test) uses to find the writer's connections."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    name = f"tb_sec_{uuid.uuid4().hex[:12]}"
    return make_url(db_url).update_query_dict({"application_name": name}).render_as_string(hide_password=False), name


def test_postgresql_connection_dropped_mid_batch(pg_app_url):
    url, app_name = pg_app_url
    engine = make_engine(url)
    upgrade(engine)
    at_commit, release = threading.Event(), threading.Event()

    def stall(n):
        if n == 3:
            at_commit.set()
            release.wait(30)

    on_points_commit(engine, stall)
    out, result = io.BytesIO(), {}
    worker = threading.Thread(target=lambda: result.update(r=capture(
        TOY_JOB, experiment="pg-drop", db=engine, stdout=out, stderr=io.BytesIO(), flush_s=0.1)))
    worker.start()
    admin = create_engine(PG_URL)
    try:
        assert at_commit.wait(30)
        with admin.begin() as conn:
            killed = conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = :name AND pid <> pg_backend_pid()"), {"name": app_name}
            ).scalars().all()
        assert killed and all(killed)
    finally:
        release.set()
        admin.dispose()
    worker.join(timeout=60)
    res = result["r"]
    assert res.status == "completed" and res.stats.failed_writes >= 1 and res.stats.lost_points == 0
    points, log = _stored(engine, res.run_id)
    assert log == out.getvalue().decode()
    assert points == _printed_loss(log) and len(points) == 150
    run = queries.get_run(engine, res.run_id)
    assert (run["status"], run["exit_code"]) == ("completed", 0) and run["metrics"]["loss"]["count"] == 150
    engine.dispose()


# ---------------------------------------------------------------- a poisoned line

def test_a_step_beyond_int64_costs_only_its_own_record(sqlite_url):
    """One odd line (`{"step": 1e300, ...}`) must not poison the batch it lands in, nor the
    batches after it: the writer keeps retrying a failed batch with the bad point inside."""
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "poison"), "p")
    lines = [f"step {i}: loss 1.{i}\n" for i in range(5)] + ['{"step": 1e300, "loss": 9.0}\n'] + \
            [f"step {i}: loss 1.{i}\n" for i in range(5, 10)]
    batcher = Batcher(engine, run_id, StreamParser(), flush_s=0.05, final_retry_s=0.5, gather_s=0,
                      on_warning=lambda message: None).start()
    for line in lines:
        batcher.put(line.encode(), 1)
    stats = batcher.close("completed", 0)
    points, log = _stored(engine, run_id)
    assert log == "".join(lines) and stats.lost_chunks == 0
    assert points == [(i, float(f"1.{i}")) for i in range(10)]
    engine.dispose()


def test_points_the_writer_refuses_are_dropped_and_the_log_still_lands(sqlite_url, monkeypatch):
    """write_batch's ValueError (a point no database can hold) is permanent: the batcher drops
    those points, says so, and still stores every log chunk instead of retrying forever."""
    import dashboard.capture.batcher as batcher_module

    real = batcher_module.write_batch

    def refuse_points(engine, run_id, points=(), chunks=(), **kw):
        if points:
            raise ValueError("a metric name must be a string of 1 to 120 characters")
        return real(engine, run_id, points, chunks, **kw)

    monkeypatch.setattr(batcher_module, "write_batch", refuse_points)
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "refused"), "r")
    warnings = []
    batcher = Batcher(engine, run_id, StreamParser(), flush_s=0.05, final_retry_s=0.5, gather_s=0,
                      on_warning=warnings.append).start()
    lines = [f"step {i}: loss 1.{i}\n" for i in range(5)]
    for line in lines:
        batcher.put(line.encode(), 1)
    stats = batcher.close("completed", 0)
    points, log = _stored(engine, run_id)
    assert log == "".join(lines) and stats.lost_chunks == 0 and points == []
    assert any("dropped" in w for w in warnings)
    assert queries.get_run(engine, run_id)["status"] == "completed"
    engine.dispose()

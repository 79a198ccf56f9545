"""Crash safety and batching of a live capture, on SQLite and PostgreSQL."""
from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from dashboard.capture import Batcher, capture
from dashboard.db import queries
from dashboard.db import runs as runs_db
from dashboard.db.engine import init_db
from parsing import StreamParser, parse_text
from tests.capture.conftest import PY, REPO, TOY, trainboard_cmd, wait_for


def _only_run(engine) -> dict | None:
    """The one run in the database (None before the capture has created it)."""
    exps = queries.list_experiments(engine)
    runs = queries.list_runs(engine, exps[0]["id"]) if exps else []
    return runs[0] if runs else None


def _loss_points(engine, run_id) -> list[tuple[int, float]]:
    s = queries.metric_series(engine, run_id, ["loss"])
    return list(zip(s.step.tolist(), s.value.tolist()))


def test_capture_api_stores_log_points_and_status(db_url):
    out, err = io.BytesIO(), io.BytesIO()
    result = capture([PY, TOY, "--steps", "40", "--log-every", "4", "--quiet-bar", "--fail-at", "37"],
                     experiment="api", name="toy", db=db_url, stdout=out, stderr=err, flush_chunks=5)
    assert (result.status, result.exit_code) == ("failed", 1)
    assert b"CUDA out of memory" in err.getvalue()
    engine = init_db(db_url)
    run = queries.get_run(engine, result.run_id)
    assert (run["name"], run["status"], run["exit_code"]) == ("toy", "failed", 1)
    assert run["finished_at"] is not None and TOY in run["command"]
    log = "".join(t for _, t in queries.log_chunks(engine, result.run_id))
    # both streams are in the log (their relative order is the read order, not fixed here)
    assert sorted(log.splitlines()) == sorted((out.getvalue() + err.getvalue()).decode().splitlines())
    printed = [(r.step, r.metrics["loss"]) for r in parse_text(out.getvalue().decode()) if "loss" in r.metrics]
    assert len(printed) == 9 and _loss_points(engine, result.run_id) == printed
    assert result.stats.points == sum(len(r.metrics) for r in parse_text(log))
    engine.dispose()


def test_a_fast_run_with_stale_bars_keeps_every_dict_at_its_step(sqlite_url):
    """A bar drawn at most every 50 ms (tqdm's way) and a dict every 10 steps, stderr merged into
    stdout: captured live, in whatever pieces the pipe gives, every dict is stored at its step
    (read with the bar drawn before it, two dicts could share one step and one was replaced)."""
    out, err = io.BytesIO(), io.BytesIO()
    toy = f'exec "{PY}" "{TOY}" --steps 600 --log-every 10 --speed 3000 --mininterval 0.05 2>&1'
    result = capture(["sh", "-c", toy], experiment="stale", db=sqlite_url, stdout=out, stderr=err)
    assert result.status == "completed"
    engine = init_db(sqlite_url)
    printed = [r.metrics["loss"] for r in parse_text(out.getvalue().decode()) if "loss" in r.metrics]
    assert _loss_points(engine, result.run_id) == list(zip(range(10, 601, 10), printed))
    engine.dispose()


def test_sigterm_mid_run_keeps_every_parsed_point(db_url):
    proc = subprocess.Popen(
        trainboard_cmd("run", "--db", db_url, "--experiment", "sig", "--", PY, TOY, "--steps", "100000",
                       "--speed", "200", "--log-every", "1", "--quiet-bar"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    engine = init_db(db_url)
    try:
        # mid-run: some points are already in the database
        wait_for(lambda: (run := _only_run(engine)) and run["metrics"].get("loss", {}).get("count", 0) >= 20)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM  # the job died of the forwarded SIGTERM
    run = _only_run(engine)
    assert (run["status"], run["exit_code"]) == ("interrupted", 143)
    # everything the job printed up to the end is stored and parsed
    printed = [(r.step, r.metrics["loss"]) for r in parse_text(out.decode()) if "loss" in r.metrics]
    assert len(printed) >= 20 and _loss_points(engine, run["id"]) == printed
    assert "".join(t for _, t in queries.log_chunks(engine, run["id"], limit=100_000)) == out.decode()
    engine.dispose()


def test_kill_9_of_trainboard_reads_as_interrupted_once_stale(db_url):
    # A job that prints once and then nothing: only the heartbeat shows the capture is alive.
    job = "import time; print('step 1: loss 2.0', flush=True); time.sleep(60)"
    proc = subprocess.Popen(
        trainboard_cmd("run", "--db", db_url, "--experiment", "k9", "--heartbeat", "0.2", "--", PY, "-c", job),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, start_new_session=True,
    )
    engine = init_db(db_url)
    stale_after = 1.5
    try:
        first = wait_for(lambda: (run := _only_run(engine)) and run["metrics"] and run)
        # the silent job's capture keeps beating: updated_at moves on, the run stays running
        wait_for(lambda: _only_run(engine)["updated_at"] > first["updated_at"])
        beat = _only_run(engine)
        wait_for(lambda: _only_run(engine)["updated_at"] > beat["updated_at"])
        assert queries.get_run(engine, beat["id"], stale_after_s=stale_after)["status"] == "running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        run = wait_for(lambda: (r := queries.get_run(engine, beat["id"], stale_after_s=stale_after))["status"]
                       == "interrupted" and r)
        assert run["is_complete"] and run["finished_at"] is None
        assert queries.get_run(engine, beat["id"])["status"] == "running"  # default 60 s: not stale yet
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the orphaned job
        engine.dispose()


def test_a_locked_sqlite_database_loses_nothing(sqlite_url, capsys):
    """Another connection holds BEGIN EXCLUSIVE for 3 s while the job prints: writes fail and
    are retried, the output keeps streaming, everything ends up stored, and the outage is
    reported once."""
    engine = init_db(sqlite_url)

    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record):  # fail fast instead of waiting 5 s per try
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    engine.dispose()
    out = io.BytesIO()
    result = {}
    job = [PY, TOY, "--steps", "150", "--speed", "100", "--log-every", "1", "--quiet-bar"]
    worker = threading.Thread(target=lambda: result.update(r=capture(
        job, experiment="lock", db=engine, stdout=out, stderr=io.BytesIO(), flush_s=0.2, report_after_s=1.0)))
    worker.start()
    wait_for(lambda: b"{'loss'" in out.getvalue())
    lock = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    locked_at = time.monotonic()
    try:
        run_id = _only_run(engine)["id"]
        stored_when_locked = queries.point_count(engine, run_id, "loss")
        # the job finishes and all its output streams through while the database is locked
        wait_for(lambda: b"train_runtime" in out.getvalue(), timeout=30)
        assert queries.point_count(engine, run_id, "loss") == stored_when_locked
        time.sleep(max(0.0, 3.0 - (time.monotonic() - locked_at)))  # hold the lock for 3 s in all
    finally:
        lock.execute("COMMIT")
        lock.close()
    worker.join(timeout=60)
    res = result["r"]
    assert res.status == "completed" and res.stats.failed_writes > 0 and res.stats.lost_points == 0
    printed = [(r.step, r.metrics["loss"]) for r in parse_text(out.getvalue().decode()) if "loss" in r.metrics]
    assert len(printed) == 150 and _loss_points(engine, run_id) == printed
    log = "".join(t for _, t in queries.log_chunks(engine, run_id, limit=10_000))
    assert log == out.getvalue().decode()
    assert queries.get_run(engine, run_id)["status"] == "completed"
    warnings = capsys.readouterr().err
    assert warnings.count("cannot write to the database") == 1
    assert "database writes resumed; nothing was lost" in warnings
    engine.dispose()


def test_batches_1000_chunks_in_100_to_200_flushes(db_url):
    engine = init_db(db_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "batch"), "b")
    batcher = Batcher(engine, run_id, StreamParser(), flush_chunks=8, flush_s=2.0).start()
    # a job printing a line every 0.2 s (read times given, so the test need not take 200 s):
    # every line is a chunk of its own
    t0 = time.time()
    for i in range(1000):
        batcher.put(f"step {i}: loss {1 / (i + 1):.6f}\n".encode(), 1, t0 + i * 0.2)
    stats = batcher.close("completed", 0)
    assert 100 <= stats.flushes <= 200
    assert stats.chunks == 1000 and queries.last_log_seq(engine, run_id) == 999
    assert queries.point_count(engine, run_id, "loss") == 1000
    assert queries.get_run(engine, run_id)["status"] == "completed"
    engine.dispose()


def test_a_slow_job_is_flushed_by_time_and_kept_alive_by_heartbeats(sqlite_url):
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "slow"), "s")
    batcher = Batcher(engine, run_id, StreamParser(), flush_chunks=8, flush_s=0.1, heartbeat_s=0.1).start()
    batcher.put(b"step 1: loss 0.5\n", 1)
    # one chunk, far below 8: the timer writes it
    wait_for(lambda: queries.point_count(engine, run_id, "loss") == 1)
    beat = queries.get_run(engine, run_id)["updated_at"]
    wait_for(lambda: queries.get_run(engine, run_id)["updated_at"] > beat)  # nothing printed, still beating
    stats = batcher.close()
    assert stats.flushes == 1 and stats.heartbeats >= 1
    engine.dispose()


def test_a_message_waiting_for_a_redraw_is_stored_once_the_job_goes_quiet(sqlite_url):
    """A tqdm.write() message waits for the bar's redraw (its step); a job that goes quiet
    without one (a bar closed, then a message) still has the point stored, at the bar before."""
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "w"), "w")
    batcher = Batcher(engine, run_id, StreamParser(), flush_s=0.1).start()
    bar = " 50%|#####     | {n}/30 [00:01<00:01, 4.2it/s]"
    batcher.put(("\r" + bar.format(n=5) + "\r" + " " * 40 + "\r{'loss': 2.5}\n").encode(), 2)
    assert wait_for(lambda: _loss_points(engine, run_id), timeout=10) == [(5, 2.5)]
    # with the redraw at once, the message takes its position
    batcher.put(("\r" + " " * 40 + "\r{'loss': 2.25}\n\r" + bar.format(n=12)).encode(), 2)
    assert wait_for(lambda: _loss_points(engine, run_id)[1:], timeout=10) == [(12, 2.25)]
    stats = batcher.close("completed", 0)
    assert _loss_points(engine, run_id) == [(5, 2.5), (12, 2.25)] and stats.records == 2
    engine.dispose()


def test_output_read_close_together_makes_one_chunk(sqlite_url):
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "c"), "c")
    batcher = Batcher(engine, run_id, StreamParser(), chunk_s=0.1).start()
    t0 = time.time()
    for i, at in enumerate([0.0, 0.01, 0.05, 0.2, 0.25, 0.31]):
        batcher.put(f"step {i}: loss 1.0\n".encode(), 1, t0 + at)
    batcher.put(b"x" * 70_000, 1, t0 + 0.32)  # a 64 KiB chunk at most
    batcher.close()
    sizes = [len(t.splitlines()) for _, t in queries.log_chunks(engine, run_id)]
    assert sizes[:3] == [3, 2, 1] and len(sizes) == 5
    engine.dispose()


# Where a Batcher parses: on its writer thread (a live job), on the reader's (an import), or in a
# child process (a big import).
WHERE = {"writer": {}, "reader": {"parse_in_reader": True}, "process": {"parse_process": ((), None)}}


@pytest.mark.parametrize("where", WHERE)
def test_split_utf8_and_nul_across_reads_are_stored_whole(sqlite_url, where):
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "bytes"), "b")
    batcher = Batcher(engine, run_id, StreamParser(), **WHERE[where]).start()
    for piece in (b"bar \xe2\x96", b"\x88 ok\n", b"nul \x00 and \xff\n", b"step 3: loss 1.5\n\xe2\x96"):
        batcher.put(piece, 1)
    batcher.close()
    log = "".join(t for _, t in queries.log_chunks(engine, run_id))
    # the cut sequence at the very end is kept as a replacement character
    assert log == "bar █ ok\nnul \ufffd and \ufffd\nstep 3: loss 1.5\n\ufffd"
    assert _loss_points(engine, run_id) == [(3, 1.5)]
    engine.dispose()


def test_parsing_in_the_reader_or_a_process_stores_what_the_writer_thread_would(sqlite_url):
    """An import parses on its reader's thread or in a child process: same chunks, same points
    (the last line, without its newline, included), same counts."""
    reads = [f"{i}/300 [00:01<00:02]\r".encode() for i in range(300)]
    reads += [f"iter {i}: loss {1 / (i + 1):.5f}, time 12.{i % 10}ms\n".encode() for i in range(2000)]
    reads += [b"{'loss': 0.25, 'learning_rate': 1e-05, 'epoch': 1.0}\n", b"iter 2001: loss 0.1\n", b"iter 2002: loss 0.05"]
    stored = []
    for where, how in WHERE.items():
        engine = init_db(sqlite_url)
        run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "reader"), where)
        batcher = Batcher(engine, run_id, StreamParser(), flush_chunks=3, **how).start()
        t0 = 1.7e9
        for i, data in enumerate(reads):
            batcher.put(data, 0, t0 + i * 0.01)
        stats = batcher.close("completed", 0)
        frame = queries.metric_series(engine, run_id).drop(columns="run_id")
        stored.append((queries.log_chunks(engine, run_id, limit=100_000), frame.to_dict("records"),
                       stats.records, stats.points, stats.chunks))
        engine.dispose()
    assert stored[0] == stored[1] == stored[2]
    assert stored[1][2] > 2000 and stored[1][3] > 4000
    assert max(row["step"] for row in stored[2][1]) == 2002  # the last line, completed by the end of input


def test_a_parser_process_that_dies_costs_metrics_not_the_log(sqlite_url):
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "dies"), "d")
    warnings = []
    batcher = Batcher(engine, run_id, None, parse_process=((), None), on_warning=warnings.append).start()
    batcher.put(b"step 1: loss 1.5\n", 0, 1.7e9)
    batcher._process._process.kill()
    batcher.put(b"step 2: loss 1.25\n", 0, 1.7e9)
    stats = batcher.close("completed", 0)
    assert "".join(t for _, t in queries.log_chunks(engine, run_id)) == "step 1: loss 1.5\nstep 2: loss 1.25\n"
    assert any("parser process ended" in w for w in warnings) and stats.errors
    assert queries.get_run(engine, run_id)["status"] == "completed"
    engine.dispose()


def test_stop_event_terminates_the_job(sqlite_url):
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    result = capture([PY, "-c", "import time\nwhile True: print('step 1: loss 1.0', flush=True); time.sleep(0.05)"],
                     experiment="stop", db=sqlite_url, echo=False, stop=stop)
    assert (result.status, result.exit_code) == ("interrupted", 128 + signal.SIGTERM)


def test_a_failing_parser_costs_metrics_not_the_log(sqlite_url, capsys):
    class Broken(StreamParser):
        def feed(self, text):
            if "boom" in text:
                raise RuntimeError("parser bug")
            return super().feed(text)

    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "p"), "p")
    batcher = Batcher(engine, run_id, Broken()).start()
    t0 = time.time()
    for i, line in enumerate(["step 1: loss 1.0\n", "boom\n", "step 2: loss 0.5\n"]):
        batcher.put(line.encode(), 1, t0 + i)
    stats = batcher.close("completed", 0)
    assert "".join(t for _, t in queries.log_chunks(engine, run_id)) == "step 1: loss 1.0\nboom\nstep 2: loss 0.5\n"
    assert _loss_points(engine, run_id) == [(1, 1.0)] and "parser bug" in stats.errors[0]
    assert "trainboard reparse" in capsys.readouterr().err
    assert queries.get_run(engine, run_id)["status"] == "completed"
    engine.dispose()


def test_a_database_down_past_the_end_spills_the_log_to_a_file(sqlite_url, capsys):
    engine = init_db(sqlite_url)

    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=20")

    engine.dispose()
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "down"), "d")
    lock = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        batcher = Batcher(engine, run_id, StreamParser(), final_retry_s=0.5, report_after_s=0.2).start()
        batcher.put(b"step 1: loss 1.0\nstep 2: loss 0.5\n", 1)
        stats = batcher.close("completed", 0)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert (stats.lost_chunks, stats.lost_points) == (1, 2)
    with open(stats.spill_path, encoding="utf-8") as f:
        assert f.read() == "step 1: loss 1.0\nstep 2: loss 0.5\n"
    os.unlink(stats.spill_path)
    err = capsys.readouterr().err
    assert err.count("cannot write to the database") == 1 and stats.spill_path in err
    engine.dispose()

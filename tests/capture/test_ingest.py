"""`trainboard ingest` (finished and growing files) and `trainboard reparse`."""
from __future__ import annotations

import subprocess
import threading

import pytest
from sqlalchemy import select

from dashboard.capture import CaptureError, ingest, reparse
from dashboard.capture import files
from dashboard.cli import main
from dashboard.db import queries
from dashboard.db import runs as runs_db
from dashboard.db.engine import init_db
from dashboard.db.logtext import unpack
from dashboard.db.models import LogChunk, MetricPoint
from dashboard.db.writer import write_batch
from parsing import parse_text
from tests.capture.conftest import PY, TOY, wait_for


@pytest.fixture
def toy_log(tmp_path):
    """A finished Trainer-style log (bar and dicts, both streams in one file, > 64 KiB)."""
    path = tmp_path / "toy-run.log"
    with path.open("wb") as f:
        subprocess.run([PY, TOY, "--steps", "800", "--log-every", "5"], stdout=f, stderr=subprocess.STDOUT, check=True)
    assert path.stat().st_size > 64 * 1024
    return path


def _rows(engine, run_id):
    with engine.connect() as conn:
        points = conn.execute(select(MetricPoint.__table__).where(MetricPoint.run_id == run_id)
                              .order_by(MetricPoint.name, MetricPoint.step)).all()
        chunks = conn.execute(select(LogChunk.seq, LogChunk.text, LogChunk.packed).where(LogChunk.run_id == run_id)
                              .order_by(LogChunk.seq)).all()
    return points, [(seq, unpack(text, packed)) for seq, text, packed in chunks]


def _expected_points(text: str) -> set[tuple[str, int, float]]:
    found: dict[tuple[str, int], float] = {}
    for r in parse_text(text):
        for name, value in r.metrics.items():
            found[(name, r.step)] = value
    return {(name, step, value) for (name, step), value in found.items()}


def test_ingest_twice_gives_the_same_rows(db_url, toy_log):
    first = ingest(toy_log, experiment="imported", db=db_url)
    engine = init_db(db_url)
    run = queries.get_run(engine, first.run_id)
    assert (run["name"], run["status"]) == ("toy-run.log", "completed")
    points, chunks = _rows(engine, first.run_id)
    text = toy_log.read_bytes().decode()
    assert "".join(t for _, t in chunks) == text and len(chunks) > 1
    assert {(p.name, p.step, p.value) for p in points} == _expected_points(text)
    assert {p.timestamp for p in points} == {toy_log.stat().st_mtime}  # no line timestamps: the file's time

    again = ingest(toy_log, experiment="imported", db=db_url)
    assert again.run_id == first.run_id and again.resumed_chars == len(text) and again.stats.chunks == 0
    assert _rows(engine, first.run_id) == (points, chunks)
    assert queries.get_run(engine, first.run_id)["metrics"] == run["metrics"]
    engine.dispose()


def test_ingest_with_the_parser_in_a_process_stores_the_same_rows(sqlite_url, toy_log, tmp_path, monkeypatch):
    # A big file is parsed in a child process; the rows are those of parsing in the importer.
    from dashboard.capture.parse_process import ParseProcess

    sent, send = [], ParseProcess.send
    monkeypatch.setattr(ParseProcess, "send", lambda self, data, *args: sent.append(data) or send(self, data, *args))
    monkeypatch.setattr(files, "PARSE_PROCESS_MIN_BYTES", toy_log.stat().st_size)
    by_process = ingest(toy_log, experiment="p", db=sqlite_url)
    assert b"".join(sent) == toy_log.read_bytes()  # the reads as they were
    monkeypatch.setattr(files, "PARSE_PROCESS_MIN_BYTES", toy_log.stat().st_size + 1)
    in_reader = ingest(toy_log, experiment="r", db=sqlite_url)
    engine = init_db(sqlite_url)
    points, chunks = _rows(engine, by_process.run_id)
    assert [tuple(p)[1:] for p in points] == [tuple(p)[1:] for p in _rows(engine, in_reader.run_id)[0]]
    assert chunks == _rows(engine, in_reader.run_id)[1] and len(points) > 100
    assert by_process.stats.records == in_reader.stats.records > 0
    engine.dispose()


def test_a_backlog_is_written_in_batches_of_64_chunks(sqlite_url, tmp_path):
    path = tmp_path / "big.log"
    line = "step {:06d}: loss 0.5, padding " + "x" * 80 + "\n"  # fixed width
    path.write_text("".join(line.format(i) for i in range(72 * 64 * 1024 // len(line.format(0)))))  # 72 reads
    result = ingest(path, experiment="e", db=sqlite_url, parse_process=False)
    assert result.stats.chunks == 72 and result.stats.points == 72 * 64 * 1024 // len(line.format(0))
    assert 2 <= result.stats.flushes <= 4  # 64 + 8 (a flush every 2 s may add one)


def test_ingest_of_a_grown_file_adds_only_the_new_part(sqlite_url, tmp_path):
    path = tmp_path / "grow.log"
    path.write_text("".join(f"step {i}: loss {1 / (i + 1):.5f}\n" for i in range(100)))
    first = ingest(path, experiment="e", db=sqlite_url)
    with path.open("a") as f:
        f.write("".join(f"step {i}: loss {1 / (i + 1):.5f}\n" for i in range(100, 150)))
    second = ingest(path, experiment="e", db=sqlite_url)
    engine = init_db(sqlite_url)
    assert second.run_id == first.run_id
    assert "".join(t for _, t in queries.log_chunks(engine, first.run_id)) == path.read_bytes().decode()
    assert queries.point_count(engine, first.run_id, "loss") == 150
    engine.dispose()


def test_ingest_refuses_to_mix_a_different_log_into_a_run(sqlite_url, tmp_path):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("step 1: loss 1.0\n")
    b.write_text("step 1: loss 9.0\n")
    ingest(a, experiment="e", name="same", db=sqlite_url)
    with pytest.raises(CaptureError, match="different log"):
        ingest(b, experiment="e", name="same", db=sqlite_url)


def _follow(path, engine, **kw):
    """`ingest --follow` of `path` on a thread: (its stop event, its result, the thread, the run id)."""
    stop, result = threading.Event(), {}
    follower = threading.Thread(target=lambda: result.update(r=ingest(
        path, experiment="tail", db=engine, follow=True, poll_s=0.05, flush_s=0.05, stop=stop, **kw)))
    follower.start()
    try:
        run_id = wait_for(lambda: (exps := queries.list_experiments(engine)) and queries.list_runs(engine, exps[0]["id"])
                          and queries.list_runs(engine, exps[0]["id"])[0]["id"])
    except BaseException:
        stop.set()
        follower.join(timeout=30)
        raise
    return stop, result, follower, run_id


def test_follow_picks_up_appended_lines(sqlite_url, tmp_path):
    path = tmp_path / "live.log"
    path.write_text("step 1: loss 3.0\n")
    engine = init_db(sqlite_url)  # before the follower: alembic's upgrade is not thread-safe
    stop, result, follower, run_id = _follow(path, engine)
    try:
        wait_for(lambda: queries.point_count(engine, run_id, "loss") == 1)
        assert queries.get_run(engine, run_id)["status"] == "running"
        with path.open("a") as f:  # a job outside trainboard writes more, a line in two pieces
            f.write("step 2: loss 2.0\nstep 3: lo")
            f.flush()
            wait_for(lambda: queries.point_count(engine, run_id, "loss") == 2)
            f.write("ss 1.0\n")
        wait_for(lambda: queries.point_count(engine, run_id, "loss") == 3)
    finally:
        stop.set()
        follower.join(timeout=30)
    assert result["r"].status == "interrupted"
    assert "".join(t for _, t in queries.log_chunks(engine, run_id)) == path.read_bytes().decode()
    series = queries.metric_series(engine, run_id, ["loss"])
    assert list(zip(series.step, series.value)) == [(1, 3.0), (2, 2.0), (3, 1.0)]
    engine.dispose()


@pytest.mark.parametrize("parse_process", [False, True], ids=["in-reader", "process"])
def test_follow_stores_a_message_waiting_for_a_redraw_once_the_file_is_quiet(sqlite_url, tmp_path, parse_process):
    """A tqdm.write() message waits for the bar's redraw; a followed file that stops growing
    without one still has the point stored, at the bar before (the redraw would tell no more)."""
    path = tmp_path / "live.log"
    path.write_text("\r 50%|#####     | 5/30 [00:01<00:01, 4.2it/s]\r" + " " * 40 + "\r{'loss': 2.5}\n")
    engine = init_db(sqlite_url)
    stop, result, follower, run_id = _follow(path, engine, parse_process=parse_process)
    try:
        wait_for(lambda: queries.point_count(engine, run_id, "loss") == 1)
        assert queries.get_run(engine, run_id)["status"] == "running"
    finally:
        stop.set()
        follower.join(timeout=30)
    series = queries.metric_series(engine, run_id, ["loss"])
    assert list(zip(series.step, series.value)) == [(5, 2.5)] and result["r"].stats.records == 1
    engine.dispose()


def test_follow_with_idle_exit_completes(sqlite_url, tmp_path):
    path = tmp_path / "done.log"
    path.write_text("step 1: loss 3.0\n")
    result = ingest(path, experiment="tail", db=sqlite_url, follow=True, idle_exit_s=0.2, poll_s=0.05)
    assert result.status == "completed" and result.stats.points == 1


def test_reparse_regenerates_points_from_the_stored_log(db_url, toy_log):
    engine = init_db(db_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "legacy"), "no-metrics")
    text = toy_log.read_bytes().decode()
    # a run captured before metric parsing existed: log chunks only, plus a stale point
    write_batch(engine, run_id, [("old_name", 1, 1.0, 0.0)],
                [(i, text[i * 5000:(i + 1) * 5000]) for i in range(len(text) // 5000 + 1)])
    runs_db.set_status(engine, run_id, "completed", exit_code=0, finished=True)
    result = reparse(run_id, db=engine)
    points, _ = _rows(engine, run_id)
    assert {(p.name, p.step, p.value) for p in points} == _expected_points(text)
    assert result.points == len(points) > 100
    metrics = queries.get_run(engine, run_id)["metrics"]
    assert "old_name" not in metrics and metrics["loss"]["count"] == 160
    engine.dispose()


def test_reparse_refuses_a_running_run_and_an_unknown_one(sqlite_url):
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "e"), "live")
    with pytest.raises(CaptureError, match="still running"):
        reparse(run_id, db=engine)
    with pytest.raises(CaptureError, match="no run with id 999"):
        reparse(999, db=engine)
    engine.dispose()


def test_cli_ingest_with_progress_and_reparse(sqlite_url, toy_log, capfd):
    assert main(["ingest", str(toy_log), "--db", sqlite_url, "--experiment", "cli", "--name", "r1", "--progress"]) == 0
    err = capfd.readouterr().err
    assert "100% |" in err and "MB/s" in err
    engine = init_db(sqlite_url)
    [run] = queries.list_runs(engine, queries.list_experiments(engine)[0]["id"])
    before = _rows(engine, run["id"])
    assert main(["reparse", str(run["id"]), "--db", sqlite_url]) == 0
    # the same points again (their time is now when each chunk was stored: the file's is unknown)
    assert [p[:4] for p in _rows(engine, run["id"])[0]] == [p[:4] for p in before[0]] and before[0]
    capfd.readouterr()
    assert main(["ingest", str(toy_log), "--db", sqlite_url, "--experiment", "cli", "--name", "r1"]) == 0
    assert "%" not in capfd.readouterr().err  # no progress bar off a terminal
    assert _rows(engine, run["id"]) == before
    assert main(["ingest", str(toy_log), "--db", sqlite_url, "--experiment", "cli", "--patterns", "/nonexistent.toml"]) == 2
    assert "nonexistent.toml" in capfd.readouterr().err
    engine.dispose()


def test_reparse_writes_in_batches(sqlite_url, monkeypatch):
    monkeypatch.setattr(files, "REPARSE_BATCH_POINTS", 500)
    engine = init_db(sqlite_url)
    run_id = runs_db.create_run(engine, runs_db.get_or_create_experiment(engine, "e"), "big")
    n = 5_010
    lines = [f"step {i}: loss {i}\n" for i in range(n)]
    write_batch(engine, run_id, [], [(seq, "".join(lines[k:k + 100])) for seq, k in enumerate(range(0, n, 100))])
    runs_db.set_status(engine, run_id, "completed", finished=True)
    reparse(run_id, db=engine)
    assert queries.point_count(engine, run_id, "loss") == n
    engine.dispose()

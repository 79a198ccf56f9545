"""The data model on both databases: upserts, non-finite values, summaries, cascades, reads."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from sqlalchemy import event

from dashboard.db.logtext import PACK_MIN
from dashboard.db import queries, runs
from dashboard.db.writer import merge_summary, series_stats, write_batch


def test_same_step_twice_keeps_one_point_with_the_later_value(engine, run_id):
    write_batch(engine, run_id, [("loss", 10, 2.5, 1000.0)])
    write_batch(engine, run_id, [("loss", 10, 1.25, 1001.0)])
    frame = queries.metric_series(engine, run_id, ["loss"])
    assert frame["step"].tolist() == [10]
    assert frame["value"].tolist() == [1.25]
    assert frame["timestamp"].iloc[0] == dt.datetime.fromtimestamp(1001.0, dt.UTC)
    summary = queries.get_run(engine, run_id)["metrics"]["loss"]
    assert summary == {"count": 1, "first_step": 10, "last_step": 10, "last_value": 1.25, "min": 1.25, "max": 1.25}


def test_same_step_twice_within_one_batch(engine, run_id):
    assert write_batch(engine, run_id, [("loss", 1, 3.0, 1.0), ("loss", 1, 4.0, 2.0)]) == 1
    assert queries.metric_series(engine, run_id)["value"].tolist() == [4.0]


def test_nan_and_infinities_round_trip(engine, run_id):
    write_batch(engine, run_id, [("loss", 1, float("nan"), 1.0), ("loss", 2, float("inf"), 1.0),
                                 ("loss", 3, float("-inf"), 1.0), ("loss", 4, 0.5, 1.0)])
    values = queries.metric_series(engine, run_id, ["loss"])["value"].tolist()
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf, 0.5]
    summary = queries.get_run(engine, run_id)["metrics"]["loss"]
    # The JSON summary holds only finite numbers.
    assert summary["count"] == 4 and summary["min"] == 0.5 and summary["max"] == 0.5


def test_summary_tracks_batches_and_rewrites(engine, run_id):
    write_batch(engine, run_id, [("loss", s, 10.0 - s, 0.0) for s in range(5)])
    write_batch(engine, run_id, [("loss", s, 10.0 - s, 0.0) for s in range(5, 10)])
    # A resumed run logs steps 8..11 again: the summary is recomputed, not double counted.
    write_batch(engine, run_id, [("loss", s, 100.0, 0.0) for s in range(8, 12)])
    summary = queries.get_run(engine, run_id)["metrics"]["loss"]
    assert summary == {"count": 12, "first_step": 0, "last_step": 11, "last_value": 100.0, "min": 3.0, "max": 100.0}
    assert queries.point_count(engine, run_id, "loss") == 12


def test_filters_run_in_sql(engine, run_id):
    write_batch(engine, run_id, [(n, s, float(s), 0.0) for n in ("loss", "learning_rate") for s in range(100)])
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    frame = queries.metric_series(engine, run_id, ["loss"], step_min=10, step_max=19)
    assert frame["step"].tolist() == list(range(10, 20))
    assert set(frame["name"]) == {"loss"}
    sql = statements[-1].lower()
    assert "metric_points.name in" in sql and "metric_points.step >=" in sql and "metric_points.step <=" in sql


def test_series_of_several_runs_carry_run_id(engine, run_id):
    other = runs.create_run(engine, queries.get_run(engine, run_id)["experiment_id"], "run-b")
    write_batch(engine, run_id, [("loss", 1, 1.0, 0.0)])
    write_batch(engine, other, [("loss", 1, 2.0, 0.0), ("loss", 2, 3.0, 0.0)])
    frame = queries.metric_series(engine, [run_id, other], ["loss"])
    assert frame[["run_id", "step", "value"]].values.tolist() == [[run_id, 1, 1.0], [other, 1, 2.0], [other, 2, 3.0]]
    assert queries.metric_series(engine, [other], after_step=1)["step"].tolist() == [2]


def test_deleting_a_run_takes_points_and_chunks(engine, run_id):
    write_batch(engine, run_id, [("loss", 1, 1.0, 0.0)], [(0, "hello\n")])
    assert queries.log_chunks(engine, run_id) == [(0, "hello\n")]
    runs.delete_run(engine, run_id)
    assert queries.get_run(engine, run_id) is None
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM metric_points").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM log_chunks").scalar() == 0


def test_deleting_an_experiment_cascades(engine, run_id):
    write_batch(engine, run_id, [("loss", 1, 1.0, 0.0)], [(0, "x")])
    runs.delete_experiment(engine, queries.get_run(engine, run_id)["experiment_id"])
    with engine.connect() as conn:
        for table in ("experiment_runs", "metric_points", "log_chunks"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0


def test_log_chunks_are_ordered_idempotent_and_paged(engine, run_id):
    write_batch(engine, run_id, [], [(0, "a"), (1, "b\r"), (2, "\x1b[1mc\n")])
    write_batch(engine, run_id, [], [(1, "changed")])  # a re-sent chunk is not duplicated
    assert queries.log_chunks(engine, run_id) == [(0, "a"), (1, "b\r"), (2, "\x1b[1mc\n")]
    assert queries.log_chunks(engine, run_id, after=0, limit=1) == [(1, "b\r")]
    assert queries.last_log_seq(engine, run_id) == 2


def test_long_chunks_are_stored_compressed_and_read_back_whole(engine, run_id):
    long = "".join(f"step {i}: loss {1 / (i + 1):.5f} █ é\r\n" for i in range(400))  # not ASCII
    write_batch(engine, run_id, [], [(0, "short\n"), (1, long), (2, long[:PACK_MIN])])
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT seq, text, length(packed), chars FROM log_chunks ORDER BY seq").all()
    assert [(seq, text, chars) for seq, text, _, chars in stored] == [(0, "short\n", None), (1, "", len(long)),
                                                                     (2, "", PACK_MIN)]
    assert stored[1][2] < len(long.encode()) / 4
    assert queries.log_chunks(engine, run_id) == [(0, "short\n"), (1, long), (2, long[:PACK_MIN])]
    assert [text for _, text, _ in queries.iter_log_chunks(engine, run_id, page=2)] == ["short\n", long, long[:PACK_MIN]]
    assert queries.log_length(engine, run_id) == len("short\n") + len(long) + PACK_MIN  # characters, not bytes


def test_stale_running_run_reads_as_interrupted(engine, run_id):
    assert queries.get_run(engine, run_id)["status"] == "running"
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    assert queries.effective_status("running", old) == "interrupted"
    assert queries.effective_status("completed", old) == "completed"
    runs.set_status(engine, run_id, "failed", exit_code=3, finished=True)
    run = queries.get_run(engine, run_id)
    assert (run["status"], run["exit_code"], run["is_complete"]) == ("failed", 3, True)


def test_experiments_listing_counts_runs(engine, run_id):
    runs.get_or_create_experiment(engine, "empty")
    listing = {e["name"]: e["run_count"] for e in queries.list_experiments(engine)}
    assert listing == {"exp": 1, "empty": 0}
    assert runs.get_or_create_experiment(engine, "exp") == queries.get_run(engine, run_id)["experiment_id"]


def test_unnamed_runs_are_numbered(engine):
    exp = runs.get_or_create_experiment(engine, "e")
    first, second = runs.create_run(engine, exp), runs.create_run(engine, exp)
    assert [r["name"] for r in queries.list_runs(engine, exp)] == ["run-1", "run-2"]
    assert runs.find_run(engine, exp, "run-2") == second != first


@pytest.mark.parametrize("later_first", [True, False])
def test_merge_summary_is_order_aware(later_first):
    a = series_stats({1: (5.0, 0.0), 2: (4.0, 0.0)})
    b = series_stats({10: (3.0, 0.0), 11: (float("nan"), 0.0)})
    merged = merge_summary(b, a) if later_first else merge_summary(a, b)
    assert merged == {"count": 4, "first_step": 1, "last_step": 11, "last_value": None, "min": 3.0, "max": 5.0}


def test_sqlite_connections_get_the_write_tuning(sqlite_url):
    from dashboard.db.engine import SQLITE_CACHE_KIB, SQLITE_WAL_CHECKPOINT_PAGES, make_engine

    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal" and pragma("synchronous") == 1  # NORMAL
        assert pragma("cache_size") == -SQLITE_CACHE_KIB and pragma("wal_autocheckpoint") == SQLITE_WAL_CHECKPOINT_PAGES
    engine.dispose()

"""write_batch's fast paths on both databases: bad input, ordering, long batches, non-finite
values through COPY and the staging upsert, SQLite's foreign keys switched back on."""
from __future__ import annotations

import math
import pickle

import numpy as np

import pytest
from sqlalchemy.exc import NoResultFound

from dashboard.db import queries, runs
from dashboard.db.engine import init_db
from dashboard.db.bulk import SQLITE_ROWS_PER_STATEMENT
from dashboard.db.writer import PointColumns, group_points, write_batch


def _values(engine, run_id, name):
    frame = queries.metric_series(engine, run_id, [name])
    return dict(zip(frame["step"].tolist(), frame["value"].tolist()))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("bad", [
    [("loss", 1.5, 1.0, 0.0)],
    [("loss", "7", 1.0, 0.0)],
    [("loss", 2, "high", 0.0)],
    [("loss", 2, 1.0, float("nan"))],
    [("loss", 2, 1.0, None)],
    [("", 2, 1.0, 0.0)],
    [("x" * 121, 2, 1.0, 0.0)],
    [(None, 2, 1.0, 0.0)],
    [(["loss"], 2, 1.0, 0.0)],
    [("loss", 2, 1.0)],
    [7],
], ids=["float-step", "str-step", "str-value", "nan-time", "no-time", "empty-name", "long-name", "no-name",
        "list-name", "3-fields", "not-a-point"])
def test_malformed_points_raise_and_write_nothing(engine, run_id, bad):
    write_batch(engine, run_id, [("loss", 1, 1.0, 0.0)], [(0, "a")])
    before = queries.get_run(engine, run_id)
    with pytest.raises(ValueError):
        write_batch(engine, run_id, [("loss", 3, 3.0, 0.0), *bad], [(1, "b")])
    assert _values(engine, run_id, "loss") == {1: 1.0}
    assert queries.log_chunks(engine, run_id) == [(0, "a")]
    assert queries.get_run(engine, run_id)["metrics"] == before["metrics"]


def test_a_missing_run_raises_no_result_found(engine, run_id):
    with pytest.raises(NoResultFound):
        write_batch(engine, run_id + 1000, [("loss", 1, 1.0, 0.0)])


def test_unsorted_and_repeated_steps_keep_the_later_point(engine, run_id):
    batch = [("b", 5, 1.0, 0.0), ("a", 3, 1.0, 0.0), ("b", 1, 2.0, 0.0), ("a", 3, 9.0, 0.0),
             ("b", 5, 7.0, 1.0), ("a", 0, float("inf"), 0.0), ("b", 5, 8.0, 2.0)]
    assert write_batch(engine, run_id, batch) == 4
    assert _values(engine, run_id, "a") == {0: math.inf, 3: 9.0}
    assert _values(engine, run_id, "b") == {1: 2.0, 5: 8.0}
    summary = queries.get_run(engine, run_id)["metrics"]
    assert summary["b"] == {"count": 2, "first_step": 1, "last_step": 5, "last_value": 8.0, "min": 2.0, "max": 8.0}
    assert summary["a"] == {"count": 2, "first_step": 0, "last_step": 3, "last_value": 9.0, "min": 9.0, "max": 9.0}


def test_group_points_orders_steps_and_keeps_first_seen_name_order():
    grouped = group_points(iter([("z", 2, 1.0, 0.0), ("y", 9, 2.0, 0.0), ("z", 1, 3.0, 0.0), ("z", 2, 4.0, 5.0)]))
    assert [g.name for g in grouped] == ["z", "y"]
    assert grouped[0].steps.tolist() == [1, 2] and grouped[0].values.tolist() == [3.0, 4.0]
    assert grouped[0].timestamps.tolist() == [0.0, 5.0]


def _as_columns(records, first=0):
    columns = PointColumns(first)
    for step, ts, metrics in records:
        columns.add(step, ts, metrics)
    return columns


def test_point_columns_group_as_the_same_points_as_tuples():
    # Records of several shapes that share names and repeat steps: the later record wins a step
    # whichever shape it has, and names keep their first-seen order.
    rng = np.random.default_rng(5)
    shapes = [("loss",), ("loss", "lr"), ("lr", "acc"), ("acc", "loss", "mfu")]
    records = []
    for _ in range(400):
        shape = shapes[int(rng.integers(len(shapes)))]
        values = rng.choice([1.0, -2.5, np.nan, np.inf], size=len(shape)).tolist()
        records.append((int(rng.integers(0, 60)), float(rng.integers(0, 9)), dict(zip(shape, values))))
    tuples = [(name, step, value, ts) for step, ts, metrics in records for name, value in metrics.items()]
    columns = _as_columns(records)
    assert len(columns) == len(tuples)
    # As a parser process sends them: frozen into arrays, pickled, and extended piece by piece.
    pieces = PointColumns()
    for lo, hi in ((0, 150), (150, 151), (151, 400)):
        piece = _as_columns(records[lo:hi], first=pieces.records)
        pieces.extend(pickle.loads(pickle.dumps(piece.freeze() if lo != 150 else piece)))
    by_tuples = group_points(tuples)
    assert sorted(g.name for g in by_tuples) == ["acc", "loss", "lr", "mfu"]
    for by_columns in (group_points(columns), group_points(pieces)):
        assert [g.name for g in by_columns] == [g.name for g in by_tuples]
        for a, b in zip(by_columns, by_tuples):
            assert a.steps.tolist() == b.steps.tolist() and a.timestamps.tolist() == b.timestamps.tolist()
            assert np.array_equal(a.values, b.values, equal_nan=True)


def test_point_columns_are_checked_like_tuples(engine, run_id):
    for bad in ([(1.5, 0.0, {"loss": 1.0})], [(1, math.nan, {"loss": 1.0})], [(1, 0.0, {"x" * 500: 1.0})],
                [(1, 0.0, {"loss": "high"})]):
        with pytest.raises(ValueError):
            write_batch(engine, run_id, _as_columns(bad))
    assert write_batch(engine, run_id, _as_columns([(3, 1.0, {"loss": 2.0}), (3, 2.0, {"loss": 4.0, "lr": 0.1})])) == 2
    assert _values(engine, run_id, "loss") == {3: 4.0}


def test_a_batch_longer_than_one_statement_with_nonfinite_values(engine, run_id):
    """Several multi-row statements plus a remainder on SQLite, NULL rows in PostgreSQL's COPY."""
    n = 2 * SQLITE_ROWS_PER_STATEMENT + 77  # statements of every size: 250, 250, 50, 10, 10 and 7 of one
    special = {0: math.nan, 5: math.inf, n - 1: math.nan, n - 2: -math.inf}
    points = [("loss", s, special.get(s, s / 10), 1000.0 + s) for s in range(n)]
    assert write_batch(engine, run_id, points) == n
    stored = _values(engine, run_id, "loss")
    assert sorted(stored) == list(range(n))
    assert all(_same(stored[s], special.get(s, s / 10)) for s in range(n))
    summary = queries.get_run(engine, run_id)["metrics"]["loss"]
    assert summary == {"count": n, "first_step": 0, "last_step": n - 1, "last_value": None,
                       "min": 0.1, "max": (n - 3) / 10}


def test_rewriting_stored_steps_with_nonfinite_values(engine, run_id):
    """The upsert path (PostgreSQL: COPY into the staging table, then ON CONFLICT)."""
    write_batch(engine, run_id, [("loss", s, float(s), 0.0) for s in range(100)])
    rewrite = {s: (math.nan if s % 10 == 0 else math.inf if s % 10 == 1 else -float(s)) for s in range(50, 150)}
    assert write_batch(engine, run_id, [("loss", s, v, 1.0) for s, v in rewrite.items()]) == 100
    stored = _values(engine, run_id, "loss")
    expected = {s: float(s) for s in range(50)} | rewrite
    assert sorted(stored) == sorted(expected)
    assert all(_same(stored[s], expected[s]) for s in expected)
    summary = queries.get_run(engine, run_id)["metrics"]["loss"]
    assert summary == {"count": 150, "first_step": 0, "last_step": 149, "last_value": -149.0,
                       "min": -149.0, "max": 49.0}
    # PostgreSQL's staging table is emptied at commit: a second rewrite of step 60 would
    # otherwise upsert it twice in one statement, which PostgreSQL refuses.
    write_batch(engine, run_id, [("loss", 60, 6.0, 2.0)])
    assert _values(engine, run_id, "loss")[60] == 6.0
    assert queries.get_run(engine, run_id)["metrics"]["loss"]["count"] == 150


def test_sqlite_foreign_keys_are_back_on_after_every_batch(sqlite_url):
    engine = init_db(sqlite_url)
    try:
        run_id = runs.create_run(engine, runs.get_or_create_experiment(engine, "e"), "r")
        write_batch(engine, run_id, [("loss", 1, 1.0, 0.0)], [(0, "x")])
        with pytest.raises(NoResultFound):
            write_batch(engine, run_id + 1, [("loss", 1, 1.0, 0.0)])
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        runs.delete_run(engine, run_id)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM metric_points").scalar() == 0
            assert conn.exec_driver_sql("SELECT count(*) FROM log_chunks").scalar() == 0
    finally:
        engine.dispose()

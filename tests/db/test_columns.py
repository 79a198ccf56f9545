"""columns.read_series (the bulk reader behind the charts) against what was written, on both databases."""
from __future__ import annotations

import numpy as np

from dashboard.db import runs
from dashboard.db.columns import read_series
from dashboard.db.writer import write_batch


def test_read_series_returns_each_runs_points_by_step_with_nonfinite_values(engine, run_id):
    other = runs.create_run(engine, runs.get_or_create_experiment(engine, "exp"), "run-b")
    rng = np.random.default_rng(5)
    steps = rng.permutation(3000)
    values = rng.normal(size=steps.size)
    values[[3, 30, 300]] = [np.nan, np.inf, -np.inf]
    write_batch(engine, run_id, [("loss", int(s), float(v), 1.7e9 + s / 8) for s, v in zip(steps, values)])
    write_batch(engine, other, [("loss", 5, 2.5, 1.0), ("acc", 5, 0.5, 1.0)])
    # a resumed run rewrites earlier steps: they are read back in step order with the new values
    write_batch(engine, run_id, [("loss", 7, 9.0, 2.0), ("loss", 0, np.nan, 3.0)])
    truth = dict(zip(steps.tolist(), values.tolist())) | {7: 9.0, 0: np.nan}
    stamps = {s: 1.7e9 + s / 8 for s in truth} | {7: 2.0, 0: 3.0}

    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # scans in heap order, where the rewritten rows come last: numpy has to sort them
            conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
        got = read_series(conn, [run_id, other, 999], "loss")
        first = read_series(conn, [run_id], "loss", limit=5)
        tail = read_series(conn, [run_id], "loss", after_step=2990)
        window = read_series(conn, [run_id], "loss", step_min=10, step_max=19)
        assert read_series(conn, [run_id], "nothing") == {} and read_series(conn, [], "loss") == {}

    assert sorted(got) == [run_id, other]
    s, v, t = got[run_id]
    assert s.dtype == np.int64 and s.tolist() == list(range(3000))
    assert np.array_equal(v, np.array([truth[i] for i in range(3000)]), equal_nan=True)
    assert t.tolist() == [stamps[i] for i in range(3000)]
    assert [a.tolist() for a in got[other]] == [[5], [2.5], [1.0]]
    assert tail[run_id][0].tolist() == list(range(2991, 3000))
    assert window[run_id][0].tolist() == list(range(10, 20))
    assert first[run_id][0].tolist() == [0, 1, 2, 3, 4] and np.isnan(first[run_id][1][0])

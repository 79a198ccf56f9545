"""The run summary stays exact whatever the batches: new steps, rewrites, NaN and ±inf."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.db import queries, runs
from dashboard.db.writer import merge_rewrite, write_batch

OLD = {"count": 10, "first_step": 0, "last_step": 9, "last_value": 1.0, "min": 1.0, "max": 10.0}
BATCH = {"count": 3, "first_step": 8, "last_step": 12, "last_value": 4.0, "min": 3.0, "max": 5.0}


def test_merge_rewrite_carries_extremes_that_lie_outside_the_range():
    # Steps 8..12: before, 2 stored points (values 2, 3); after, 5 (values 2..5).
    merged = merge_rewrite({**OLD, "min": 1.0}, (2, 2.0, 3.0), (5, 2.0, 5.0), BATCH)
    assert merged == {"count": 13, "first_step": 0, "last_step": 12, "last_value": 4.0, "min": 1.0, "max": 10.0}


def test_merge_rewrite_asks_for_a_recount_when_an_extreme_may_be_overwritten():
    assert merge_rewrite(OLD, (2, 1.0, 3.0), (5, 2.0, 5.0), BATCH) is None  # the old min is in the range
    assert merge_rewrite(OLD, (2, 2.0, 10.0), (5, 2.0, 5.0), BATCH) is None  # the old max is in the range
    assert merge_rewrite(None, (2, 2.0, 3.0), (5, 2.0, 5.0), BATCH) is None


def _truth(frame) -> dict:
    """The summary computed from the stored points themselves."""
    out = {}
    for name, series in frame.groupby("name"):
        series = series.sort_values("step")
        finite = [v for v in series["value"] if math.isfinite(v)]
        last = series["value"].iloc[-1]
        out[name] = {"count": len(series), "first_step": int(series["step"].iloc[0]),
                     "last_step": int(series["step"].iloc[-1]),
                     "last_value": float(last) if math.isfinite(last) else None,
                     "min": min(finite) if finite else None, "max": max(finite) if finite else None}
    return out


values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([math.nan, math.inf, -math.inf]))
point = st.tuples(st.sampled_from(["loss", "lr"]), st.integers(0, 30), values)
batches = st.lists(st.lists(point, max_size=12), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_summary_equals_the_stored_points_after_any_batches(engine, batches):
    run_id = runs.create_run(engine, runs.get_or_create_experiment(engine, "prop"))
    for batch in batches:
        write_batch(engine, run_id, [(name, step, value, 1.0) for name, step, value in batch])
    assert queries.get_run(engine, run_id)["metrics"] == _truth(queries.metric_series(engine, run_id))

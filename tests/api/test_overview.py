"""queries.metric_overview (the SQL reduction) against a plain numpy reference, on both databases;
and the pure encoders."""
from __future__ import annotations

import csv
import datetime as dt
import io

import numpy as np
import pytest

from dashboard.api.encoding import csv_block, iso_utc, json_points
from dashboard.db import queries
from dashboard.db.writer import write_batch


def reference(steps, values, lo, hi, n_buckets, ends=None) -> set[int]:
    """Per bucket: first finite min and max, first NaN, +inf and -inf; plus the ends (by default
    the first and last points)."""
    keep = {int(steps[0]), int(steps[-1])} if ends is None else set(ends)
    starts = queries.bucket_starts(lo, hi, n_buckets)
    bucket = np.searchsorted(starts, steps, side="right") - 1
    for b in np.unique(bucket):
        s, v = steps[bucket == b], values[bucket == b]
        finite = np.isfinite(v)
        if finite.any():
            keep.add(int(s[finite][np.argmin(v[finite])]))
            keep.add(int(s[finite][np.argmax(v[finite])]))
        for kind in (np.isnan(v), v == np.inf, v == -np.inf):
            if kind.any():
                keep.add(int(s[kind][0]))
    return keep


def test_bucket_starts_partition_the_range_like_floor_division():
    for lo, hi, n in [(0, 999, 10), (5, 17, 4), (-100, 10**12, 9999), (7, 7, 1), (0, 10, 11)]:
        starts = queries.bucket_starts(lo, hi, n)
        probe = np.unique(np.r_[np.linspace(lo, hi, 500).astype(np.int64), starts, starts - 1, hi])
        probe = probe[(probe >= lo) & (probe <= hi)]
        expected = np.minimum((probe - lo) * n // max(hi - lo, 1), n - 1)
        assert starts[0] == lo
        assert np.array_equal(np.searchsorted(starts, probe, side="right") - 1, expected)


@pytest.mark.parametrize("seed_", [1, 2, 3])
def test_overview_keeps_every_buckets_extremes_and_nonfinite_points(engine, run_id, seed_):
    rng = np.random.default_rng(seed_)
    steps = np.sort(rng.choice(5000, size=800, replace=False)) + 10
    values = rng.normal(0, 1, steps.size).round(2)  # rounding makes ties, the SQL must break them as numpy
    for kind in (np.nan, np.inf, -np.inf):
        values[rng.choice(steps.size, 5, replace=False)] = kind
    write_batch(engine, run_id, [("loss", int(s), float(v), float(s)) for s, v in zip(steps, values)])
    lo, hi = int(steps[0]), int(steps[-1])
    got_steps, got_values, got_stamps = queries.metric_overview(engine, run_id, "loss", lo, hi, 37)
    assert set(got_steps.tolist()) == reference(steps, values, lo, hi, 37)
    assert np.all(np.diff(got_steps) > 0)
    by_step = dict(zip(steps.tolist(), values.tolist()))
    assert np.array_equal(got_values, np.array([by_step[s] for s in got_steps.tolist()]), equal_nan=True)
    assert np.array_equal(got_stamps, got_steps.astype(float))


def _write_spiky(engine, run_id, steps, values):
    write_batch(engine, run_id, [("loss", int(s), float(v), float(s)) for s, v in zip(steps, values)])


@pytest.mark.parametrize("seed_", [4, 5])
def test_rollup_overview_matches_the_reference_with_nonfinite_and_overwritten_points(engine, run_id, seed_):
    rng = np.random.default_rng(seed_)
    steps = np.sort(rng.choice(np.arange(-3000, 9000), size=3000, replace=False))
    values = rng.normal(0, 1, steps.size).round(1)
    for kind in (np.nan, np.inf, -np.inf):
        values[rng.choice(steps.size, 6, replace=False)] = kind
    # Written out of order in three batches, then a fourth overwrites some points (a NaN becoming
    # finite, finite points becoming extremes or non-finite): the rollups must follow.
    order = rng.permutation(steps.size)
    for part in np.array_split(order, 3):
        _write_spiky(engine, run_id, steps[part], values[part])
    again = rng.choice(steps.size, 200, replace=False)
    values[again] = rng.choice([np.nan, np.inf, -np.inf, 9.0, -9.0, 0.5], size=again.size)
    _write_spiky(engine, run_id, steps[again], values[again])
    for lo, hi, n_buckets in [(int(steps[0]), int(steps[-1]), 11), (-1000, 7000, 7), (100, 8000, 30)]:
        # Buckets wide enough for metric_overview to read the rollups.
        got_steps, got_values, got_stamps = queries.metric_overview(engine, run_id, "loss", lo, hi, n_buckets)
        assert (hi - lo + 1) >= queries.ROLLUP_MIN_SPAN * n_buckets
        assert set(got_steps.tolist()) == reference_in(steps, values, lo, hi, n_buckets)
        by_step = dict(zip(steps.tolist(), values.tolist()))
        assert np.array_equal(got_values, np.array([by_step[x] for x in got_steps.tolist()]), equal_nan=True)
        assert np.array_equal(got_stamps, got_steps.astype(float))


def reference_in(steps, values, lo, hi, n_buckets) -> set[int]:
    """`reference` over the buckets of [lo, hi], with the points at lo and hi if any."""
    inside = (steps >= lo) & (steps <= hi)
    s, v = steps[inside], values[inside]
    return reference(s, v, lo, hi, n_buckets, ends={x for x in (lo, hi) if x in set(s.tolist())})


def test_overview_of_a_sub_range(engine, run_id):
    write_batch(engine, run_id, [("loss", s, float(s % 10), 0.0) for s in range(1000)])
    steps, values, _ = queries.metric_overview(engine, run_id, "loss", 200, 299, 5)
    assert steps.min() == 200 and steps.max() == 299
    assert set(values.tolist()) == {0.0, 9.0}


def test_iso_utc_matches_datetime():
    stamps = np.array([0.0, 1_764_000_001.123, 1_764_000_001.9999996, 951_782_400.5, -1.5, 4_102_444_799.999999])
    for digits, width in ((3, 24), (6, 27)):
        got = [s.decode() for s in iso_utc(stamps, digits)]
        for ts, text in zip(stamps.tolist(), got):
            when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=round(ts * 1e6))
            assert text == when.strftime("%Y-%m-%dT%H:%M:%S.%f")[: 20 + digits] + "Z"
            assert len(text) == width


def test_json_points_mark_nonfinite_values():
    points = json_points(np.array([1, 2, 3, 4]), np.array([0.5, np.nan, np.inf, -np.inf]), np.zeros(4))
    assert points[0] == {"step": 1, "value": 0.5, "timestamp": "1970-01-01T00:00:00.000Z"}
    assert [(p["value"], p.get("nonfinite")) for p in points[1:]] == [(None, "nan"), (None, "inf"), (None, "-inf")]


def test_csv_block_round_trips_and_quotes_odd_names():
    values = np.array([0.1, 1 / 3, 1e-5, -2.5e300, np.nan, np.inf, -np.inf, 5.0])
    block = csv_block('odd,"name"', np.arange(8) * 10**12, values, np.full(8, 1.5))
    rows = list(csv.reader(io.StringIO(block.decode())))
    assert {r[0] for r in rows} == {'odd,"name"'}
    assert [int(r[1]) for r in rows] == [s * 10**12 for s in range(8)]
    assert np.array_equal(np.array([float(r[2]) for r in rows]), values, equal_nan=True)
    assert {r[3] for r in rows} == {"1970-01-01T00:00:01.500000Z"}
    assert csv_block("loss", np.array([], dtype=np.int64), np.array([]), np.array([])) == b""


def test_overview_cache_is_bounded_by_points_and_least_recently_used():
    from dashboard.api.metrics import OverviewCache

    def series(n):
        return np.arange(n), np.zeros(n), np.zeros(n)

    cache = OverviewCache(max_points=100)
    cache.put("a", series(20))
    cache.put("b", series(20))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", series(20))
    cache.put("d", series(20))
    cache.put("e", series(20))
    cache.put("f", series(20))  # 120 points: the least recently used ("b") goes
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("f") is not None
    cache.put("huge", series(26))  # over a quarter of the budget: never cached
    assert cache.get("huge") is None


def test_whole_series_overview_from_the_rollup_grid_equals_the_reduction_of_every_point(engine, run_id):
    from dashboard.api.metrics import OverviewCache, reduced_series
    from dashboard.db import rollups
    from dashboard.sampling import minmax_indices

    rng = np.random.default_rng(8)
    steps = np.sort(rng.choice(60_000, 20_000, replace=False)) + 3
    values = rng.normal(0, 1, steps.size).round(1)
    values[rng.choice(steps.size, 12, replace=False)] = [np.nan, np.inf, -np.inf] * 4
    values[777] = 80.0  # a one-step spike
    write_batch(engine, run_id, [("loss", int(s), float(v), 1.7e9 + s) for s, v in zip(steps, values)])
    # a resumed run rewrites some steps, one of them to a new low
    where = rng.choice(steps.size, 50, replace=False)
    new = np.r_[-70.0, rng.normal(0, 1, 49).round(1)]
    write_batch(engine, run_id, [("loss", int(steps[i]), float(v), 5.0) for i, v in zip(where, new)])
    values[where] = new
    stamps = 1.7e9 + steps.astype(float)
    stamps[where] = 5.0

    run = queries.get_run(engine, run_id)
    first, last = int(steps[0]), int(steps[-1])
    width = rollups.grid_width(first, last, 100)
    # the grid path is the one tested, on whole coarse buckets
    assert width and width % rollups.COARSE == 0 and last - first + 1 >= queries.ROLLUP_MIN_SPAN * 49
    got = reduced_series(engine, run, "loss", first, last, 100, OverviewCache())
    keep = minmax_indices(steps, values, 100, width=width)
    assert got[0].tolist() == steps[keep].tolist()
    assert np.array_equal(got[1], values[keep], equal_nan=True) and got[2].tolist() == stamps[keep].tolist()
    assert {80.0, -70.0} <= set(got[1].tolist())

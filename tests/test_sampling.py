"""Reduction keeps spikes, edges and non-finite points; smoothing matches TensorBoard."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dashboard.sampling import ema_debiased, minmax_indices


@pytest.mark.parametrize("max_points", [2, 3, 10, 100, 1000, 5000])
def test_single_step_spike_survives_any_reduction(max_points):
    rng = np.random.default_rng(0)
    steps = np.arange(100_000)
    values = rng.normal(2.0, 0.05, steps.size)
    values[73_421] = 100.0
    values[12_345] = -50.0
    idx = minmax_indices(steps, values, max_points)
    assert 73_421 in idx and 12_345 in idx
    assert idx[0] == 0 and idx[-1] == steps.size - 1
    assert idx.size <= max(max_points, 4)
    assert np.all(np.diff(idx) > 0)


def test_short_series_is_untouched():
    assert minmax_indices(np.arange(5), np.ones(5), 10).tolist() == [0, 1, 2, 3, 4]


def test_nonfinite_points_are_always_kept():
    values = np.linspace(0, 1, 10_000)
    values[[10, 500, 9000]] = [np.nan, np.inf, -np.inf]
    idx = minmax_indices(np.arange(10_000), values, 50)
    assert {10, 500, 9000} <= set(idx.tolist())


def test_shared_edges_give_same_buckets_for_different_runs():
    a = minmax_indices(np.arange(0, 1000), np.sin(np.arange(1000)), 20, lo=0, hi=2000)
    b = minmax_indices(np.arange(1000, 2000), np.sin(np.arange(1000)), 20, lo=0, hi=2000)
    # each run covers half the shared range, so each uses about half the buckets
    assert a.size <= 14 and b.size <= 14


def test_ema_matches_hand_computed_values_with_nan():
    w = 0.5
    got = ema_debiased(np.array([1.0, 3.0, np.nan, 5.0]), w)
    # n=1: last=0.5 -> 0.5/(1-0.5)=1 ; n=2: last=0.25+1.5=1.75 -> 1.75/0.75=2.3333
    # NaN stays NaN and is skipped ; n=3: last=0.875+2.5=3.375 -> 3.375/0.875=3.857142...
    assert got[0] == pytest.approx(1.0)
    assert got[1] == pytest.approx(1.75 / 0.75)
    assert math.isnan(got[2])
    assert got[3] == pytest.approx(3.375 / 0.875)


def test_ema_weight_zero_is_identity():
    v = np.array([1.0, 2.0, 4.0])
    assert ema_debiased(v, 0.0).tolist() == [1.0, 2.0, 4.0]


def _ema_reference(values, w):
    """The recurrence exactly as TensorBoard's JavaScript runs it, one point at a time."""
    out, last, n = list(values), 0.0, 0
    for i, y in enumerate(values):
        if not math.isfinite(y):
            continue
        n += 1
        last = last * w + (1 - w) * y
        out[i] = last / (1 - w**n)
    return out


@pytest.mark.parametrize("w", [1e-6, 0.01, 0.3, 0.6, 0.9, 0.99, 0.999])
def test_vectorised_ema_matches_the_sequential_recurrence(w):
    rng = np.random.default_rng(7)
    values = rng.lognormal(0.5, 1.0, 20_000) * np.where(rng.random(20_000) < 0.01, -1, 1)
    values[rng.integers(0, values.size, 50)] = np.nan
    values[123], values[9_999] = np.inf, -np.inf
    got = ema_debiased(values, w)
    want = np.array(_ema_reference(values.tolist(), w))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert np.isnan(got[np.isnan(values)]).all() and got[123] == np.inf


def test_a_step_grid_keeps_the_extremes_of_each_fixed_bucket_shared_across_series():
    rng = np.random.default_rng(3)
    steps = np.sort(rng.choice(100_000, 20_000, replace=False)) + 500
    values = rng.normal(size=steps.size).round(1)
    idx = minmax_indices(steps, values, 400, width=640)
    bucket = steps // 640
    want = {0, steps.size - 1}
    for b in np.unique(bucket):
        i = np.flatnonzero(bucket == b)
        want |= {int(i[np.argmin(values[i])]), int(i[np.argmax(values[i])])}  # the first of ties
    assert set(idx.tolist()) == want

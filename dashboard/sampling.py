"""Pure numpy: min/max-preserving reduction of a series, and TensorBoard's debiased EMA.

No Dash, no database: arrays in, arrays out.
"""
from __future__ import annotations

import numpy as np


def _first_per_bucket(buckets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Index of the first True of `mask` in each run of equal `buckets` values."""
    candidates = np.flatnonzero(mask)
    _, first = np.unique(buckets[candidates], return_index=True)
    return candidates[first]


def minmax_indices(
    steps: np.ndarray,
    values: np.ndarray,
    max_points: int,
    lo: float | None = None,
    hi: float | None = None,
) -> np.ndarray:
    """Indices of the points to draw so that at most about `max_points` remain.

    The step axis [lo, hi] is cut into equal buckets; each keeps its lowest and highest
    finite point, so a one-step spike survives any reduction. The first and last points and
    every non-finite point (NaN/inf, drawn as markers) are always kept. Passing the same
    lo/hi for several series gives them the same bucket edges. `steps` must be sorted.
    All vectorised: O(n), no Python loop over points.
    """
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=np.float64)
    n = steps.size
    if n <= max_points:
        return np.arange(n)
    finite = np.isfinite(values)
    fidx = np.flatnonzero(finite)
    lo = steps[0] if lo is None else lo
    hi = steps[-1] if hi is None else hi
    n_buckets = max((max_points - 2) // 2, 1)
    keep = [np.array([0, n - 1]), np.flatnonzero(~finite)]
    if fidx.size:
        fsteps = steps[fidx].astype(np.float64)
        fvals = values[fidx]
        span = max(float(hi) - float(lo), 1e-12)
        buckets = np.clip(((fsteps - lo) / span * n_buckets).astype(np.int64), 0, n_buckets - 1)
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        lengths = np.diff(np.r_[starts, buckets.size])
        mins = np.repeat(np.minimum.reduceat(fvals, starts), lengths)
        maxs = np.repeat(np.maximum.reduceat(fvals, starts), lengths)
        keep.append(fidx[_first_per_bucket(buckets, fvals == mins)])
        keep.append(fidx[_first_per_bucket(buckets, fvals == maxs)])
    return np.unique(np.concatenate(keep))


def ema_debiased(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: last = last·w + (1−w)·y; smoothed = last / (1 − wⁿ), n counting
    finite points. Non-finite inputs stay as they are and do not move the average."""
    values = np.asarray(values, dtype=np.float64)
    if weight <= 0 or values.size == 0:
        return values.copy()
    out = values.copy()
    last, n = 0.0, 0
    # A Python loop over floats: the recurrence is sequential; ~10M points/s is enough here.
    for i, y in enumerate(values.tolist()):
        if y != y or y in (np.inf, -np.inf):
            continue
        n += 1
        last = last * weight + (1 - weight) * y
        out[i] = last / (1 - weight**n)
    return out

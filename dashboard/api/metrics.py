"""The metrics endpoints' work: which points of which series (filtered in SQL), reduced for
drawing when a series is long (in SQL first, so a huge run is never loaded whole), and the
CSV of every point, streamed a page at a time."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np
from sqlalchemy import Engine

from dashboard.api.encoding import csv_block, json_points
from dashboard.api.params import MetricsQuery, SeriesFilter
from dashboard.db import queries, rollups
from dashboard.db.queries import SeriesArrays
from dashboard.sampling import minmax_indices

NO_METRICS_MESSAGE = (
    "No metrics were captured for this run (it predates metric capture, or its log had none); "
    "its log is still available."
)
CSV_PAGE_ROWS = 50_000
CSV_HEADER = b"name,step,value,timestamp\n"
EMPTY: SeriesArrays = (np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64))


class OverviewCache:
    """A small LRU of reduced series, bounded by the points it holds. Keys hold the run's
    `updated_at`, which every write touches (each batch, status change and metric reset), so an
    entry is never stale; it saves the index scan a long series' overview costs when the same
    view is asked for again."""

    def __init__(self, max_points: int = 2_000_000):
        self._max_points = max_points
        self._points = 0
        self._items: OrderedDict[Hashable, SeriesArrays] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> SeriesArrays | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Hashable, series: SeriesArrays) -> None:
        size = len(series[0])
        if size > self._max_points // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = series
            self._points += size
            while self._points > self._max_points:
                _, dropped = self._items.popitem(last=False)
                self._points -= len(dropped[0])


def reduced_series(engine: Engine, run: dict, name: str, first: int, last: int, max_points: int,
                   cache: OverviewCache) -> SeriesArrays:
    """A long series' points to draw over [first, last]: the min/max of each step bucket chosen
    in SQL (index range scans, ~max_points rows fetched), then `minmax_indices` over those
    candidates with the same buckets, so the result has the shape an in-memory reduction of
    the whole series would have. The whole of a long series is cut on the rollup grid
    (`rollups.grid_width`), as the charts do: its buckets are then read from the rollups with
    no point scanned but the non-finite ones; a step range gets equal buckets over it.""" 
    key = (run["id"], run["updated_at"], name, first, last, max_points)
    series = cache.get(key)
    if series is None:
        summary = run["metrics"][name]
        n_buckets = max((max_points - 2) // 2, 1)
        # the grid where metric_overview would read the rollups too (wide buckets)
        wide = (first, last) == (summary["first_step"], summary["last_step"]) \
            and last - first + 1 >= queries.ROLLUP_MIN_SPAN * n_buckets
        width = rollups.grid_width(first, last, max_points) if wide else None
        got = queries.metric_grid_overview(engine, run["id"], name, summary, width) if width else None
        if got is None:
            steps, values, stamps = queries.metric_overview(engine, run["id"], name, first, last, n_buckets)
            width = None
        else:
            steps, values, stamps = got[0]
        keep = minmax_indices(steps, values, max_points, first, last, width=width)
        series = (steps[keep], values[keep], stamps[keep])
        cache.put(key, series)
    return series


def _read_range(engine: Engine, run_id: int, name: str, lo: int, hi: int, count: int) -> SeriesArrays:
    # A page of count + 1 rows holds the whole range: a single index range scan.
    pages = list(queries.iter_metric_pages(engine, run_id, name, lo, hi, page=count + 1))
    return tuple(np.concatenate(column) for column in zip(*pages)) if pages else EMPTY


def series_points(engine: Engine, run: dict, name: str, flt: SeriesFilter, max_points: int,
                  cache: OverviewCache) -> tuple[SeriesArrays, int]:
    """(the points to send, the series' true point count in the step range) for one series of
    the run: every point when they are at most max_points, else the reduced series."""
    summary = run["metrics"][name]
    first, last, count = summary["first_step"], summary["last_step"], summary["count"]
    lo = first if flt.step_min is None else max(flt.step_min, first)
    hi = last if flt.step_max is None else min(flt.step_max, last)
    if hi < lo:
        return EMPTY, 0
    if (lo, hi) != (first, last):
        # A zoom: read it at once when, at the series' mean density, it should fit (the common
        # case: one index range scan); else, or when it did not fit, count the range first.
        if count * (hi - lo + 1) / (last - first + 1) <= 4 * max_points:
            page = next(queries.iter_metric_pages(engine, run["id"], name, lo, hi, page=max_points + 1), EMPTY)
            if len(page[0]) <= max_points:
                return page, len(page[0])
        count, lo, hi = queries.metric_range_stats(engine, run["id"], [name], lo, hi).get(name, (0, lo, hi))
    if count > max_points:
        return reduced_series(engine, run, name, lo, hi, max_points, cache), count
    return _read_range(engine, run["id"], name, lo, hi, count), count


def metrics_payload(engine: Engine, experiment_id: int, run: dict, query: MetricsQuery,
                    cache: OverviewCache) -> dict[str, Any]:
    """The body of GET …/metrics for one run (SPEC §5)."""
    available = sorted(run["metrics"])
    payload: dict[str, Any] = {
        "experiment_id": experiment_id,
        "run_id": run["id"],
        "run_name": run["name"],
        "status": run["status"],
        "is_complete": run["is_complete"],
        "has_metrics": bool(available),
        "available_types": available,
    }
    if not available:
        return {**payload, "metrics": {}, "point_counts": {}, "downsampled": False, "message": NO_METRICS_MESSAGE}
    flt = query.series
    names = list(flt.types) if flt.types is not None else available
    metrics: dict[str, list] = {}
    counts: dict[str, int] = {}
    for name in names:
        series, counts[name] = (
            series_points(engine, run, name, flt, query.max_points, cache) if name in run["metrics"] else (EMPTY, 0)
        )
        metrics[name] = json_points(*series)
    return {
        **payload,
        "metrics": metrics,
        "point_counts": counts,
        "downsampled": any(len(metrics[name]) < counts[name] for name in names),
    }


def csv_chunks(engine: Engine, run: dict, flt: SeriesFilter, page: int | None = None) -> Iterator[bytes]:
    """Every point of the run's series (or of those asked for) as CSV: a header, then a block
    per page read from the database, so memory stays flat whatever the run's length."""
    summary = run["metrics"]
    names = [n for n in (flt.types if flt.types is not None else sorted(summary)) if n in summary]
    yield CSV_HEADER
    for name in names:
        for steps, values, stamps in queries.iter_metric_pages(engine, run["id"], name, flt.step_min,
                                                               flt.step_max, page=page or CSV_PAGE_ROWS):
            yield csv_block(name, steps, values, stamps)

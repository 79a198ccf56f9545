"""The metrics endpoints' work: which points of which series (filtered in SQL), reduced for
drawing when a series is long (in SQL first, so a huge run is never loaded whole), and the
CSV of every point, streamed a page at a time."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine

from dashboard.api.encoding import csv_block, json_points
from dashboard.api.params import MetricsQuery, SeriesFilter
from dashboard.db import queries
from dashboard.db.queries import SeriesArrays
from dashboard.sampling import minmax_indices

NO_METRICS_MESSAGE = (
    "No metrics were captured for this run (it predates metric capture, or its log had none); "
    "its log is still available."
)
CSV_PAGE_ROWS = 50_000
CSV_HEADER = b"name,step,value,timestamp\n"


class OverviewCache:
    """A small LRU of reduced series. Keys hold the run's `updated_at`, which every write
    touches (each batch, status change and metric reset), so an entry is never stale; it saves
    the index scan a long series' overview costs when the same view is asked for again."""

    def __init__(self, size: int = 64):
        self._size = size
        self._items: OrderedDict[Hashable, SeriesArrays] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> SeriesArrays | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Hashable, series: SeriesArrays) -> None:
        with self._lock:
            self._items[key] = series
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def reduced_series(engine: Engine, run: dict, name: str, first: int, last: int, max_points: int,
                   cache: OverviewCache) -> SeriesArrays:
    """A long series' points to draw over [first, last]: the min/max of each step bucket chosen
    in SQL (one index scan, ~max_points rows fetched), then `minmax_indices` over those
    candidates with the same bucket span, so the result has the shape an in-memory reduction
    of the whole series would have."""
    key = (run["id"], run["updated_at"], name, first, last, max_points)
    series = cache.get(key)
    if series is None:
        n_buckets = max((max_points - 2) // 2, 1)
        steps, values, stamps = queries.metric_overview(engine, run["id"], name, first, last, n_buckets)
        keep = minmax_indices(steps, values, max_points, first, last)
        series = (steps[keep], values[keep], stamps[keep])
        cache.put(key, series)
    return series


def series_extents(engine: Engine, run: dict, names: Sequence[str], flt: SeriesFilter) -> dict[str, tuple[int, int, int]]:
    """(count, first step, last step) of each series within the filter: from the run's summary
    when the range covers the whole series, else counted in SQL over the range."""
    summary = run["metrics"]
    lo = -np.inf if flt.step_min is None else flt.step_min
    hi = np.inf if flt.step_max is None else flt.step_max
    extents, to_count = {}, []
    for name in names:
        s = summary[name]
        if lo <= s["first_step"] and s["last_step"] <= hi:
            extents[name] = (s["count"], s["first_step"], s["last_step"])
        else:
            to_count.append(name)
    if to_count:
        extents.update(queries.metric_range_stats(engine, run["id"], to_count, flt.step_min, flt.step_max))
    return extents


def metrics_payload(engine: Engine, experiment_id: int, run: dict, query: MetricsQuery,
                    cache: OverviewCache) -> dict[str, Any]:
    """The body of GET …/metrics for one run (SPEC §5). Series within max_points come exact,
    read by an index range scan each; longer ones reduced (`reduced_series`)."""
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
    extents = series_extents(engine, run, [n for n in names if n in run["metrics"]], flt)
    metrics: dict[str, list] = {}
    for name in names:
        if name not in extents:
            metrics[name] = []
            continue
        count, first, last = extents[name]
        if count > query.max_points:
            series = reduced_series(engine, run, name, first, last, query.max_points, cache)
        else:
            series = next(queries.iter_metric_pages(engine, run["id"], name, first, last, page=count + 1))
        metrics[name] = json_points(*series)
    counts = {name: extents[name][0] if name in extents else 0 for name in names}
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

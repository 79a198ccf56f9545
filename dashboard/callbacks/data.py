"""The pages' read path: full-resolution series per (run, metric), kept in memory between
callbacks and brought up to date from the run's summary.

Smoothing needs the whole series and zooming needs full resolution, so charts work from
full series. Reading 100,000 points back costs ~50 ms (`columns.read_series`); a comparison of
20 such runs would pay that at every control change. A finished run never changes, and a
live one only grows, so each series is read once, then only its new points (`after_step`).
The run's `metrics` summary (count, last step, min, max, last value; kept current at every
flush) says whether a cached copy is still whole. A resumed run may rewrite earlier steps,
which a summary cannot always reveal, so a series cached while its run was live is read
whole once more when the run has finished: a finished run's chart is always exact.

A chart that needs no more than the overview of whole finished series (no smoothing, the
step axis, not zoomed) reads a long series not in memory as that overview, from the rollups
(`Overview`): ~1,600 rows a run instead of 100,000 points.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from dashboard.db import queries
from dashboard.db.columns import read_series
from dashboard.figures import RunLine

# About 24 bytes a point: 8M points ≈ 200 MB at most per worker process.
CACHE_POINTS = 8_000_000


@dataclass
class _Entry:
    steps: np.ndarray
    values: np.ndarray
    wall: np.ndarray
    count: int
    last_step: int
    complete: bool = False  # read after the run finished: final, never read again while unchanged


@dataclass(frozen=True)
class Overview:
    """A chart that draws whole finished series reduced on a step grid (`rollups.grid_width`):
    a series of more than `max_points` points not in memory is read as that reduction, from
    the rollups (`queries.metric_grid_overview`), at a fraction of the cost of reading it."""
    width: int
    max_points: int


class SeriesCache:
    """LRU of full series keyed by (run_id, metric name), bounded by total points."""

    def __init__(self, engine: Engine, max_points: int = CACHE_POINTS):
        self.engine = engine
        self.max_points = max_points
        self._entries: OrderedDict[tuple[int, str], _Entry] = OrderedDict()
        self._points = 0
        self._lock = threading.Lock()
        self.reads = 0  # series read from the database (whole or tail): what tests and the bench look at

    def lines(self, runs: list[dict], names: dict[int, str], overview: Overview | None = None) -> list[RunLine]:
        """Full series of `names[run_id]` for each run (run dicts from queries.list_runs/get_run),
        in the order of `runs`. Runs without that metric are left out. With `overview`, a long
        series of a finished run that is not in memory comes as its overview (not kept)."""
        wanted = [(r, names[r["id"]]) for r in runs if names.get(r["id"]) and names[r["id"]] in r["metrics"]]
        found: dict[tuple[int, str], _Entry] = {}
        stale: dict[str, list[int]] = {}
        tails: list[tuple[dict, str, _Entry]] = []
        overviews: list[tuple[dict, str]] = []
        with self._lock:
            for run, name in wanted:
                summary = run["metrics"][name]
                key = (run["id"], name)
                entry = self._entries.get(key)
                same = entry is not None and entry.count == summary.get("count") \
                    and entry.last_step == summary.get("last_step")
                if same and (entry.complete or not run["is_complete"]) and _agrees(entry, summary):
                    self._entries.move_to_end(key)
                    found[key] = entry
                elif entry is not None and not run["is_complete"] and entry.last_step < (summary.get("last_step") or 0):
                    tails.append((run, name, entry))  # a live run grew: read only what is new
                elif overview is not None and run["is_complete"] and summary["count"] > overview.max_points:
                    overviews.append((run, name))
                else:
                    stale.setdefault(name, []).append(run["id"])
        for run, name, entry in tails:
            grown = self._extend(run["id"], name, entry)
            if grown.count == run["metrics"][name].get("count") and _agrees(grown, run["metrics"][name]):
                found[(run["id"], name)] = grown
            else:  # an earlier step was rewritten (a resumed run): read it whole
                stale.setdefault(name, []).append(run["id"])
        reduced = {}
        for run, name in overviews:
            line = self._overview(run, name, overview.width)
            if line is None:  # rollups that do not count every point: read the series whole
                stale.setdefault(name, []).append(run["id"])
            else:
                reduced[run["id"]] = line
        complete = {r["id"] for r in runs if r["is_complete"]}
        for name, ids in stale.items():
            found.update(self._load(ids, name, complete))
        out = []
        for run, name in wanted:
            if run["id"] in reduced:
                out.append(reduced[run["id"]])
                continue
            e = found.get((run["id"], name))
            if e is not None and e.steps.size:
                out.append(RunLine(run["id"], run["name"], e.steps, e.values, e.wall))
        return out

    def _overview(self, run: dict, name: str, width: int) -> RunLine | None:
        summary = run["metrics"][name]
        got = queries.metric_grid_overview(self.engine, run["id"], name, summary, width)
        return None if got is None else RunLine(run["id"], run["name"], *got[0], total=summary["count"], final=got[1])

    def _load(self, run_ids: list[int], name: str, complete: set[int]) -> dict[tuple[int, str], _Entry]:
        with self.engine.connect() as conn:
            series = read_series(conn, run_ids, name)
        self.reads += len(run_ids)
        loaded = {}
        for run_id, (steps, values, wall) in series.items():
            entry = _Entry(steps, values, wall, steps.size, int(steps[-1]), run_id in complete)
            loaded[(run_id, name)] = entry
            self._put((run_id, name), entry)
        return loaded

    def _extend(self, run_id: int, name: str, old: _Entry) -> _Entry:
        with self.engine.connect() as conn:
            new = read_series(conn, [run_id], name, after_step=old.last_step).get(run_id)
        self.reads += 1
        if new is None:
            return old
        steps, values, wall = new
        entry = _Entry(np.concatenate([old.steps, steps]), np.concatenate([old.values, values]),
                       np.concatenate([old.wall, wall]), old.count + steps.size, int(steps[-1]))
        self._put((run_id, name), entry)
        return entry

    def _put(self, key: tuple[int, str], entry: _Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._points -= old.steps.size
            if entry.steps.size > self.max_points:
                return  # too big to keep: read again next time rather than evict everything
            self._entries[key] = entry
            self._points += entry.steps.size
            while self._points > self.max_points and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._points -= dropped.steps.size

    def get(self, run_id: int, name: str) -> RunLine | None:
        """The cached series as it is (no database access), for tests and the CSV export."""
        with self._lock:
            e = self._entries.get((run_id, name))
        return None if e is None else RunLine(run_id, "", e.steps, e.values, e.wall)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._points = 0


def _agrees(entry: _Entry, summary: dict) -> bool:
    """The cached series has the summary's last value, min and max (finite values; None when none)."""
    if not entry.values.size:
        return not summary.get("count")
    last = float(entry.values[-1])
    want_last = summary.get("last_value")
    if (want_last is None) != (not np.isfinite(last)) or (want_last is not None and want_last != last):
        return False
    finite = entry.values[np.isfinite(entry.values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
    return summary.get("min") == lo and summary.get("max") == hi

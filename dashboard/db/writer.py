"""Batch writes: metric points upserted and log chunks appended in one transaction, with the
run's `metrics` summary and heartbeat updated in that same transaction.

The summary is merged under the run's row lock (PostgreSQL `FOR UPDATE`; SQLite's write
lock is taken at BEGIN IMMEDIATE), so several writers never lose each other's updates.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from dashboard.db.engine import writer
from dashboard.db.models import ExperimentRun, utcnow
from dashboard.db.rollups import update_rollups

# (name, step, value, unix timestamp)
Point = tuple[str, int, float, float]

_UPSERT = {
    "sqlite": (
        "INSERT INTO metric_points (run_id, name, step, value, timestamp) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp"
    ),
    "postgresql": (
        "INSERT INTO metric_points (run_id, name, step, value, timestamp) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp"
    ),
}
_APPEND_CHUNK = {
    "sqlite": "INSERT OR IGNORE INTO log_chunks (run_id, seq, text, created_at) VALUES (?, ?, ?, ?)",
    "postgresql": (
        "INSERT INTO log_chunks (run_id, seq, text, created_at) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (run_id, seq) DO NOTHING"
    ),
}
_RANGE_COUNT = {
    "sqlite": "SELECT count(*) FROM metric_points WHERE run_id = ? AND name = ? AND step BETWEEN ? AND ?",
    "postgresql": "SELECT count(*) FROM metric_points WHERE run_id = %s AND name = %s AND step BETWEEN %s AND %s",
}
_FULL_STATS = {
    "sqlite": (
        "SELECT count(*), min(step), max(step), "
        "min(CASE WHEN abs(value) < 1e308 THEN value END), max(CASE WHEN abs(value) < 1e308 THEN value END) "
        "FROM metric_points WHERE run_id = ? AND name = ?"
    ),
    "postgresql": (
        "SELECT count(*), min(step), max(step), "
        "min(CASE WHEN abs(value) < 1e308 THEN value END), max(CASE WHEN abs(value) < 1e308 THEN value END) "
        "FROM metric_points WHERE run_id = %s AND name = %s"
    ),
}
_VALUE_AT = {
    "sqlite": "SELECT value FROM metric_points WHERE run_id = ? AND name = ? AND step = ?",
    "postgresql": "SELECT value FROM metric_points WHERE run_id = %s AND name = %s AND step = %s",
}


def _sql(table: dict[str, str], conn: Connection) -> str:
    return table["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]


def _json_value(value: float | None) -> float | None:
    """JSON (and so JSONB) holds no NaN or infinity: non-finite summary values become null."""
    if value is None or not math.isfinite(value):
        return None
    return value


def dedupe(points: Iterable[Point]) -> dict[str, dict[int, tuple[float, float]]]:
    """Group points by name, one per step; a step given twice keeps the later value."""
    by_name: dict[str, dict[int, tuple[float, float]]] = {}
    for name, step, value, ts in points:
        series = by_name.get(name)
        if series is None:
            series = by_name[name] = {}
        series[step] = (value, ts)
    return by_name


def series_stats(series: dict[int, tuple[float, float]]) -> dict[str, Any]:
    """Summary of one batch of one metric (steps unique)."""
    steps = series.keys()
    finite = [v for v, _ in series.values() if v is not None and math.isfinite(v)]
    last_step = max(steps)
    return {
        "count": len(series),
        "first_step": min(steps),
        "last_step": last_step,
        "last_value": _json_value(series[last_step][0]),
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
    }


def merge_summary(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Merge a batch summary into a stored one, for a batch that adds only new steps."""
    if not old:
        return dict(new)

    def pick(f, a, b):
        return b if a is None else a if b is None else f(a, b)

    later = new["last_step"] >= old["last_step"]
    return {
        "count": old["count"] + new["count"],
        "first_step": min(old["first_step"], new["first_step"]),
        "last_step": new["last_step"] if later else old["last_step"],
        "last_value": new["last_value"] if later else old["last_value"],
        "min": pick(min, old.get("min"), new["min"]),
        "max": pick(max, old.get("max"), new["max"]),
    }


def _recount(conn: Connection, run_id: int, name: str) -> dict[str, Any]:
    count, first, last, vmin, vmax = conn.exec_driver_sql(_sql(_FULL_STATS, conn), (run_id, name, )).one()
    last_value = conn.exec_driver_sql(_sql(_VALUE_AT, conn), (run_id, name, last)).scalar()
    return {
        "count": count, "first_step": first, "last_step": last,
        "last_value": _json_value(last_value), "min": vmin, "max": vmax,
    }


def write_batch(
    engine: Engine,
    run_id: int,
    points: Iterable[Point] = (),
    chunks: Sequence[tuple[int, str]] = (),
    *,
    status: str | None = None,
) -> int:
    """Store one batch in one transaction; returns the number of distinct points written.

    `chunks` are (seq, text) log chunks, appended idempotently (a chunk already stored
    under its seq is kept). A point whose (run, name, step) exists replaces the old value.
    """
    by_name = dedupe(points)
    now = utcnow()
    with writer(engine).begin() as conn:
        summary = conn.execute(
            select(ExperimentRun.metrics).where(ExperimentRun.id == run_id).with_for_update()
        ).scalar_one()
        summary = dict(summary or {})
        overlapping = []
        for name, series in by_name.items():
            lo, hi = min(series), max(series)
            if conn.exec_driver_sql(_sql(_RANGE_COUNT, conn), (run_id, name, lo, hi)).scalar():
                overlapping.append(name)
        rows = [
            (run_id, name, step, None if value != value else value, ts)
            for name, series in by_name.items()
            for step, (value, ts) in series.items()
        ]
        if rows:
            conn.exec_driver_sql(_sql(_UPSERT, conn), rows)
        update_rollups(conn, run_id, by_name)
        if chunks:
            conn.exec_driver_sql(_sql(_APPEND_CHUNK, conn), [(run_id, seq, text, now) for seq, text in chunks])
        for name, series in by_name.items():
            if name in overlapping:
                summary[name] = _recount(conn, run_id, name)
            else:
                summary[name] = merge_summary(summary.get(name), series_stats(series))
        values: dict[str, Any] = {"updated_at": now}
        if by_name:
            values["metrics"] = summary
        if status is not None:
            values["status"] = status
        conn.execute(update(ExperimentRun).where(ExperimentRun.id == run_id).values(**values))
    return len(rows)

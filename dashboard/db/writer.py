"""Batch writes: metric points upserted and log chunks appended in one transaction, with the
run's `metrics` summary and heartbeat updated in that same transaction.

Every writer takes the run's row lock first (PostgreSQL `SELECT … FOR UPDATE`; SQLite's one
write lock, taken at BEGIN IMMEDIATE), so writers of one run are serialised: the summary
merge never loses an update, and no two writers hold locks in opposite orders (no deadlock).
Under that lock the writer knows which metrics of the batch touch steps already stored; the
others are new rows for certain, which lets PostgreSQL take its fastest path, a binary COPY
(built with numpy) straight into `metric_points`; the overlapping ones are COPYed into a
temporary staging table and merged with one `INSERT … ON CONFLICT DO UPDATE`. SQLite upserts
every metric with multi-row VALUES statements. The summary of a batch that rewrote steps is
merged from stats of its step range (index range scans), and recounted over the whole series
only when the old min or max may have been overwritten.
"""
from __future__ import annotations

import functools
import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select, update

from dashboard.db.bulk import execute_rows, fetch_one
from dashboard.db.engine import writer
from dashboard.db.logtext import pack
from dashboard.db.models import ExperimentRun, utcnow
from dashboard.db.points import PointColumns, Series, check_series, int_steps, one_per_step
from dashboard.db.rollups import update_rollups

# (name, step, value, unix timestamp)
Point = tuple[str, int, float, float]

_UPSERT_TAIL = (
    " ON CONFLICT (run_id, name, step) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp"
)


@functools.lru_cache(maxsize=None)
def _sqlite_upsert(rows: int) -> str:
    """One statement for `rows` points of one metric: ?1 run id, ?2 name, then (step, value,
    timestamp) per row; run id and name are bound once, not per row."""
    values = ",".join(f"(?1, ?2, ?{3 * i + 3}, ?{3 * i + 4}, ?{3 * i + 5})" for i in range(rows))
    return f"INSERT INTO metric_points (run_id, name, step, value, timestamp) VALUES {values}" + _UPSERT_TAIL


_PG_COPY = "COPY {table} (run_id, name, step, value, timestamp) FROM STDIN (FORMAT BINARY)"
_PG_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS trainboard_points_stage "
    "(run_id integer, name text, step bigint, value float8, timestamp float8) ON COMMIT DELETE ROWS"
)
_PG_FROM_STAGE = (
    "INSERT INTO metric_points (run_id, name, step, value, timestamp) "
    "SELECT run_id, name, step, value, timestamp FROM trainboard_points_stage" + _UPSERT_TAIL
)
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PG_COPY_TRAILER = struct.pack(">h", -1)

_APPEND_CHUNK = {
    "sqlite": (
        "INSERT OR IGNORE INTO log_chunks (run_id, seq, text, packed, chars, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    ),
    "postgresql": (
        "INSERT INTO log_chunks (run_id, seq, text, packed, chars, created_at) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (run_id, seq) DO NOTHING"
    ),
}
# Stats of stored points (min and max over finite values only), of a step range or a whole series.
_STATS = (
    "SELECT count(*), min(step), max(step), "
    "min(CASE WHEN abs(value) < 1e308 THEN value END), max(CASE WHEN abs(value) < 1e308 THEN value END) "
    "FROM metric_points WHERE run_id = ? AND name = ?"
)
_RANGE_STATS = _STATS + " AND step BETWEEN ? AND ?"  # `?` placeholders: bulk.fetch_one
_FULL_STATS = {"sqlite": _STATS, "postgresql": _STATS.replace("?", "%s")}
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


def _columns(points: Sequence[Point]) -> tuple[list, list, np.ndarray, np.ndarray, np.ndarray]:
    """The batch as columns (names, distinct names, steps, values, timestamps), checked: bad
    input raises ValueError before anything is written."""
    try:
        if set(map(len, points)) != {4}:
            raise ValueError("a point has other than 4 fields")
        # map(itemgetter) builds each column without a tuple per point (zip(*points) allocates more).
        names, steps, values, stamps = (list(map(itemgetter(i), points)) for i in range(4))
        distinct = list(dict.fromkeys(names))  # first-seen order
        step_arr = int_steps(steps)
        value_arr = np.asarray(values, dtype=np.float64)  # None -> NaN, which is stored as NULL
        stamp_arr = np.asarray(stamps, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"points must be (name, int step, float value, float timestamp) tuples: {exc}") from exc
    if not np.isfinite(stamp_arr).all():
        raise ValueError("point timestamps must be finite unix seconds")
    for name in distinct:
        check_series(name, [])
    return names, distinct, step_arr, value_arr, stamp_arr


def group_points(points: Iterable[Point] | PointColumns) -> list[Series]:
    """Points grouped by metric name, in first-seen order; one point per step (a step given
    twice keeps the later point), steps ascending."""
    if isinstance(points, PointColumns):
        return points.series()
    points = points if isinstance(points, (list, tuple)) else list(points)
    if not points:
        return []
    names, distinct, steps, values, stamps = _columns(points)
    if len(distinct) == 1:
        picks = [(distinct[0], slice(None))]
    else:
        code_of = {name: code for code, name in enumerate(distinct)}
        codes = np.fromiter(map(code_of.__getitem__, names), dtype=np.intp, count=len(names))
        picks = [(name, np.flatnonzero(codes == code)) for name, code in code_of.items()]
    return [one_per_step(name, steps[pick], values[pick], stamps[pick]) for name, pick in picks]


def batch_stats(series: Series) -> dict[str, Any]:
    """Summary of one batch of one metric."""
    finite = series.values[np.isfinite(series.values)]
    return {
        "count": int(len(series.steps)),
        "first_step": int(series.steps[0]),
        "last_step": int(series.steps[-1]),
        "last_value": _json_value(float(series.values[-1])),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
    }


def series_stats(series: dict[int, tuple[float, float]]) -> dict[str, Any]:
    """Summary of one metric given as {step: (value, timestamp)} (steps unique)."""
    return batch_stats(group_points([("_", step, value, ts) for step, (value, ts) in series.items()])[0])


def _pick(f, a, b):
    """f(a, b), where a missing (None) side gives way to the other."""
    return b if a is None else a if b is None else f(a, b)


def merge_summary(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Merge a batch summary into a stored one, for a batch that adds only new steps."""
    if not old:
        return dict(new)

    later = new["last_step"] >= old["last_step"]
    return {
        "count": old["count"] + new["count"],
        "first_step": min(old["first_step"], new["first_step"]),
        "last_step": new["last_step"] if later else old["last_step"],
        "last_value": new["last_value"] if later else old["last_value"],
        "min": _pick(min, old.get("min"), new["min"]),
        "max": _pick(max, old.get("max"), new["max"]),
    }


def _recount(conn: Connection, run_id: int, name: str) -> dict[str, Any]:
    """The summary of a whole stored series, computed in SQL (a scan of the series)."""
    count, first, last, vmin, vmax = conn.exec_driver_sql(_sql(_FULL_STATS, conn), (run_id, name)).one()
    last_value = conn.exec_driver_sql(_sql(_VALUE_AT, conn), (run_id, name, last)).scalar()
    return {
        "count": count, "first_step": first, "last_step": last,
        "last_value": _json_value(last_value), "min": vmin, "max": vmax,
    }


def _range_stats(conn: Connection, run_id: int, series: Series) -> tuple:
    """(count, min, max) of the stored points in the series' step range: an index range scan,
    asked twice per metric per batch, so straight through the driver's cursor (SQLAlchemy's
    result handling cost more than the scan: ~0.6 s per 100 MB of a log of ~250 metrics a batch)."""
    lo, hi = int(series.steps[0]), int(series.steps[-1])
    count, _, _, vmin, vmax = fetch_one(conn, _RANGE_STATS, (run_id, series.name, lo, hi))
    return count, vmin, vmax


def merge_rewrite(
    old: dict[str, Any] | None, before: tuple, after: tuple, batch: dict[str, Any]
) -> dict[str, Any] | None:
    """The summary after a batch that rewrote stored steps, from the stored summary and the
    (count, min, max) of the batch's step range before and after the write.

    Points outside that range are untouched, so the old count, first/last step and extremes
    carry over, unless the old min or max may have lain inside the range (and been
    overwritten): then None, and the caller recounts the whole series.
    """
    if not old:
        return None
    (b_count, b_min, b_max), (a_count, a_min, a_max) = before, after
    if b_min is not None and (old.get("min") is None or b_min <= old["min"]):
        return None
    if b_max is not None and (old.get("max") is None or b_max >= old["max"]):
        return None
    # First/last step and last value merge as for new steps; count and extremes come from
    # the range as it is now.
    return {
        **merge_summary(old, batch),
        "count": old["count"] - b_count + a_count,
        "min": _pick(min, old.get("min"), a_min),
        "max": _pick(max, old.get("max"), a_max),
    }


def _upsert_sqlite(conn: Connection, run_id: int, series: Series) -> None:
    n = len(series.steps)
    values = series.values.tolist()
    if np.isnan(series.values).any():
        values = [None if v != v else v for v in values]
    # Row-major parameters (step, value, timestamp, step, …) built by slice assignment, in C.
    flat: list[Any] = [None] * (3 * n)
    flat[0::3] = series.steps.tolist()
    flat[1::3] = values
    flat[2::3] = series.timestamps.tolist()
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        execute_rows(cursor, _sqlite_upsert, [run_id, series.name], flat, 3)
    finally:
        cursor.close()


def _pg_copy_rows(run_id: int, series: Series) -> bytes:
    """The series as rows of PostgreSQL's binary COPY format, built with numpy (NaN -> NULL)."""
    name = series.name.encode()
    nan = np.isnan(series.values)
    parts = []
    for rows, with_value in ((~nan, True), (nan, False)):
        count = int(rows.sum())
        if not count:
            continue
        fields = [
            ("n", ">i2"), ("run_len", ">i4"), ("run_id", ">i4"), ("name_len", ">i4"), ("name", f"S{len(name)}"),
            ("step_len", ">i4"), ("step", ">i8"), ("value_len", ">i4"),
        ]
        fields += [("value", ">f8")] if with_value else []
        fields += [("ts_len", ">i4"), ("ts", ">f8")]
        out = np.empty(count, dtype=np.dtype(fields))
        out["n"], out["run_len"], out["run_id"] = 5, 4, run_id
        out["name_len"], out["name"] = len(name), name
        out["step_len"], out["step"] = 8, series.steps[rows]
        out["value_len"] = 8 if with_value else -1  # length -1 is NULL
        if with_value:
            out["value"] = series.values[rows]
        out["ts_len"], out["ts"] = 8, series.timestamps[rows]
        parts.append(out.tobytes())
    return b"".join(parts)


def _copy_pg(conn: Connection, table: str, run_id: int, series: list[Series]) -> None:
    with conn.connection.driver_connection.cursor() as cursor:
        with cursor.copy(_PG_COPY.format(table=table)) as copy:
            copy.write(_PG_COPY_HEADER)
            for one in series:
                copy.write(_pg_copy_rows(run_id, one))
            copy.write(_PG_COPY_TRAILER)


def _write_points(conn: Connection, run_id: int, new: list[Series], overlapping: list[Series]) -> None:
    if conn.dialect.name != "postgresql":
        for one in new + overlapping:
            _upsert_sqlite(conn, run_id, one)
        return
    if new:
        # No stored step in these ranges, and other writers of the run wait on our lock.
        _copy_pg(conn, "metric_points", run_id, new)
    if overlapping:
        conn.exec_driver_sql(_PG_STAGE)
        _copy_pg(conn, "trainboard_points_stage", run_id, overlapping)
        conn.exec_driver_sql(_PG_FROM_STAGE)


@contextmanager
def _sqlite_fk_checks_off(conn: Connection) -> Iterator[None]:
    """SQLite: skip the foreign-key lookup of experiment_runs for every inserted point (15 %
    of the cost of an insert, measured). Sound here: the run's row is read under the write
    lock first, so every point's run exists and no one can delete it before we commit. SQLite
    ignores the pragma inside a transaction, so it is switched around it, and always back."""
    if conn.dialect.name != "sqlite":
        yield
        return
    dbapi = conn.connection.dbapi_connection
    dbapi.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        dbapi.execute("PRAGMA foreign_keys=ON")


def write_batch(
    engine: Engine,
    run_id: int,
    points: Iterable[Point] | PointColumns = (),
    chunks: Sequence[tuple] = (),
    *,
    status: str | None = None,
) -> int:
    """Store one batch in one transaction; returns the number of distinct points written.

    `points` are (name, step, value, timestamp) tuples or a `PointColumns`. `chunks` are (seq,
    text) log chunks, or (seq, text, logtext.pack(text)) when compressed already, appended
    idempotently (a chunk already stored under its seq is kept). A point whose (run, name, step)
    exists replaces the old value.
    Raises ValueError for malformed points (nothing written) and NoResultFound for a run
    that does not exist.
    """
    grouped = group_points(points)
    now = utcnow()
    with writer(engine).connect() as conn, _sqlite_fk_checks_off(conn), conn.begin():
        summary = conn.execute(
            select(ExperimentRun.metrics).where(ExperimentRun.id == run_id).with_for_update()
        ).scalar_one()
        summary = dict(summary or {})
        # Asked under the run's lock: which metrics touch steps already stored.
        before = {one.name: _range_stats(conn, run_id, one) for one in grouped}
        new = [one for one in grouped if not before[one.name][0]]
        overlapping = [one for one in grouped if before[one.name][0]]
        _write_points(conn, run_id, new, overlapping)
        # Series that only add steps after their stored last one (the run's summary knows it):
        # their rollups come from the batch alone.
        appended = {one.name for one in new
                    if summary.get(one.name, {}).get("last_step") is not None
                    and summary[one.name]["last_step"] < one.steps[0]}
        update_rollups(conn, run_id, {one.name: (one.steps, one.values) for one in grouped}, appended)
        if chunks:
            conn.exec_driver_sql(_sql(_APPEND_CHUNK, conn),
                                 [(run_id, chunk[0], *(chunk[2] if len(chunk) > 2 else pack(chunk[1])), now)
                                  for chunk in chunks])
        for one in new:
            summary[one.name] = merge_summary(summary.get(one.name), batch_stats(one))
        for one in overlapping:
            after = _range_stats(conn, run_id, one)
            merged = merge_rewrite(summary.get(one.name), before[one.name], after, batch_stats(one))
            summary[one.name] = merged if merged is not None else _recount(conn, run_id, one.name)
        values: dict[str, Any] = {"updated_at": now}
        if grouped:
            values["metrics"] = summary
        if status is not None:
            values["status"] = status
        conn.execute(update(ExperimentRun).where(ExperimentRun.id == run_id).values(**values))
    return sum(len(s.steps) for s in grouped)

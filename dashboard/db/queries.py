"""Reads shared by the API and the pages: filtering happens in SQL, results come as
pandas DataFrames (series) or plain dicts (experiments, runs)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, bindparam, func, select, text

from dashboard.config import DEFAULT_STALE_AFTER_S as STALE_AFTER_S
from dashboard.db import rollups
from dashboard.db.columns import SeriesArrays, point_arrays, read_series
from dashboard.db.logtext import unpack
from dashboard.db.models import FINISHED_STATUSES, Experiment, ExperimentRun, LogChunk, MetricPoint

SERIES_COLUMNS = ["run_id", "name", "step", "value", "timestamp"]


def effective_status(status: str, updated_at: dt.datetime | None, now: dt.datetime | None = None,
                     stale_after_s: float = STALE_AFTER_S) -> str:
    """A run still `running` whose capture stopped beating is shown as `interrupted`."""
    if status == "running" and updated_at is not None:
        now = now or dt.datetime.now(dt.UTC)
        if (now - updated_at).total_seconds() > stale_after_s:
            return "interrupted"
    return status


def _run_dict(run: ExperimentRun, stale_after_s: float) -> dict[str, Any]:
    status = effective_status(run.status, run.updated_at, stale_after_s=stale_after_s)
    return {
        "id": run.id,
        "experiment_id": run.experiment_id,
        "name": run.name,
        "status": status,
        "is_complete": status in FINISHED_STATUSES,
        "command": run.command,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "updated_at": run.updated_at,
        "exit_code": run.exit_code,
        "metrics": run.metrics or {},
    }


def list_experiments(engine: Engine) -> list[dict[str, Any]]:
    """Every experiment with its run count and last activity."""
    runs = (
        select(
            ExperimentRun.experiment_id,
            func.count().label("run_count"),
            func.max(ExperimentRun.updated_at).label("last_activity"),
        )
        .group_by(ExperimentRun.experiment_id)
        .subquery()
    )
    ex = Experiment.__table__
    stmt = (
        select(ex, func.coalesce(runs.c.run_count, 0).label("run_count"), runs.c.last_activity)
        .outerjoin(runs, runs.c.experiment_id == ex.c.id)
        .order_by(ex.c.id)
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]


def get_experiment(engine: Engine, experiment_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(Experiment.__table__).where(Experiment.id == experiment_id)).mappings().first()
    return dict(row) if row else None


def list_runs(engine: Engine, experiment_id: int, stale_after_s: float = STALE_AFTER_S) -> list[dict[str, Any]]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        runs = session.scalars(
            select(ExperimentRun).where(ExperimentRun.experiment_id == experiment_id).order_by(ExperimentRun.id)
        ).all()
        return [_run_dict(r, stale_after_s) for r in runs]


def get_run(engine: Engine, run_id: int, stale_after_s: float = STALE_AFTER_S) -> dict[str, Any] | None:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        run = session.get(ExperimentRun, run_id)
        return _run_dict(run, stale_after_s) if run else None


def metric_names(engine: Engine, run_id: int) -> list[str]:
    """Names with at least one point, from the run's summary (kept current at every flush)."""
    run = get_run(engine, run_id)
    return sorted(run["metrics"]) if run else []


def metric_series(
    engine: Engine,
    run_ids: int | Sequence[int],
    names: Sequence[str] | None = None,
    step_min: int | None = None,
    step_max: int | None = None,
    *,
    after_step: int | None = None,
) -> pd.DataFrame:
    """Points of some runs' metrics as a frame (run_id, name, step, value, timestamp), sorted
    by run, name and step. Every filter is part of the SQL; NaN values come back as NaN and
    `timestamp` is a UTC datetime."""
    ids = [run_ids] if isinstance(run_ids, int) else list(run_ids)
    mp = MetricPoint.__table__
    stmt = select(mp.c.run_id, mp.c.name, mp.c.step, mp.c.value, mp.c.timestamp).where(mp.c.run_id.in_(ids))
    if names is not None:
        stmt = stmt.where(mp.c.name.in_(list(names)))
    if step_min is not None:
        stmt = stmt.where(mp.c.step >= step_min)
    if step_max is not None:
        stmt = stmt.where(mp.c.step <= step_max)
    if after_step is not None:
        stmt = stmt.where(mp.c.step > after_step)
    stmt = stmt.order_by(mp.c.run_id, mp.c.name, mp.c.step)
    with engine.connect() as conn:
        # The driver's rows: these columns need no result processing, and SQLAlchemy Row
        # objects would cost several times the read (charts use `columns.read_series`).
        columns = list(zip(*conn.execute(stmt).cursor.fetchall()))
    return series_frame(columns)


def series_frame(columns: Sequence[Sequence]) -> pd.DataFrame:
    """Column sequences (run_id, name, step, value, timestamp) into a typed frame.

    Built column by column with numpy: row-wise construction from driver rows costs
    about 20x more for a long series."""
    if not columns:
        columns = [(), (), (), (), ()]
    run_id, name, step, value, timestamp = columns
    return pd.DataFrame({
        "run_id": np.asarray(run_id, dtype=np.int64),
        "name": np.asarray(name, dtype=object),
        "step": np.asarray(step, dtype=np.int64),
        # NULL is a stored NaN: None -> NaN
        "value": np.asarray(value, dtype=np.float64) if None not in value else
                 np.array([np.nan if v is None else v for v in value], dtype=np.float64),
        "timestamp": pd.to_datetime(np.asarray(timestamp, dtype=np.float64), unit="s", utc=True),
    })


def point_count(engine: Engine, run_id: int, name: str) -> int:
    mp = MetricPoint.__table__
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(mp.c.run_id == run_id, mp.c.name == name)
        ).scalar_one()


# Output buckets at least this many steps wide are read from the rollups: at most about one
# point in ROLLUP_MIN_SPAN / WIDTH is then read point by point.
ROLLUP_MIN_SPAN = 4 * rollups.WIDTH

# Finite floats only: NaN is stored as NULL, and +-inf fall outside.
_FINITE = "p.value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308"


def metric_range_stats(
    engine: Engine, run_id: int, names: Sequence[str], step_min: int | None = None, step_max: int | None = None
) -> dict[str, tuple[int, int, int]]:
    """{name: (count, first step, last step)} of a run's metrics within a step range, in one
    query (an index range scan per name); a name with no point in the range is absent."""
    mp = MetricPoint.__table__
    stmt = (
        select(mp.c.name, func.count(), func.min(mp.c.step), func.max(mp.c.step))
        .where(mp.c.run_id == run_id, mp.c.name.in_(list(names)))
        .group_by(mp.c.name)
    )
    if step_min is not None:
        stmt = stmt.where(mp.c.step >= step_min)
    if step_max is not None:
        stmt = stmt.where(mp.c.step <= step_max)
    with engine.connect() as conn:
        return {name: (count, first, last) for name, count, first, last in conn.execute(stmt)}


def bucket_starts(lo: int, hi: int, n_buckets: int) -> np.ndarray:
    """First step of each of `n_buckets` equal integer buckets over [lo, hi]: bucket i holds the
    steps s with floor((s - lo) * n / (hi - lo)) == i, the last also holding `hi`. The same
    arithmetic runs in SQL (`_bucket_sql`), written so that no product leaves 64 bits."""
    q, r = divmod(hi - lo, n_buckets)
    i = np.arange(n_buckets, dtype=np.int64)
    return lo + i * q + (i * r + n_buckets - 1) // n_buckets


def _bucket_sql(picks: Sequence[tuple[str, str]], *, only_some: bool, with_ends: bool) -> str:
    """One statement choosing, in every step bucket, the point each (condition, order) pick
    puts first, by a LIMIT 1 index range scan per bucket (no sort of the whole series, no
    GROUP BY over it), then reading those points back by key."""
    bucket = "p.run_id = :run_id AND p.name = :name AND p.step BETWEEN e.s0 AND e.s1"
    subqueries = ",\n".join(
        f"(SELECT p.step FROM metric_points p WHERE {bucket}{' AND ' + cond if cond else ''} "
        f"ORDER BY {order} LIMIT 1) AS k{j}"
        for j, (cond, order) in enumerate(picks)
    )
    keys = " UNION ".join(f"SELECT k{j} AS step FROM c" for j in range(len(picks)))
    if with_ends:
        keys += " UNION SELECT CAST(:lo AS BIGINT) UNION SELECT CAST(:hi AS BIGINT)"
    return f"""
WITH RECURSIVE b(i) AS (
    SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM b WHERE i < CAST(:nb AS BIGINT) - 1
),
e AS (
    SELECT i,
           CAST(:lo AS BIGINT) + i * CAST(:q AS BIGINT) + (i * CAST(:r AS BIGINT) + CAST(:nb AS BIGINT) - 1) / CAST(:nb AS BIGINT) AS s0,
           CASE WHEN i = CAST(:nb AS BIGINT) - 1 THEN CAST(:hi AS BIGINT)
                ELSE CAST(:lo AS BIGINT) + (i + 1) * CAST(:q AS BIGINT)
                     + ((i + 1) * CAST(:r AS BIGINT) + CAST(:nb AS BIGINT) - 1) / CAST(:nb AS BIGINT) - 1
           END AS s1
    FROM b
),
c AS MATERIALIZED (
    SELECT {subqueries}
    FROM e{" WHERE e.i IN :buckets" if only_some else ""}
),
k AS ({keys})
SELECT p.step, p.value, p.timestamp
FROM k JOIN metric_points p ON p.run_id = :run_id AND p.name = :name AND p.step = k.step
ORDER BY p.step
"""


# Per bucket: the lowest point (a NaN first, then -inf, then the finite minimum) and the highest
# (+inf first, then the finite maximum). NULL (NaN) sorts first in the first pick on both databases.
_OVERVIEW_SQL = text(_bucket_sql(
    [("", "p.value ASC NULLS FIRST, p.step"), ("", "p.value DESC NULLS LAST, p.step")],
    only_some=False, with_ends=True,
))
# For the few buckets where a non-finite point won a pick above: their finite extremes and
# their first NaN, +inf and -inf, so a non-finite point never hides a spike.
_NONFINITE_BUCKETS_SQL = text(_bucket_sql(
    [
        (_FINITE, "p.value ASC, p.step"),
        (_FINITE, "p.value DESC, p.step"),
        ("p.value IS NULL", "p.step"),
        ("p.value > 1.7976931348623157e308", "p.step"),
        ("p.value < -1.7976931348623157e308", "p.step"),
    ],
    only_some=True, with_ends=False,
)).bindparams(bindparam("buckets", expanding=True))


def metric_overview(engine: Engine, run_id: int, name: str, lo: int, hi: int, n_buckets: int,
                    use_rollups: bool | None = None) -> SeriesArrays:
    """The points worth drawing of one metric over steps [lo, hi], chosen in the database
    without loading the series: in each of `n_buckets` equal step buckets (`bucket_starts`) its
    lowest and highest finite point and its first NaN, +inf and -inf, plus the points at `lo`
    and `hi` when they exist. About 2 x n_buckets rows whatever the series length, by step.

    Over a range of wide buckets this reads the rollups (`dashboard.db.rollups`): a row per
    WIDTH steps plus the points of the rollup buckets the output edges cut; over a narrow one,
    a scan of the range's points costs less (`use_rollups` forces either way)."""
    n_buckets = max(1, min(n_buckets, hi - lo + 1))
    if use_rollups is None:
        use_rollups = (hi - lo + 1) >= ROLLUP_MIN_SPAN * n_buckets
    if use_rollups:
        with engine.connect() as conn:
            steps = rollups.overview_steps(conn, run_id, name, lo, hi, bucket_starts(lo, hi, n_buckets))
            # lo and hi are kept when they hold a point (points_at reads only those that exist).
            steps = np.union1d(steps, [lo, hi])
            return point_arrays(rollups.points_at(conn, run_id, name, steps))
    q, r = divmod(hi - lo, n_buckets)
    params = {"run_id": run_id, "name": name, "lo": lo, "hi": hi, "nb": n_buckets, "q": q, "r": r}
    with engine.connect() as conn:
        rows = conn.execute(_OVERVIEW_SQL, params).cursor.fetchall()
        steps, values, _ = point_arrays(rows)
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            buckets = np.searchsorted(bucket_starts(lo, hi, n_buckets), steps[nonfinite], side="right") - 1
            extra = conn.execute(_NONFINITE_BUCKETS_SQL, {**params, "buckets": np.unique(buckets).tolist()})
            by_step = {row[0]: row for row in [*rows, *extra.cursor.fetchall()]}
            rows = [by_step[step] for step in sorted(by_step)]
    return point_arrays(rows)


_LAST_FINITE = text(f"SELECT p.step, p.value FROM metric_points p WHERE p.run_id = :run_id AND p.name = :name "
                    f"AND {_FINITE} ORDER BY p.step DESC LIMIT 1")


def metric_grid_overview(engine: Engine, run_id: int, name: str, summary: dict,
                         width: int) -> tuple[SeriesArrays, tuple[int, float] | None] | None:
    """The points `minmax_indices(..., width=width)` keeps of a whole series on the step grid
    `width` (`rollups.grid_width`: whole rollup buckets), read from the rollups without the rest
    of the series: per grid bucket its first lowest and highest finite point, every non-finite
    point, and the first and last points; with its last finite point (step, value), or None,
    for the comparison table. `summary`: the run's summary of the series (count, first and last
    step). None when the rollups do not count the summary's points (points written behind the
    writer's back): the caller reads the series instead."""
    with engine.connect() as conn:
        steps, counted = rollups.grid_steps(conn, run_id, name, width)
        if counted != summary["count"]:
            return None
        steps = np.union1d(steps, [summary["first_step"], summary["last_step"]])
        series = point_arrays(rollups.points_at(conn, run_id, name, steps))
        values = series[1]
        if values.size and np.isfinite(values[-1]):
            return series, (int(series[0][-1]), float(values[-1]))
        row = conn.execute(_LAST_FINITE, {"run_id": run_id, "name": name}).first()
    return series, (int(row[0]), float(row[1])) if row else None


def iter_metric_pages(
    engine: Engine,
    run_id: int,
    name: str,
    step_min: int | None = None,
    step_max: int | None = None,
    page: int = 50_000,
) -> Iterator[SeriesArrays]:
    """Every point of one metric of a run in a step range, as arrays, a page of at most `page`
    points at a time, by step. Each page is its own short index range query (keyset on step),
    so a long reader never holds a transaction open."""
    after = None
    while True:
        with engine.connect() as conn:
            got = read_series(conn, [run_id], name, step_min=step_min if after is None else None,
                              step_max=step_max, after_step=after, limit=page).get(run_id)
        if got is None:
            return
        yield got
        if got[0].size < page:
            return
        after = int(got[0][-1])


def log_chunks(engine: Engine, run_id: int, after: int = -1, limit: int = 1000) -> list[tuple[int, str]]:
    """(seq, text) of a run's log, in order, after `after`."""
    lc = LogChunk.__table__
    with engine.connect() as conn:
        return [(seq, unpack(text, packed)) for seq, text, packed in conn.execute(
            select(lc.c.seq, lc.c.text, lc.c.packed).where(lc.c.run_id == run_id, lc.c.seq > after)
            .order_by(lc.c.seq).limit(limit)
        ).all()]


def last_log_seq(engine: Engine, run_id: int) -> int:
    lc = LogChunk.__table__
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.max(lc.c.seq), -1)).where(lc.c.run_id == run_id)).scalar_one()


def log_length(engine: Engine, run_id: int) -> int:
    """Characters in a run's stored log (what a resumed ingest skips)."""
    lc = LogChunk.__table__
    with engine.connect() as conn:
        return conn.execute(
            select(func.coalesce(func.sum(func.coalesce(lc.c.chars, func.length(lc.c.text))), 0))
            .where(lc.c.run_id == run_id)
        ).scalar_one()


def iter_log_chunks(engine: Engine, run_id: int, page: int = 1000) -> Iterator[tuple[int, str, float]]:
    """(seq, text, created_at as unix seconds) of a whole log, in order, a page at a time."""
    lc = LogChunk.__table__
    after = -1
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(lc.c.seq, lc.c.text, lc.c.packed, lc.c.created_at)
                .where(lc.c.run_id == run_id, lc.c.seq > after).order_by(lc.c.seq).limit(page)
            ).all()
        for seq, text, packed, created in rows:
            yield seq, unpack(text, packed), created.timestamp()
        if len(rows) < page:
            return
        after = rows[-1][0]


__all__ = [
    "effective_status", "list_experiments", "get_experiment", "list_runs", "get_run", "metric_names",
    "metric_range_stats", "bucket_starts", "metric_overview", "metric_grid_overview", "iter_metric_pages",
    "metric_series", "series_frame", "point_count", "log_chunks", "last_log_seq",
    "log_length", "iter_log_chunks",
]

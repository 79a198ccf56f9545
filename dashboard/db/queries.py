"""Reads shared by the API and the pages: filtering happens in SQL, results come as
pandas DataFrames (series) or plain dicts (experiments, runs)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from dashboard.db.models import FINISHED_STATUSES, Experiment, ExperimentRun, LogChunk, MetricPoint

SERIES_COLUMNS = ["run_id", "name", "step", "value", "timestamp"]
STALE_AFTER_S = 60.0


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
        columns = list(zip(*conn.execute(stmt)))
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


def log_chunks(engine: Engine, run_id: int, after: int = -1, limit: int = 1000) -> list[tuple[int, str]]:
    """(seq, text) of a run's log, in order, after `after`."""
    lc = LogChunk.__table__
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(lc.c.seq, lc.c.text).where(lc.c.run_id == run_id, lc.c.seq > after).order_by(lc.c.seq).limit(limit)
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
            select(func.coalesce(func.sum(func.length(lc.c.text)), 0)).where(lc.c.run_id == run_id)
        ).scalar_one()


def iter_log_chunks(engine: Engine, run_id: int, page: int = 1000) -> Iterator[tuple[int, str, float]]:
    """(seq, text, created_at as unix seconds) of a whole log, in order, a page at a time."""
    lc = LogChunk.__table__
    after = -1
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(lc.c.seq, lc.c.text, lc.c.created_at)
                .where(lc.c.run_id == run_id, lc.c.seq > after).order_by(lc.c.seq).limit(page)
            ).all()
        for seq, text, created in rows:
            yield seq, text, created.timestamp()
        if len(rows) < page:
            return
        after = rows[-1][0]


__all__ = [
    "effective_status", "list_experiments", "get_experiment", "list_runs", "get_run", "metric_names",
    "metric_series", "series_frame", "point_count", "log_chunks", "last_log_seq",
    "log_length", "iter_log_chunks",
]

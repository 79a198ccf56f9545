"""Experiment and run lifecycle: create, finish, rename, delete."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from dashboard.db.engine import writer
from dashboard.db.models import Experiment, ExperimentRun, utcnow


def get_or_create_experiment(engine: Engine, name: str, description: str | None = None) -> int:
    """The id of the experiment called `name`, created when missing (safe under races)."""
    for _ in range(3):
        with writer(engine).begin() as conn:
            found = conn.execute(select(Experiment.id).where(Experiment.name == name)).scalar()
            if found is not None:
                return found
            try:
                with conn.begin_nested():
                    return conn.execute(
                        Experiment.__table__.insert()
                        .values(name=name, description=description, created_at=utcnow())
                        .returning(Experiment.id)
                    ).scalar_one()
            except IntegrityError:
                continue  # another process created it between our select and insert
    raise RuntimeError(f"could not create experiment {name!r}")


def create_run(
    engine: Engine,
    experiment_id: int,
    name: str | None = None,
    *,
    command: str | None = None,
    status: str = "running",
    at: dt.datetime | None = None,
) -> int:
    """A new run of the experiment; unnamed runs are called run-1, run-2, … `at` (default now)
    is when it started: an imported or replayed run began in the past."""
    now = at or utcnow()
    with writer(engine).begin() as conn:
        if not name:
            n = conn.execute(
                select(func.count()).where(ExperimentRun.experiment_id == experiment_id)
            ).scalar_one()
            name = f"run-{n + 1}"
        return conn.execute(
            ExperimentRun.__table__.insert()
            .values(
                experiment_id=experiment_id, name=name, status=status, command=command,
                started_at=now if status == "running" else None, updated_at=now, metrics={},
            )
            .returning(ExperimentRun.id)
        ).scalar_one()


def find_run(engine: Engine, experiment_id: int, name: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(
            select(ExperimentRun.id)
            .where(ExperimentRun.experiment_id == experiment_id, ExperimentRun.name == name)
            .order_by(ExperimentRun.id.desc())
        ).scalar()


def set_status(
    engine: Engine, run_id: int, status: str, *, exit_code: int | None = None, finished: bool = False,
    at: dt.datetime | None = None,
) -> None:
    """Set a run's status; `at` (default now) is when that happened."""
    now = at or utcnow()
    values = {"status": status, "updated_at": now}
    if status == "running":
        values["started_at"] = now
    if finished:
        values["finished_at"] = now
        values["exit_code"] = exit_code
    with writer(engine).begin() as conn:
        conn.execute(update(ExperimentRun).where(ExperimentRun.id == run_id).values(**values))


def heartbeat(engine: Engine, run_id: int) -> None:
    with writer(engine).begin() as conn:
        conn.execute(update(ExperimentRun).where(ExperimentRun.id == run_id).values(updated_at=utcnow()))


def rename_run(engine: Engine, run_id: int, name: str) -> None:
    with writer(engine).begin() as conn:
        conn.execute(update(ExperimentRun).where(ExperimentRun.id == run_id).values(name=name))


def delete_run(engine: Engine, run_id: int) -> None:
    """Delete a run; its points and log chunks go with it (ON DELETE CASCADE)."""
    with writer(engine).begin() as conn:
        conn.execute(delete(ExperimentRun).where(ExperimentRun.id == run_id))


def delete_experiment(engine: Engine, experiment_id: int) -> None:
    with writer(engine).begin() as conn:
        conn.execute(delete(Experiment).where(Experiment.id == experiment_id))


def clear_metrics(engine: Engine, run_id: int) -> None:
    """Delete a run's metric points and empty its summary (a reparse starts from nothing);
    its log chunks stay."""
    from dashboard.db.models import MetricPoint, MetricRollup, MetricRollupCoarse

    with writer(engine).begin() as conn:
        # The run's row lock first, as write_batch takes it: the same lock order means no deadlock.
        conn.execute(select(ExperimentRun.id).where(ExperimentRun.id == run_id).with_for_update())
        conn.execute(delete(MetricPoint).where(MetricPoint.run_id == run_id))
        conn.execute(delete(MetricRollup).where(MetricRollup.run_id == run_id))
        conn.execute(delete(MetricRollupCoarse).where(MetricRollupCoarse.run_id == run_id))
        conn.execute(update(ExperimentRun).where(ExperimentRun.id == run_id).values(metrics={}, updated_at=utcnow()))

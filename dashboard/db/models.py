"""SQLAlchemy 2 typed models of SPEC §2.

NaN is stored as SQL NULL in `MetricPoint.value` (SQLite cannot store NaN at all and turns
it into NULL; we do the same on PostgreSQL so both behave alike); a point's value is never
otherwise missing, so NULL reads back as NaN. ±inf is stored as it is on both databases.
Point timestamps are unix seconds (float): compact, fast to write, converted at the edges.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from dashboard.db.points import NAME_MAX

RUN_STATUSES = ("pending", "running", "completed", "failed", "interrupted")
FINISHED_STATUSES = frozenset({"completed", "failed", "interrupted"})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


JSONType = JSON().with_variant(JSONB(), "postgresql")

intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
created = Annotated[dt.datetime, mapped_column(UTCDateTime, default=utcnow)]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created]

    runs: Mapped[list[ExperimentRun]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", passive_deletes=True
    )


class ExperimentRun(Base):
    __tablename__ = "experiment_runs"

    id: Mapped[intpk]
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    command: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    exit_code: Mapped[int | None]
    # The capture process's heartbeat: touched at every flush, so a run left `running`
    # by a process that died is recognised by its age.
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # Summary per metric: {name: {count, first_step, last_step, last_value, min, max}}.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    experiment: Mapped[Experiment] = relationship(back_populates="runs")

    __table_args__ = (Index("ix_experiment_runs_status_updated", "status", "updated_at"),)


class MetricPoint(Base):
    __tablename__ = "metric_points"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("experiment_runs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(NAME_MAX), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    timestamp: Mapped[float] = mapped_column(Float)

    # The primary key (run_id, name, step) is the unique index that makes one run's one
    # metric over a step range an index range scan; on SQLite the table is clustered on it.
    __table_args__ = ({"sqlite_with_rowid": False},)


class _Rollup:
    """The columns of a rollup row: one step bucket of one metric, summarised. Non-finite points
    stay visible: the first NaN, +inf and -inf step."""

    run_id: Mapped[int] = mapped_column(
        ForeignKey("experiment_runs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(NAME_MAX), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # floor(step / the bucket width)
    points: Mapped[int] = mapped_column(Integer)
    nonfinite: Mapped[int] = mapped_column(Integer)
    first_step: Mapped[int] = mapped_column(BigInteger)
    first_value: Mapped[float | None] = mapped_column(Float)
    last_step: Mapped[int] = mapped_column(BigInteger)
    last_value: Mapped[float | None] = mapped_column(Float)
    # The lowest and highest finite point (the first such step on ties); NULL when none is finite.
    min_step: Mapped[int | None] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Float)
    max_step: Mapped[int | None] = mapped_column(BigInteger)
    max_value: Mapped[float | None] = mapped_column(Float)
    nan_step: Mapped[int | None] = mapped_column(BigInteger)
    posinf_step: Mapped[int | None] = mapped_column(BigInteger)
    neginf_step: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = ({"sqlite_with_rowid": False},)


class MetricRollup(_Rollup, Base):
    """A bucket of `dashboard.db.rollups.WIDTH` steps, summarised by the writer in the batch's
    transaction, so an overview of a long range reads a row per bucket instead of every point."""

    __tablename__ = "metric_rollups"


class MetricRollupCoarse(_Rollup, Base):
    """A bucket of `dashboard.db.rollups.COARSE` steps, summarised from the MetricRollup rows it
    covers, in the same transaction: a whole-run overview of a long run reads ~1,000 of these."""

    __tablename__ = "metric_rollups_coarse"


class LogChunk(Base):
    __tablename__ = "log_chunks"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("experiment_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A chunk of a KiB or more is stored compressed (`dashboard.db.logtext`): `packed` holds its
    # UTF-8 in Zstandard, `chars` its length in characters, and `text` is empty; a small one (and
    # every chunk of a database from before 0005) is `text` as it is.
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created]
    packed: Mapped[bytes | None] = mapped_column(LargeBinary)
    chars: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = ({"sqlite_with_rowid": False},)

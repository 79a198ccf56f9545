"""Migrations: an older database opens, and the models match the migrated schema."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dashboard.db import queries
from dashboard.db.engine import alembic_config, make_engine, upgrade
from dashboard.db.models import Base
from dashboard.db.writer import write_batch


def test_database_from_first_migration_opens_at_head_with_data(db_url):
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO experiments (id, name, created_at) VALUES (1, 'old', '2025-01-01 00:00:00+00:00')")
        conn.exec_driver_sql(
            "INSERT INTO experiment_runs (id, experiment_id, name, status, started_at, finished_at, metrics) "
            "VALUES (7, 1, 'r', 'completed', '2025-01-01 00:00:00+00:00', '2025-01-01 01:00:00+00:00', '{}')")
        conn.exec_driver_sql(
            "INSERT INTO metric_points (run_id, name, step, value, timestamp) VALUES (7, 'loss', 3, 1.5, 0)")
    upgrade(engine)
    run = queries.get_run(engine, 7)
    assert run["name"] == "r" and run["status"] == "completed"
    assert run["updated_at"] == run["finished_at"]  # backfilled by 0002
    assert queries.metric_series(engine, 7)["value"].tolist() == [1.5]
    engine.dispose()


def test_models_match_migrations(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_0005_keeps_text_chunks_and_going_back_unpacks_the_packed_ones(db_url):
    engine = make_engine(db_url)
    upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO experiments (id, name, created_at) VALUES (1, 'old', '2025-01-01 00:00:00+00:00')")
        conn.exec_driver_sql("INSERT INTO experiment_runs (id, experiment_id, name, status, metrics) VALUES (7, 1, 'r', 'completed', '{}')")
        conn.exec_driver_sql("INSERT INTO log_chunks (run_id, seq, text, created_at) VALUES (7, 0, 'old text\n', '2025-01-01 00:00:00+00:00')")
    upgrade(engine)
    long = "new " * 1000
    write_batch(engine, 7, [], [(1, long)])
    assert queries.log_chunks(engine, 7) == [(0, "old text\n"), (1, long)]
    command.downgrade(alembic_config(engine), "0004")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT seq, text FROM log_chunks ORDER BY seq").all() == [(0, "old text\n"), (1, long)]
    engine.dispose()

"""API fixtures: the real Dash app over the per-test database (SQLite, and PostgreSQL when set)."""
from __future__ import annotations

import pytest

from dashboard import create_app
from dashboard.config import Settings
from dashboard.db import runs
from dashboard.db.writer import write_batch

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z


@pytest.fixture
def make_client(engine, db_url):
    """A test client of a fresh app on the test database, with optional Settings overrides."""

    def make(**settings):
        app = create_app(Settings(db_url=db_url, **settings), engine=engine)
        return app.server.test_client()

    return make


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def seed(engine):
    """seed(points, chunks=(), experiment="exp", name=None, status=None) -> (experiment_id, run_id);
    points are (name, step, value) with timestamp T0 + step."""

    def make(points=(), chunks=(), experiment="exp", name=None, status=None):
        exp = runs.get_or_create_experiment(engine, experiment)
        run = runs.create_run(engine, exp, name)
        if points or chunks:
            write_batch(engine, run, [(n, s, v, T0 + s) for n, s, v in points], chunks)
        if status:
            runs.set_status(engine, run, status, exit_code=0, finished=status != "running")
        return exp, run

    return make


def metrics_url(exp: int, run: int, query: str = "") -> str:
    return f"/api/experiments/{exp}/runs/{run}/metrics" + (f"?{query}" if query else "")

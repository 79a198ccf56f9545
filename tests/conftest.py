"""Shared fixtures: a fresh database per test, parametrised over SQLite and PostgreSQL."""
from __future__ import annotations

import os
import shutil
import uuid

import pytest
from sqlalchemy import create_engine

from dashboard.db.engine import init_db, with_search_path

PG_URL = os.environ.get("TRAINBOARD_TEST_PG_URL")
HAVE_BROWSER = shutil.which("chromedriver") is not None
# the parser's learned templates in memory only (parsing/templates.py), here and in every process a
# test starts: no test reads what another session or the user learned (tests of the cache set a path)
os.environ["TRAINBOARD_TEMPLATE_CACHE"] = "off"


def pytest_collection_modifyitems(config, items):
    if HAVE_BROWSER:
        return
    skip = pytest.mark.skip(reason="chromedriver not on PATH (make test installs chromium-driver)")
    for item in items:
        if "dash_duo" in getattr(item, "fixturenames", ()) or item.get_closest_marker("browser"):
            item.add_marker(skip)


def _pg_schema():
    """A schema of our own on the test server, dropped afterwards: we touch nothing else."""
    schema = f"tb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """URL of an empty database: a SQLite file under tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trainboard.db'}"
        return
    if not PG_URL:
        pytest.skip("TRAINBOARD_TEST_PG_URL not set")
    yield from _pg_schema()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'trainboard.db'}"


@pytest.fixture
def engine(db_url):
    """A migrated database."""
    eng = init_db(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def run_id(engine):
    from dashboard.db import runs

    exp = runs.get_or_create_experiment(engine, "exp")
    return runs.create_run(engine, exp, "run-a")

"""A PostgreSQL restart while serving or writing is survived: the pool pings and reconnects.

What a restart does to a client is drop every connection its pool holds. The test does that
to its own connections only (found by a unique application_name) and restarts nothing.
"""
from __future__ import annotations

import os
import time
import uuid

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from dashboard import create_app
from dashboard.config import Settings
from dashboard.db import queries, runs
from dashboard.db.engine import init_db
from dashboard.db.writer import write_batch

PG_URL = os.environ.get("TRAINBOARD_TEST_PG_URL")
pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="TRAINBOARD_TEST_PG_URL not set"),
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),
]


def _drop_connections(app_name: str) -> int:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")  # a fresh pg_stat_activity each query
    try:
        with admin.connect() as conn:
            killed = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (app_name,),
            ).scalar()
            deadline = time.monotonic() + 10
            while conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app_name,)
            ).scalar():
                assert time.monotonic() < deadline, "terminated backends did not go away"
                time.sleep(0.05)
        return killed
    finally:
        admin.dispose()


def test_writes_and_requests_go_on_after_the_server_drops_every_connection(db_url):
    app_name = f"tb_test_{uuid.uuid4().hex[:12]}"
    url = make_url(db_url).update_query_dict({"application_name": app_name}).render_as_string(hide_password=False)
    engine = init_db(url, pool_size=2, max_overflow=0)
    try:
        run_id = runs.create_run(engine, runs.get_or_create_experiment(engine, "restart"), "r")
        app = create_app(Settings(db_url=url), engine=engine)
        client = app.server.test_client()
        write_batch(engine, run_id, [("loss", 1, 1.0, 1.0)])
        assert client.get("/api/experiments").status_code == 200

        assert _drop_connections(app_name) >= 1

        assert write_batch(engine, run_id, [("loss", 2, 0.5, 2.0)]) == 1
        assert queries.point_count(engine, run_id, "loss") == 2
        assert queries.get_run(engine, run_id)["metrics"]["loss"]["count"] == 2
        _drop_connections(app_name)
        listing = client.get("/api/experiments")
        assert listing.status_code == 200 and [e["name"] for e in listing.get_json()["experiments"]] == ["restart"]
    finally:
        engine.dispose()

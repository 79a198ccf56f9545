"""The databases a bench runs on: a temp SQLite file, and PostgreSQL when TRAINBOARD_TEST_PG_URL
is set (in a schema of its own, dropped afterwards)."""
from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine  # noqa: E402

from dashboard.db.engine import with_search_path  # noqa: E402


def on_each_database(bench: Callable[[str, str], None]) -> None:
    """Call bench(url, label) for SQLite, then for PostgreSQL when a server is configured."""
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.db", "sqlite")
    pg = os.environ.get("TRAINBOARD_TEST_PG_URL")
    if not pg:
        print("postgresql: skipped (TRAINBOARD_TEST_PG_URL not set)")
        return
    schema = f"tb_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        bench(with_search_path(pg, schema), "postgresql")
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

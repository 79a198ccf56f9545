"""Many rows into SQLite through multi-row VALUES statements: the driver binds a statement's
parameters in one go, so a few big statements beat a row at a time (executemany)."""
from __future__ import annotations

from collections.abc import Callable

# Rows per multi-row VALUES statement on SQLite: measured fastest among 100…5,000 (bigger
# statements cost more to bind than they save in statement steps). The rest goes in statements
# of the smaller sizes (a few statements instead of a row at a time).
SQLITE_ROWS_PER_STATEMENT = 250
STATEMENT_SIZES = (SQLITE_ROWS_PER_STATEMENT, 50, 10, 1)


def execute_rows(cursor, statement: Callable[[int], str], lead: list, flat: list, width: int) -> None:
    """Rows given as one flat parameter list (`width` per row) run through multi-row statements:
    `statement(n)` takes the `lead` parameters, then n rows; as many rows per statement as
    STATEMENT_SIZES allows, largest first (SQLite's driver binds a statement's parameters in one go)."""
    at, total = 0, len(flat) // width
    for size in STATEMENT_SIZES:
        per = size * width
        sql = statement(size)
        while total - at // width >= size:
            cursor.execute(sql, [*lead, *flat[at:at + per]])
            at += per


def fetch_one(conn, sql: str, params: tuple) -> tuple:
    """One row of a query written with `?` placeholders, straight through the driver's cursor: for
    the small queries the writer asks per metric per batch, where SQLAlchemy's result handling costs
    more than the query (`conn`: a SQLAlchemy Connection, SQLite or PostgreSQL)."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql.replace("?", "%s") if conn.dialect.name == "postgresql" else sql, params)
        return cursor.fetchone()
    finally:
        cursor.close()

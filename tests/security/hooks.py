"""Engine hooks for the fault tests, light enough to import in a capture subprocess."""
from __future__ import annotations

from sqlalchemy import event


def on_points_commit(engine, callback) -> None:
    """Call `callback(n)` before the COMMIT of the n-th transaction that writes metric points:
    its inserts are done, nothing of it is acknowledged yet."""
    count = {"n": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def _mark(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO METRIC_POINTS"):
            conn.info["writes_points"] = True

    @event.listens_for(engine, "commit")
    def _before_commit(conn):
        if conn.info.pop("writes_points", False):
            count["n"] += 1
            callback(count["n"])

"""Engine hooks for the fault tests, light enough to import in a capture subprocess."""
from __future__ import annotations

from sqlalchemy import event


def on_points_commit(engine, callback) -> None:
    """Call `callback(n)` before the COMMIT of the n-th transaction that added metric points:
    its inserts are done, nothing of it is acknowledged yet.

    The writer may insert through the driver's own cursor (executemany, COPY), out of
    SQLAlchemy's sight; so the hook asks the transaction itself, on the same connection, how
    many points it now sees. Register it on a migrated database that holds no points yet.
    """
    state = {"batches": 0, "points": 0}

    @event.listens_for(engine, "commit")
    def _before_commit(conn):
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute("SELECT count(*) FROM metric_points")
            points = cursor.fetchone()[0]
        finally:
            cursor.close()
        if points > state["points"]:
            state["points"] = points
            state["batches"] += 1
            callback(state["batches"])

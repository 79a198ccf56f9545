"""The one engine factory, and schema migration on startup."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")

# SQLite waits this long for the write lock before `database is locked`; writers retry on top.
# SQLite's busy handler is not fair (waiters poll with growing sleeps), so with 8 writer
# processes on a loaded machine one of them can wait several seconds behind the others
# (bench/scale_bench.py saw 5 s run out): 30 s makes that a wait, not an error.
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 32 * 1024
SQLITE_WAL_CHECKPOINT_PAGES = 10_000


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not the driver, issue BEGIN, so writers can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # Batched point writes touch the right edge of a few B-trees over and over: a 32 MiB page
        # cache (default 2 MiB) and a checkpoint every 10,000 WAL pages (default 1,000) instead of
        # every 4 MB written: +25 % points/s in bench/db_bench.py (316-362k -> 413-448k/s here).
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A writer takes the write lock at BEGIN (IMMEDIATE), so it waits on busy_timeout
        # instead of failing at its first write; readers stay deferred and never block.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(
    url: str, *, pool_size: int | None = None, max_overflow: int | None = None, echo: bool = False
) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite files get WAL mode and a busy timeout.

    A server database gets a pool of `pool_size` connections plus `max_overflow` (default:
    TRAINBOARD_POOL_SIZE / TRAINBOARD_MAX_OVERFLOW, else 5 / 10) per process, each checked
    with a ping at checkout, so a restarted server costs no failed request after it is back.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _setup_sqlite(engine)
        return engine
    if pool_size is None or max_overflow is None:
        from dashboard.config import Settings

        defaults = Settings()
        pool_size = defaults.pool_size if pool_size is None else pool_size
        max_overflow = defaults.max_overflow if max_overflow is None else max_overflow
    return create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
    )


def writer(engine: Engine) -> Engine:
    """The same engine, with transactions that take SQLite's write lock at BEGIN."""
    return engine.execution_options(sqlite_immediate=True)


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (creating it on an empty database)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def init_db(url: str, **kwargs) -> Engine:
    """make_engine + migrations: what every entry point calls first."""
    engine = make_engine(url, **kwargs)
    upgrade(engine)
    return engine


def with_search_path(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use `schema` (tests and shared servers)."""
    parsed = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)

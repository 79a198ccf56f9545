"""Settings: one object, read from the environment and overridden by the CLI."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

DEFAULT_DB_URL = "sqlite:///trainboard.db"
# A `running` run whose capture has not beaten for this long is shown as interrupted.
DEFAULT_STALE_AFTER_S = 60.0


def resolve_db_url(value: str | None = None) -> str:
    """`--db` value, else TRAINBOARD_DB, else DATABASE_URL, else ./trainboard.db.

    A bare path (no `scheme://`) means a SQLite file.
    """
    url = value or os.environ.get("TRAINBOARD_DB") or os.environ.get("DATABASE_URL") or DEFAULT_DB_URL
    if "://" not in url:
        url = "sqlite:///" + url
    return url


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    db_url: str = field(default_factory=resolve_db_url)
    host: str = "127.0.0.1"
    port: int = 8050
    # Access token for the API and the pages; None leaves them open (bind 127.0.0.1 then).
    token: str | None = field(default_factory=lambda: os.environ.get("TRAINBOARD_TOKEN") or None)
    # Origins allowed to embed the pages in an iframe (CSP frame-ancestors).
    frame_ancestors: str = field(
        default_factory=lambda: os.environ.get("TRAINBOARD_FRAME_ANCESTORS", "'self'")
    )
    max_points_default: int = field(default_factory=lambda: _int_env("TRAINBOARD_MAX_POINTS", 20_000))
    max_points_limit: int = 1_000_000
    pool_size: int = field(default_factory=lambda: _int_env("TRAINBOARD_POOL_SIZE", 5))
    max_overflow: int = field(default_factory=lambda: _int_env("TRAINBOARD_MAX_OVERFLOW", 10))
    # A running run whose heartbeat is older than this is shown as interrupted.
    stale_after_s: float = field(default_factory=lambda: _float_env("TRAINBOARD_STALE_AFTER_S", DEFAULT_STALE_AFTER_S))

    def with_(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

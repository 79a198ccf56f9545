"""What every capture entry point shares: errors, the parser with user formats, the engine."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dashboard.config import resolve_db_url

if TYPE_CHECKING:
    from sqlalchemy import Engine


def warn(message: str) -> None:
    """trainboard's own messages: one line on stderr, beside the job's output."""
    print(f"trainboard: {message}", file=sys.stderr, flush=True)


class CaptureError(Exception):
    """A capture that could not start; `exit_code` is what the command line exits with."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def make_parser(patterns: Sequence[str] = (), patterns_file: str | None = None):
    """A StreamParser with the user's formats; a bad pattern raises parsing.PatternError now,
    before any run exists. Its learned line templates are the process's (parsing.shared_templates:
    kept on disk, so a run starts with what earlier runs learned)."""
    from parsing import StreamParser, load_patterns, shared_templates

    user = load_patterns(list(patterns), patterns_file) if (patterns or patterns_file) else None
    return StreamParser(patterns=user, templates=None if user else shared_templates())


@contextmanager
def open_engine(db: str | Engine | None):
    """An Engine as given, or a migrated one for a URL / path (default: the configured DB)."""
    from sqlalchemy import Engine  # here: a parser process imports this module, not SQLAlchemy

    if isinstance(db, Engine):
        yield db
        return
    from dashboard.db.engine import init_db

    url = resolve_db_url(db)
    try:
        engine = init_db(url)
    except Exception as exc:
        raise CaptureError(f"cannot open database {url}: {exc}") from exc
    try:
        yield engine
    finally:
        engine.dispose()

"""Fixtures for the security suite: an app over a small seeded SQLite database."""
from __future__ import annotations

import pytest

from dashboard import create_app
from dashboard.config import Settings
from dashboard.db import runs
from dashboard.db.engine import init_db
from dashboard.db.writer import write_batch

TOKEN = "s3cret-Tok3n/with+odd=chars"


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'trainboard.db'}"


@pytest.fixture(scope="module")
def seeded_engine(seeded_url):
    """Two experiments, one run each, a few points and log chunks: built once per module, so
    tests that use it only read."""
    engine = init_db(seeded_url)
    for exp_name in ("exp-a", "exp-b"):
        exp = runs.get_or_create_experiment(engine, exp_name)
        run = runs.create_run(engine, exp, f"{exp_name}-run")
        write_batch(
            engine, run,
            [("loss", step, 2.0 - step / 100, 1_700_000_000.0 + step) for step in range(50)],
            [(0, f"hello from {exp_name}\n")],
        )
    yield engine
    engine.dispose()


@pytest.fixture
def make_app(seeded_engine, seeded_url):
    """`make_app(token=..., frame_ancestors=...)` -> a Dash app over the seeded database."""
    def build(**settings):
        settings.setdefault("token", None)
        return create_app(Settings(db_url=seeded_url, **settings), engine=seeded_engine)
    return build

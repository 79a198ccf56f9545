"""Dash callbacks, one module per concern; each has `register(app, engine, …)` so every app
built in a process (tests build many) gets its own."""
from __future__ import annotations

from sqlalchemy import Engine

from dashboard.callbacks import chart, experiment, log_view, theme
from dashboard.callbacks.data import SeriesCache


def register_all(app, engine: Engine, stale_after_s: float) -> SeriesCache:
    cache = SeriesCache(engine)
    chart.register(app, engine, cache, stale_after_s)
    experiment.register(app, engine, stale_after_s)
    log_view.register(app, engine, stale_after_s)
    theme.register(app)
    return cache

"""trainboard's dashboard package. `create_app(settings)` builds the Dash app (dashboard.factory).

The package itself imports nothing heavy: `trainboard run` and `ingest` never need Dash, and
importing it eagerly cost every capture about 1.3 s of CPU at start.
"""
from __future__ import annotations


def create_app(settings=None, engine=None):
    """The Dash app (see dashboard.factory.create_app)."""
    from dashboard.factory import create_app as build

    return build(settings, engine)

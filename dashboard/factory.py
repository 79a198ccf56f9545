"""The Dash app factory: `create_app(settings)` wires the engine, pages, API and callbacks."""
from __future__ import annotations

from pathlib import Path

import dash
from dash import dcc, html
from sqlalchemy import Engine

from dashboard.config import Settings
from dashboard.db.engine import init_db
from dashboard.security import install_security

# Bootstrap is vendored in assets/vendor: the dashboard must work with no internet at all.
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def app_shell() -> html.Div:
    """What every URL gets: the location, the theme store, and the page the router fills in."""
    return html.Div([
        dcc.Location(id="url", refresh=False),
        dcc.Store(id="tb-theme", storage_type="local"),
        dcc.Store(id="tb-theme-applied"),
        html.Div(id="tb-page"),
    ])


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> dash.Dash:
    from dashboard import callbacks, pages

    settings = settings or Settings()
    if engine is None:
        engine = init_db(settings.db_url, pool_size=settings.pool_size, max_overflow=settings.max_overflow)
    app = dash.Dash(
        __name__,
        title="trainboard",
        assets_folder=str(ASSETS),
        # pages are rendered by our router (dashboard.pages), so page callbacks name ids that
        # are not in the initial layout
        suppress_callback_exceptions=True,
        serve_locally=True,
        update_title=None,
    )
    # dark until the stored theme is applied: no white flash on load
    app.index_string = app.index_string.replace("<html>", '<html data-bs-theme="dark">', 1)
    app.server.config["TRAINBOARD_SETTINGS"] = settings
    app.server.config["TRAINBOARD_ENGINE"] = engine
    app.layout = app_shell()

    install_security(app.server, settings)
    from dashboard.api import register_api
    register_api(app.server, engine, settings)

    pages.register(app, engine, settings.stale_after_s)
    app.server.config["TRAINBOARD_SERIES_CACHE"] = callbacks.register_all(app, engine, settings.stale_after_s)
    return app

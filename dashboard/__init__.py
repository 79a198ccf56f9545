"""trainboard's Dash app: `create_app(settings)` wires the engine, pages, API and callbacks."""
from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import html
from sqlalchemy import Engine

from dashboard.config import Settings
from dashboard.db.engine import init_db
from dashboard.security import install_security


# Bootstrap is vendored in assets/vendor: the dashboard must work with no internet at all.
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> dash.Dash:
    settings = settings or Settings()
    if engine is None:
        engine = init_db(settings.db_url, pool_size=settings.pool_size, max_overflow=settings.max_overflow)
    app = dash.Dash(
        __name__,
        title="trainboard",
        assets_folder=str(ASSETS),
        suppress_callback_exceptions=True,
    )
    app.server.config["TRAINBOARD_SETTINGS"] = settings
    app.server.config["TRAINBOARD_ENGINE"] = engine
    install_security(app.server, settings)
    from dashboard.api import register_api
    register_api(app.server, engine, settings)
    app.layout = lambda: _experiments_layout(engine)
    return app


def _experiments_layout(engine: Engine):
    from dashboard.db.queries import list_experiments, list_runs

    cards = []
    for exp in list_experiments(engine):
        runs = list_runs(engine, exp["id"])
        rows = [
            html.Tr([html.Td(r["name"]), html.Td(r["status"]),
                     html.Td(str(r["metrics"].get("loss", {}).get("last_step", "—")))])
            for r in runs
        ]
        cards.append(
            dbc.Card(
                [dbc.CardHeader(html.H5(exp["name"], className="experiment-name")),
                 dbc.Table([html.Thead(html.Tr([html.Th("run"), html.Th("status"), html.Th("last step")])),
                            html.Tbody(rows)], className="mb-0")],
                className="mb-3",
            )
        )
    return dbc.Container([html.H2("trainboard", className="my-3"), html.Div(cards, id="experiments")])

"""The router: URL path → page layout, with the query string as keyword arguments.

Not Dash's `use_pages`: its registry is global to the process (a second app in the same
process — every test — would share it), and it re-renders the whole page whenever the query
string changes, while our pages write their state (selected run, metric) into the query
string as the user works. Here the page is rendered when the *path* changes; a reload or a
shared link carries the query string and renders the same view.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs

from dash import Input, Output, State, html
from sqlalchemy import Engine

from dashboard.components import page
from dashboard.db import queries
from dashboard.pages import compare, embed, experiment, experiments

# (pattern, layout function); path variables arrive as keyword arguments, like register_page's path_template.
ROUTES: list[tuple[re.Pattern, Callable[..., object]]] = [
    (re.compile(r"^/?$"), experiments.layout),
    (re.compile(r"^/experiments/(?P<experiment_id>[^/]+)/?$"), experiment.layout),
    (re.compile(r"^/experiments/(?P<experiment_id>[^/]+)/compare/?$"), compare.layout),
    (re.compile(r"^/embed/experiments/(?P<experiment_id>[^/]+)/runs/(?P<run_id>[^/]+)/?$"), embed.layout),
    (re.compile(r"^/embed/experiments/(?P<experiment_id>[^/]+)/?$"), embed.layout),
]


def query_params(search: str | None) -> dict[str, str]:
    """`?a=1&b=2` → {"a": "1", "b": "2"} (last value wins; token is the security layer's, not a page's)."""
    parsed = parse_qs((search or "").lstrip("?"), keep_blank_values=False)
    return {k: v[-1] for k, v in parsed.items() if k != "token"}


def not_found(message: str) -> html.Div:
    return page([html.Div([html.H2("Not found"), html.P(message, className="tb-muted")], className="tb-notfound")],
                crumbs=[("experiments", "/")])


def resolve(engine: Engine, pathname: str | None, search: str | None = None,
            stale_after_s: float = queries.STALE_AFTER_S):
    """The layout for a URL; runs whose capture stopped beating `stale_after_s` ago show as
    interrupted."""
    path = pathname or "/"
    for pattern, layout in ROUTES:
        m = pattern.match(path)
        if m:
            return layout(engine, stale_after_s, **m.groupdict(), **query_params(search))
    return not_found(f"No page at {path}.")


def register(app, engine: Engine, stale_after_s: float) -> None:
    @app.callback(Output("tb-page", "children"), Input("url", "pathname"), State("url", "search"))
    def route(pathname, search):
        return resolve(engine, pathname, search, stale_after_s)


__all__ = ["ROUTES", "not_found", "query_params", "register", "resolve"]

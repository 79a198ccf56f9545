"""`/`: every experiment with its runs and last activity."""
from __future__ import annotations

import datetime as dt

import dash_bootstrap_components as dbc
from dash import dcc, html
from sqlalchemy import Engine

from dashboard.components import page, status_badge
from dashboard.db import queries


def _ago(when: dt.datetime | None) -> str:
    if when is None:
        return "—"
    seconds = (dt.datetime.now(dt.UTC) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def layout(engine: Engine, stale_after_s: float, **_query) -> html.Div:
    experiments = queries.list_experiments(engine)
    rows = []
    for exp in experiments:
        runs = queries.list_runs(engine, exp["id"], stale_after_s)
        counts: dict[str, int] = {}
        for r in runs:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        badges = [html.Span([status_badge(s), html.Span(f"{n}", className="tb-count")], className="tb-badge-count")
                  for s, n in sorted(counts.items())]
        rows.append(html.Tr([
            html.Td([dcc.Link(exp["name"], href=f"/experiments/{exp['id']}", className="tb-exp-link"),
                     html.Div(exp.get("description") or "", className="tb-muted tb-small")]),
            html.Td(html.Div([dcc.Link(r["name"], href=f"/experiments/{exp['id']}?run={r['id']}", className="tb-run-link")
                              for r in runs[-6:]] + ([html.Span(f"+{len(runs) - 6} more", className="tb-muted")]
                                                     if len(runs) > 6 else []), className="tb-run-links")),
            html.Td(f"{exp['run_count']}", className="text-end"),
            html.Td(badges),
            html.Td(_ago(exp.get("last_activity")), className="tb-muted"),
        ]))
    if rows:
        body = html.Table([
            html.Thead(html.Tr([html.Th("Experiment"), html.Th("Latest runs"), html.Th("Runs", className="text-end"), html.Th("Status"),
                                html.Th("Last activity")])),
            html.Tbody(rows),
        ], className="table tb-table mb-0", id="experiments-table")
    else:
        body = html.Div([
            html.P("No experiments yet.", className="mb-1"),
            html.P(["Capture a training run with ", html.Code("trainboard run --experiment NAME -- python train.py"),
                    ", import a log with ", html.Code("trainboard ingest FILE --experiment NAME"),
                    ", or try ", html.Code("trainboard demo"), "."], className="tb-muted"),
        ], className="tb-empty-state")
    return page([
        html.Div([html.H1("Experiments", className="tb-h1"),
                  html.Span(f"{len(experiments)}", className="tb-pill")], className="tb-page-head"),
        dbc.Card(body, className="tb-card", id="experiments"),
    ])

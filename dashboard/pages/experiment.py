"""`/experiments/<id>?run=<run_id>&metric=loss`: runs table, the selected run's terminal and,
beneath it, its metrics chart; checking several runs opens a comparison section below."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html
from sqlalchemy import Engine

from dashboard.components import TABLE_INTERVAL_MS, chart_card, page, run_row, runs_grid, terminal_card
from dashboard.db import queries
from dashboard.pages.params import experiment_param, float_param, int_param


def default_run(runs: list[dict]) -> int | None:
    """The run to show first: a live one, else the newest."""
    live = [r for r in runs if r["status"] == "running"]
    pick = (live or runs)[-1:] if runs else []
    return pick[0]["id"] if pick else None


def layout(engine: Engine, stale_after_s: float, experiment_id: str, run: str | None = None, metric: str = "loss",
           smoothing: str | None = None, **_query):
    from dashboard.pages import not_found

    exp_id, exp = experiment_param(engine, experiment_id)
    if exp is None:
        return not_found(f"There is no experiment {experiment_id!r}.")
    runs = queries.list_runs(engine, exp_id, stale_after_s)
    selected = int_param(run)
    if selected not in {r["id"] for r in runs}:
        selected = default_run(runs)
    rows = [dict(run_row(r), active=r["id"] == selected) for r in runs]
    running = sum(r["status"] == "running" for r in runs)

    toolbar = html.Div([
        dbc.Input(id="runs-filter", placeholder="Filter runs…", type="search", size="sm", className="tb-filter",
                  debounce=False),
        html.Div([
            dcc.Link("Compare", id="compare-link", href="#", className="btn btn-sm btn-primary disabled",
                     title="Check two or more runs to compare them"),
            html.Button("Rename", id="rename-open", className="btn btn-sm btn-outline-secondary", n_clicks=0),
            html.Button("Delete", id="delete-open", className="btn btn-sm btn-outline-danger", n_clicks=0),
        ], className="tb-actions"),
    ], className="tb-table-toolbar")

    modals = [
        dbc.Modal([
            dbc.ModalHeader(dbc.ModalTitle("Rename run")),
            dbc.ModalBody([dbc.Input(id="rename-input", maxlength=200), html.Div(id="rename-error", className="tb-error")]),
            dbc.ModalFooter([html.Button("Cancel", id="rename-cancel", className="btn btn-outline-secondary", n_clicks=0),
                             html.Button("Rename", id="rename-save", className="btn btn-primary", n_clicks=0)]),
        ], id="rename-modal", is_open=False, centered=True),
        dbc.Modal([
            dbc.ModalHeader(dbc.ModalTitle("Delete run")),
            dbc.ModalBody(id="delete-body"),
            dbc.ModalFooter([html.Button("Cancel", id="delete-cancel", className="btn btn-outline-secondary", n_clicks=0),
                             html.Button("Delete", id="delete-confirm", className="btn btn-danger", n_clicks=0)]),
        ], id="delete-modal", is_open=False, centered=True),
    ]

    return page([
        html.Div([
            html.Div([html.H1(exp["name"], className="tb-h1", id="experiment-name"),
                      html.Div(exp.get("description") or "", className="tb-muted")]),
            html.Div([html.Span(f"{len(runs)} runs", className="tb-pill"),
                      html.Span(f"{running} running", className="tb-pill tb-pill-live") if running else None],
                     className="tb-head-pills"),
        ], className="tb-page-head"),
        dbc.Card([toolbar, runs_grid(rows)], className="tb-card tb-runs-card"),
        html.Section([
            terminal_card(),
            html.Div([
                html.Div([html.H2("Training metrics", className="tb-h2"),
                          html.Span(id="chart-run-name", className="tb-muted")], className="tb-section-head"),
                chart_card("main", runs=[selected] if selected else [], metric=metric,
                           smoothing=float_param(smoothing, 0.0, 0.0, 0.99)),
            ], className="tb-card tb-chart-card"),
        ], className="tb-run-view"),
        html.Section([
            html.Div([html.H2("Comparison", className="tb-h2"),
                      dcc.Link("Open full comparison →", id="compare-open", href="#", className="tb-link")],
                     className="tb-section-head"),
            chart_card("section", runs=[], metric=metric, compare=True),
        ], id="compare-section", className="tb-card tb-chart-card", hidden=True),
        dcc.Store(id="exp-id", data=exp_id),
        dcc.Store(id="exp-run", data=selected),
        dcc.Store(id="runs-version", data=0),
        dcc.Interval(id="exp-interval", interval=TABLE_INTERVAL_MS),
        *modals,
    ], crumbs=[("experiments", "/"), (exp["name"], None)])

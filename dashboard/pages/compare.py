"""`/experiments/<id>/compare?runs=7,8,9&metric=loss[,learning_rate]`: the runs overlaid, one chart
per metric, with a table of final / min values under each."""
from __future__ import annotations

from dash import dcc, html
from sqlalchemy import Engine

from dashboard.components import chart_card, page, status_badge
from dashboard.db import queries
from dashboard.figures import run_colors
from dashboard.pages.params import experiment_param, float_param, int_list


def layout(engine: Engine, stale_after_s: float, experiment_id: str, runs: str | None = None, metric: str = "loss",
           smoothing: str | None = None, **_query):
    from dashboard.pages import not_found

    exp_id, exp = experiment_param(engine, experiment_id)
    if exp is None:
        return not_found(f"There is no experiment {experiment_id!r}.")
    by_id = {r["id"]: r for r in queries.list_runs(engine, exp_id, stale_after_s)}
    ids = [i for i in int_list(runs) if i in by_id] or list(by_id)[-3:]
    metrics = [m for m in (metric or "loss").split(",") if m][:6] or ["loss"]
    colors = run_colors(ids)
    chips = [html.Span([html.Span(className="tb-swatch", style={"background": colors[i]}), by_id[i]["name"],
                        status_badge(by_id[i]["status"])], className="tb-run-chip") for i in ids]
    weight = float_param(smoothing, 0.0, 0.0, 0.99)
    charts = [html.Div(chart_card(f"cmp-{k}", runs=ids, metric=m, compare=True, smoothing=weight),
                       className="tb-card tb-chart-card")
              for k, m in enumerate(metrics)]
    return page([
        html.Div([
            html.Div([html.H1("Comparison", className="tb-h1"),
                      html.Div([dcc.Link(exp["name"], href=f"/experiments/{exp_id}"), f" · {len(ids)} runs"],
                               className="tb-muted")]),
        ], className="tb-page-head"),
        html.Div(chips, className="tb-run-chips", id="compare-runs"),
        html.Div(charts, id="compare-charts"),
        dcc.Store(id="compare-ids", data={"experiment": exp_id, "runs": ids}),
    ], crumbs=[("experiments", "/"), (exp["name"], f"/experiments/{exp_id}"), ("compare", None)])

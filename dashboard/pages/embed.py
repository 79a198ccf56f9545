"""`/embed/experiments/<id>/runs/<run_id>?metric=loss[&runs=7,8][&theme=dark|light]`: the chart alone,
made to sit in an iframe (no navbar, compact controls, transparent background, fills the frame)."""
from __future__ import annotations

from dash import html
from sqlalchemy import Engine

from dashboard.components import chart_card
from dashboard.db import queries
from dashboard.pages.params import flag, float_param, int_list, int_param


def layout(engine: Engine, stale_after_s: float, experiment_id: str, run_id: str | None = None, metric: str = "loss",
           runs: str | None = None, theme: str = "dark", smoothing: str | None = None, xaxis: str = "step",
           log: str | None = None, outliers: str | None = None, controls: str | None = "1", **_query) -> html.Div:
    exp_id = int_param(experiment_id)
    theme = theme if theme in ("dark", "light") else "dark"
    ids = int_list(runs) if runs else []
    if not ids and int_param(run_id) is not None:
        ids = [int_param(run_id)]
    valid = [r for r in (queries.get_run(engine, i, stale_after_s) for i in ids) if r and r["experiment_id"] == exp_id]
    if exp_id is None or not valid:
        body = html.Div("No such run in this experiment.", className="tb-embed-missing")
    else:
        body = chart_card(
            "embed", runs=[r["id"] for r in valid], metric=metric.split(",")[0], compare=len(valid) > 1,
            smoothing=float_param(smoothing, 0.0, 0.0, 0.99), xaxis=xaxis if xaxis in ("step", "relative", "wall") else "step",
            log_y=flag(log), robust_y=flag(outliers), theme=theme, embed=True, controls=flag(controls, True),
        )
    return html.Div(body, className=f"tb-embed tb-theme-{theme}", **{"data-bs-theme": theme, "data-ag-theme-mode": theme})

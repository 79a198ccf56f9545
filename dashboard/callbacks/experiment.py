"""Experiment-page callbacks: runs table refresh and filter, run selection (row click) into the
terminal, chart and URL, checkbox selection into the comparison, rename and delete."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from dash import ALL, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import Engine

from dashboard.components import run_row
from dashboard.db import queries
from dashboard.db import runs as runs_db
from dashboard.pages.experiment import default_run

SELECTION_COLUMN = "ag-Grid-SelectionColumn"


def table_rows(engine: Engine, experiment_id: int, selected: int | None, stale_after_s: float) -> list[dict]:
    return [dict(run_row(r), active=r["id"] == selected)
            for r in queries.list_runs(engine, experiment_id, stale_after_s)]


def experiment_search(run_id: int | None, metric: str | None, current: str | None = None) -> str:
    """The query string with this run and metric; other parameters (smoothing, token) kept."""
    params = {k: v[-1] for k, v in parse_qs((current or "").lstrip("?")).items()}
    params.update({k: str(v) for k, v in (("run", run_id), ("metric", metric)) if v not in (None, "")})
    return "?" + urlencode(params) if params else ""


def compare_href(experiment_id: int, run_ids: list[int], metric: str | None) -> str:
    return f"/experiments/{experiment_id}/compare?" + urlencode(
        {"runs": ",".join(map(str, run_ids)), "metric": metric or "loss"})


def register(app, engine: Engine, stale_after_s: float = queries.STALE_AFTER_S) -> None:
    @app.callback(
        Output("runs-grid", "rowData"),
        Input("exp-interval", "n_intervals"), Input("exp-run", "data"), Input("runs-version", "data"),
        State("exp-id", "data"), State("runs-grid", "rowData"),
        prevent_initial_call=True,
    )
    def refresh_table(_n, selected, _version, exp_id, current):
        rows = table_rows(engine, exp_id, selected, stale_after_s)
        if rows == current:
            raise PreventUpdate
        return rows

    @app.callback(Output("runs-grid", "dashGridOptions"), Input("runs-filter", "value"), State("runs-grid", "dashGridOptions"),
                  prevent_initial_call=True)
    def quick_filter(text, options):
        return {**(options or {}), "quickFilterText": text or ""}

    @app.callback(Output("exp-run", "data"), Input("runs-grid", "cellClicked"), State("exp-run", "data"),
                  prevent_initial_call=True)
    def select_run(cell, current):
        if not cell or cell.get("colId") == SELECTION_COLUMN:
            raise PreventUpdate
        run_id = int(cell["rowId"])
        if run_id == current:
            raise PreventUpdate
        return run_id

    @app.callback(Output({"type": "tb-runs", "chart": "main"}, "data"), Output("chart-run-name", "children"),
                  Input("exp-run", "data"))
    def chart_follows_selection(run_id):
        run = queries.get_run(engine, run_id) if run_id is not None else None
        return ([run_id] if run else []), (run["name"] if run else "")

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("exp-run", "data"), Input({"type": "tb-metric", "chart": "main"}, "value"), State("url", "search"),
        prevent_initial_call=True,
    )
    def state_into_url(run_id, metric, search):
        # the page renders on path changes only, so this keeps the view and makes it linkable
        new = experiment_search(run_id, metric, search)
        if new == (search or ""):
            raise PreventUpdate
        return new

    @app.callback(
        Output({"type": "tb-runs", "chart": "section"}, "data"), Output("compare-section", "hidden"),
        Output("compare-link", "href"), Output("compare-link", "className"), Output("compare-link", "children"),
        Output("compare-open", "href"),
        Input("runs-grid", "selectedRows"), Input({"type": "tb-metric", "chart": "main"}, "value"),
        State("exp-id", "data"),
    )
    def comparison(selected_rows, metric, exp_id):
        ids = [int(r["id"]) for r in (selected_rows or [])]
        enough = len(ids) >= 2
        href = compare_href(exp_id, ids, metric) if enough else "#"
        label = f"Compare {len(ids)} runs" if enough else "Compare"
        cls = "btn btn-sm btn-primary" + ("" if enough else " disabled")
        return (ids if enough else []), not enough, href, cls, label, href

    # ---- rename
    @app.callback(
        Output("rename-modal", "is_open"), Output("rename-input", "value"), Output("rename-error", "children"),
        Output("runs-version", "data", allow_duplicate=True),
        Input("rename-open", "n_clicks"), Input("rename-cancel", "n_clicks"), Input("rename-save", "n_clicks"),
        Input("rename-input", "n_submit"),
        State("exp-run", "data"), State("rename-input", "value"), State("runs-version", "data"),
        prevent_initial_call=True,
    )
    def rename(_open, _cancel, _save, _submit, run_id, value, version):
        trigger = ctx.triggered_id
        run = queries.get_run(engine, run_id) if run_id is not None else None
        if run is None:
            raise PreventUpdate
        if trigger == "rename-open":
            return True, run["name"], "", no_update
        if trigger == "rename-cancel":
            return False, no_update, "", no_update
        name = (value or "").strip()
        if not name:
            return True, no_update, "A run needs a name.", no_update
        if len(name) > 200:
            return True, no_update, "At most 200 characters.", no_update
        runs_db.rename_run(engine, run_id, name)
        return False, no_update, "", (version or 0) + 1

    @app.callback(
        Output("term-title", "children", allow_duplicate=True), Output("chart-run-name", "children", allow_duplicate=True),
        Input("runs-version", "data"), State("exp-run", "data"),
        prevent_initial_call=True,
    )
    def renamed(_version, run_id):
        run = queries.get_run(engine, run_id) if run_id is not None else None
        if run is None:
            raise PreventUpdate
        return run["name"], run["name"]

    # ---- delete
    @app.callback(
        Output("delete-modal", "is_open"), Output("delete-body", "children"),
        Output("runs-version", "data", allow_duplicate=True), Output("exp-run", "data", allow_duplicate=True),
        Input("delete-open", "n_clicks"), Input("delete-cancel", "n_clicks"), Input("delete-confirm", "n_clicks"),
        State("exp-run", "data"), State("exp-id", "data"), State("runs-version", "data"),
        prevent_initial_call=True,
    )
    def delete(_open, _cancel, _confirm, run_id, exp_id, version):
        trigger = ctx.triggered_id
        run = queries.get_run(engine, run_id) if run_id is not None else None
        if run is None:
            raise PreventUpdate
        if trigger == "delete-open":
            points = sum((m.get("count") or 0) for m in run["metrics"].values())
            return True, (f"Delete run “{run['name']}”? Its {points:,} metric points and its log go with it. "
                          "This cannot be undone."), no_update, no_update
        if trigger == "delete-cancel":
            return False, no_update, no_update, no_update
        runs_db.delete_run(engine, run_id)
        return False, no_update, (version or 0) + 1, default_run(queries.list_runs(engine, exp_id, stale_after_s))

    # ---- comparison page: the metrics shown go into the URL too
    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input({"type": "tb-metric", "chart": ALL}, "value"), State("url", "pathname"), State("url", "search"),
        prevent_initial_call=True,
    )
    def compare_state_into_url(metrics, pathname, search):
        if not pathname or not pathname.rstrip("/").endswith("/compare") or not metrics:
            raise PreventUpdate
        params = parse_qs((search or "").lstrip("?"))
        params["metric"] = [",".join(m for m in metrics if m)]
        new = "?" + urlencode({k: v[-1] for k, v in params.items()})
        if new == search:
            raise PreventUpdate
        return new

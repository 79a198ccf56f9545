"""Chart callbacks (one set, MATCH-keyed, for every chart instance): full render on a control
change, a Patch with only the new points on a live tick, a full-resolution re-fetch of the
visible range on zoom, and the CSV export."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from dash import MATCH, Input, Output, Patch, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import Engine

from dashboard.callbacks.data import Overview, SeriesCache
from dashboard.components import summary_table
from dashboard.db import queries
from dashboard.db.rollups import grid_width
from dashboard.db.columns import read_series
from dashboard.figures import (
    ChartOptions,
    RunLine,
    build_figure,
    csv_text,
    encode_arrays,
    extension,
    extension_patch,
    message_figure,
    metric_label,
    metric_options,
    per_line_points,
    points_note,
    resolve_metric,
    summary_rows,
)

NO_METRICS = "Metrics not available for this run"


def _id(kind: str) -> dict:
    return {"type": kind, "chart": MATCH}


def parse_relayout(relayout: dict | None, xaxis: str) -> tuple[str, tuple[float, float] | None]:
    """What a plotly relayout event means for the data: ("zoom", (x0, x1)), ("reset", None)
    (double-click, autorange) or ("ignore", None) (y-only zoom, resize, drag mode)."""
    if not relayout:
        return "ignore", None
    if relayout.get("xaxis.autorange"):
        return "reset", None
    if "xaxis.range[0]" in relayout and "xaxis.range[1]" in relayout:
        lo, hi = relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]
    elif isinstance(relayout.get("xaxis.range"), list) and len(relayout["xaxis.range"]) == 2:
        lo, hi = relayout["xaxis.range"]
    else:
        return "ignore", None
    if xaxis == "wall":
        # a date axis reports its range as naive UTC strings
        lo, hi = (pd.Timestamp(v).tz_localize("UTC").timestamp() if pd.Timestamp(v).tzinfo is None
                  else pd.Timestamp(v).timestamp() for v in (lo, hi))
    lo, hi = float(lo), float(hi)
    return "zoom", (min(lo, hi), max(lo, hi))


class ChartData:
    """What a chart callback needs from the database: runs, metric names per run, series."""

    def __init__(self, engine: Engine, cache: SeriesCache, stale_after_s: float):
        self.engine, self.cache, self.stale_after_s = engine, cache, stale_after_s

    def runs(self, run_ids: list[int]) -> list[dict]:
        got = (queries.get_run(self.engine, rid, self.stale_after_s) for rid in run_ids)
        return [r for r in got if r is not None]

    def options(self, runs: list[dict], opts: dict, cursor: dict | None, choice: str, smoothing, xaxis, yopts,
                width, theme, x_range=None, hidden=()) -> ChartOptions:
        yopts = yopts or []
        return ChartOptions(
            metric=choice, label=metric_label(choice), smoothing=float(smoothing or 0.0),
            xaxis=xaxis if xaxis in ("step", "relative", "wall") else "step",
            log_y="log" in yopts, robust_y="robust" in yopts,
            max_points=int(max(200, min(width or 2400, 8000))),
            x_range=x_range, theme=(opts or {}).get("theme") or theme or "dark",
            compare=bool((opts or {}).get("compare")),
            live_runs=frozenset(r["id"] for r in runs if not r["is_complete"]),
            hidden=frozenset(hidden or ()),
        )


def render(data: ChartData, run_ids: list[int], choice: str, smoothing, xaxis, yopts, width, theme,
           opts: dict, x_range=None, hidden=None, until: dict[int, int] | None = None) -> dict[str, Any]:
    """Everything a full render outputs, as a dict (tested without a browser). Runs in `hidden`
    (switched off in the legend) keep their legend entry but are neither read nor sent.

    `until` caps live runs at the steps the chart already has (the cursor's): a redraw of the
    same chart (zoom, smoothing) then leaves newer points to the live tick, so whichever of a
    redraw and a tick in flight lands last, no point is drawn twice or lost."""
    runs = data.runs(run_ids or [])
    all_names = sorted({n for r in runs for n in r["metrics"]})
    options = metric_options(all_names) or [{"label": metric_label(choice), "value": choice}]
    hidden = [h for h in (hidden or []) if h in {r["id"] for r in runs}]
    chart_opts = data.options(runs, opts, None, choice, smoothing, xaxis, yopts, width, theme, x_range, hidden)
    live = [r["id"] for r in runs if not r["is_complete"]]
    base = {"options": options, "summary": None, "interval_disabled": not live}
    if not runs:
        return {**base, "figure": message_figure("", chart_opts.theme), "empty": "Select a run to see its metrics.",
                "note": "", "cursor": None, "interval_disabled": True}
    names = {r["id"]: resolve_metric(choice, r["metrics"]) for r in runs}
    cursor = {"runs": [r["id"] for r in runs], "choice": choice, "names": {str(k): v for k, v in names.items()},
              "live": live, "x_range": list(x_range) if x_range else None, "appended": 0,
              "max_points": chart_opts.max_points, "traces": {}, "last_step": {}, "hidden": hidden}
    if not all_names:
        msg = NO_METRICS if len(runs) == 1 else "Metrics not available for these runs"
        return {**base, "figure": message_figure("", chart_opts.theme), "empty": msg, "note": "", "cursor": cursor}
    shown = [r for r in runs if r["id"] not in hidden]
    lines = data.cache.lines(shown, names, None if until else grid_overview(shown, names, chart_opts))
    if until:
        lines = [_capped(l, until[l.run_id]) if l.run_id in until else l for l in lines]
    if hidden:
        by_id = {l.run_id: l for l in lines}
        empty = np.zeros(0)
        lines = [by_id.get(r["id"]) or RunLine(r["id"], r["name"], empty.astype(np.int64), empty, empty)
                 for r in runs if r["id"] in by_id or (r["id"] in hidden and names.get(r["id"]))]
    if not lines:
        msg = f"No {metric_label(choice)} series for {'this run' if len(runs) == 1 else 'these runs'}"
        return {**base, "figure": message_figure("", chart_opts.theme), "empty": msg, "note": "", "cursor": cursor}
    fig, info = build_figure(lines, chart_opts)
    cursor.update({k: info[k] for k in ("traces", "last_step", "ema", "t0", "unit_s")})
    cursor["shown"], cursor["total"] = info["shown"], info["total"]
    notes = [points_note(info["shown"], info["total"], x_range)] + info["notes"]
    fallbacks = sorted({n for n in names.values() if n and n != choice})
    if fallbacks:
        notes.append(f"{metric_label(choice)}: showing {', '.join(fallbacks)} where there is no {choice}")
    missing = [r["name"] for r in runs if not names.get(r["id"])]
    if missing and len(runs) > 1:
        notes.append(f"no {choice} in {', '.join(missing)}")
    summary = summary_table(summary_rows([l for l in lines if l.steps.size])) if chart_opts.compare else None
    return {**base, "figure": encode_arrays(fig), "empty": None, "note": " · ".join(n for n in notes if n),
            "cursor": cursor, "summary": summary}


def grid_overview(runs: list[dict], names: dict[int, str], opts: ChartOptions) -> Overview | None:
    """How the chart may read long series: as their overviews from the rollups, when it draws
    whole finished series on the step axis reduced on the rollup grid, and needs nothing the
    reduction drops (smoothing runs over every point; a log axis counts the non-positive ones)."""
    summaries = [r["metrics"][names[r["id"]]] for r in runs if names.get(r["id"]) in r["metrics"]]
    if (not summaries or opts.smoothing > 0 or opts.xaxis != "step" or opts.x_range or opts.log_y
            or not all(r["is_complete"] for r in runs)):
        return None
    # what build_figure will choose for these lines
    points = per_line_points(opts.max_points, len(summaries))
    width = grid_width(min(s["first_step"] for s in summaries), max(s["last_step"] for s in summaries), points)
    return Overview(width, points) if width else None


def _capped(line: RunLine, last_step: int) -> RunLine:
    n = int(np.searchsorted(line.steps, last_step, side="right"))
    return RunLine(line.run_id, line.name, line.steps[:n], line.values[:n], line.wall[:n])


def drawn_until(cursor: dict | None, run_ids, choice) -> dict[int, int] | None:
    """The cursor's steps for its live runs, when the redraw is of the same runs and metric."""
    if not cursor or not cursor.get("live") or list(run_ids or []) != cursor.get("runs") or choice != cursor.get("choice"):
        return None
    return {int(k): v for k, v in cursor.get("last_step", {}).items() if int(k) in cursor["live"]}


def live_tick(data: ChartData, cursor: dict, smoothing, xaxis, yopts, width, theme, opts: dict) -> dict[str, Any]:
    """One interval tick: only the points after each live run's cursor, as a Patch.

    Returns {"patch": Patch|None, "cursor", "interval_disabled", "rebuild": bool}; raises
    PreventUpdate when nothing is new and the runs are still live."""
    if not cursor or not cursor.get("live"):
        return {"patch": None, "cursor": cursor, "interval_disabled": True, "rebuild": False}
    runs = data.runs(cursor["live"])
    still_live = [r["id"] for r in runs if not r["is_complete"]]
    names = {int(k): v for k, v in cursor["names"].items()}
    # a run whose metric appeared only now (or a chart that had nothing yet) needs a whole render
    if any(not names.get(r["id"]) and resolve_metric(cursor["choice"], r["metrics"]) for r in runs) \
            or (not cursor.get("traces") and any(r["metrics"] for r in runs)):
        return {"patch": None, "cursor": cursor, "interval_disabled": not still_live, "rebuild": True}
    hidden = set(cursor.get("hidden") or [])
    wanted = [r["id"] for r in runs if names.get(r["id"]) and r["id"] not in hidden]
    last = cursor.get("last_step", {})
    new_lines = []
    if wanted:
        after = min(last.get(str(rid), -1) for rid in wanted)
        series = {}
        with data.engine.connect() as conn:
            for name in sorted({names[r] for r in wanted}):
                series.update(read_series(conn, [r for r in wanted if names[r] == name], name, after_step=after))
        new_lines = [RunLine(rid, "", *series[rid]) for rid in wanted if rid in series]
    chart_opts = data.options(runs, opts, cursor, cursor["choice"], smoothing, xaxis, yopts, width, theme,
                              hidden=hidden)
    ext = extension(new_lines, cursor, chart_opts)
    done = not still_live
    if ext.added == 0:
        if still_live == cursor["live"]:
            raise PreventUpdate
        return {"patch": None, "cursor": {**cursor, "live": still_live}, "interval_disabled": done, "rebuild": False}
    appended = cursor.get("appended", 0) + ext.added
    new_cursor = {**cursor, "live": still_live, "last_step": ext.last_step, "ema": ext.ema, "appended": appended,
                  "shown": cursor.get("shown", 0) + ext.added, "total": cursor.get("total", 0) + ext.added}
    # live points are appended unreduced; once they outnumber the overview, reduce again
    if appended > cursor.get("max_points", 2000):
        return {"patch": None, "cursor": new_cursor, "interval_disabled": done, "rebuild": True}
    return {"patch": extension_patch(ext), "cursor": new_cursor, "interval_disabled": done, "rebuild": False}


def register(app, engine: Engine, cache: SeriesCache, stale_after_s: float = queries.STALE_AFTER_S) -> None:
    data = ChartData(engine, cache, stale_after_s)
    controls = [Input(_id("tb-metric"), "value"), Input(_id("tb-smoothing"), "value"), Input(_id("tb-xaxis"), "value"),
                Input(_id("tb-yopts"), "value"), Input(_id("tb-width"), "data"), Input("tb-theme", "data")]
    # what the zoom and the live tick read to draw as the last full render did
    chart_state = [State(_id("tb-cursor"), "data"), State(_id("tb-smoothing"), "value"), State(_id("tb-xaxis"), "value"),
                   State(_id("tb-yopts"), "value"), State(_id("tb-width"), "data"), State("tb-theme", "data"),
                   State(_id("tb-opts"), "data")]

    @app.callback(
        Output(_id("tb-graph"), "figure"), Output(_id("tb-cursor"), "data"), Output(_id("tb-note"), "children"),
        Output(_id("tb-interval"), "disabled"), Output(_id("tb-metric"), "options"),
        Output(_id("tb-summary"), "children"), Output(_id("tb-empty"), "children"), Output(_id("tb-empty"), "hidden"),
        Input(_id("tb-runs"), "data"), *controls, Input(_id("tb-hidden"), "data"),
        State(_id("tb-opts"), "data"), State(_id("tb-cursor"), "data"),
    )
    def update_chart(run_ids, choice, smoothing, xaxis, yopts, width, theme, hidden, opts, cursor):
        if width is None:
            raise PreventUpdate  # the client reports its width first: one render, at the right resolution
        trigger = ctx.triggered_id
        x_range = None
        if cursor and cursor.get("x_range") and isinstance(trigger, dict) and trigger.get("type") in (
                "tb-smoothing", "tb-yopts", "tb-hidden"):
            x_range = tuple(cursor["x_range"])  # these keep the zoomed window's resolution
        out = render(data, run_ids, choice, smoothing, xaxis, yopts, width, theme, opts, x_range, hidden,
                     drawn_until(cursor, run_ids, choice))
        return (out["figure"], out["cursor"], out["note"], out["interval_disabled"], out["options"],
                out["summary"], out["empty"], out["empty"] is None)

    # Plotly reports every resize and redraw as a relayout; only x-range changes go to the
    # server. Filtering them in the browser matters: a newer call of a callback supersedes one
    # still in flight, so a no-op "autosize" would drop the zoom's or the render's result.
    app.clientside_callback(
        """function(r) {
            if (!r) { return window.dash_clientside.no_update; }
            const keep = {};
            for (const k of ['xaxis.autorange', 'xaxis.range[0]', 'xaxis.range[1]', 'xaxis.range']) {
                if (k in r) { keep[k] = r[k]; }
            }
            if (!Object.keys(keep).length) { return window.dash_clientside.no_update; }
            keep.at = Date.now();
            return keep;
        }""",
        Output(_id("tb-zoom"), "data"), Input(_id("tb-graph"), "relayoutData"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(_id("tb-graph"), "figure", allow_duplicate=True), Output(_id("tb-cursor"), "data", allow_duplicate=True),
        Output(_id("tb-note"), "children", allow_duplicate=True),
        Input(_id("tb-zoom"), "data"),
        *chart_state,
        prevent_initial_call=True,
    )
    def zoom(relayout, cursor, smoothing, xaxis, yopts, width, theme, opts):
        kind, x_range = parse_relayout(relayout, xaxis)
        if kind == "ignore" or not cursor or not cursor.get("traces"):
            raise PreventUpdate
        if kind == "reset" and not cursor.get("x_range"):
            raise PreventUpdate  # already the overview
        out = render(data, cursor["runs"], cursor["choice"], smoothing, xaxis, yopts, width, theme, opts, x_range,
                     cursor.get("hidden"), drawn_until(cursor, cursor["runs"], cursor["choice"]))
        if out["empty"] is not None:
            raise PreventUpdate
        # the layout (the user's zoom) stays as it is: only the traces change
        patch = Patch()
        patch["data"] = out["figure"]["data"]
        return patch, out["cursor"], out["note"]

    @app.callback(
        Output(_id("tb-graph"), "figure", allow_duplicate=True), Output(_id("tb-cursor"), "data", allow_duplicate=True),
        Output(_id("tb-interval"), "disabled", allow_duplicate=True), Output(_id("tb-note"), "children", allow_duplicate=True),
        Input(_id("tb-interval"), "n_intervals"),
        *chart_state,
        prevent_initial_call=True,
    )
    def tick(_n, cursor, smoothing, xaxis, yopts, width, theme, opts):
        res = live_tick(data, cursor, smoothing, xaxis, yopts, width, theme, opts)
        if res["rebuild"]:
            x_range = tuple(cursor["x_range"]) if cursor.get("x_range") else None
            out = render(data, cursor["runs"], cursor["choice"], smoothing, xaxis, yopts, width, theme, opts, x_range,
                         cursor.get("hidden"))
            return out["figure"], out["cursor"], out["interval_disabled"], out["note"]
        c = res["cursor"]
        note = points_note(c.get("shown", 0), c.get("total", 0), c.get("x_range")) if res["patch"] else no_update
        return (res["patch"] if res["patch"] is not None else no_update), c, res["interval_disabled"], note

    @app.callback(
        Output(_id("tb-download"), "data"),
        Input(_id("tb-csv"), "n_clicks"), State(_id("tb-cursor"), "data"), State(_id("tb-xaxis"), "value"),
        prevent_initial_call=True,
    )
    def download_csv(n, cursor, xaxis):
        if not n or not cursor or not cursor.get("traces"):
            raise PreventUpdate
        runs = data.runs(cursor["runs"])
        names = {int(k): v for k, v in cursor["names"].items()}
        lines = cache.lines(runs, names)
        text = csv_text(lines, cursor["choice"], tuple(cursor["x_range"]) if cursor.get("x_range") else None, xaxis)
        return dcc.send_string(text, f"trainboard-{cursor['choice']}-runs-{'-'.join(map(str, cursor['runs']))}.csv")

    # runs switched off in the legend: the server stops reading and sending their series
    app.clientside_callback(
        """function(restyle, id, current) {
            const gd = document.querySelector('[data-chart="' + id.chart + '"] .js-plotly-plot');
            if (!gd || !gd._fullData) { return window.dash_clientside.no_update; }
            const hidden = [...new Set(gd._fullData.filter(t => t.visible === 'legendonly' && t.legendgroup)
                                                   .map(t => parseInt(t.legendgroup, 10)))].sort((a, b) => a - b);
            if (JSON.stringify(hidden) === JSON.stringify(current || [])) { return window.dash_clientside.no_update; }
            return hidden;
        }""",
        Output(_id("tb-hidden"), "data"), Input(_id("tb-graph"), "restyleData"), State(_id("tb-graph"), "id"),
        State(_id("tb-hidden"), "data"),
        prevent_initial_call=True,
    )

    # about as many points as the plot has pixels, twice over (min and max per pixel column)
    app.clientside_callback(
        """function(id) {
            const el = document.querySelector('[data-chart="' + id.chart + '"]');
            const w = (el && el.clientWidth) || window.innerWidth || 1200;
            return 2 * Math.max(300, Math.min(w, 4000));
        }""",
        Output(_id("tb-width"), "data"), Input(_id("tb-width"), "id"),
    )

"""Layout builders shared by the pages: navbar, runs table, terminal, chart card, summary table."""
from __future__ import annotations

import datetime as dt
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.figures import X_MODES, metric_label
from dashboard.terminal import Segment

# How often a live view asks for new points / log text ("a tick every few seconds").
LIVE_INTERVAL_MS = 2000
# How often the runs table refreshes (new runs, steps, status).
TABLE_INTERVAL_MS = 5000
# The terminal keeps this many lines, like a terminal's scrollback.
TERMINAL_MAX_LINES = 3000


# ---------------------------------------------------------------- chrome

def navbar(crumbs: list[tuple[str, str | None]] = ()) -> html.Nav:
    """Top bar: brand, breadcrumbs, theme toggle."""
    items = [dcc.Link([html.Span("▁▃▅", className="tb-logo"), "trainboard"], href="/", className="tb-brand")]
    for label, href in crumbs:
        items.append(html.Span("/", className="tb-crumb-sep"))
        items.append(dcc.Link(label, href=href, className="tb-crumb") if href else
                     html.Span(label, className="tb-crumb tb-crumb-current"))
    return html.Nav(
        [html.Div(items, className="tb-crumbs"),
         html.Button("◐", id="tb-theme-toggle", className="tb-icon-btn", title="Toggle dark / light theme",
                     n_clicks=0)],
        className="tb-navbar",
    )


def page(children: list, crumbs: list[tuple[str, str | None]] = ()) -> html.Div:
    return html.Div([navbar(crumbs), html.Main(children, className="tb-main")], className="tb-page")


def status_badge(status: str) -> html.Span:
    """The same pill as the runs table's status cell renderer (assets/dashAgGridComponentFunctions.js)."""
    return html.Span(status, className=f"tb-badge tb-status-{status}")


# ---------------------------------------------------------------- runs table

def _summary(metrics: dict, *names: str) -> dict:
    for n in names:
        if n in metrics:
            return metrics[n]
    return {}


def run_row(run: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """One table row from a run dict (queries.list_runs): what parsing stored, summarised."""
    now = now or dt.datetime.now(dt.UTC)
    metrics = run.get("metrics") or {}
    loss = _summary(metrics, "loss", "train_loss")
    lr = _summary(metrics, "learning_rate")
    steps = max((m.get("last_step") or 0 for m in metrics.values()), default=None)
    started = run.get("started_at")
    end = run.get("finished_at") or (now if run["status"] == "running" else run.get("updated_at"))
    duration = (end - started).total_seconds() if started and end else None
    return {
        "id": run["id"],
        "row_id": str(run["id"]),  # AG Grid wants string row ids
        "name": run["name"],
        "status": run["status"],
        "steps": steps,
        "last_loss": loss.get("last_value"),
        "min_loss": loss.get("min"),
        "last_lr": lr.get("last_value"),
        "started": started.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if started else "",
        "duration_s": round(duration) if duration is not None else None,
        "has_metrics": bool(metrics),
    }


def runs_grid(rows: list[dict], grid_id: str = "runs-grid") -> dag.AgGrid:
    num = {"type": "rightAligned", "filter": "agNumberColumnFilter"}
    fmt4 = {"function": "params.value == null ? '' : d3.format('.4~f')(params.value)"}
    column_defs = [
        {"field": "name", "headerName": "Run", "filter": "agTextColumnFilter", "minWidth": 170, "flex": 2,
         "cellClass": "tb-run-name"},
        {"field": "status", "headerName": "Status", "cellRenderer": "StatusBadge", "filter": "agTextColumnFilter",
         "minWidth": 120, "flex": 1},
        {"field": "steps", "headerName": "Steps", **num, "minWidth": 90, "flex": 1,
         "valueFormatter": {"function": "params.value == null ? '' : d3.format(',')(params.value)"}},
        {"field": "last_loss", "headerName": "Last loss", **num, "valueFormatter": fmt4, "minWidth": 105, "flex": 1},
        {"field": "min_loss", "headerName": "Min loss", **num, "valueFormatter": fmt4, "minWidth": 105, "flex": 1},
        {"field": "last_lr", "headerName": "Last LR", **num, "minWidth": 100, "flex": 1,
         "valueFormatter": {"function": "params.value == null ? '' : d3.format('.2e')(params.value)"}},
        {"field": "started", "headerName": "Started (UTC)", "filter": "agTextColumnFilter", "minWidth": 150,
         "flex": 1.3},
        {"field": "duration_s", "headerName": "Duration", **num, "minWidth": 100, "flex": 1,
         "valueFormatter": {"function": "tbDuration(params.value)"}},
    ]
    return dag.AgGrid(
        id=grid_id,
        rowData=rows,
        columnDefs=column_defs,
        defaultColDef={"sortable": True, "resizable": True, "floatingFilter": False, "suppressHeaderMenuButton": True},
        getRowId="params.data.row_id",
        dashGridOptions={
            "rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": True,
                             "enableClickSelection": False},
            "rowClassRules": {"tb-active-row": "params.data.active === true"},
            "domLayout": "autoHeight",
            "animateRows": False,
            "suppressCellFocus": True,
            "rowHeight": 36,
            "headerHeight": 36,
        },
        className="tb-grid",
        style={"width": "100%"},
    )


# ---------------------------------------------------------------- terminal

def segment_nodes(segments: list[Segment]) -> list:
    """Segments as React children: plain strings or spans. Never markup: text is text."""
    out: list = []
    for text, classes, color in segments:
        if not classes and not color:
            if out and isinstance(out[-1], str):
                out[-1] += text
            else:
                out.append(text)
        else:
            out.append(html.Span(text, className=classes or None, style={"color": color} if color else None))
    return out


def lines_block(lines: list[list[Segment]]) -> html.Span:
    """A block of complete lines (one render or one tick), newline-terminated."""
    children: list = []
    for line in lines:
        children.extend(segment_nodes(line))
        if children and isinstance(children[-1], str):
            children[-1] += "\n"
        else:
            children.append("\n")
    # merge the strings that became adjacent across lines
    merged: list = []
    for c in children:
        if isinstance(c, str) and merged and isinstance(merged[-1], str):
            merged[-1] += c
        else:
            merged.append(c)
    return html.Span(merged, className="tb-term-block")


def open_line(segments: list[Segment]) -> html.Span:
    return html.Span(segment_nodes(segments), className="tb-term-open")


def terminal_card() -> dbc.Card:
    return dbc.Card([
        html.Div([
            html.Div([html.Span(className="tb-dot tb-dot-r"), html.Span(className="tb-dot tb-dot-y"),
                      html.Span(className="tb-dot tb-dot-g")], className="tb-dots"),
            html.Span(id="term-title", className="tb-term-title"),
            html.Span(id="term-status", className="tb-term-status"),
        ], className="tb-term-bar"),
        html.Pre(id="terminal", className="tb-terminal", children=[]),
        dcc.Store(id="term-cursor"),
        dcc.Interval(id="term-interval", interval=LIVE_INTERVAL_MS, disabled=True),
    ], className="tb-term-card")


# ---------------------------------------------------------------- chart

def _cid(kind: str, chart: str) -> dict:
    return {"type": kind, "chart": chart}


def chart_card(chart: str, *, runs: list[int], metric: str = "loss", smoothing: float = 0.0,
               xaxis: str = "step", log_y: bool = False, robust_y: bool = False, compare: bool = False,
               theme: str | None = None, embed: bool = False, title: str | None = None,
               controls: bool = True) -> html.Div:
    """One chart instance: controls, graph, note, and its stores. All of it keyed by `chart`
    so one set of MATCH callbacks serves the experiment page, comparisons and the embed view."""
    yopts = [v for v, on in (("log", log_y), ("robust", robust_y)) if on]
    size = "sm"
    toolbar = html.Div([
        html.Div([
            html.Label("Metric", className="tb-ctl-label"),
            dcc.Dropdown(id=_cid("tb-metric", chart), value=metric, clearable=False, searchable=True,
                         options=[{"label": metric_label(metric), "value": metric}],
                         className="tb-metric-select"),
        ], className="tb-ctl tb-ctl-metric"),
        html.Div([
            html.Label("Smoothing", className="tb-ctl-label"),
            html.Div(dcc.Slider(id=_cid("tb-smoothing", chart), min=0, max=0.99, step=0.01, value=smoothing,
                                marks=None, updatemode="mouseup",
                                tooltip={"placement": "bottom", "always_visible": False}),
                     className="tb-slider"),
        ], className="tb-ctl tb-ctl-smoothing"),
        html.Div([
            html.Label("X axis", className="tb-ctl-label"),
            dbc.RadioItems(id=_cid("tb-xaxis", chart), value=xaxis, inline=True,
                           options=[{"label": {"step": "Step", "relative": "Relative", "wall": "Wall"}[m], "value": m}
                                    for m in X_MODES],
                           className="btn-group tb-seg", inputClassName="btn-check",
                           labelClassName=f"btn btn-outline-secondary btn-{size}",
                           labelCheckedClassName="active"),
        ], className="tb-ctl"),
        html.Div([
            html.Label("Y axis", className="tb-ctl-label"),
            dbc.Checklist(id=_cid("tb-yopts", chart), value=yopts, inline=True, switch=True,
                          options=[{"label": "Log", "value": "log"}, {"label": "Ignore outliers", "value": "robust"}],
                          className="tb-switches"),
        ], className="tb-ctl"),
        html.Div([
            html.Button("CSV", id=_cid("tb-csv", chart), n_clicks=0, className="btn btn-outline-secondary btn-sm",
                        title="Download every point of what is on screen as CSV"),
        ], className="tb-ctl tb-ctl-end"),
    ], className="tb-chart-toolbar" + (" tb-hidden" if not controls else ""))
    graph = dcc.Graph(
        id=_cid("tb-graph", chart),
        figure={"data": [], "layout": {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                                        "xaxis": {"visible": False}, "yaxis": {"visible": False}}},
        config={"displaylogo": False, "responsive": True,
                "toImageButtonOptions": {"format": "png", "filename": f"trainboard-{chart}", "scale": 2},
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]},
        className="tb-graph" + (" tb-graph-embed" if embed else ""),
    )
    return html.Div([
        html.Div(title, className="tb-chart-title") if title else None,
        toolbar,
        html.Div([
            graph,
            html.Div(id=_cid("tb-empty", chart), className="tb-chart-empty", hidden=True),
        ], className="tb-graph-wrap"),
        html.Div([html.Span(id=_cid("tb-note", chart), className="tb-note")], className="tb-chart-foot"),
        html.Div(id=_cid("tb-summary", chart), className="tb-summary"),
        dcc.Store(id=_cid("tb-runs", chart), data=list(runs)),
        dcc.Store(id=_cid("tb-opts", chart), data={"compare": compare, "theme": theme, "embed": embed}),
        dcc.Store(id=_cid("tb-cursor", chart)),
        dcc.Store(id=_cid("tb-width", chart)),
        dcc.Store(id=_cid("tb-zoom", chart)),  # x-range changes only, filtered from relayoutData
        dcc.Store(id=_cid("tb-hidden", chart), data=[]),  # run ids switched off in the legend
        dcc.Interval(id=_cid("tb-interval", chart), interval=LIVE_INTERVAL_MS, disabled=True),
        dcc.Download(id=_cid("tb-download", chart)),
    ], className="tb-chart" + (" tb-chart-embed" if embed else ""), **{"data-chart": chart})


def summary_table(rows: list[dict]) -> html.Table:
    """Final / min value per run under a comparison chart."""
    def fmt(v):
        return "—" if v is None else f"{v:.6g}"

    body = [html.Tr([
        html.Td([html.Span(className="tb-swatch", style={"background": r["color"]}), r["run"]]),
        html.Td(fmt(r["final"])), html.Td("" if r["final_step"] is None else f"{r['final_step']:,}"),
        html.Td(fmt(r["min"])), html.Td("" if r["min_step"] is None else f"{r['min_step']:,}"),
        html.Td(f"{r['points']:,}"),
    ]) for r in rows]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Run", "Final", "at step", "Min", "at step", "Points")]))
    return html.Table([head, html.Tbody(body)], className="table table-sm tb-summary-table")

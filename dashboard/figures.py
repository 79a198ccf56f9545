"""Pure figure builders: metric series in, Plotly figures (and the live-update Patch payloads) out.

No Dash callbacks, no database: per-run series (`RunLine`: steps, values, wall time as numpy
arrays) and a `ChartOptions` go in; a Plotly figure comes out, as
a plain dict (graph objects validate every array: ~0.4 s for 20 runs). The smoothing runs on the full-resolution series, then each line is reduced (min/max per bucket,
shared bucket edges across runs) to about `max_points` points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dashboard.db.rollups import grid_width
from dashboard.sampling import ema_debiased, minmax_indices

# The selector offers these first, in this order; every other captured metric follows.
PRIMARY_METRICS = (("loss", "Loss"), ("learning_rate", "LR"), ("grad_norm", "Grad Norm"))
# The Loss choice falls back to the epoch aggregate for a run that logs no per-step loss.
FALLBACKS = {"loss": ("train_loss",)}

# Distinct on dark and light backgrounds; a run keeps its colour in every view (by id).
PALETTE = (
    "#4e9cf5", "#f58518", "#3fb950", "#e45756", "#b279a2", "#2ec4b6", "#eeca3b", "#ff9da6",
    "#8c8cff", "#7fc97f", "#d95f02", "#e7298a", "#66a61e", "#1f78b4", "#fb9a99", "#cab2d6",
    "#a6761d", "#b2df8a", "#9d755d", "#bab0ac",
)
# Above this many drawn points a figure switches to WebGL traces.
WEBGL_THRESHOLD = 20_000
# Points per figure when many runs are overlaid: each line gets about 2x the plot's width in
# points, but no more than its share of this (20 runs: 2,000 each, ~1.7 MB of JSON).
FIGURE_POINT_BUDGET = 40_000
X_MODES = ("step", "relative", "wall")

THEMES = {
    "dark": {"font": "#c9d1d9", "grid": "rgba(139,148,158,0.18)", "zero": "rgba(139,148,158,0.35)",
             "hover_bg": "#161b22", "muted": "#8b949e"},
    "light": {"font": "#24292f", "grid": "rgba(31,35,40,0.10)", "zero": "rgba(31,35,40,0.25)",
              "hover_bg": "#ffffff", "muted": "#57606a"},
}


@dataclass(frozen=True)
class ChartOptions:
    metric: str = "loss"           # the name actually plotted
    label: str = "Loss"            # what the axis says
    smoothing: float = 0.0         # TensorBoard EMA weight, 0 … 0.99
    xaxis: str = "step"            # step | relative | wall
    log_y: bool = False
    robust_y: bool = False         # y-range from the 5th–95th percentile
    max_points: int = 2000         # per line
    x_range: tuple[float, float] | None = None  # zoomed window, in the x axis' own units (wall: unix s)
    theme: str = "dark"
    compare: bool = False          # unified hover, legend
    live_runs: frozenset[int] = field(default_factory=frozenset)  # runs whose traces will be extended
    hidden: frozenset[int] = field(default_factory=frozenset)  # hidden from the legend: not fetched, not drawn
    height: int | None = None


@dataclass
class RunLine:
    """One run's full-resolution series (arrays share an index), or its overview: the points
    the step-axis min/max reduction on the rollup grid keeps (`rollups.grid_width`), read without the
    rest of the series; `total` then says how many points the series has, `final` its last
    finite point (step, value) for the summary table."""
    run_id: int
    name: str
    steps: np.ndarray    # int64
    values: np.ndarray   # float64, NaN/±inf kept
    wall: np.ndarray     # float64 unix seconds
    total: int | None = None
    final: tuple[int, float] | None = None

    @property
    def points(self) -> int:
        return self.steps.size if self.total is None else self.total


# ---------------------------------------------------------------- metric choices

def metric_options(names: list[str] | set[str]) -> list[dict[str, str]]:
    """Selector options: Loss, LR, Grad Norm first (when any run has them, or a fallback),
    then every other captured metric by name."""
    names = set(names)
    options = []
    for value, label in PRIMARY_METRICS:
        if value in names or any(f in names for f in FALLBACKS.get(value, ())):
            options.append({"label": label, "value": value})
    primary = {v for v, _ in PRIMARY_METRICS}
    options += [{"label": n, "value": n} for n in sorted(names - primary)]
    return options


def resolve_metric(choice: str, names: list[str] | set[str]) -> str | None:
    """The stored name to plot for a selector choice: the choice itself, else its fallback."""
    names = set(names)
    if choice in names:
        return choice
    for alt in FALLBACKS.get(choice, ()):
        if alt in names:
            return alt
    return None


def metric_label(choice: str) -> str:
    return dict(PRIMARY_METRICS).get(choice, choice)


def run_colors(run_ids: list[int]) -> dict[int, str]:
    """A stable colour per run (by id); two runs of one chart never share one."""
    colors, used = {}, set()
    for rid in run_ids:
        i = rid % len(PALETTE)
        for k in range(len(PALETTE)):
            c = PALETTE[(i + k) % len(PALETTE)]
            if c not in used or len(used) >= len(PALETTE):
                break
        colors[rid] = c
        used.add(c)
    return colors


# ---------------------------------------------------------------- x axes

def time_unit(lines: list[RunLine]) -> tuple[str, float]:
    """Unit of the relative-time axis, chosen from the longest run: (label, seconds per unit)."""
    span = max((float(l.wall[-1] - l.wall[0]) for l in lines if l.wall.size), default=0.0)
    if span < 120:
        return "s", 1.0
    if span < 2 * 3600:
        return "min", 60.0
    return "h", 3600.0


def x_numeric(line: RunLine, mode: str, unit_s: float = 1.0) -> np.ndarray:
    """The x coordinate used for reduction and range matching (wall: unix seconds)."""
    if mode == "relative":
        return (line.wall - (line.wall[0] if line.wall.size else 0.0)) / unit_s
    if mode == "wall":
        return line.wall
    return line.steps.astype(np.float64)


def _x_out(xn: np.ndarray, mode: str) -> np.ndarray:
    """Numeric x into what Plotly draws (wall time: UTC datetimes)."""
    if mode == "wall":
        return (xn * 1000).astype("int64").astype("datetime64[ms]")
    return xn


# ---------------------------------------------------------------- reduction

def _sorted(xn: np.ndarray) -> bool:
    return xn.size < 2 or bool(np.all(xn[1:] >= xn[:-1]))


def reduce_indices(xn: np.ndarray, values: np.ndarray, max_points: int,
                   x_range: tuple[float, float] | None, overview: tuple[float, float] | None,
                   grid: int | None = None) -> np.ndarray:
    """Indices to draw: the overview (shared edges `overview`, or the step grid `grid`) and,
    when zoomed, the window `x_range` at full resolution (reduced only when it alone has more
    than max_points)."""
    if not _sorted(xn):  # a clock that went backwards: reduce by position instead
        xn = np.arange(xn.size, dtype=np.float64)
        x_range = grid = None
    lo, hi = overview if overview else (None, None)
    if x_range is None:
        return minmax_indices(xn, values, max_points, lo, hi, width=grid)
    a, b = int(np.searchsorted(xn, x_range[0], "left")), int(np.searchsorted(xn, x_range[1], "right"))
    # one point either side keeps the line running to the window's edges
    a, b = max(a - 1, 0), min(b + 1, xn.size)
    inner = a + minmax_indices(xn[a:b], values[a:b], max_points, x_range[0], x_range[1])
    outer = minmax_indices(xn, values, max(max_points // 4, 16), lo, hi)
    return np.union1d(inner, outer)


def visible_count(xn: np.ndarray, x_range: tuple[float, float] | None) -> int:
    if x_range is None:
        return int(xn.size)
    return int(np.count_nonzero((xn >= x_range[0]) & (xn <= x_range[1])))


# ---------------------------------------------------------------- smoothing

def ema_resume(values: np.ndarray, weight: float, last: float, n: int) -> tuple[np.ndarray, float, int]:
    """Continue `ema_debiased` over new values from its state (last, n): the live chart's
    smoothed line grows without recomputing the history."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    if weight <= 0:
        return out, last, n
    for i, y in enumerate(values.tolist()):
        if math.isfinite(y):
            n += 1
            last = last * weight + (1 - weight) * y
            out[i] = last / (1 - weight**n)
    return out, last, n


def ema_state(values: np.ndarray, smoothed: np.ndarray, weight: float) -> tuple[float, int]:
    """(last, n) after `smoothed = ema_debiased(values, weight)`: where `ema_resume` goes on."""
    finite = np.isfinite(values)
    n = int(np.count_nonzero(finite))
    if weight <= 0 or n == 0:
        return 0.0, 0
    # debiased = last / (1 - w^n), so last = debiased · (1 - w^n)
    return float(smoothed[np.flatnonzero(finite)[-1]] * (1 - weight**n)), n


# ---------------------------------------------------------------- figure

def _finite_for_axis(values: np.ndarray, log_y: bool) -> np.ndarray:
    """What the line draws: non-finite → gap; on a log axis non-positive → gap too."""
    out = np.where(np.isfinite(values), values, np.nan)
    if log_y:
        out = np.where(out > 0, out, np.nan)
    return out


def _as(data: np.ndarray, as_list: bool) -> Any:
    """Plain lists for traces that live ticks extend (a Patch cannot extend a typed array)."""
    if not as_list:
        return data
    if np.issubdtype(data.dtype, np.datetime64):
        return [str(v) for v in data.astype("datetime64[ms]")]
    if np.issubdtype(data.dtype, np.floating):
        return [None if v != v else v for v in data.tolist()]
    return data.tolist()


def nonfinite_y(values: np.ndarray) -> np.ndarray:
    """Marker height on the hidden 0–1 axis: NaN and +inf at the top edge, −inf at the bottom."""
    return np.where(np.isneginf(values), 0.03, 0.97)


def nonfinite_text(values: np.ndarray) -> list[str]:
    return ["−inf" if np.isneginf(v) else "+inf" if np.isposinf(v) else "NaN" for v in values]


def robust_range(arrays: list[np.ndarray], log_y: bool) -> list[float] | None:
    """The 5th–95th percentile of the finite values, padded: outliers leave the view, not the data."""
    vals = np.concatenate([a[np.isfinite(a)] for a in arrays]) if arrays else np.zeros(0)
    if log_y:
        vals = vals[vals > 0]
    if vals.size < 2:
        return None
    if log_y:
        vals = np.log10(vals)
    lo, hi = np.percentile(vals, [5, 95])
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
    return [float(lo - pad), float(hi + pad)]


def per_line_points(max_points: int, n_lines: int) -> int:
    """Points for each line of a figure: `max_points`, or its share of the figure budget."""
    return max(200, min(max_points, FIGURE_POINT_BUDGET // max(n_lines, 1)))


def _customdata(line: RunLine, idx: np.ndarray, xaxis: str, as_list: bool, smoothed: bool) -> Any:
    """Per-point hover data, as little as the hover needs (it is most of a figure's bytes):
    [wall ms] (+ exact value when y is the smoothed one) (+ step when x is a time)."""
    cols = [line.wall[idx] * 1000.0]
    if smoothed:
        cols.append(line.values[idx])
    if xaxis != "step":
        cols.append(line.steps[idx].astype(np.float64))
    custom = np.column_stack(cols)
    if not as_list:
        return custom
    return [[v if math.isfinite(v) else None for v in row] for row in custom.tolist()]


def hover_template(compare: bool, smoothed: bool, xaxis: str) -> str:
    """Run, step, exact value, wall time (UTC)."""
    step = "%{x}" if xaxis == "step" else f"%{{customdata[{2 if smoothed else 1}]}}"
    value = "%{y:.6~g} smoothed · value %{customdata[1]:.10~g}" if smoothed else "%{y:.10~g}"
    head = "" if compare else "<b>%{fullData.name}</b><br>"
    return (head + f"step {step} · {value}<br>%{{customdata[0]|%Y-%m-%d %H:%M:%S}} UTC"
            + ("<extra>%{fullData.name}</extra>" if compare else "<extra></extra>"))


@dataclass
class _Prepared:
    line: RunLine
    xn: np.ndarray
    idx: np.ndarray                 # reduced indices of the raw line
    smooth: np.ndarray | None       # full-resolution smoothed values
    sidx: np.ndarray | None         # reduced indices of the smoothed line


def _x_for(line: RunLine, xn: np.ndarray, idx: np.ndarray, mode: str) -> np.ndarray:
    # the step axis gets integer steps: they encode in a quarter of the bytes of floats
    return line.steps[idx] if mode == "step" else _x_out(xn[idx], mode)


def build_figure(lines: list[RunLine], opts: ChartOptions) -> tuple[dict, dict]:
    """The chart (a Plotly figure as a plain dict) for some runs' series of one metric, and facts about it for the page
    (points shown / total, hidden non-positive values, trace indices per run for live ticks).

    Each run gets: the raw line (faint behind the smoothed one when smoothing), the smoothed
    line, and a marker trace of its non-finite points on a hidden 0–1 axis, so they sit at
    the chart's top (NaN, +inf) or bottom (−inf) edge while the line breaks there.
    """
    theme = THEMES.get(opts.theme, THEMES["dark"])
    colors = run_colors([l.run_id for l in lines])
    unit_label, unit_s = time_unit(lines)
    smoothing = min(max(opts.smoothing, 0.0), 0.999)
    placeholders = {l.run_id for l in lines if l.run_id in opts.hidden}
    xs = {l.run_id: x_numeric(l, opts.xaxis, unit_s) for l in lines if l.run_id not in placeholders}
    nonempty = [x for x in xs.values() if x.size]
    # one overview window for every run: shared bucket edges, runs compared on one grid
    overview = (min(float(x[0]) for x in nonempty), max(float(x[-1]) for x in nonempty)) if nonempty else None
    per_line = per_line_points(opts.max_points, len(xs))
    # the faint raw line behind a smoothed comparison needs less detail than the line read
    raw_points = per_line // 4 if (smoothing > 0 and opts.compare) else per_line
    gridded = opts.xaxis == "step" and opts.x_range is None and overview is not None
    raw_grid = grid_width(*overview, raw_points) if gridded else None

    prepared, shown, in_view, nonpositive = [], 0, 0, 0
    for line in lines:
        if line.run_id in placeholders:
            prepared.append(line)
            continue
        xn = xs[line.run_id]
        idx = reduce_indices(xn, line.values, raw_points, opts.x_range, overview, raw_grid)
        smooth = sidx = None
        if smoothing > 0:
            smooth = ema_debiased(line.values, smoothing)
            sidx = reduce_indices(xn, smooth, per_line, opts.x_range, overview,
                                  grid_width(*overview, per_line) if gridded else None)
        prepared.append(_Prepared(line, xn, idx, smooth, sidx))
        shown += visible_count(xn[sidx if sidx is not None else idx], opts.x_range)
        in_view += visible_count(xn, opts.x_range) if line.total is None else line.total
        if opts.log_y:
            nonpositive += int(np.count_nonzero(np.isfinite(line.values) & (line.values <= 0)))

    drawn = sum(p.idx.size + (p.sidx.size if p.sidx is not None else 0) for p in prepared if isinstance(p, _Prepared))
    webgl = drawn > WEBGL_THRESHOLD and not opts.live_runs
    kind = "scattergl" if webgl else "scatter"

    def Line(**props):  # a trace as a plain dict: graph objects validate every array (~0.4 s for 20 runs)
        return {"type": kind, **props}

    traces: list[Any] = []
    trace_map: dict[str, dict[str, int]] = {}
    plotted: list[np.ndarray] = []
    ema: dict[str, list[float]] = {}
    for p in prepared:
        if not isinstance(p, _Prepared):  # a run hidden from the legend: its entry stays, its data is not sent
            trace_map[str(p.run_id)] = {"line": len(traces), "hidden": 1}
            # one empty point: plotly drops a trace with no points from the legend altogether
            traces.append({"type": kind, "uid": f"{p.run_id}-line", "x": [None], "y": [None], "mode": "lines", "name": p.name,
                           "legendgroup": str(p.run_id),
                           "showlegend": True, "visible": "legendonly", "line": {"color": colors[p.run_id], "width": 2}})
            continue
        line, rid = p.line, p.line.run_id
        color, as_list = colors[rid], rid in opts.live_runs
        entry: dict[str, int] = {}
        raw_y = _finite_for_axis(line.values[p.idx], opts.log_y)
        if p.smooth is not None:
            ema[str(rid)] = list(ema_state(line.values, p.smooth, smoothing))
            entry["raw"] = len(traces)
            traces.append(Line(
                x=_as(_x_for(line, p.xn, p.idx, opts.xaxis), as_list), y=_as(raw_y, as_list),
                uid=f"{rid}-raw", mode="lines", name=line.name, legendgroup=str(rid), showlegend=False, hoverinfo="skip",
                line={"color": color, "width": 1}, opacity=0.3, connectgaps=False,
            ))
            smooth_y = _finite_for_axis(p.smooth[p.sidx], opts.log_y)
            entry["line"] = len(traces)
            traces.append(Line(
                x=_as(_x_for(line, p.xn, p.sidx, opts.xaxis), as_list),
                # float32 is plenty for a smoothed curve; the exact value rides in customdata
                y=_as(smooth_y, True) if as_list else smooth_y.astype(np.float32),
                customdata=_customdata(line, p.sidx, opts.xaxis, as_list, True),
                uid=f"{rid}-line", mode="lines", name=line.name, legendgroup=str(rid), showlegend=opts.compare,
                line={"color": color, "width": 2}, connectgaps=False,
                hovertemplate=hover_template(opts.compare, True, opts.xaxis),
            ))
            plotted.append(p.smooth[p.sidx])
        else:
            entry["line"] = len(traces)
            traces.append(Line(
                x=_as(_x_for(line, p.xn, p.idx, opts.xaxis), as_list), y=_as(raw_y, as_list),
                customdata=_customdata(line, p.idx, opts.xaxis, as_list, False),
                uid=f"{rid}-line", mode="lines", name=line.name, legendgroup=str(rid), showlegend=opts.compare,
                line={"color": color, "width": 1.6}, connectgaps=False,
                hovertemplate=hover_template(opts.compare, False, opts.xaxis),
            ))
            plotted.append(line.values[p.idx])
        bad = np.flatnonzero(~np.isfinite(line.values))
        entry["bad"] = len(traces)
        traces.append(dict(
            type="scatter", x=_as(_x_for(line, p.xn, bad, opts.xaxis), True), y=nonfinite_y(line.values[bad]).tolist(),
            yaxis="y2", text=nonfinite_text(line.values[bad]), customdata=line.steps[bad].tolist(),
            uid=f"{rid}-bad", mode="markers", name=line.name, legendgroup=str(rid), showlegend=False,
            marker={"color": color, "symbol": "x-thin-open", "size": 9, "line": {"width": 2, "color": color}},
            hovertemplate="<b>%{fullData.name}</b><br>step %{customdata}: %{text} (not a finite value)<extra></extra>",
        ))
        trace_map[str(rid)] = entry

    xtitle = {"step": "step", "relative": f"relative time ({unit_label})", "wall": "wall time (UTC)"}[opts.xaxis]
    layout: dict[str, Any] = {
        "uirevision": chart_revision(opts, [l.run_id for l in lines]),
        "margin": {"l": 60, "r": 16, "t": 36 if opts.compare else 12, "b": 44},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": theme["font"], "size": 12,
                 "family": "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"},
        "hovermode": "x unified" if opts.compare else "closest",
        "hoverlabel": {"bgcolor": theme["hover_bg"], "font": {"color": theme["font"]}},
        "showlegend": opts.compare,
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
        "xaxis": {"title": {"text": xtitle}, "gridcolor": theme["grid"], "zerolinecolor": theme["zero"],
                  "showspikes": not opts.compare, "spikecolor": theme["muted"], "spikethickness": 1},
        "yaxis": {"title": {"text": opts.label}, "gridcolor": theme["grid"], "zerolinecolor": theme["zero"],
                  "type": "log" if opts.log_y else "linear", "exponentformat": "e" if opts.log_y else "none"},
        "yaxis2": {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
    }
    if opts.x_range:
        # a re-render of a zoomed chart (smoothing, legend) says where it is looking
        lo, hi = opts.x_range
        layout["xaxis"]["range"] = ([str(v) for v in _x_out(np.array([lo, hi]), "wall")] if opts.xaxis == "wall"
                                    else [lo, hi])
    if opts.height:
        layout["height"] = opts.height
    if opts.robust_y:
        yr = robust_range(plotted, opts.log_y)
        if yr:
            layout["yaxis"]["range"] = yr
    notes = []
    if opts.log_y and nonpositive:
        notes.append(f"log scale: {nonpositive:,} non-positive value{'s' if nonpositive != 1 else ''} not drawn")
    info = {
        "shown": shown, "total": in_view, "nonpositive": nonpositive,
        "traces": trace_map, "ema": ema, "unit_s": unit_s, "webgl": webgl,
        "t0": {str(l.run_id): float(l.wall[0]) for l in lines if l.wall.size and l.run_id not in placeholders},
        "last_step": {str(l.run_id): int(l.steps[-1]) for l in lines if l.steps.size and l.run_id not in placeholders},
        "notes": notes,
    }
    return {"data": traces, "layout": layout}, info


def encode_arrays(fig: dict) -> dict:
    """Numeric arrays of the traces as plotly.js typed-array specs (base64): a third of the
    JSON of number lists, and what graph objects would have sent. Done at the edge, so the
    builder's output stays readable arrays for tests."""
    from _plotly_utils.utils import to_typed_array_spec  # plotly's own encoder for this

    for trace in fig.get("data", []):
        for key in ("x", "y", "customdata"):
            v = trace.get(key)
            if isinstance(v, np.ndarray) and v.dtype.kind in "iuf":
                trace[key] = to_typed_array_spec(v)
    return fig


def chart_revision(opts: ChartOptions, run_ids: list[int]) -> str:
    """uirevision: the user's zoom survives refreshes and live ticks, not a change of what is shown."""
    return f"{','.join(map(str, run_ids))}|{opts.metric}|{opts.xaxis}|{int(opts.log_y)}|{int(opts.robust_y)}"


def points_note(shown: int, total: int, x_range: tuple[float, float] | None = None) -> str:
    """'showing N of M points' when the chart is reduced; empty when every point is drawn."""
    if total == 0 or shown >= total:
        return ""
    where = " in this range" if x_range else ""
    return f"showing {shown:,} of {total:,} points{where}"


def message_figure(message: str, theme: str = "dark") -> dict:
    """An empty chart carrying a message (no metrics, nothing selected)."""
    t = THEMES.get(theme, THEMES["dark"])
    return {"data": [], "layout": {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "xaxis": {"visible": False}, "yaxis": {"visible": False}, "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "annotations": [{"text": message, "showarrow": False, "font": {"color": t["muted"], "size": 14},
                         "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
    }}


# ---------------------------------------------------------------- live ticks

@dataclass(frozen=True)
class Extension:
    """What one live tick adds to each trace: {trace index: (x list, y list, customdata list|None)}."""
    traces: dict[int, tuple[list, list, list | None]]
    last_step: dict[str, int]
    ema: dict[str, list[float]]
    added: int


def extension(new: list[RunLine], state: dict, opts: ChartOptions) -> Extension:
    """The points to append after a live tick: only steps after each run's cursor, in the
    figure's x mode, smoothing continued from the stored EMA state."""
    traces: dict[int, tuple[list, list, list | None]] = {}
    last_step = dict(state.get("last_step", {}))
    ema = {k: list(v) for k, v in state.get("ema", {}).items()}
    added = 0
    smoothing = min(max(opts.smoothing, 0.0), 0.999)
    for line in new:
        key = str(line.run_id)
        entry = state.get("traces", {}).get(key)
        if entry is None or entry.get("hidden") or line.steps.size == 0:
            continue
        cursor = last_step.get(key, -1)
        keep = line.steps > cursor
        if not keep.any():
            continue
        steps, values, wall = line.steps[keep], line.values[keep], line.wall[keep]
        if opts.xaxis == "relative":
            xn = (wall - state.get("t0", {}).get(key, float(wall[0]))) / state.get("unit_s", 1.0)
        elif opts.xaxis == "wall":
            xn = wall
        else:
            xn = steps.astype(np.float64)
        x = steps.tolist() if opts.xaxis == "step" else _as(_x_out(xn, opts.xaxis), True)
        chunk = RunLine(line.run_id, line.name, steps, values, wall)
        custom = _customdata(chunk, np.arange(steps.size), opts.xaxis, True, smoothing > 0 and "raw" in entry)
        finite = np.isfinite(values)
        if smoothing > 0 and "raw" in entry:
            last, n = ema.get(key, [0.0, 0])
            smooth, last, n = ema_resume(values, smoothing, float(last), int(n))
            ema[key] = [last, n]
            traces[entry["raw"]] = (x, _as(_finite_for_axis(values, opts.log_y), True), None)
            traces[entry["line"]] = (x, _as(_finite_for_axis(smooth, opts.log_y), True), custom)
        else:
            traces[entry["line"]] = (x, _as(_finite_for_axis(values, opts.log_y), True), custom)
        if (~finite).any():
            bx = [v for v, ok in zip(x, finite) if not ok]
            traces[entry["bad"]] = (bx, nonfinite_y(values[~finite]).tolist(), steps[~finite].tolist())
        last_step[key] = int(steps[-1])
        added += int(steps.size)
    return Extension(traces, last_step, ema, added)


def extension_patch(ext: Extension):
    """A dash.Patch appending the extension's points (layout untouched: the zoom stays)."""
    from dash import Patch  # the one Dash import here: the payload type of a partial update

    patch = Patch()
    for i, (x, y, custom) in sorted(ext.traces.items()):
        patch["data"][i]["x"].extend(x)
        patch["data"][i]["y"].extend(y)
        if custom is not None:
            patch["data"][i]["customdata"].extend(custom)
    return patch


# ---------------------------------------------------------------- comparison table

def summary_rows(lines: list[RunLine]) -> list[dict[str, Any]]:
    """Final and min value per run (finite values only), for the table under a comparison."""
    colors = run_colors([l.run_id for l in lines])
    rows = []
    for l in lines:
        finite = np.isfinite(l.values)
        fv = l.values[finite]
        final = l.final if l.total is not None else (int(l.steps[finite][-1]), float(fv[-1])) if fv.size else None
        rows.append({
            "run_id": l.run_id, "run": l.name, "color": colors[l.run_id],
            "final": final[1] if final else None,
            "final_step": final[0] if final else None,
            # an overview holds each grid bucket's first lowest point, so the first overall too
            "min": float(fv.min()) if fv.size else None,
            "min_step": int(l.steps[finite][np.argmin(fv)]) if fv.size else None,
            "points": l.points,
            "nonfinite": int(np.count_nonzero(~finite)),
        })
    return rows


def csv_text(lines: list[RunLine], metric: str, x_range: tuple[float, float] | None = None,
             xaxis: str = "step") -> str:
    """Every point of what is on screen (the window when zoomed), full resolution, as CSV."""
    unit_label, unit_s = time_unit(lines)
    frames = []
    for l in lines:
        xn = x_numeric(l, xaxis, unit_s)
        mask = np.ones(xn.size, bool) if x_range is None else (xn >= x_range[0]) & (xn <= x_range[1])
        frames.append(pd.DataFrame({
            "run_id": l.run_id, "run": l.name, "metric": metric, "step": l.steps[mask],
            "value": l.values[mask],
            "timestamp": pd.to_datetime(l.wall[mask], unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }))
    df = pd.concat(frames) if frames else pd.DataFrame(columns=["run_id", "run", "metric", "step", "value", "timestamp"])
    # repr-exact floats; NaN/inf spelled as the API spells them
    return df.to_csv(index=False, na_rep="nan", float_format=None)


__all__ = [
    "ChartOptions", "RunLine", "Extension", "PALETTE", "PRIMARY_METRICS", "X_MODES", "build_figure", "encode_arrays",
    "chart_revision", "csv_text", "ema_resume", "ema_state", "extension", "extension_patch",
    "message_figure", "metric_label", "metric_options", "points_note",
    "reduce_indices", "resolve_metric", "robust_range", "run_colors", "summary_rows"
]

"""Figure builders, without a browser: selector order, fallbacks, reduction and zoom,
smoothing, axes, non-finite markers, live extension payloads, CSV."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

import plotly.graph_objects as go

from dashboard import figures
from dashboard.figures import (
    PALETTE,
    ChartOptions,
    RunLine,
    csv_text,
    ema_resume,
    ema_state,
    extension,
    extension_patch,
    metric_options,
    points_note,
    resolve_metric,
    robust_range,
    run_colors,
    summary_rows,
)
from dashboard.sampling import ema_debiased

T0 = 1_700_000_000.0


def build_figure(lines, opts):
    """The builder's dict as a validated go.Figure: the dict must be a valid figure, and tests read attributes."""
    fig, info = figures.build_figure(lines, opts)
    return go.Figure(fig), info


def line(run_id=1, n=100, values=None, name=None, start=0) -> RunLine:
    steps = np.arange(start, start + n, dtype=np.int64)
    values = np.asarray(values if values is not None else np.linspace(3.0, 1.0, n), dtype=np.float64)
    return RunLine(run_id, name or f"run-{run_id}", steps, values, T0 + steps * 2.0)


def trace_y(trace) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in trace.y], dtype=float)


def test_selector_offers_loss_lr_grad_norm_first_then_the_rest():
    opts = metric_options({"mfu", "grad_norm", "loss", "accuracy", "learning_rate"})
    assert [o["value"] for o in opts] == ["loss", "learning_rate", "grad_norm", "accuracy", "mfu"]
    assert [o["label"] for o in opts[:3]] == ["Loss", "LR", "Grad Norm"]


def test_loss_falls_back_to_train_loss():
    assert resolve_metric("loss", {"train_loss", "val_loss"}) == "train_loss"
    assert resolve_metric("loss", {"loss", "train_loss"}) == "loss"
    assert resolve_metric("learning_rate", {"loss"}) is None
    assert metric_options({"train_loss"})[0] == {"label": "Loss", "value": "loss"}


def test_colours_are_stable_by_run_and_distinct_within_a_chart():
    assert run_colors([3])[3] == run_colors([1, 2, 3])[3] == PALETTE[3]
    clash = run_colors([1, 1 + len(PALETTE), 1 + 2 * len(PALETTE)])
    assert len(set(clash.values())) == 3


def test_single_run_figure_draws_every_point_when_small():
    fig, info = build_figure([line(n=50)], ChartOptions(max_points=1000))
    assert list(fig.data[0].x) == list(range(50))
    assert trace_y(fig.data[0])[0] == 3.0
    assert info["shown"] == info["total"] == 50 and points_note(info["shown"], info["total"]) == ""
    assert fig.layout.uirevision and fig.layout.yaxis.title.text == "Loss"


def test_long_series_is_reduced_to_max_points_and_keeps_the_spike():
    values = np.ones(100_000)
    values[54_321] = 50.0
    fig, info = build_figure([line(n=100_000, values=values)], ChartOptions(max_points=1000))
    x = np.asarray(fig.data[0].x)
    assert x.size <= 1000 and 54_321 in x
    assert info["total"] == 100_000 and points_note(info["shown"], info["total"]) == f"showing {x.size:,} of 100,000 points"


def test_zoomed_range_gets_full_resolution_there():
    big = line(n=200_000, values=np.sin(np.arange(200_000) / 50.0))
    overview, _ = build_figure([big], ChartOptions(max_points=1000))
    zoomed, info = build_figure([big], ChartOptions(max_points=1000, x_range=(100_000.0, 100_400.0)))

    def in_range(fig):
        x = np.asarray(fig.data[0].x)
        return int(np.count_nonzero((x >= 100_000) & (x <= 100_400)))

    assert in_range(overview) < 20
    assert in_range(zoomed) == 401  # every point of the window
    assert info["total"] == 401 and info["shown"] == 401
    assert zoomed.layout.xaxis.range == (100_000.0, 100_400.0)


def test_comparison_shares_bucket_edges_and_legend():
    a, b = line(1, n=50_000), line(2, n=25_000)
    fig, info = build_figure([a, b], ChartOptions(max_points=500, compare=True))
    lines = [t for t in fig.data if t.yaxis != "y2"]
    assert [t.name for t in lines] == ["run-1", "run-2"] and all(t.showlegend for t in lines)
    # run-2 spans half the shared x range, so it gets about half the buckets
    assert len(lines[1].x) <= len(lines[0].x) // 2 + 4
    assert fig.layout.hovermode == "x unified"


def test_smoothing_draws_faint_raw_and_debiased_ema_on_full_resolution():
    values = np.random.default_rng(1).normal(2, 0.5, 300)
    fig, info = build_figure([line(n=300, values=values)], ChartOptions(smoothing=0.9, max_points=1000))
    raw, smooth = fig.data[0], fig.data[1]
    assert raw.opacity < 0.5 and raw.hoverinfo == "skip"
    np.testing.assert_allclose(trace_y(smooth), ema_debiased(values, 0.9), rtol=1e-6)  # float32 on the wire
    np.testing.assert_allclose(trace_y(raw), values)


def test_nonfinite_points_break_the_line_and_show_as_edge_markers():
    values = np.array([1.0, 2.0, np.nan, 4.0, np.inf, 6.0, -np.inf, 8.0])
    fig, _ = build_figure([line(n=8, values=values)], ChartOptions())
    y = trace_y(fig.data[0])
    assert np.isnan(y[[2, 4, 6]]).all() and fig.data[0].connectgaps is False
    markers = fig.data[1]
    assert markers.yaxis == "y2" and list(markers.x) == [2, 4, 6]
    assert list(markers.text) == ["NaN", "+inf", "−inf"]
    assert list(markers.y) == [0.97, 0.97, 0.03]  # top edge, top edge, bottom edge
    assert fig.layout.yaxis2.range == (0, 1) and fig.layout.yaxis2.visible is False


def test_log_scale_with_zeros_and_negatives_does_not_raise_and_says_so():
    values = np.array([0.0, -1.0, 1.0, 10.0, 100.0, np.nan])
    fig, info = build_figure([line(n=6, values=values)], ChartOptions(log_y=True, robust_y=True))
    assert fig.layout.yaxis.type == "log"
    y = trace_y(fig.data[0])
    assert np.isnan(y[:2]).all() and list(y[2:5]) == [1.0, 10.0, 100.0]
    assert info["nonpositive"] == 2 and "2 non-positive values not drawn" in info["notes"][0]


def test_log_scale_with_nothing_positive_is_still_a_figure():
    fig, info = build_figure([line(n=3, values=[0.0, 0.0, -2.0])], ChartOptions(log_y=True, robust_y=True))
    assert info["nonpositive"] == 3 and np.isnan(trace_y(fig.data[0])).all()


def test_outlier_range_ignores_spikes_without_dropping_them():
    values = np.ones(1000)
    values[500] = 1e6
    fig, _ = build_figure([line(n=1000, values=values)], ChartOptions(robust_y=True, max_points=5000))
    lo, hi = fig.layout.yaxis.range
    assert hi < 10 and 1e6 in trace_y(fig.data[0])
    assert robust_range([np.array([np.nan])], False) is None


def test_relative_and_wall_time_axes():
    fig, _ = build_figure([line(n=100)], ChartOptions(xaxis="relative"))
    assert fig.layout.xaxis.title.text == "relative time (min)" and fig.data[0].x[-1] == pytest.approx(198 / 60)
    fig, _ = build_figure([line(n=10)], ChartOptions(xaxis="wall"))
    assert str(np.asarray(fig.data[0].x)[0]).startswith("2023-11-14T22:13:20")
    assert "step %{customdata[1]}" in fig.data[0].hovertemplate  # the step is in the hover when x is time


def test_hover_has_run_step_exact_value_and_wall_time():
    fig, _ = build_figure([line(n=3, values=[2.718281828459045, 1.0, 0.5])], ChartOptions())
    t = fig.data[0]
    assert "%{fullData.name}" in t.hovertemplate and "step %{x}" in t.hovertemplate
    assert np.asarray(t.customdata)[0, 0] == T0 * 1000  # wall time (ms) for the date format
    assert "%{y:.10~g}" in t.hovertemplate and "%{customdata[0]|%Y-%m-%d %H:%M:%S}" in t.hovertemplate
    smooth = build_figure([line(n=3)], ChartOptions(smoothing=0.5))[0].data[1]
    assert np.asarray(smooth.customdata)[1, 1] == 2.0 and "value %{customdata[1]:.10~g}" in smooth.hovertemplate


def test_webgl_above_the_threshold_and_compact_json():
    runs = [line(r, n=100_000, values=np.random.default_rng(r).random(100_000)) for r in range(20)]
    fig, info = build_figure(runs, ChartOptions(compare=True, max_points=2000))
    assert info["webgl"] and fig.data[0].type == "scattergl"
    from plotly.io.json import to_json_plotly
    assert len(to_json_plotly(figures.build_figure(runs, ChartOptions(compare=True, max_points=2000))[0])) < 2_000_000


def test_ema_resume_continues_exactly():
    values = np.random.default_rng(3).normal(1, 0.3, 500)
    values[[10, 400]] = np.nan
    whole = ema_debiased(values, 0.8)
    last, n = ema_state(values[:300], ema_debiased(values[:300], 0.8), 0.8)
    rest, _, _ = ema_resume(values[300:], 0.8, last, n)
    np.testing.assert_allclose(rest, whole[300:], rtol=1e-10)


def test_live_extension_sends_only_points_after_the_cursor():
    first = line(n=10)
    fig, info = build_figure([first], ChartOptions(live_runs=frozenset({1}), smoothing=0.5))
    assert isinstance(figures.build_figure([first], ChartOptions(live_runs=frozenset({1})))[0]["data"][0]["x"], list)  # a Patch can extend it
    grown = line(n=14, values=np.r_[np.linspace(3.0, 1.0, 10), [0.9, np.nan, 0.8, 0.7]])
    ext = extension([grown], info, ChartOptions(smoothing=0.5))
    assert ext.added == 4 and ext.last_step == {"1": 13}
    x, y, custom = ext.traces[info["traces"]["1"]["raw"]]
    assert x == [10, 11, 12, 13] and y[0] == 0.9 and y[1] is None
    sx, sy, _ = ext.traces[info["traces"]["1"]["line"]]
    np.testing.assert_allclose([v for v in sy if v is not None], ema_debiased(grown.values, 0.5)[[10, 12, 13]])
    bx, by, bsteps = ext.traces[info["traces"]["1"]["bad"]]
    assert bx == [11] and by == [0.97]
    ops = extension_patch(ext).to_plotly_json()["operations"]
    assert {op["operation"] for op in ops} == {"Extend"}
    assert ["data", 0, "x"] in [op["location"] for op in ops]
    assert all(op["location"][0] == "data" for op in ops)  # the layout (the user's zoom) is not touched


def test_summary_and_csv_cover_every_point_in_view():
    runs = [line(1, n=100), line(2, n=50, values=np.r_[np.ones(49), np.nan])]
    rows = summary_rows(runs)
    assert rows[0]["final"] == 1.0 and rows[0]["min"] == 1.0 and rows[0]["points"] == 100
    assert rows[1]["final_step"] == 48 and rows[1]["nonfinite"] == 1
    df = pd.read_csv(io.StringIO(csv_text(runs, "loss", x_range=(10, 59))))
    assert len(df) == 50 + 40 and set(df["run_id"]) == {1, 2}
    assert math.isnan(df[(df.run_id == 2) & (df.step == 49)]["value"].iloc[0])

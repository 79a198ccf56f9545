"""A chart drawn from the rollups (cold: no series in memory) is the chart drawn from every
point: the same traces, counts and comparison table, on both databases."""
from __future__ import annotations

import numpy as np
from plotly.io.json import to_json_plotly

from dashboard.callbacks.chart import ChartData, grid_overview, render
from dashboard.callbacks.data import SeriesCache
from dashboard.db import queries
from dashboard.db import runs as runs_db
from dashboard.db.writer import write_batch
from dashboard.figures import ChartOptions


def _run(engine, exp, name, rng, lo, n, span):
    rid = runs_db.create_run(engine, exp, name)
    steps = np.sort(rng.choice(span, n, replace=False)) + lo
    values = rng.normal(0, 1, n).round(1)  # ties: the first of equal extremes must win on both paths
    values[rng.choice(n, 2, replace=False)] = [40.0, -40.0]  # one-step spikes
    for kind in (np.nan, np.inf, -np.inf):
        values[rng.choice(n, 3, replace=False)] = kind
    if name == "tail":
        values[-2:] = np.nan  # the last finite point is not the last point
    batch = [("loss", int(s), float(v), 1.7e9 + s / 4) for s, v in zip(steps, values)]
    for a in range(0, n, 1500):
        write_batch(engine, rid, batch[a:a + 1500])
    # a resumed run rewrites some steps, one of them to a new extreme
    write_batch(engine, rid, [("loss", int(s), float(rng.normal()), 1.0) for s in steps[rng.choice(n, 30)]]
                + [("loss", int(steps[n // 3]), -99.0, 2.0)])
    runs_db.set_status(engine, rid, "completed", exit_code=0, finished=True)
    return rid


def test_cold_comparison_from_the_rollups_equals_the_one_from_every_point(engine):
    rng = np.random.default_rng(11)
    exp = runs_db.get_or_create_experiment(engine, "exp")
    ids = [_run(engine, exp, "a", rng, 0, 6000, 30_000), _run(engine, exp, "b", rng, 7_000, 4000, 20_000),
           _run(engine, exp, "tail", rng, -500, 5000, 25_000)]
    args = ("loss", 0.0, "step", [], 400, "dark", {"compare": True})

    runs = [queries.get_run(engine, r) for r in ids]
    chart_opts = ChartData(engine, None, 60).options(runs, {"compare": True}, None, "loss", 0.0, "step", [], 400, "dark")
    plan = grid_overview(runs, {r: "loss" for r in ids}, chart_opts)
    assert plan is not None and plan.width % 64 == 0  # the test draws what it means to

    cold = ChartData(engine, SeriesCache(engine), stale_after_s=60)
    from_rollups = render(cold, ids, *args)
    assert cold.cache.reads == 0  # no series was read point by point
    full = ChartData(engine, SeriesCache(engine), stale_after_s=60)
    full.cache.lines(runs, {r: "loss" for r in ids})  # every point in memory: the reference path
    from_points = render(full, ids, *args)

    assert to_json_plotly(from_rollups["figure"]) == to_json_plotly(from_points["figure"])
    assert from_rollups["cursor"] == from_points["cursor"]
    assert from_rollups["note"] == from_points["note"] and "of 15,000 points" in from_points["note"]
    assert str(from_rollups["summary"]) == str(from_points["summary"])
    # the spikes are drawn
    ys = np.concatenate([np.asarray(t["y"], dtype=float) for t in _decoded(from_rollups["figure"]) if t.get("yaxis") != "y2"])
    assert {40.0, -40.0, -99.0} <= set(ys[np.isfinite(ys)].tolist())


def _decoded(fig):
    import base64
    out = []
    for trace in fig["data"]:
        trace = dict(trace)
        for key, v in list(trace.items()):
            if isinstance(v, dict) and "bdata" in v:
                trace[key] = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        out.append(trace)
    return out


def test_no_overview_when_the_chart_needs_every_point(engine):
    exp = runs_db.get_or_create_experiment(engine, "exp")
    rid = runs_db.create_run(engine, exp, "r")
    write_batch(engine, rid, [("loss", s, 1.0, 0.0) for s in range(0, 100_000, 10)])
    runs_db.set_status(engine, rid, "completed", exit_code=0, finished=True)
    run = queries.get_run(engine, rid)
    base = dict(metric="loss", max_points=400)
    assert grid_overview([run], {rid: "loss"}, ChartOptions(**base)) is not None
    for opts in (ChartOptions(**base, smoothing=0.6), ChartOptions(**base, log_y=True),
                 ChartOptions(**base, xaxis="wall"), ChartOptions(**base, x_range=(5.0, 50.0))):
        assert grid_overview([run], {rid: "loss"}, opts) is None
    assert grid_overview([{**run, "is_complete": False}], {rid: "loss"}, ChartOptions(**base)) is None

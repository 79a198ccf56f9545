"""Callback logic against a real database, without a browser: full render, the fallback for
a run without metrics, the live tick's Patch with only new points, the terminal tail, the
series cache, the router and the relayout parsing."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from dash.exceptions import PreventUpdate

from dashboard.callbacks.chart import NO_METRICS, ChartData, live_tick, parse_relayout, render
from dashboard.callbacks.data import SeriesCache
from dashboard.callbacks.experiment import compare_href, experiment_search
from dashboard.callbacks.log_view import load_log, tail_patch
from dashboard.db import runs as runs_db
from dashboard.db.writer import write_batch
from dashboard.pages import query_params, resolve

T0 = 1_700_000_000.0


def points(name, steps, f=lambda s: 10.0 / (s + 1)):
    return [(name, int(s), float(f(s)), T0 + s) for s in steps]


@pytest.fixture
def exp(engine):
    return runs_db.get_or_create_experiment(engine, "exp")


@pytest.fixture
def data(engine):
    return ChartData(engine, SeriesCache(engine), stale_after_s=3600)


def run_with(engine, exp, name, pts, status="completed", log=None):
    rid = runs_db.create_run(engine, exp, name)
    write_batch(engine, rid, pts, [(0, log)] if log else [])
    if status != "running":
        runs_db.set_status(engine, rid, status, exit_code=0, finished=True)
    return rid


def chart(data, runs, choice="loss", **kw):
    args = dict(smoothing=0.0, xaxis="step", yopts=[], width=2000, theme="dark", opts={})
    args.update(kw)
    out = render(data, runs, choice, args["smoothing"], args["xaxis"], args["yopts"], args["width"],
                 args["theme"], args["opts"], args.get("x_range"))
    return {**out, "figure": go.Figure(decoded(out["figure"]))}  # a valid figure; attributes for the asserts


def decoded(fig):
    """Typed-array specs (what the browser receives) back into arrays."""
    import base64
    for trace in fig["data"]:
        for key, v in list(trace.items()):
            if isinstance(v, dict) and "bdata" in v:
                arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
                trace[key] = arr.reshape([int(n) for n in str(v["shape"]).split(",")]) if "shape" in v else arr
    return fig


def test_run_without_metrics_says_so_and_nothing_breaks(engine, exp, data):
    rid = run_with(engine, exp, "legacy", [], log="training started\n")
    out = chart(data, [rid])
    assert out["empty"] == NO_METRICS and out["interval_disabled"] is True
    assert out["figure"].data == ()
    children, _ = load_log(engine, rid)
    assert children[0].children == ["training started\n"]


def test_render_selector_options_and_lr_series(engine, exp, data):
    rid = run_with(engine, exp, "a", points("loss", range(5)) + points("learning_rate", range(5), lambda s: 1e-4 * s)
                   + points("mfu", range(5), lambda s: 0.4))
    out = chart(data, [rid])
    assert [o["value"] for o in out["options"]] == ["loss", "learning_rate", "mfu"]
    assert list(out["figure"].data[0].y) == pytest.approx([10.0 / (s + 1) for s in range(5)])
    lr = chart(data, [rid], "learning_rate")
    assert list(lr["figure"].data[0].y) == pytest.approx([1e-4 * s for s in range(5)])
    assert lr["figure"].layout.yaxis.title.text == "LR"
    assert out["interval_disabled"] is True  # completed: no ticks


def test_loss_choice_falls_back_to_train_loss_with_a_note(engine, exp, data):
    rid = run_with(engine, exp, "epochs", points("train_loss", range(3)))
    out = chart(data, [rid])
    assert out["empty"] is None and len(out["figure"].data[0].x) == 3
    assert "showing train_loss" in out["note"]


def test_live_tick_appends_only_new_points_then_stops(engine, exp, data):
    rid = run_with(engine, exp, "live", points("loss", range(10)), status="running")
    out = chart(data, [rid])
    assert out["interval_disabled"] is False and out["cursor"]["last_step"] == {str(rid): 9}
    cursor = out["cursor"]
    with pytest.raises(PreventUpdate):  # nothing new yet
        live_tick(data, cursor, 0.0, "step", [], 2000, "dark", {})
    write_batch(engine, rid, points("loss", range(10, 13)))
    res = live_tick(data, cursor, 0.0, "step", [], 2000, "dark", {})
    ops = res["patch"].to_plotly_json()["operations"]
    x_ops = [op for op in ops if op["location"] == ["data", 0, "x"]]
    assert x_ops[0]["params"]["value"] == [10, 11, 12]
    assert res["cursor"]["last_step"] == {str(rid): 12} and res["interval_disabled"] is False
    runs_db.set_status(engine, rid, "completed", exit_code=0, finished=True)
    write_batch(engine, rid, points("loss", [13]))
    last = live_tick(data, res["cursor"], 0.0, "step", [], 2000, "dark", {})
    assert last["interval_disabled"] is True and last["cursor"]["last_step"] == {str(rid): 13}


def test_redraw_and_tick_in_flight_commute(engine, exp, data):
    """A zoom computed after new points arrived draws only what the chart had; the tick adds the rest."""
    from dashboard.callbacks.chart import drawn_until
    rid = run_with(engine, exp, "live2", points("loss", range(10)), status="running")
    cursor = chart(data, [rid])["cursor"]
    write_batch(engine, rid, points("loss", range(10, 15)))
    zoom = chart(data, [rid], x_range=(2.0, 8.0))
    assert zoom["cursor"]["last_step"] == {str(rid): 14}  # uncapped: a new view
    until = drawn_until(cursor, [rid], "loss")
    capped = render(data, [rid], "loss", 0.0, "step", [], 2000, "dark", {}, (2.0, 8.0), None, until)
    assert capped["cursor"]["last_step"] == {str(rid): 9} and max(capped["figure"]["data"][0]["x"]) == 9
    tick = live_tick(data, capped["cursor"], 0.0, "step", [], 2000, "dark", {})
    x_ops = [op for op in tick["patch"].to_plotly_json()["operations"] if op["location"] == ["data", 0, "x"]]
    assert x_ops[0]["params"]["value"] == [10, 11, 12, 13, 14]
    assert drawn_until(cursor, [rid], "learning_rate") is None  # another metric: a new chart


def test_live_run_whose_metric_appears_later_is_rebuilt(engine, exp, data):
    rid = run_with(engine, exp, "late", [], status="running")
    out = chart(data, [rid])
    assert out["empty"] == NO_METRICS and out["interval_disabled"] is False
    write_batch(engine, rid, points("loss", range(3)))
    assert live_tick(data, out["cursor"], 0.0, "step", [], 2000, "dark", {})["rebuild"] is True


def test_zoom_render_gives_full_resolution_in_range(engine, exp, data):
    rid = run_with(engine, exp, "long", points("loss", range(20_000), lambda s: np.sin(s / 30.0)))
    over = chart(data, [rid], width=400)
    zoom = chart(data, [rid], width=400, x_range=(5_000.0, 5_300.0))
    xs_over = np.asarray(over["figure"].data[0].x)
    xs_zoom = np.asarray(zoom["figure"].data[0].x)
    in_range = lambda x: int(np.count_nonzero((x >= 5_000) & (x <= 5_300)))
    assert in_range(xs_zoom) == 301 > in_range(xs_over)
    assert "showing" in over["note"] and zoom["cursor"]["x_range"] == [5_000.0, 5_300.0]


def test_comparison_has_one_trace_per_run_and_a_summary(engine, exp, data):
    ids = [run_with(engine, exp, f"r{i}", points("loss", range(50), lambda s, i=i: i + 1.0 / (s + 1)))
           for i in range(3)]
    out = chart(data, ids, opts={"compare": True})
    lines = [t for t in out["figure"].data if t.yaxis != "y2"]
    assert [t.name for t in lines] == ["r0", "r1", "r2"]
    assert out["summary"] is not None and len(out["summary"].children[1].children) == 3


def test_runs_hidden_in_the_legend_are_not_read_or_sent(engine, exp):
    data = ChartData(engine, SeriesCache(engine), stale_after_s=3600)
    ids = [run_with(engine, exp, f"h{i}", points("loss", range(100))) for i in range(3)]
    out = render(data, ids, "loss", 0.0, "step", [], 2000, "dark", {"compare": True}, None, [ids[1]])
    assert isinstance(out["figure"]["data"][0]["y"], dict)  # sent as a base64 typed array
    traces = out["figure"]["data"]
    hidden = [t for t in traces if t.get("visible") == "legendonly"]
    assert [t["name"] for t in hidden] == ["h1"] and hidden[0]["x"] == [None] and hidden[0]["showlegend"]
    assert data.cache.reads == 2 and out["cursor"]["hidden"] == [ids[1]]
    assert [r.children[0].children[1] for r in out["summary"].children[1].children] == ["h0", "h2"]
    shown = render(data, ids, "loss", 0.0, "step", [], 2000, "dark", {"compare": True}, None, [])
    assert data.cache.reads == 3 and len([t for t in shown["figure"]["data"] if t.get("yaxis") != "y2"]) == 3


def test_series_cache_reads_only_the_tail_of_a_growing_run(engine, exp):
    cache = SeriesCache(engine)
    rid = run_with(engine, exp, "grow", points("loss", range(100)), status="running")
    from dashboard.db.queries import get_run
    assert cache.lines([get_run(engine, rid)], {rid: "loss"})[0].steps.size == 100
    assert cache.lines([get_run(engine, rid)], {rid: "loss"})[0].steps.size == 100
    assert cache.reads == 1  # unchanged: served from memory
    write_batch(engine, rid, points("loss", range(100, 110)))
    got = cache.lines([get_run(engine, rid)], {rid: "loss"})[0]
    assert got.steps.tolist() == list(range(110)) and cache.reads == 2
    write_batch(engine, rid, [("loss", 5, 123.0, T0)])  # a rewritten step (resumed run) changes the max
    write_batch(engine, rid, points("loss", [110]))
    got = cache.lines([get_run(engine, rid)], {rid: "loss"})[0]
    assert got.values[5] == 123.0 and got.steps.size == 111
    write_batch(engine, rid, [("loss", 7, 1.2, T0)])  # a rewrite no summary can reveal ...
    runs_db.set_status(engine, rid, "completed", exit_code=0, finished=True)
    got = cache.lines([get_run(engine, rid)], {rid: "loss"})[0]
    assert got.values[7] == 1.2  # ... is read once the run has finished: a finished chart is exact
    reads = cache.reads
    cache.lines([get_run(engine, rid)], {rid: "loss"})
    assert cache.reads == reads


def test_terminal_tail_patch_replaces_the_open_line_and_appends(engine, exp):
    rid = run_with(engine, exp, "bar", [], status="running", log="epoch 1\n 10%|#")
    children, cursor = load_log(engine, rid)
    assert cursor["open"] and children[-1].children == [" 10%|#"]
    write_batch(engine, rid, [], [(1, "\r100%|##########|\n\x1b[32mdone\x1b[0m\n")])
    patch, cursor2 = tail_patch(engine, cursor)
    ops = patch.to_plotly_json()["operations"]
    assert ops[0]["operation"] == "Delete" and ops[0]["location"] == [-1]
    block = ops[1]["params"]["value"]
    assert block.children[0] == "100%|##########|\n"
    assert block.children[1].className == "tb-fg-2" and block.children[1].children == "done"
    assert cursor2["seq"] == 1 and cursor2["open"] is False
    assert tail_patch(engine, cursor2) == (None, cursor2)


def test_router_resolves_every_page_and_reports_bad_urls(engine, exp):
    rid = run_with(engine, exp, "r", points("loss", range(3)))
    assert resolve(engine, "/").children[1].children[0].children[0].children == "Experiments"
    page = resolve(engine, f"/experiments/{exp}", f"?run={rid}&metric=learning_rate")
    assert f"{rid}" in str(page) and "learning_rate" in str(page)
    assert "compare" in str(resolve(engine, f"/experiments/{exp}/compare", f"?runs={rid}"))
    assert "tb-embed" in str(resolve(engine, f"/embed/experiments/{exp}/runs/{rid}", "?theme=light"))
    assert "No such run" in str(resolve(engine, f"/embed/experiments/{exp}/runs/999"))
    overlay = str(resolve(engine, f"/embed/experiments/{exp}/runs/{rid}", f"?runs={rid},999&controls=0"))
    assert "'compare': False" in overlay and "tb-hidden" in overlay  # 999 is not a run here: one run, no controls
    assert "Not found" in str(resolve(engine, "/experiments/abc"))
    assert "Not found" in str(resolve(engine, "/nowhere"))
    assert query_params("?runs=7,8&metric=loss&token=x") == {"runs": "7,8", "metric": "loss"}


def test_url_state_helpers():
    assert experiment_search(7, "loss") == "?run=7&metric=loss"
    assert experiment_search(8, "learning_rate", "?run=7&smoothing=0.6&token=t") == \
        "?run=8&smoothing=0.6&token=t&metric=learning_rate"
    assert compare_href(1, [7, 8, 9], "learning_rate") == "/experiments/1/compare?runs=7%2C8%2C9&metric=learning_rate"


def test_parse_relayout():
    assert parse_relayout({"xaxis.range[0]": 10, "xaxis.range[1]": 5.5}, "step") == ("zoom", (5.5, 10.0))
    assert parse_relayout({"xaxis.autorange": True, "yaxis.autorange": True}, "step") == ("reset", None)
    assert parse_relayout({"yaxis.range[0]": 1, "yaxis.range[1]": 2}, "step") == ("ignore", None)
    assert parse_relayout({"autosize": True}, "step") == ("ignore", None)
    kind, (lo, hi) = parse_relayout({"xaxis.range[0]": "2023-11-14 22:13:20", "xaxis.range[1]": "2023-11-14 22:13:30.5"}, "wall")
    assert kind == "zoom" and (lo, hi) == (T0, T0 + 10.5)

"""The demo's curves look like training, and the demo seeds a usable experiment."""
from __future__ import annotations

import threading

import numpy as np

from dashboard import demo
from dashboard.db import queries
from parsing import parse_text


def test_lr_schedule_warms_up_then_decays():
    lr = demo.lr_schedule(np.arange(1000), 1e-3, warmup=100, total=1000)
    assert lr[0] < lr[50] < lr[99] == 1e-3
    assert np.all(np.diff(lr[100:]) <= 0)
    assert abs(lr[-1] - 1e-4) < 1e-6


def test_demo_loss_decreases_with_noise_and_spikes():
    curves = demo.demo_curves(np.arange(20_000), peak_lr=3e-4, total=20_000, seed=0)
    loss = curves["loss"]
    assert loss[:100].mean() > 2 * loss[-1000:].mean()
    assert np.std(np.diff(loss[-1000:])) > 0  # noisy, not a clean line
    assert (loss > np.convolve(loss, np.ones(51) / 51, "same") + 0.4)[100:-100].any()  # spikes


def test_seed_demo_is_idempotent_and_live_run_flushes(engine):
    exp = demo.seed_demo(engine, total=300)
    assert demo.seed_demo(engine, total=300) == exp
    listed = queries.list_runs(engine, exp)
    assert [r["name"] for r in listed] == ["baseline-legacy", "lr-1e-4", "lr-3e-4", "lr-6e-4", "lr-1e-3"]
    assert listed[0]["metrics"] == {} and listed[1]["metrics"]["loss"]["count"] == 300
    # a finished run lasted as long as its points say, not the instant it took to seed it
    run = listed[1]
    assert (run["finished_at"] - run["started_at"]).total_seconds() == 300 * demo.STEP_SECONDS
    first = queries.metric_series(engine, run["id"], ["loss"]).timestamp.iloc[0]
    assert abs((first - run["started_at"]).total_seconds()) < 1
    stop = threading.Event()
    run_id = demo.run_live(engine, stop, total=40, steps_per_second=100, flush_seconds=0.05)
    run = queries.get_run(engine, run_id)
    assert run["status"] == "completed" and run["exit_code"] == 0
    log = "".join(text for _, text in queries.log_chunks(engine, run_id))
    assert "{'loss': " in log and "40/40" in log  # the toy trainer's real output
    # the points are what the parser finds in that log (a step found twice keeps the later value),
    # a record for every dict the trainer printed; not a step each: the trainer prints its dicts on
    # stdout and its bar on stderr, and a busy machine can read both pipes' output in one pass, so
    # that several dicts follow one bar (their steps then repeat)
    records = [r for r in parse_text(log) if "loss" in r.metrics]
    assert len(records) == log.count("{'loss': ") == 40
    expected = {r.step: r.metrics["loss"] for r in records}
    stored = queries.metric_series(engine, run_id, ["loss"])
    assert dict(zip(stored.step.tolist(), stored.value.tolist())) == expected


def test_live_run_stops_when_asked(engine):
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    run_id = demo.run_live(engine, stop, total=100_000, steps_per_second=50)
    run = queries.get_run(engine, run_id)
    assert run["status"] == "interrupted" and run["metrics"]["loss"]["count"] >= 1

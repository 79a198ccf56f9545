"""The demo's curves look like training, and the demo seeds a usable experiment."""
from __future__ import annotations

import threading

import numpy as np

from dashboard import demo
from dashboard.db import queries


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
    stop = threading.Event()
    run_id = demo.run_live(engine, stop, total=50, steps_per_second=1000, flush_seconds=0.01)
    run = queries.get_run(engine, run_id)
    assert run["status"] == "completed"
    assert run["metrics"]["loss"]["count"] == 50
    assert "loss" in queries.log_chunks(engine, run_id)[0][1]

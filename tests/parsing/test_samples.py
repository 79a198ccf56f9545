"""Every sample log in shared/logs parses to the series its .expected.json lists."""
from __future__ import annotations

import json

import pytest

from parsing import CANONICAL_TYPES, parse_file
from tests.parsing.conftest import SAMPLES, same, series, without_repeats

pytestmark = pytest.mark.skipif(not SAMPLES, reason="shared/logs not found (set TRAINBOARD_SHARED)")


def _load(logs_dir, name):
    expected = json.loads((logs_dir / f"{name}.expected.json").read_text())
    # Lines duplicated by other ranks are dropped: rank 0 (the lowest rank) is the series.
    expected = [r for r in expected if r.get("rank", 0) == 0]
    records = list(parse_file(logs_dir / f"{name}.log"))
    return expected, records


def _assert_points(name, exp_pts, got_pts):
    """Every expected point is produced, in order, with its value and (when the log prints one)
    its step; a value that only repeats the one before may be absent."""
    exp_pts = without_repeats(exp_pts)
    got_pts = without_repeats(got_pts)
    assert len(got_pts) == len(exp_pts), f"{name}: expected {exp_pts}, got {got_pts}"
    for (est, ev), (gst, gv) in zip(exp_pts, got_pts):
        assert same(ev, gv), f"{name}: expected {exp_pts}, got {got_pts}"
        if est is not None:
            assert gst == est, f"{name}: value {ev} expected at step {est}, got step {gst}"


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_log_series(logs_dir, name):
    expected, records = _load(logs_dir, name)
    exp, got = series(expected), series(records)
    assert set(got) == set(exp), f"names differ: missing {set(exp) - set(got)}, extra {set(got) - set(exp)}"
    for metric in exp:
        _assert_points(metric, exp[metric], got[metric])


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_log_core_series_exact(logs_dir, name):
    """loss / learning_rate / grad_norm: the exact sequence of values, NaN included."""
    expected, records = _load(logs_dir, name)
    exp, got = series(expected), series(records)
    for metric in CANONICAL_TYPES:
        assert [v for _, v in without_repeats(got.get(metric, []))] == pytest.approx(
            [v for _, v in without_repeats(exp.get(metric, []))], nan_ok=True), metric


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_log_records_in_order_with_lines(logs_dir, name):
    _, records = _load(logs_dir, name)
    lines = [r.line for r in records]
    assert lines == sorted(lines) and all(n >= 1 for n in lines)
    steps = [r.step for r in records if r.step is not None]
    # steps never go backwards within a stream (these logs never restart)
    assert steps == sorted(steps)


def test_hf_trainer_dicts_take_the_bar_position(logs_dir):
    records = list(parse_file(logs_dir / "hf_trainer.log"))
    losses = [(r.step, r.metrics["loss"]) for r in records if "loss" in r.metrics]
    assert losses[:3] == [(100, 3.8538), (200, 3.7495), (300, 3.6127)]
    evals = [r.step for r in records if "eval_loss" in r.metrics]
    assert evals[:3] == [290, 580, 870]  # the nested evaluation bar never advances the step
    block = [r for r in records if r.line == 123][0]
    assert block.metrics["train_runtime"] == pytest.approx(290.23)  # 0:04:50.23 in seconds
    assert block.metrics["total_flos"] == 1378440.0


def test_keras_steps_are_global_and_evaluate_is_not_training(logs_dir):
    records = list(parse_file(logs_dir / "keras.log"))
    train = [r for r in records if "loss" in r.metrics]
    assert [r.step for r in train][:6] == [1, 118, 235, 352, 469, 470]
    assert 0.0823 not in [r.metrics["loss"] for r in train]  # the evaluate() bar
    assert records[-1].metrics == {"test_accuracy": pytest.approx(0.9733999967575073)}


def test_torchtitan_other_ranks_do_not_overwrite_rank0(logs_dir):
    records = list(parse_file(logs_dir / "torchtitan.log"))
    tps = [(r.step, r.metrics["tps"]) for r in records if "tps" in r.metrics]
    assert tps[:3] == [(1, 1173.0), (2, 5417.0), (3, 5421.0)]
    assert len({s for s, _ in tps}) == len(tps)


def test_timestamps_come_from_the_line(logs_dir):
    records = list(parse_file(logs_dir / "megatron.log"))
    first = records[0]
    import time
    assert first.timestamp == pytest.approx(time.mktime((2024, 3, 18, 14, 4, 18, 0, 0, -1)))
    nanogpt = list(parse_file(logs_dir / "nanogpt.log"))
    assert all(r.timestamp is None for r in nanogpt)

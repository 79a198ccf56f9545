"""Many writer processes on one database at once: nothing lost, every run summary exact, no deadlock."""
from __future__ import annotations

import math
import multiprocessing
import os

import pytest

from dashboard.db import queries, runs
from tests.scale.writers import NAMES, timestamp, value, write_steps

JOIN_TIMEOUT_S = 300
PG_URL = os.environ.get("TRAINBOARD_TEST_PG_URL")


def _run_writers(url: str, jobs: list[tuple[int, list[list[int]], tuple[str, ...]]]) -> None:
    """One OS process per job (run_id, batches of steps, names), all released at once."""
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, as separate machines would be
    barrier, errors = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=write_steps, args=(url, run_id, batches, names, barrier, errors))
             for run_id, batches, names in jobs]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(JOIN_TIMEOUT_S)
        stuck = [p.pid for p in procs if p.is_alive()]
        assert not stuck, f"writer processes {stuck} did not finish in {JOIN_TIMEOUT_S} s"
        failures = []
        while not errors.empty():
            failures.append(errors.get())
        assert not failures, "\n".join(failures)
        assert [p.exitcode for p in procs] == [0] * len(procs)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(10)


def _expected_summary(name: str, steps: list[int], run_id: int) -> dict:
    steps = sorted(steps)
    finite = [v for v in (value(name, s, run_id) for s in steps) if math.isfinite(v)]
    last = value(name, steps[-1], run_id)
    return {"count": len(steps), "first_step": steps[0], "last_step": steps[-1],
            "last_value": last if math.isfinite(last) else None, "min": min(finite), "max": max(finite)}


def _assert_run_holds(engine, run_id: int, steps: list[int], names, n_chunks: int) -> None:
    frame = queries.metric_series(engine, run_id, list(names))
    summary = queries.get_run(engine, run_id)["metrics"]
    for name in names:
        series = frame[frame["name"] == name]
        assert series["step"].tolist() == sorted(steps), f"run {run_id} {name}: points lost or doubled"
        got = series["value"].tolist()
        want = [value(name, s, run_id) for s in sorted(steps)]
        assert all(g == w or (math.isnan(g) and math.isnan(w)) for g, w in zip(got, want))
        assert summary[name] == _expected_summary(name, steps, run_id)
        assert series["timestamp"].iloc[-1].timestamp() == pytest.approx(timestamp(max(steps)))
    assert len(queries.log_chunks(engine, run_id, limit=100_000)) == n_chunks


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="TRAINBOARD_TEST_PG_URL not set")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_eight_processes_write_eight_runs_at_once(engine, db_url):
    """SPEC §8: 8 runs writing at once lose nothing: 8 processes × 50,000 points."""
    exp = runs.get_or_create_experiment(engine, "scale")
    steps_per_run, steps_per_batch = 50_000 // len(NAMES), 500  # 2,000 points a batch, as capture flushes
    steps = list(range(steps_per_run))
    batches = [steps[i:i + steps_per_batch] for i in range(0, steps_per_run, steps_per_batch)]
    run_ids = [runs.create_run(engine, exp, f"run-{k}") for k in range(8)]

    _run_writers(db_url, [(run_id, batches, NAMES) for run_id in run_ids])

    for run_id in run_ids:
        assert sum(queries.point_count(engine, run_id, n) for n in NAMES) == 50_000
        _assert_run_holds(engine, run_id, steps, NAMES, len(batches))


def test_processes_writing_one_run_lose_no_summary_update(engine, db_url):
    """4 processes write different steps of the same run at once. Writers 0 and 1 interleave
    (steps of one parity each), so every batch's range holds the other's steps: the rewrite
    path. Writers 2 and 3 take turns over blocks of steps of their own: new rows (PostgreSQL's
    COPY path)."""
    per_batch, n_batches = 250, 6
    half = 2 * per_batch * n_batches
    run_id = runs.create_run(engine, runs.get_or_create_experiment(engine, "shared"), "one-run")
    names = ("loss", "grad_norm")
    jobs = []
    for k in (0, 1):
        mine = list(range(k, half, 2))
        jobs.append((run_id, [mine[i:i + per_batch] for i in range(0, len(mine), per_batch)], names))
    for k in (0, 1):
        blocks = [half + (2 * j + k) * per_batch for j in range(n_batches)]
        jobs.append((run_id, [list(range(lo, lo + per_batch)) for lo in blocks], names))

    _run_writers(db_url, jobs)

    all_steps = list(range(2 * half))
    assert sum(queries.point_count(engine, run_id, n) for n in names) == len(all_steps) * len(names)
    _assert_run_holds(engine, run_id, all_steps, names, 4 * n_batches)

"""Rollups, fine and coarse: kept equal to a numpy summary of the stored points through
overwrites, cleared with a run's metrics, and backfilled by migrations 0003 and 0004."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select, text

from dashboard.db import rollups, runs
from dashboard.db.engine import make_engine, upgrade
from dashboard.db.models import MetricRollup, MetricRollupCoarse
from dashboard.db.writer import write_batch

W = rollups.WIDTH
C = rollups.COARSE


def expected_rollups(points: dict[int, float], width: int = W) -> dict[int, tuple]:
    """{bucket: (points, nonfinite, first, last, min_step, min_value, max_step, max_value, nan, +inf, -inf)}."""
    steps = np.array(sorted(points))
    values = np.array([points[s] for s in steps.tolist()])
    out = {}
    for b in np.unique(steps // width).tolist():
        s, v = steps[steps // width == b], values[steps // width == b]
        fin = np.isfinite(v)

        def first(mask):
            return int(s[mask][0]) if mask.any() else None

        out[b] = (
            int(s.size), int((~fin).sum()), int(s[0]), int(s[-1]),
            int(s[fin][np.argmin(v[fin])]) if fin.any() else None, float(v[fin].min()) if fin.any() else None,
            int(s[fin][np.argmax(v[fin])]) if fin.any() else None, float(v[fin].max()) if fin.any() else None,
            first(np.isnan(v)), first(v == np.inf), first(v == -np.inf),
        )
    return out


def stored_rollups(engine, run_id, r=MetricRollup) -> dict[int, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(r.bucket, r.points, r.nonfinite, r.first_step, r.last_step, r.min_step, r.min_value, r.max_step,
                   r.max_value, r.nan_step, r.posinf_step, r.neginf_step)
            .where(r.run_id == run_id, r.name == "loss")
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


# PostgreSQL upserts a few rollup rows one by one and many through a staging table: both ways.
ONE_BY_ONE_OR_STAGED = pytest.mark.parametrize("stage_min_rows", [10**9, 1], ids=["one-by-one", "staged"])


@ONE_BY_ONE_OR_STAGED
def test_rollups_follow_out_of_order_writes_and_overwrites(engine, run_id, monkeypatch, stage_min_rows):
    monkeypatch.setattr(rollups, "PG_STAGE_MIN_ROWS", stage_min_rows)
    rng = np.random.default_rng(7)
    points: dict[int, float] = {}
    for _ in range(4):
        steps = rng.choice(np.arange(-5 * W, 20 * W), size=300, replace=False)
        values = rng.choice([np.nan, np.inf, -np.inf, 1.0, -1.0, 0.0, 2.5, -0.0], size=steps.size)
        values[::3] = rng.normal(0, 1, steps[::3].size)
        write_batch(engine, run_id, [("loss", int(s), float(v), 0.0) for s, v in zip(steps, values)])
        points.update(zip(steps.tolist(), values.tolist()))
        assert stored_rollups(engine, run_id) == expected_rollups(points)


def test_coarse_rollups_follow_appends_out_of_order_writes_and_overwrites(engine, run_id):
    rng = np.random.default_rng(17)
    points: dict[int, float] = {}
    appended = rng.normal(0, 1, 6 * C).round(1)  # ties: the first step of an extreme must win
    appended[rng.choice(appended.size, 40, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], size=40)
    batches = [dict(zip(range(a, a + 2 * C), appended[a:a + 2 * C].tolist())) for a in range(0, 6 * C, 2 * C)]
    for _ in range(2):  # then rewrites and new points anywhere, negative steps too
        steps = rng.choice(np.arange(-2 * C, 9 * C), size=1500, replace=False)
        values = rng.choice([np.nan, np.inf, -np.inf, 9.0, -9.0], size=steps.size)
        values[::2] = rng.normal(0, 1, values[::2].size).round(1)
        batches.append(dict(zip(steps.tolist(), values.tolist())))
    for batch in batches:
        write_batch(engine, run_id, [("loss", s, v, 0.0) for s, v in batch.items()])
        points.update(batch)
        assert stored_rollups(engine, run_id, MetricRollupCoarse) == expected_rollups(points, C)


def test_rollups_of_appended_batches_summarised_in_numpy_match_sql(engine, run_id):
    # Appends: each batch's inner buckets hold only its own points, summarised from the batch.
    rng = np.random.default_rng(11)
    values = rng.normal(0, 1, 40 * W).round(1)
    values[rng.choice(values.size, 30, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], size=30)
    points: dict[int, float] = {}
    for lo, hi in [(0, 7 * W + 5), (7 * W + 6, 30 * W), (30 * W + 1, 40 * W)]:
        batch = {s: float(values[s - 0]) for s in range(lo, min(hi, values.size))}
        write_batch(engine, run_id, [("loss", s, v, 0.0) for s, v in batch.items()])
        points.update(batch)
        assert stored_rollups(engine, run_id) == expected_rollups(points)


@ONE_BY_ONE_OR_STAGED
def test_appends_merge_into_the_stored_bucket_they_continue(engine, run_id, monkeypatch, stage_min_rows):
    # Batches that only add later steps are summarised from the batch alone, fine and coarse; the
    # bucket a batch continues merges with its stored row: ties keep the earlier step, the first
    # non-finite steps stay the old ones, first and last values span both.
    monkeypatch.setattr(rollups, "PG_STAGE_MIN_ROWS", stage_min_rows)
    rng = np.random.default_rng(23)
    taken = []
    real = rollups.update_rollups
    monkeypatch.setattr("dashboard.db.writer.update_rollups", lambda *a: taken.append(set(a[3])) or real(*a))
    points: dict[int, float] = {}
    step = -3 * W
    for size in rng.integers(1, 3 * W, size=40).tolist() + [5 * C, 7, 2 * C + 3]:
        steps = step + np.cumsum(rng.integers(1, 4, size=size))  # gaps inside the batch
        values = rng.choice([np.nan, np.inf, -np.inf, 1.0, -1.0, 0.0, 0.5], size=size)
        write_batch(engine, run_id, [("loss", int(s), float(v), 0.0) for s, v in zip(steps, values)])
        points.update(zip(steps.tolist(), values.tolist()))
        step = int(steps[-1]) + int(rng.integers(0, 2 * W))
        assert stored_rollups(engine, run_id) == expected_rollups(points)
        assert stored_rollups(engine, run_id, MetricRollupCoarse) == expected_rollups(points, C)
    for r, width in ((MetricRollup, W), (MetricRollupCoarse, C)):
        with engine.connect() as conn:
            ends = conn.execute(select(r.bucket, r.first_value, r.last_value).where(r.run_id == run_id)).all()
        by_bucket: dict[int, list] = {}
        for s in sorted(points):
            by_bucket.setdefault(s // width, []).append(None if points[s] != points[s] else points[s])
        assert {b: (f, l) for b, f, l in ends} == {b: (v[0], v[-1]) for b, v in by_bucket.items()}
    assert taken == [set()] + [{"loss"}] * 42  # every batch after the first took the append path


def test_first_and_last_values_and_bucket_ranges(engine, run_id):
    write_batch(engine, run_id, [("loss", s, float("nan") if s == 3 * W else s / 2, 0.0) for s in (5, 9, 3 * W, 3 * W + 1)])
    r = MetricRollup
    with engine.connect() as conn:
        rows = conn.execute(select(r.bucket, r.first_value, r.last_value).where(r.run_id == run_id).order_by(r.bucket)).all()
    assert [tuple(row) for row in rows] == [(0, 2.5, 4.5), (3, None, (3 * W + 1) / 2)]
    assert rollups.bucket_ranges([5, W, 2 * W + 1, 7 * W, -1]) == [(-W, 3 * W - 1), (7 * W, 8 * W - 1)]
    assert rollups.bucket_ranges([]) == []
    # The arrays form of `touched` gives the same rows as the {step: (value, ts)} form.
    before = stored_rollups(engine, run_id)
    with engine.begin() as conn:
        conn.execute(MetricRollup.__table__.delete())
        rollups.update_rollups(conn, run_id, {"loss": (np.array([5, 9, 3 * W, 3 * W + 1]),
                                                       np.array([2.5, 4.5, np.nan, (3 * W + 1) / 2]))})
    assert stored_rollups(engine, run_id) == before


def test_clear_metrics_and_delete_run_drop_rollups(engine, run_id):
    write_batch(engine, run_id, [("loss", s, 1.0, 0.0) for s in range(3 * W)])
    assert len(stored_rollups(engine, run_id)) == 3
    runs.clear_metrics(engine, run_id)
    assert stored_rollups(engine, run_id) == {} == stored_rollups(engine, run_id, MetricRollupCoarse)
    write_batch(engine, run_id, [("loss", 1, 2.0, 0.0)])
    assert len(stored_rollups(engine, run_id, MetricRollupCoarse)) == 1
    runs.delete_run(engine, run_id)
    assert stored_rollups(engine, run_id) == {} == stored_rollups(engine, run_id, MetricRollupCoarse)


def test_migrations_0003_and_0004_backfill_rollups(db_url):
    engine = make_engine(db_url)
    upgrade(engine, "0002")
    rng = np.random.default_rng(3)
    steps = np.sort(rng.choice(np.arange(-2 * C, 3 * C), size=3000, replace=False))
    values = rng.choice([np.nan, np.inf, -np.inf, 1.0, 3.0], size=steps.size)
    values[::2] = rng.normal(0, 1, steps[::2].size)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO experiments (id, name, created_at) VALUES (1, 'old', '2025-01-01 00:00:00+00:00')")
        conn.exec_driver_sql("INSERT INTO experiment_runs (id, experiment_id, name, status, metrics) "
                             "VALUES (7, 1, 'r', 'completed', '{}')")
        conn.execute(text("INSERT INTO metric_points (run_id, name, step, value, timestamp) "
                          "VALUES (7, 'loss', :s, :v, 0)"),
                     [{"s": s, "v": None if v != v else v} for s, v in zip(steps.tolist(), values.tolist())])
    upgrade(engine)
    points = dict(zip(steps.tolist(), values.tolist()))
    assert stored_rollups(engine, 7) == expected_rollups(points)
    assert stored_rollups(engine, 7, MetricRollupCoarse) == expected_rollups(points, C)
    engine.dispose()

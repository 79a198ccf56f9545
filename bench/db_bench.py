"""Storage bench: write 1,000,000 points into one run in batches (points built beforehand),
rewrite the last 100,000 (the upsert path), then read them back.

Prints points/s for the writes and ms for one metric's 1,000-step range and the whole series,
on SQLite (a temp file) and on PostgreSQL when TRAINBOARD_TEST_PG_URL is set (own schema,
dropped afterwards). Usage: python bench/db_bench.py [--points N] [--batch N] [--no-reads]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from databases import on_each_database  # noqa: E402
from dashboard.db import queries, runs  # noqa: E402
from dashboard.db.engine import init_db  # noqa: E402
from dashboard.db.writer import write_batch  # noqa: E402


def bench(url: str, label: str, n_points: int, batch: int, reads: bool = True) -> None:
    engine = init_db(url)
    run_id = runs.create_run(engine, runs.get_or_create_experiment(engine, "bench"), "bench")
    names = ("loss", "learning_rate", "grad_norm", "tokens_per_sec")
    steps = n_points // len(names)
    # The points are built before the clock starts: this measures the storage layer only.
    points = [(name, step, 1.0 / (step + 1) + i, 1.7e9 + step) for step in range(steps) for i, name in enumerate(names)]
    batches = [points[i:i + batch] for i in range(0, len(points), batch)]
    del points
    # A million prebuilt tuples are a heap no capture process holds: keep the cyclic GC
    # from rescanning them at every collection (that cost is the bench's, not the writer's).
    gc.collect()
    gc.freeze()
    t0, c0 = time.perf_counter(), time.process_time()
    for one in batches:
        write_batch(engine, run_id, one)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    # CPU seconds of this process, less noisy than wall time on a shared machine (for SQLite
    # it is all the work; for PostgreSQL the server's share is not in it).
    print(f"{label}: wrote {steps * len(names):,} points in batches of {batch:,}: "
          f"{steps * len(names) / elapsed:,.0f} points/s ({elapsed:.2f} s wall, "
          f"{steps * len(names) / cpu:,.0f} points per CPU-second of this process)")
    # A resumed run logs its last steps again: those batches take the upsert path.
    again = batches[-5:]
    t0 = time.perf_counter()
    for one in again:
        write_batch(engine, run_id, one)
    elapsed = time.perf_counter() - t0
    n_again = sum(map(len, again))
    print(f"{label}: rewrote {n_again:,} stored points (upsert path): {n_again / elapsed:,.0f} points/s")
    gc.unfreeze()
    if not reads:
        engine.dispose()
        return

    def timed(fn, repeat=20):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times), sorted(times)[int(len(times) * 0.95) - 1]

    lo = steps // 2
    p50, p95 = timed(lambda: queries.metric_series(engine, run_id, ["loss"], lo, lo + 999))
    print(f"{label}: one metric, 1,000-step range -> DataFrame: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    p50, p95 = timed(lambda: queries.metric_series(engine, run_id, ["loss"]), repeat=5)
    print(f"{label}: one metric, whole series ({steps:,} points) -> DataFrame: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--no-reads", action="store_true", help="measure the writes only")
    args = parser.parse_args()
    on_each_database(lambda url, label: bench(url, label, args.points, args.batch, not args.no_reads))


if __name__ == "__main__":
    main()

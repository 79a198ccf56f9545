"""Storage bench: write 1,000,000 points into one run in batches, then read them back.

Prints rows/s for the writes and ms for one metric's 1,000-step range and the whole series,
on SQLite (a temp file) and on PostgreSQL when TRAINBOARD_TEST_PG_URL is set (own schema,
dropped afterwards). Usage: python bench/db_bench.py [--points N] [--batch N]
"""
from __future__ import annotations

import argparse
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


def bench(url: str, label: str, n_points: int, batch: int) -> None:
    engine = init_db(url)
    run_id = runs.create_run(engine, runs.get_or_create_experiment(engine, "bench"), "bench")
    names = ("loss", "learning_rate", "grad_norm", "tokens_per_sec")
    steps = n_points // len(names)
    t0 = time.perf_counter()
    buf = []
    for step in range(steps):
        for i, name in enumerate(names):
            buf.append((name, step, 1.0 / (step + 1) + i, 1.7e9 + step))
        if len(buf) >= batch:
            write_batch(engine, run_id, buf)
            buf = []
    write_batch(engine, run_id, buf)
    elapsed = time.perf_counter() - t0
    print(f"{label}: wrote {steps * len(names):,} points in batches of {batch:,}: "
          f"{steps * len(names) / elapsed:,.0f} points/s ({elapsed:.2f} s)")

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
    args = parser.parse_args()
    on_each_database(lambda url, label: bench(url, label, args.points, args.batch))


if __name__ == "__main__":
    main()

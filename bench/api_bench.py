"""API bench (SPEC §8 "Query"): one metric of a 1,000,000-point run through the real app.

Prints p50/p95 ms and response sizes for a 1,000-step range, for the whole series at
max_points=2000 (cold: the overview from the rollups; warm: the same view again, served from
the overview cache), the time of the CSV of every point (plain and gzipped), and the overview from the rollups
against the same by a scan in SQL and against loading the series and reducing it in numpy.
SQLite (a temp file), and PostgreSQL when TRAINBOARD_TEST_PG_URL is set (own schema, dropped
afterwards). A pure-Python loop is timed first as a yardstick of how fast this machine is.
Usage: python bench/api_bench.py [--points N] [--repeat N]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from databases import on_each_database  # noqa: E402
from dashboard import create_app  # noqa: E402
from dashboard.config import Settings  # noqa: E402
from dashboard.db import queries, runs  # noqa: E402
from dashboard.db.engine import init_db  # noqa: E402
from dashboard.db.writer import write_batch  # noqa: E402
from dashboard.sampling import minmax_indices  # noqa: E402

BATCH = 200_000


def yardstick() -> float:
    t = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t


def percentiles(times_ms: list[float]) -> str:
    ordered = sorted(times_ms)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    return f"p50 {statistics.median(ordered):7.1f} ms, p95 {p95:7.1f} ms"


def fill(engine, n_points: int) -> tuple[int, int, int]:
    exp = runs.get_or_create_experiment(engine, "bench")
    run = runs.create_run(engine, exp, "one-million")
    rng = np.random.default_rng(0)
    values = 2.0 / np.sqrt(np.arange(n_points) + 1.0) + rng.normal(0, 0.01, n_points)
    spike = n_points * 2 // 3
    values[spike] = 50 * float(np.median(values))
    t = time.perf_counter()
    for lo in range(0, n_points, BATCH):
        hi = min(n_points, lo + BATCH)
        write_batch(engine, run, list(zip(["loss"] * (hi - lo), range(lo, hi), values[lo:hi].tolist(),
                                          (1.7e9 + np.arange(lo, hi) * 0.1).tolist())))
    elapsed = time.perf_counter() - t
    print(f"  wrote {n_points:,} points in batches of {BATCH:,}: {elapsed:.1f} s ({n_points / elapsed:,.0f} points/s)")
    return exp, run, spike


def bench(url: str, label: str, n_points: int, repeat: int) -> None:
    print(f"{label}:")
    engine = init_db(url)
    exp, run, spike = fill(engine, n_points)
    settings = Settings(db_url=url)
    base = f"/api/experiments/{exp}/runs/{run}"

    def client():
        return create_app(settings, engine=engine).server.test_client()

    def timed(c, path: str, headers=None):
        t = time.perf_counter()
        response = c.get(path, headers=headers)
        body = response.get_data()
        assert response.status_code == 200, (path, response.status_code, body[:300])
        return (time.perf_counter() - t) * 1000, body

    c = client()
    rng = random.Random(1)
    times, sizes = [], []
    for _ in range(repeat * 5):
        lo = rng.randrange(0, n_points - 1000)
        ms, body = timed(c, f"{base}/metrics?types=loss&step_min={lo}&step_max={lo + 999}")
        times.append(ms)
        sizes.append(len(body))
    print(f"  1,000-step range of one metric:          {percentiles(times)}; {statistics.median(sizes) / 1024:6.1f} KB")

    whole = f"{base}/metrics?max_points=2000"
    cold, warm = [], []
    for _ in range(repeat):
        c = client()  # a fresh app: an empty overview cache
        ms, body = timed(c, whole)
        cold.append(ms)
        for _ in range(3):
            warm.append(timed(c, whole)[0])
    gz = timed(c, whole, headers={"Accept-Encoding": "gzip"})[1]
    kept = c.get(whole).get_json()["metrics"]["loss"]
    assert any(p["step"] == spike for p in kept), "the spike must survive"
    print(f"  whole series at max_points=2000, cold:   {percentiles(cold)}; {len(body) / 1024:6.1f} KB "
          f"({len(gz) / 1024:.1f} KB gzipped), {len(kept)} points, spike kept")
    print(f"  whole series at max_points=2000, warm:   {percentiles(warm)}")

    t = time.perf_counter()
    response = c.get(f"{base}/metrics.csv")
    size = sum(len(chunk) for chunk in response.response)
    print(f"  CSV of every point (streamed):           {time.perf_counter() - t:7.2f} s; {size / 1e6:.1f} MB")
    t = time.perf_counter()
    response = c.get(f"{base}/metrics.csv", headers={"Accept-Encoding": "gzip"})
    size = sum(len(chunk) for chunk in response.response)
    print(f"  the same CSV gzipped (Accept-Encoding):  {time.perf_counter() - t:7.2f} s; {size / 1e6:.1f} MB")

    t = time.perf_counter()
    queries.metric_overview(engine, run, "loss", 0, n_points - 1, 999, use_rollups=True)
    sql_s = time.perf_counter() - t
    t = time.perf_counter()
    queries.metric_overview(engine, run, "loss", 0, n_points - 1, 999, use_rollups=False)
    scan_s = time.perf_counter() - t
    t = time.perf_counter()
    steps, values, _ = (np.concatenate(a) for a in zip(*queries.iter_metric_pages(engine, run, "loss", page=n_points)))
    minmax_indices(steps, values, 2000)
    mem_s = time.perf_counter() - t
    print(f"  overview of {n_points:,} points, 999 buckets: from the rollups {sql_s:.2f} s; "
          f"by a scan of the points in SQL {scan_s:.2f} s; "
          f"loading them and reducing in numpy {mem_s:.2f} s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"yardstick: a 10M-iteration Python loop takes {yardstick():.2f} s here (to compare machines)")
    on_each_database(lambda url, label: bench(url, label, args.points, args.repeat))


if __name__ == "__main__":
    main()

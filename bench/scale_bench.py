"""Scale-out bench (issue 8): concurrent writers, and the metrics API under gunicorn workers.

1. Write throughput: 1, 4 and 8 writer processes (each its own run, as capture processes on
   different machines would be) calling write_batch at once; prints the aggregate points/s.
2. API: `trainboard serve --workers N` on a free loopback port, a run of --api-points loss
   points, and a load generator of Python threads (http.client, keep-alive), bounded in
   requests and seconds, asking `GET /api/experiments/{id}/runs/{run_id}/metrics?types=loss&
   max_points=2000` (gzip accepted, as browsers do): the same view again and again (served from each worker's overview
   cache after its first), and a moving step window (a cache miss every request).
The load generator shares this machine's cores with the server: figures are a floor.
SQLite (a temp file), and PostgreSQL when TRAINBOARD_TEST_PG_URL is set (own schema, dropped
afterwards). Usage: python bench/scale_bench.py [--writers 1,4,8] [--points-per-writer N]
[--batch N] [--api-workers 1,4] [--api-points N] [--clients N] [--requests N] [--seconds S]
[--skip-writes] [--skip-api]
"""
from __future__ import annotations

import argparse
import gc
import http.client
import multiprocessing
import os
import queue
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from databases import on_each_database  # noqa: E402
from dashboard.db import runs  # noqa: E402
from dashboard.db.engine import init_db, make_engine  # noqa: E402
from dashboard.db.writer import write_batch  # noqa: E402
from tests.scale.serving import free_port, start_serve, stop, wait_until_serving  # noqa: E402

NAMES = ("loss", "learning_rate", "grad_norm", "tokens_per_sec")
SERVER_START_S = 120


def _writer(url: str, run_id: int, n_points: int, batch: int, barrier, finished) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    steps = n_points // len(NAMES)
    points = [(name, s, 1.0 / (s + 1) + i, 1.7e9 + s) for s in range(steps) for i, name in enumerate(NAMES)]
    batches = [points[i:i + batch] for i in range(0, len(points), batch)]
    del points
    gc.collect()
    gc.freeze()  # the prebuilt batches are the bench's heap, not the writer's
    barrier.wait(timeout=300)
    for one in batches:
        write_batch(engine, run_id, one)
    finished.put(time.monotonic())
    engine.dispose()


def bench_writes(url: str, label: str, counts: list[int], n_points: int, batch: int) -> None:
    engine = init_db(url)
    exp = runs.get_or_create_experiment(engine, "scale-bench")
    ctx = multiprocessing.get_context("spawn")
    for n in counts:
        run_ids = [runs.create_run(engine, exp, f"w{n}-{k}") for k in range(n)]
        barrier, finished = ctx.Barrier(n + 1), ctx.Queue()
        procs = [ctx.Process(target=_writer, args=(url, r, n_points, batch, barrier, finished)) for r in run_ids]
        for p in procs:
            p.start()
        barrier.wait(timeout=300)
        start = time.monotonic()
        ends = []
        while len(ends) < n:
            try:
                ends.append(finished.get(timeout=1))
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise SystemExit(f"{label}: a writer process failed") from None
        for p in procs:
            p.join(60)
        elapsed = max(ends) - start
        total = n * (n_points // len(NAMES)) * len(NAMES)
        print(f"{label}: {n} writer process{'es' if n > 1 else ''} × {n_points:,} points "
              f"(batches of {batch:,}): {total / elapsed:,.0f} points/s together ({elapsed:.2f} s)", flush=True)
    engine.dispose()


def _load(port: int, paths, clients: int, max_requests: int, seconds: float) -> tuple[int, float, list[float], int, int]:
    """`clients` threads, each on one keep-alive connection, until max_requests or seconds.
    Returns (requests, elapsed s, latencies ms, bytes of the last response, failures)."""
    lock = threading.Lock()
    sent = [0]
    latencies: list[float] = []
    failures = [0]
    size = [0]
    deadline = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if sent[0] >= max_requests:
                    break
                i = sent[0]
                sent[0] += 1
            t = time.perf_counter()
            try:
                conn.request("GET", paths(i), headers={"Accept-Encoding": "gzip"})  # as browsers ask
                resp = conn.getresponse()
                body = resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok, body = False, b""
            ms = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(ms)
                size[0] = len(body) or size[0]
                failures[0] += not ok
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), time.monotonic() - t0, latencies, size[0], failures[0]


def _seed_api_run(url: str, n_points: int) -> tuple[int, int]:
    engine = init_db(url)
    exp = runs.get_or_create_experiment(engine, "api-bench")
    run = runs.create_run(engine, exp, "long-run", status="completed")
    for lo in range(0, n_points, 50_000):
        hi = min(n_points, lo + 50_000)
        write_batch(engine, run, [(name, s, 2.0 / (1 + s) ** 0.5 + 1e-3 * (s % 97), 1.7e9 + s * 0.1)
                                  for s in range(lo, hi) for name in ("loss", "learning_rate")])
    engine.dispose()
    return exp, run


def bench_api(url: str, label: str, worker_counts: list[int], n_points: int, clients: int,
              max_requests: int, seconds: float) -> None:
    exp, run = _seed_api_run(url, n_points)
    base = f"/api/experiments/{exp}/runs/{run}/metrics?types=loss&max_points=2000"
    modes = {
        "same view": lambda i: base,
        "moving window": lambda i: f"{base}&step_max={n_points - 1 - i}",
    }
    for workers in worker_counts:
        port = free_port()
        server = start_serve(url, workers, port)
        try:
            if not wait_until_serving(server, port, "/api/experiments", SERVER_START_S):
                raise SystemExit(f"{label}: the server with {workers} workers did not start")
            server_name = "gunicorn" if workers > 1 else "Flask's threaded server"
            for mode, paths in modes.items():
                _load(port, paths, clients, clients * 5, seconds)  # warm-up: every worker's first requests
                n, elapsed, lat, size, failed = _load(port, paths, clients, max_requests, seconds)
                lat.sort()
                p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
                print(f"{label}: serve --workers {workers} ({server_name}), {clients} client threads, {mode}: "
                      f"{n / elapsed:,.0f} requests/s over {n:,} requests, p50 {statistics.median(lat):.1f} ms, "
                      f"p95 {p95:.1f} ms, {size / 1024:.0f} KB a response (gzip), {failed} failed", flush=True)
        finally:
            stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", default="1,4,8")
    parser.add_argument("--points-per-writer", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--api-workers", default="1,4")
    parser.add_argument("--api-points", type=int, default=250_000, help="loss points in the API's run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3_000, help="at most this many per measurement")
    parser.add_argument("--seconds", type=float, default=15.0, help="at most this long per measurement")
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)

    def bench(url: str, label: str) -> None:
        if not args.skip_writes:
            bench_writes(url, label, [int(n) for n in args.writers.split(",")], args.points_per_writer, args.batch)
        if not args.skip_api:
            bench_api(url, label, [int(n) for n in args.api_workers.split(",")], args.api_points,
                      args.clients, args.requests, args.seconds)

    on_each_database(bench)
    print(f"machine: load average {os.getloadavg()[0]:.1f} at the end", flush=True)


if __name__ == "__main__":
    main()

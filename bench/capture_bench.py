"""Capture bench: the cost of `trainboard run` on a live job, and the speed of `ingest`.

Live: a job prints `step N: loss X, wall T` (T = its own time.time() at print) at 100 and then
10,000 lines/s for --seconds each, under capture in a separate worker process (output passed
through to /dev/null). Printed: the worker's own CPU time (getrusage RUSAGE_SELF, so the job's CPU
is excluded; startup and imports excluded too) as a share of one core over the capture, and the
lag from a line being printed to its point being queryable (a poller in this process reads new
`wall` points every 20 ms: lag = time first seen - T; p50 / p99 / max).

Backfill: `ingest` of a generated Trainer/nanoGPT-style log (tqdm redraws, dicts, iter lines)
into a SQLite file: MB/s, lines/s, points/s; 100 MB by default, extrapolated to 1 GB with the
fixed cost of an import (timed on a one-line file) counted once (--gb 1 for the real thing).
Targets (SPEC §8): < 3 % of a core at 100 lines/s, < 25 % at 10,000, p99 lag < 2 s, 1 GB
backfilled in < 30 s.

    python bench/capture_bench.py [--seconds 10] [--mb 100 | --gb 1] [--skip-live] [--skip-ingest]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

JOB = r'''
import sys, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
start, n, total = time.time(), 0, int(rate * seconds)
while n < total:
    due = int((time.time() - start) * rate) + 1
    while n < min(due, total):
        print(f"step {n}: loss {2.0 + 1.0 / (n + 1):.5f}, wall {time.time():.6f}")
        n += 1
    time.sleep(0.0005 if rate > 1000 else max(start + n / rate - time.time(), 0))
'''


def worker(db: str, rate: float, seconds: float, job_path: str) -> None:
    """The capture process: everything imported and the database open before the clock starts."""
    import parsing  # noqa: F401 - imported (its format table compiled) before the clock, like any startup
    from dashboard.capture import capture
    from dashboard.db.engine import init_db

    engine = init_db(db)
    devnull = open(os.devnull, "wb")
    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = capture([sys.executable, job_path, str(rate), str(seconds)], experiment="bench",
                     name=f"{rate:g}/s", db=engine, stdout=devnull, stderr=devnull)
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t0
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"cpu_s": cpu, "wall_s": wall, "parse_s": result.stats.parse_s,
                      "write_s": result.stats.write_s, "run_id": result.run_id,
                      "flushes": result.stats.flushes, "chunks": result.stats.chunks,
                      "points": result.stats.points}), flush=True)


def live(rate: float, seconds: float, tmp: Path) -> None:
    from dashboard.db import queries
    from dashboard.db.engine import init_db

    db = f"sqlite:///{tmp / f'live-{rate:g}.db'}"
    engine = init_db(db)
    job = tmp / "job.py"
    job.write_text(JOB)
    proc = subprocess.Popen([sys.executable, __file__, "--worker", db, str(rate), str(seconds), str(job)],
                            stdout=subprocess.PIPE, text=True)
    lags, cursor, run_id = [], -1, None
    while proc.poll() is None or run_id is None:
        if run_id is None:
            exps = queries.list_experiments(engine)
            runs = queries.list_runs(engine, exps[0]["id"]) if exps else []
            run_id = runs[0]["id"] if runs else None
        else:
            new = queries.metric_series(engine, run_id, ["wall"], after_step=cursor)
            now = time.time()
            if len(new):
                lags.extend((now - new.value).tolist())
                cursor = int(new.step.iloc[-1])
        if proc.poll() is not None and run_id is None:
            break
        time.sleep(0.02)
    new = queries.metric_series(engine, run_id, ["wall"], after_step=cursor)
    lags.extend((time.time() - new.value).tolist())
    report = json.loads(proc.stdout.read().strip().splitlines()[-1])
    lags.sort()
    share = report["cpu_s"] / report["wall_s"]
    print(f"live {rate:>8,.0f} lines/s: capture CPU {share:6.1%} of a core "
          f"({report['cpu_s']:.2f} s CPU over {report['wall_s']:.1f} s; wall time in the parser {report['parse_s']:.2f} s, "
          f"in database writes {report['write_s']:.2f} s); "
          f"lag print->queryable p50 {statistics.median(lags) * 1000:,.0f} ms, "
          f"p99 {lags[int(len(lags) * 0.99) - 1] * 1000:,.0f} ms, max {lags[-1] * 1000:,.0f} ms "
          f"({len(lags):,} lines; {report['chunks']:,} chunks in {report['flushes']:,} flushes)")
    engine.dispose()


def generate_log(path: Path, size: int, seed: int = 0) -> int:
    """A log like a Trainer run (tqdm `\\r` redraws + dicts) interleaved with nanoGPT-style iter
    lines; returns its line count (counting `\\r` redraws as lines, as the parser does)."""
    rng = random.Random(seed)
    lines, written, step = 0, 0, 0
    with path.open("w", encoding="utf-8", newline="") as f:
        while written < size:
            parts = []
            for _ in range(100):
                step += 1
                parts.append(f"\r 11%|█▏        | {step}/1000000 [00:33<04:16,  3.00it/s]")
                if step % 10 == 0:
                    parts.append(f"\r{' ' * 49}\r{{'loss': {2 + rng.random():.4f}, 'grad_norm': {rng.random():.6f}, "
                                 f"'learning_rate': {3e-4 * rng.random():.6e}, 'epoch': {step / 1e4:.2f}}}\n")
                    lines += 2
                if step % 3 == 0:
                    parts.append(f"\niter {step}: loss {2 + rng.random():.4f}, time {100 + rng.random():.2f}ms, "
                                 f"mfu {40 * rng.random():.2f}%\n")
                    lines += 2
                lines += 1
            block = "".join(parts)
            f.write(block)
            written += len(block.encode("utf-8"))
    return lines


def backfill(size_mb: float, tmp: Path) -> None:
    from dashboard.capture import ingest

    log = tmp / "backfill.log"
    size = int(size_mb * 1e6)
    lines = generate_log(log, size)
    size = log.stat().st_size
    # What an import costs whatever its size (a new database and its migrations, the run, the
    # parser process's start): paid once, not per 100 MB.
    tiny = tmp / "tiny.log"
    tiny.write_text("step 1: loss 1.0\n")
    t0 = time.perf_counter()
    ingest(tiny, experiment="backfill", db=f"sqlite:///{tmp / 'tiny.db'}", progress=False, parse_process=True)
    fixed = time.perf_counter() - t0
    db = f"sqlite:///{tmp / 'backfill.db'}"
    t0 = time.perf_counter()
    result = ingest(log, experiment="backfill", db=db, progress=False)
    elapsed = time.perf_counter() - t0
    print(f"ingest {size / 1e6:,.0f} MB ({lines:,} lines) into SQLite: {elapsed:.1f} s = {size / 1e6 / elapsed:,.1f} MB/s, "
          f"{lines / elapsed:,.0f} lines/s, {result.stats.points / elapsed:,.0f} points/s "
          f"({result.stats.points:,} points, {result.stats.chunks:,} chunks, {result.stats.flushes:,} flushes)")
    if size < 0.9e9:
        print(f"ingest 1 GB extrapolated: {fixed + (elapsed - fixed) * 1e9 / size:.0f} s (target < 30 s; "
              f"{fixed:.2f} s of it paid once per import, the rest x {1e9 / size:.1f})")
    print(f"  wall time in the parser {result.stats.parse_s:.1f} s, in database writes {result.stats.write_s:.1f} s "
          f"({result.stats.points / max(result.stats.write_s, 1e-9):,.0f} points/s while writing)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        db, rate, seconds, job = sys.argv[2:6]
        worker(db, float(rate), float(seconds), job)
        return
    # cold: the parser learns its line templates in each process, none from the cache a run before
    # left (parsing/templates.py), so that the figures do not depend on what ran here before
    os.environ["TRAINBOARD_TEMPLATE_CACHE"] = "off"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per live rate (default 10)")
    ap.add_argument("--mb", type=float, default=100.0, help="size of the backfilled log in MB (default 100)")
    ap.add_argument("--gb", type=float, help="size of the backfilled log in GB (overrides --mb)")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-ingest", action="store_true")
    args = ap.parse_args()
    from parsing import StreamParser
    print(f"parser's compiled fast path: {'on' if StreamParser()._engine is not None else 'off'} "
          f"(TRAINBOARD_PARSER_PURE=1 turns it off)")
    with tempfile.TemporaryDirectory(prefix="capture-bench-") as tmp:
        if not args.skip_live:
            for rate in (100, 10_000):
                live(rate, args.seconds, Path(tmp))
        if not args.skip_ingest:
            backfill(args.gb * 1000 if args.gb else args.mb, Path(tmp))


if __name__ == "__main__":
    main()

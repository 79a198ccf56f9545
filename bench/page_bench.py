"""Page bench: the comparison callback for 20 runs × 100,000 points — time to return its
figure and the figure's JSON size (targets: under 1 s, under 2 MB).

On a temp SQLite file, and PostgreSQL when TRAINBOARD_TEST_PG_URL is set, times the callback's
work (`render`: runs, series, smoothing on full resolution, min/max reduction on shared edges,
figure) cold (empty caches) without smoothing (the default: drawn from the rollups) and with it
(every point read), warm (series already in the callback's memory, e.g. the user moves the
smoothing slider), and a zoom into a 1,000-step window.
Usage: python bench/page_bench.py [--runs 20] [--points 100000] [--width 1200]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from databases import on_each_database  # noqa: E402
from plotly.io.json import to_json_plotly  # noqa: E402

from dashboard.callbacks.chart import ChartData, render  # noqa: E402
from dashboard.callbacks.data import SeriesCache  # noqa: E402
from dashboard.db import runs as runs_db  # noqa: E402
from dashboard.db.engine import init_db  # noqa: E402
from dashboard.db.writer import write_batch  # noqa: E402
from dashboard.demo import demo_curves  # noqa: E402


def build(url: str, n_runs: int, n_points: int) -> list[int]:
    engine = init_db(url)
    exp = runs_db.get_or_create_experiment(engine, "page-bench")
    ids = []
    steps = np.arange(n_points)
    for i in range(n_runs):
        rid = runs_db.create_run(engine, exp, f"run-{i:02d}")
        loss = demo_curves(steps, peak_lr=1e-4 * (1 + i % 7), total=n_points, seed=i)["loss"]
        ts = 1.7e9 + steps * 0.5
        for a in range(0, n_points, 50_000):
            write_batch(engine, rid, [("loss", int(s), float(v), float(t))
                                      for s, v, t in zip(steps[a:a + 50_000], loss[a:a + 50_000], ts[a:a + 50_000])])
        runs_db.set_status(engine, rid, "completed", exit_code=0, finished=True)
        ids.append(rid)
    engine.dispose()
    return ids


def timed(fn, repeat=1):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, times


def bench(url: str, label: str, args) -> None:
    t = time.perf_counter()
    ids = build(url, args.runs, args.points)
    print(f"{label}: {args.runs} runs x {args.points:,} points written in {time.perf_counter() - t:.1f} s")
    engine = init_db(url)
    opts = {"compare": True}
    width = 2 * args.width

    def call(data, smoothing, x_range=None):
        out = render(data, ids, "loss", smoothing, "step", [], width, "dark", opts, x_range)
        return out, to_json_plotly(out["figure"])

    for smoothing, how in ((0.0, "overview from the rollups"), (0.6, "every point read")):
        data = ChartData(engine, SeriesCache(engine), stale_after_s=60)  # empty caches
        (out, js), cold = timed(lambda: call(data, smoothing))
        print(f"  comparison callback, cold, smoothing {smoothing} ({how}): {cold[0] * 1000:6.0f} ms, "
              f"figure JSON {len(js) / 1e6:.2f} MB, {out['cursor']['shown']:,} of {out['cursor']['total']:,} points drawn")
    for smoothing in (0.6, 0.0):
        (out, js), warm = timed(lambda: call(data, smoothing), repeat=5)
        print(f"  comparison callback, warm, smoothing {smoothing}: median {statistics.median(warm) * 1000:5.0f} ms "
              f"(min {min(warm) * 1000:.0f}), figure JSON {len(js) / 1e6:.2f} MB, webgl={'scattergl' in js}")
    mid = args.points // 2
    (out, js), zoom = timed(lambda: call(data, 0.6, (float(mid), float(mid + 1000))), repeat=5)
    print(f"  zoom to a 1,000-step window (full resolution there): median {statistics.median(zoom) * 1000:.0f} ms, "
          f"JSON {len(js) / 1e6:.2f} MB, {out['cursor']['shown']:,} of {out['cursor']['total']:,} points in range")
    engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--width", type=int, default=1200, help="plot width in px (max_points = 2x)")
    args = ap.parse_args()
    on_each_database(lambda url, label: bench(url, label, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

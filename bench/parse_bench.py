"""Parse throughput: lines/s of `parse_file` on a generated 1,000,000-line mixed log, one core.

The log is made of runs of consecutive lines from the sample logs in `shared/logs` (every
framework there, progress-bar redraws, ANSI codes and rank prefixes included), with the
fractional digits of every value redrawn so that no two metric lines are alike (a number that is
part of a metric's name is kept: see _FRACTION); about half of
the lines carry no metric. The baseline is one generic key/value `re.findall` over each line of
the same file, measured in the same run. Prints figures; asserts nothing.

The parser runs cold, learning its line templates as it reads (nothing from an earlier run), and
then warm: on another log of the same frameworks (the next seed), in a new process that starts from
the templates the cold run learned, saved to a file (what a later `parse_file`, `python -m parsing`,
`trainboard run` or `ingest` of the same frameworks does: parsing/templates.py); the load is timed,
and nothing else the cold run's process learned (name and prefix caches, body shapes) is there.

With `--per-format`, each sample log is also repeated (fractions redrawn) into a log of one
framework, the common case of a real run, and timed against the same baseline (`--format-lines`
lines each: a tenth of `--lines` unless given; a long log shows the rate once its line shapes are
learned). The parser runs with its compiled fast path when it was built; `--pure` times the
pure-Python parser as well.

    python bench/parse_bench.py [--lines N] [--seed S] [--profile] [--per-format [--format-lines N]] [--pure]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parsing import StreamParser, TemplateStore, parse_file, parse_text  # noqa: E402

BASELINE = re.compile(r"([A-Za-z_][\w./]*)\s*[:=]\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")
# fractional digits to redraw, and what is kept as it is: a number that is part of a metric's name
# (pycocotools' `IoU=0.50:0.95` reads as `ap_iou_050_095_...`; a real log never changes it, and
# a redrawn one made thousands of names no log has)
_FRACTION = re.compile(r"(IoU=[0-9.:]+)|(?<=\d\.)\d+")


def redrawn(text: str, rng: random.Random) -> str:
    """`text` with the fractional digits of its values redrawn at random."""
    return _FRACTION.sub(lambda m: m.group(1) or "".join(rng.choice("0123456789") for _ in m.group()), text)


def shared_logs() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "shared" / "logs", Path(os.environ.get("TRAINBOARD_SHARED", "/nonexistent")) / "logs",
                      Path(os.environ.get("TRAINBOARD_SHARED", "/nonexistent"))):
        if candidate.is_dir() and any(candidate.glob("*.log")):
            return candidate
    sys.exit("shared/logs not found (set TRAINBOARD_SHARED)")


def sample_runs() -> list[list[str]]:
    """Each sample log as a list of lines, each line with its own terminator."""
    runs = []
    for log in sorted(shared_logs().glob("*.log")):
        text = log.read_bytes().decode("utf-8", "replace")
        runs.append(re.findall(r"[^\r\n]*(?:\r\n|\r|\n)", text))
    return runs


def generate(path: Path, n_lines: int, seed: int) -> tuple[int, int]:
    """Write about n_lines lines; returns (lines, metric-bearing lines)."""
    rng = random.Random(seed)
    runs = sample_runs()
    metric_lines = [{r.line for r in parse_text("".join(run))} for run in runs]
    written = metric = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        while written < n_lines:
            k = rng.randrange(len(runs))
            run = runs[k]
            start = rng.randrange(len(run))
            chunk = run[start:start + rng.randint(5, 40)]
            out = []
            for i, line in enumerate(chunk, start + 1):
                if i in metric_lines[k]:
                    metric += 1
                    line = redrawn(line, rng)
                out.append(line)
            f.write("".join(out))
            written += len(chunk)
    return written, metric


def per_format(tmp: Path, n_lines: int, seed: int, pure: bool) -> None:
    """Lines/s of CPU for a log of each framework alone, and the baseline on the same file."""
    rng = random.Random(seed)
    for log, run in zip(sorted(shared_logs().glob("*.log")), sample_runs()):
        path = tmp / f"{log.stem}.log"
        with open(path, "w", encoding="utf-8", newline="") as f:
            written = 0
            while written < n_lines:
                f.write(redrawn("".join(run), rng))
                written += len(run)
        _, cpu, records, _ = bench_parser(path)
        _, base_cpu, _ = bench_baseline(path)
        line = (f"  {log.stem:<12} {written / cpu:>10,.0f} lines/s of CPU  baseline {written / base_cpu:>10,.0f}"
                f"  ratio {base_cpu / cpu:5.2f}  ({records:,} records)")
        if pure:
            _, pure_cpu, _, _ = bench_parser(path, pure=True)
            line += f"  pure {written / pure_cpu:>10,.0f}  speed-up {pure_cpu / cpu:5.1f}x"
        print(line)


def bench_parser(path: Path, pure: bool = False, templates: TemplateStore | Path | None = None) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, records, points); CPU time is what a shared machine does not blur.
    `templates`: a store to start from and learn into, or a file to load one from (timed); by
    default a store of its own (cold)."""
    t0, c0 = time.perf_counter(), time.process_time()
    if not isinstance(templates, TemplateStore):
        templates = TemplateStore(templates)
    records = points = 0
    for rec in parse_file(path, pure=pure, templates=templates):
        records += 1
        points += len(rec.metrics)
    return time.perf_counter() - t0, time.process_time() - c0, records, points


def bench_baseline(path: Path) -> tuple[float, float, int]:
    t0, c0 = time.perf_counter(), time.process_time()
    pairs = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            pairs += len(BASELINE.findall(line))
    return time.perf_counter() - t0, time.process_time() - c0, pairs


def warm_elsewhere(path: Path, templates: Path) -> tuple[float, float, int, int]:
    """bench_parser of `path` with the templates of a file, in a new process."""
    done = subprocess.run([sys.executable, __file__, "--warm-child", str(path), str(templates)],
                          capture_output=True, text=True, check=True)
    return tuple(json.loads(done.stdout))


def main() -> None:
    if sys.argv[1:2] == ["--warm-child"]:
        print(json.dumps(bench_parser(Path(sys.argv[2]), templates=Path(sys.argv[3]))))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="run the parser under cProfile and print the top")
    ap.add_argument("--per-format", action="store_true", help="also time a log of each framework alone")
    ap.add_argument("--format-lines", type=int, help="lines of each framework's log (default: a tenth of --lines)")
    ap.add_argument("--pure", action="store_true", help="also time the pure-Python parser (no compiled fast path)")
    a = ap.parse_args()
    on = StreamParser()._engine is not None
    print(f"compiled fast path: {'on' if on else 'off (not built, or TRAINBOARD_PARSER_PURE=1)'}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mixed.log"
        lines, metric = generate(path, a.lines, a.seed)
        size = path.stat().st_size
        print(f"log: {lines:,} lines ({metric / lines:.0%} with metrics), {size / 1e6:.1f} MB")
        if a.profile:
            import cProfile
            import pstats
            cProfile.runctx("bench_parser(path)", globals(), {"path": path, "bench_parser": bench_parser}, "/tmp/parse_bench.prof")
            pstats.Stats("/tmp/parse_bench.prof").sort_stats("tottime").print_stats(25)
            return
        store = TemplateStore(Path(tmp) / "templates.json")
        dt, cpu, records, points = bench_parser(path, templates=store)
        base_dt, base_cpu, pairs = bench_baseline(path)
        print(f"parser:   {lines / cpu:>12,.0f} lines/s of CPU  ({lines / dt:,.0f} wall; {cpu:.2f} s, "
              f"{records:,} records, {points:,} points; cold: {len(store)} templates learned)")
        print(f"baseline: {lines / base_cpu:>12,.0f} lines/s of CPU  ({lines / base_dt:,.0f} wall; {base_cpu:.2f} s, "
              f"one generic re.findall per line, {pairs:,} pairs)")
        store.save()
        other = Path(tmp) / "mixed-next.log"
        warm_lines, _ = generate(other, a.lines, a.seed + 1)
        warm_dt, warm_cpu, warm_records, _ = warm_elsewhere(other, store.path)
        warm_base_cpu = bench_baseline(other)[1]
        print(f"warm:     {warm_lines / warm_cpu:>12,.0f} lines/s of CPU  ({warm_lines / warm_dt:,.0f} wall; {warm_cpu:.2f} s, "
              f"{warm_records:,} records; the next seed's log in a new process, the templates above loaded from their file; "
              f"{base_cpu / cpu:.2f} x baseline cold, {warm_base_cpu / warm_cpu:.2f} x warm)")
        if a.pure:
            pure_dt, pure_cpu, _, _ = bench_parser(path, pure=True)
            print(f"pure:     {lines / pure_cpu:>12,.0f} lines/s of CPU  ({lines / pure_dt:,.0f} wall; {pure_cpu:.2f} s, "
                  f"the Python parser alone; fast path {pure_cpu / cpu:.1f}x)")
        print(f"ratio:    {base_cpu / cpu:>12.2f} x baseline; target 1,000,000 lines/s")
        if a.per_format:
            n = a.format_lines or a.lines // 10
            print(f"per format ({n:,} lines each):")
            per_format(Path(tmp), n, a.seed, a.pure)


if __name__ == "__main__":
    main()

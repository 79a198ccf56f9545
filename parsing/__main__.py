"""`python -m parsing FILE|-`: one JSON object per metric-bearing record, in order.

    {"line": 12, "step": 100, "metrics": {"loss": 2.31, "learning_rate": 0.0003}}

Non-finite values are the strings "nan", "inf", "-inf". `--pattern REGEX` (repeatable) and
`--patterns FILE` add user formats (`trainboard.toml` in the working directory is read when no
file is given); `--stats` prints counts and speed to stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from parsing.parser import READ_BLOCK, StreamParser
from parsing.templates import shared_templates
from parsing.user_patterns import PatternError, load_patterns
from parsing.values import json_value

DEFAULT_CONFIG = "trainboard.toml"


def _dumps(record) -> str:
    metrics = record.metrics
    if not all(math.isfinite(v) for v in metrics.values()):
        metrics = {k: json_value(v) for k, v in metrics.items()}
    return json.dumps({"line": record.line, "step": record.step, "metrics": metrics})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m parsing", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", help="a log file, or - for stdin")
    ap.add_argument("--pattern", action="append", default=[], metavar="REGEX",
                    help="a user format: a regex with named groups (step, loss, name/value, ...)")
    ap.add_argument("--patterns", metavar="FILE",
                    help=f"a TOML file with [[parsing.patterns]] (default: ./{DEFAULT_CONFIG})")
    ap.add_argument("--stats", action="store_true",
                    help="print lines, records, per-metric counts, failures and lines/s to stderr")
    args = ap.parse_args(argv)

    toml_path = args.patterns
    if toml_path is None and Path(DEFAULT_CONFIG).is_file():
        toml_path = DEFAULT_CONFIG
    try:
        patterns = load_patterns(args.pattern, toml_path)
    except PatternError as e:
        print(f"python -m parsing: error: {e}", file=sys.stderr)
        return 2

    parser = StreamParser(patterns, templates=None if patterns else shared_templates())
    write = sys.stdout.write
    started = time.perf_counter()
    try:
        src = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as e:
        print(f"python -m parsing: error: {e}", file=sys.stderr)
        return 2
    try:
        with src:
            while data := src.read(READ_BLOCK):
                for record in parser.feed_bytes(data):
                    write(_dumps(record) + "\n")
            for record in parser.finish():
                write(_dumps(record) + "\n")
    except BrokenPipeError:
        return 0
    if args.stats:
        elapsed = max(time.perf_counter() - started, 1e-9)
        s = parser.stats
        print(f"lines read:      {s.lines}", file=sys.stderr)
        print(f"records:         {s.records}", file=sys.stderr)
        print(f"failures:        {s.failures}", file=sys.stderr)
        print(f"truncated lines: {s.truncated_lines}", file=sys.stderr)
        print(f"lines/s:         {s.lines / elapsed:,.0f}", file=sys.stderr)
        for name, count in sorted(s.metric_counts.items()):
            print(f"  {name}: {count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

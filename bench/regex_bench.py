"""Adversarial-input timing of every parser regex, and of the whole parser on the longest line it keeps.

Catastrophic backtracking shows as time growing faster than the input: each pattern is timed the
way the parser calls it (a `match` at the line start, or a scan with `search`/`finditer`/`sub`)
on repeated fragments at two lengths, and the growth exponent is printed (1.0 = linear,
2.0 = quadratic). Then StreamParser is fed the same fragments as one line of MAX_LINE
characters (the cap), which bounds what any single line can cost. Figures are printed, never
asserted. Usage: python bench/regex_bench.py [--quick]
"""
from __future__ import annotations

import math
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import parsing  # noqa: E402
from parsing import StreamParser  # noqa: E402
from parsing.parser import MAX_LINE  # noqa: E402

# Repeated fragments that make regex engines backtrack: runs of one class, separators each
# pattern looks for, near-misses of real formats, terminal control.
FRAGMENTS = [
    "a", "1", " ", "\t", ":", "a:", "a: ", "loss: ", "loss: 1 ", "1.", "1,", "1,000", "1e", "e-1", "..", "__",
    "|", "a |", "loss |", "|\t", "[", "]", "{'", "{'a': ", "{'loss': ", "'a':'", '{"a": ', "━", "─", "=", "a=",
    "lr=", "lr=1 ", "\x1b[", "\x1b]", "-", "a-", "/", "1/", "(", "a(", "1 ", "a 1 ", "a b ", "nan", "loss ",
    "%|", "it [", "[=", "0: ", "[rank0]:", "2024-01-01 ", "12:00:00 ", "loss 1,", "Epoch [1][", "step ",
    "iter 1: loss ", "Average Precision  (AP) @[ ", "\x00",
]
SHORT, LONG = 4_000, 32_000
SCAN_BUDGET_S = 1.0  # a pattern already this slow at SHORT is not timed at LONG


def _modules():
    import parsing.names
    import parsing.parser
    import parsing.patterns
    import parsing.timestamps
    import parsing.user_patterns
    import parsing.values

    return [parsing.patterns, parsing.parser, parsing.values, parsing.timestamps, parsing.names,
            parsing.user_patterns]


def compiled_patterns() -> dict[str, tuple[re.Pattern, set[str]]]:
    """Every module-level compiled regex of the parser, with how the parser calls it."""
    sources = "\n".join(Path(p).read_text() for p in Path(parsing.__file__).parent.glob("*.py"))
    found = {}
    for mod in _modules():
        short = mod.__name__.split(".")[-1]
        for name, value in vars(mod).items():
            if isinstance(value, re.Pattern):
                modes = set(re.findall(rf"\b{re.escape(name)}\.(match|fullmatch|search|finditer|findall|sub|split)\(",
                                       sources))
                found[f"{short}.{name}"] = (value, modes or {"search"})
    return found


def _text(fragment: str, n: int) -> str:
    return (fragment * (n // len(fragment) + 1))[:n] + "\x00"


def _time(fn, repeat: int = 3) -> float:
    """Best CPU time of `repeat` runs: CPU time, because other processes share the machine."""
    best = math.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _run_pattern(rx: re.Pattern, modes: set[str], text: str) -> None:
    if modes & {"search", "finditer", "findall", "sub", "split"}:
        for _ in rx.finditer(text):
            pass
    else:
        rx.match(text)


def _exponent(t_short: float, t_long: float, ratio: float) -> float:
    # Below a few microseconds the timer is noise; call such a pattern linear.
    if t_short < 20e-6:
        return 1.0
    return math.log(max(t_long, 1e-9) / t_short) / math.log(ratio)


def bench_patterns(short: int, long: int) -> list[tuple]:
    rows = []
    for label, (rx, modes) in compiled_patterns().items():
        worst = (0.0, 0.0, "", 1.0)  # (t_long, t_short, fragment, exponent)
        for frag in FRAGMENTS:
            text_short, text_long = _text(frag, short), _text(frag, long)
            t_short = _time(lambda: _run_pattern(rx, modes, text_short))
            if t_short > SCAN_BUDGET_S:
                worst = max(worst, (math.inf, t_short, frag, math.inf))
                continue
            t_long = _time(lambda: _run_pattern(rx, modes, text_long))
            exp = _exponent(t_short, t_long, long / short)
            # Rank by the worst growth first, then by time: a slow linear pattern is not a hang.
            if (exp > 1.5, t_long) > (worst[3] > 1.5, worst[0]):
                worst = (t_long, t_short, frag, exp)
        mode = "scan" if modes & {"search", "finditer", "findall", "sub", "split"} else "match"
        rows.append((label, mode, *worst))
    return rows


def bench_parser(sizes: tuple[int, int]) -> list[tuple]:
    """The whole parser on one line of each fragment, at two sizes (the larger is MAX_LINE)."""
    rows = []
    for frag in FRAGMENTS:
        times = []
        for n in sizes:
            line = _text(frag, n)[:-1] + "\n"
            parser = StreamParser()
            times.append(_time(lambda: (parser.feed(line), parser.finish()), repeat=1))
        rows.append((frag, times[0], times[1], _exponent(times[0], times[1], sizes[1] / sizes[0])))
    return rows


def main() -> None:
    quick = "--quick" in sys.argv
    short, long = (SHORT // 4, LONG // 4) if quick else (SHORT, LONG)
    print(f"regex bench: {len(FRAGMENTS)} adversarial fragments; patterns timed at {short:,} and {long:,} chars")
    print(f"{'pattern':30} {'call':5} {'worst@' + format(long, ','):>12} {'growth':>7}  fragment")
    rows = bench_patterns(short, long)
    for label, mode, t_long, _t_short, frag, exp in sorted(rows, key=lambda r: (-r[5], -r[2])):
        flag = "  SUPERLINEAR" if exp > 1.5 else ""
        shown = "> budget" if math.isinf(t_long) else f"{t_long * 1e3:9.2f} ms"
        print(f"{label:30} {mode:5} {shown:>12} {exp:7.2f}  {frag!r}{flag}")
    superlinear = [r[0] for r in rows if r[5] > 1.5]
    print(f"patterns: {len(rows)}; superlinear: {len(superlinear)} {superlinear if superlinear else ''}")

    cap = MAX_LINE // (8 if quick else 1)
    sizes = (cap // 8, cap)
    print(f"\nwhole parser, one line per fragment, {sizes[0]:,} and {sizes[1]:,} chars (MAX_LINE = {MAX_LINE:,})")
    prows = bench_parser(sizes)
    for frag, t0, t1, exp in sorted(prows, key=lambda r: -r[2])[:12]:
        print(f"  {frag!r:32} {t1:7.3f} s  {sizes[1] / t1 / 1e6:6.2f} Mchar/s  growth {exp:5.2f}")
    worst = max(prows, key=lambda r: r[2])
    steepest = max(prows, key=lambda r: r[3])
    median = sorted(r[2] for r in prows)[len(prows) // 2]
    print(f"worst single line of {sizes[1]:,} chars: {worst[2]:.3f} s ({worst[0]!r}); median {median:.3f} s; "
          f"steepest growth {steepest[3]:.2f} ({steepest[0]!r})")


if __name__ == "__main__":
    main()

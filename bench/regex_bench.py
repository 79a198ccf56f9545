"""Adversarial-input timing of every parser regex, and of the whole parser on the longest line it keeps.

Catastrophic backtracking shows as time growing faster than the input: each pattern is timed the
way the parser calls it (a `match` at the line start, or a scan with `search`/`finditer`/`sub`)
on repeated fragments at two lengths, and the growth exponent is printed (1.0 = linear,
2.0 = quadratic). The regexes the parser learns at run time (one per line shape of a format)
are timed the same way: a parser learns a format's shape from real-looking lines, then gets
near-misses of it. Last, StreamParser is fed the fragments as one line of MAX_LINE characters
(the cap), which bounds what any single line can cost. Figures are printed, never asserted.
Usage: python bench/regex_bench.py [--quick]
"""
from __future__ import annotations

import importlib
import math
import pkgutil
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import parsing  # noqa: E402
from parsing import StreamParser  # noqa: E402
import parsing.parser as parser_module  # noqa: E402
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
    """Every module of the parsing package: a new one is benched without editing this file."""
    return [importlib.import_module(f"parsing.{m.name}") for m in pkgutil.iter_modules(parsing.__path__)
            if m.name != "__main__"]


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
    # Whole repetitions: a text cut mid-fragment ends differently at each size, and a pattern's
    # time can depend on the ending more than on the length.
    return fragment * max(1, n // len(fragment)) + "\x00"


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


# One line per format, as frameworks print them; {s} the step, {v} the loss.
SHAPE_TEMPLATES = {
    "megatron": " [2024-03-18 14:05:16] iteration {s:8d}/  500000 | consumed samples:         {s} | elapsed time "
                "per iteration (ms): 5729.8 | learning rate: 5.250E-07 | lm loss: {v:.6E} | grad norm: 24.444 |",
    "detectron2": "[05/08 18:42:40 d2.utils.events]:  eta: 11:22:13  iter: {s}  total_loss: {v:.4f}  loss_cls: 0.7462"
                  "  time: 0.4549  data_time: 0.0149  lr: 4.9953e-06  max_mem: 2364M",
    "mmengine": "03/25 09:12:55 - mmengine - INFO - Epoch(train)  [1][{s:4d}/7330]  lr: 2.0180e-03  eta: 1 day, "
                "0:30:51  time: 0.4848  data_time: 0.0161  memory: 4148  grad_norm: 7.2542  loss: {v:.4f}",
    "fairseq": "2021-05-04 09:59:00 | INFO | train_inner | epoch 001:    {s} / 1124 loss={v:.3f}, nll_loss=12.711, "
               "ppl=6705.72, wps=16844.1, lr=1.25e-05, gnorm=1.603, loss_scale=64, wall=24",
    "nanogpt": "iter {s}: loss {v:.4f}, time 1184.05ms, mfu 14.22%",
    "torchtitan": "[rank0]:[titan] 2025-06-16 22:28:10,245 - root - INFO - step: {s:2d}  loss: {v:.5f}  grad_norm: "
                  "55.6682  memory: 71.24GiB(74.99%)  tps: 1,173  tflops: 56.82  mfu: 5.74%",
    "timm": "Train: 0 [{s:4d}/5004 ( 20%)]  Loss: {v:.3f} (6.94)  Time: 0.280s,  912.88/s  (0.306s,  835.26/s)  "
            "LR: 1.000e-03  Data: 0.009 (0.012)",
}


def _near_misses(line: str, n: int) -> dict[str, str]:
    """Lines of about n characters that start like `line` and then stop fitting its shape."""
    return {
        "padding": re.sub(r" +", lambda m: " " * max(1, n // max(1, line.count(" "))), line),
        "tail": line + " " * n + "x",
        "more fields": line + "  k: 1" * (n // 6),
        "label text": line.replace("11:22:13", "a " * (n // 2)).replace("1 day, 0:30:51", "a " * (n // 2)),
        "long value": re.sub(r"(?<= )0\.\d+", "1" * n, line, count=1),
        "colons": line + " ab: " + "x: " * (n // 3),
    }


def bench_learned_shapes(short: int, long: int) -> list[tuple]:
    rows = []
    for fmt, template in SHAPE_TEMPLATES.items():
        times: dict[str, list[float]] = {}
        for n in (short, long):
            parser = StreamParser()
            for i in range(60):  # enough lines for the parser to learn the shape
                parser.feed(template.format(s=10 * i + 10, v=10 - i / 10) + "\n")
            for kind, line in _near_misses(template.format(s=999, v=1.5), n).items():
                times.setdefault(kind, []).append(_time(lambda: parser.feed(line + "\n"), repeat=1))
        kind, (t_short, t_long) = max(times.items(), key=lambda kv: _exponent(kv[1][0], kv[1][1], long / short))
        rows.append((fmt, kind, t_long, _exponent(t_short, t_long, long / short),
                     max(t[1] for t in times.values())))
    return rows


def bench_parser(sizes: tuple[int, ...]) -> list[tuple]:
    """The whole parser on one line of each fragment, and of each format's near-misses, per size."""
    lines = [(repr(frag), lambda n, f=frag: _text(f, n)[:-1]) for frag in FRAGMENTS]
    for fmt, template in SHAPE_TEMPLATES.items():
        head = template.format(s=999, v=1.5)
        lines += [(f"{fmt} {kind}", lambda n, h=head, k=kind: _near_misses(h, n)[k])
                  for kind in _near_misses(head, 10)]
    rows = []
    for label, make in lines:
        times = []
        for n in sizes:
            line = make(n) + "\n"
            parser = StreamParser()
            times.append(_time(lambda: (parser.feed(line), parser.finish()), repeat=1))
        rows.append((label, times, _exponent(times[0], times[1], sizes[1] / sizes[0])))
    return rows


def main() -> None:
    quick = "--quick" in sys.argv
    scale = 4 if quick else 1
    short, long = SHORT // scale, LONG // scale
    print(f"regex bench: {len(FRAGMENTS)} adversarial fragments; patterns timed at {short:,} and {long:,} chars")
    print(f"{'pattern':30} {'call':5} {'worst@' + format(long, ','):>12} {'growth':>7}  fragment")
    rows = bench_patterns(short, long)
    for label, mode, t_long, _t_short, frag, exp in sorted(rows, key=lambda r: (-r[5], -r[2])):
        flag = "  SUPERLINEAR" if exp > 1.5 else ""
        shown = "> budget" if math.isinf(t_long) else f"{t_long * 1e3:9.2f} ms"
        print(f"{label:30} {mode:5} {shown:>12} {exp:7.2f}  {frag!r}{flag}")
    superlinear = [r[0] for r in rows if r[5] > 1.5]
    print(f"patterns: {len(rows)}; superlinear: {len(superlinear)} {superlinear if superlinear else ''}")

    print(f"\nlearned shapes: each format's shape learned, then near-misses of {short:,} and {long:,} chars")
    for fmt, kind, t_long, exp, slowest in bench_learned_shapes(short, long):
        flag = "  SUPERLINEAR" if exp > 1.5 else ""
        print(f"  {fmt:12} steepest: {kind!r:14} growth {exp:5.2f}; slowest near-miss {slowest * 1e3:8.2f} ms{flag}")

    # MAX_PARSE: how much of a line the parser reads for metrics; MAX_LINE: what it keeps at all.
    # Growth is measured below MAX_PARSE, where the whole line is read; at and beyond it the line
    # is cut mid-field, which takes other paths, so those sizes are shown as times only.
    parsed = getattr(parser_module, "MAX_PARSE", MAX_LINE) // scale
    sizes = (parsed // 16, parsed // 2, parsed, MAX_LINE // scale)
    print(f"\nwhole parser, one line each ({len(FRAGMENTS)} fragments, {len(SHAPE_TEMPLATES)} formats' near-misses); "
          f"growth from {sizes[0]:,} to {sizes[1]:,} chars, times at {sizes[2]:,} (MAX_PARSE) and {sizes[3]:,} (MAX_LINE)")
    prows = bench_parser(sizes)
    for label, times, exp in sorted(prows, key=lambda r: -max(r[1]))[:12]:
        print(f"  {label:28} {times[2]:7.3f} s @MAX_PARSE {times[3]:7.3f} s @MAX_LINE  growth {exp:5.2f}")
    worst = max(prows, key=lambda r: max(r[1]))
    steepest = max(prows, key=lambda r: r[2])
    median = sorted(max(r[1]) for r in prows)[len(prows) // 2]
    print(f"slowest single line: {max(worst[1]):.3f} s ({worst[0]}); median {median:.3f} s; "
          f"steepest growth {steepest[2]:.2f} ({steepest[0]}); lines: {len(prows)}")


if __name__ == "__main__":
    main()

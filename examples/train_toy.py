#!/usr/bin/env python3
"""A dependency-free stand-in for a training job that prints like a Hugging Face Trainer run.

A tqdm-style bar redrawn with `\\r` on stderr, `{'loss': …, 'grad_norm': …, 'learning_rate': …,
'epoch': …}` dicts on stdout every --log-every steps, an eval dict at each epoch end and the final
`train_runtime` dict. The output depends only on the flags (times in the bar are nominal, not
measured), so two runs with the same flags print the same bytes.

    python examples/train_toy.py --steps 200 --speed 50
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time


def bar(step: int, total: int, rate: float, width: int = 10) -> str:
    """One tqdm redraw: `\\r 11%|█▏        | 98/870 [00:32<04:17,  3.00it/s]`."""
    frac = step / total if total else 1.0
    eighths = int(frac * width * 8)
    full, part = divmod(eighths, 8)
    cells = "█" * full + (" ▏▎▍▌▋▊▉"[part].strip() if full < width else "")
    cells = cells.ljust(width)
    elapsed, remaining = step / rate, (total - step) / rate

    def clock(seconds: float) -> str:
        m, s = divmod(int(seconds), 60)
        return f"{m:02d}:{s:02d}"

    return f"\r{int(frac * 100):3d}%|{cells}| {step}/{total} [{clock(elapsed)}<{clock(remaining)}, {rate:5.2f}it/s]"


def write_above_bar(text: str, redraw: str, out, err, quiet: bool) -> None:
    """What `tqdm.write` (and so the Trainer's on_log) does: clear the bar on stderr, print the
    line on stdout, redraw the bar at the same position."""
    if not quiet:
        err.write("\r" + " " * 49 + "\r")
        err.flush()
    out.write(text)
    out.flush()
    if not quiet:
        err.write(redraw)
        err.flush()


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    p.add_argument("--speed", type=float, default=0.0, help="steps per second; 0 = as fast as possible")
    p.add_argument("--log-every", type=int, default=10, help="print a metrics dict every N steps")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fail-at", type=int, default=None, help="exit 1 with a traceback at this step")
    p.add_argument("--quiet-bar", action="store_true", help="no progress bar (dicts only)")
    p.add_argument("--mininterval", type=float, default=0.0,
                   help="redraw the bar at most this often, as tqdm does (its default is 0.1 s), so that "
                        "a fast run prints its dicts after a bar some steps behind; 0 = every step")
    args = p.parse_args(argv)

    rng = random.Random(args.seed)
    total, rate = args.steps, args.speed or 3.0
    per_epoch = max(-(-total // args.epochs), 1)
    warmup = max(total // 20, 1)
    out, err = sys.stdout, sys.stderr
    print("***** Running training *****", file=out)
    print(f"  Num Epochs = {args.epochs}", file=out)
    print(f"  Total optimization steps = {total:,}", file=out)
    out.flush()
    if not args.quiet_bar:
        err.write(bar(0, total, rate).replace(f"{rate:5.2f}it/s", "?it/s"))
        err.flush()
    start = drawn = time.monotonic()
    loss = 4.2
    for step in range(1, total + 1):
        if args.speed:
            delay = start + step / args.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if step == args.fail_at:
            err.write("\nTraceback (most recent call last):\n  File \"train.py\", line 1, in <module>\n"
                      "RuntimeError: CUDA out of memory (toy)\n")
            err.flush()
            return 1
        loss = 2.0 + 2.2 * math.exp(-step / (total * 0.3)) + rng.gauss(0, 0.03)
        if not args.quiet_bar and time.monotonic() - drawn >= args.mininterval:
            err.write(bar(step, total, rate))
            err.flush()
            drawn = time.monotonic()
        if step % args.log_every == 0:
            logs = {
                "loss": round(loss, 4),
                "grad_norm": abs(0.4 + 2.0 * math.exp(-step / (total * 0.1)) + rng.gauss(0, 0.05)),
                "learning_rate": lr_at(step, total, args.lr, warmup),
                "epoch": round(step / per_epoch, 2),
            }
            write_above_bar(f"{logs}\n", bar(step, total, rate), out, err, args.quiet_bar)
        if step % per_epoch == 0 and step // per_epoch <= args.epochs:
            eval_logs = {"eval_loss": round(loss + 0.15, 4), "eval_runtime": 2.5369, "epoch": round(step / per_epoch, 2)}
            write_above_bar(f"{eval_logs}\n", bar(step, total, rate), out, err, args.quiet_bar)
    if not args.quiet_bar:
        err.write("\n")
        err.flush()
    runtime = total / rate
    out.write(f"{{'train_runtime': {runtime:.4f}, 'train_samples_per_second': {8 * rate:.3f}, "
              f"'train_steps_per_second': {rate:.3f}, 'train_loss': {loss:.6f}, 'epoch': {float(args.epochs)}}}\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Writer processes for the concurrency tests: each calls write_batch in batches, as capture does.

Values are a pure function of (metric, step), so the test knows every point and every summary
without asking the processes; a few are NaN or ±inf, as real losses sometimes are.
"""
from __future__ import annotations

import math
import traceback

NAMES = ("loss", "learning_rate", "grad_norm", "tokens_per_sec")


def value(name: str, step: int, run_id: int = 0) -> float:
    if step % 997 == 13:
        return math.nan
    if step % 1999 == 7:
        return math.inf if step % 2 else -math.inf
    k = NAMES.index(name) if name in NAMES else 0
    return (run_id % 7 + 1) * (k + 1) / (1.0 + step) + math.sin(step * (k + 1)) * 1e-3


def timestamp(step: int) -> float:
    return 1.7e9 + step * 0.25


def write_steps(url: str, run_id: int, batches: list[list[int]], names, barrier, errors) -> None:
    """Process body: wait for the others, then write each batch of steps (all `names`) and a
    log chunk per batch."""
    try:
        from dashboard.db.engine import make_engine
        from dashboard.db.writer import write_batch

        engine = make_engine(url, pool_size=1, max_overflow=0)
        barrier.wait(timeout=120)
        for steps in batches:
            points = [(name, s, value(name, s, run_id), timestamp(s)) for s in steps for name in names]
            write_batch(engine, run_id, points, [(steps[0], f"steps {steps[0]}..{steps[-1]}\n")])
        engine.dispose()
    except BaseException:  # noqa: BLE001 - reported to the test, which fails with it
        errors.put(traceback.format_exc())
        raise

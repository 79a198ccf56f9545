"""The demo experiment: finished runs with realistic curves and one run that keeps training."""
from __future__ import annotations

import datetime as dt
import math
import sys
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from dashboard.db import runs as runs_db
from dashboard.db.writer import write_batch

EXPERIMENT = "demo-gpt2-small"
STEP_SECONDS = 0.8  # a finished demo run took this long per step


def lr_schedule(steps: np.ndarray, peak_lr: float, warmup: int, total: int, floor: float = 0.1) -> np.ndarray:
    """Linear warmup, then cosine decay to `floor` × peak."""
    steps = np.asarray(steps, dtype=float)
    warm = peak_lr * np.minimum(steps + 1, warmup) / warmup
    progress = np.clip((steps - warmup) / max(total - warmup, 1), 0.0, 1.0)
    cosine = peak_lr * (floor + (1 - floor) * 0.5 * (1 + np.cos(math.pi * progress)))
    return np.where(steps < warmup, warm, cosine)


def demo_curves(steps: np.ndarray, *, peak_lr: float, total: int, seed: int) -> dict[str, np.ndarray]:
    """Loss / learning-rate / grad-norm values for these steps: a noisy decaying loss whose
    speed depends on the lr, occasional spikes, and a grad norm that spikes with the loss."""
    rng = np.random.default_rng(seed)
    steps = np.asarray(steps, dtype=float)
    lr = lr_schedule(steps, peak_lr, warmup=max(total // 50, 10), total=total)
    speed = (peak_lr / 3e-4) ** 0.5
    base = 2.9 + 7.9 * np.exp(-steps * speed / (total * 0.04)) + 0.6 * (1 + steps / total) ** -1.5
    noise = rng.normal(0.0, 0.025, steps.size) * base
    spikes = (rng.random(steps.size) < 0.002) * rng.uniform(0.5, 2.5, steps.size)
    loss = base + noise + spikes
    grad_norm = 0.35 + 2.5 * np.exp(-steps / (total * 0.05)) + np.abs(rng.normal(0, 0.08, steps.size))
    grad_norm = grad_norm * (1 + 4 * spikes)
    return {"loss": loss, "learning_rate": lr, "grad_norm": grad_norm}


def log_line(step: int, total: int, values: dict[str, float]) -> str:
    return (
        f"step {step:>6}/{total} | loss {values['loss']:.4f} | lr {values['learning_rate']:.3e} | "
        f"grad_norm {values['grad_norm']:.3f} | tokens/s {52_000 + (step * 37) % 900:,}\n"
    )


def _write_run(engine: Engine, run_id: int, steps: np.ndarray, total: int, curves: dict, t0: float,
               step_seconds: float, log_every: int = 50) -> None:
    points, chunk_lines, chunks, seq = [], [], [], 0
    for i, step in enumerate(steps.tolist()):
        ts = t0 + step * step_seconds
        values = {name: float(arr[i]) for name, arr in curves.items()}
        points.extend((name, step, v, ts) for name, v in values.items())
        if step % log_every == 0 or step == total - 1:
            chunk_lines.append(log_line(step, total, values))
            if len(chunk_lines) == 20:
                chunks.append((seq, "".join(chunk_lines)))
                seq, chunk_lines = seq + 1, []
    if chunk_lines:
        chunks.append((seq, "".join(chunk_lines)))
    write_batch(engine, run_id, points, chunks)


def _utc(unix: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, dt.UTC)


def seed_demo(engine: Engine, *, total: int = 4000) -> int:
    """The demo experiment with four finished runs and one legacy run without metrics.
    Idempotent: an experiment that already has runs is left as it is."""
    from dashboard.db.queries import list_runs

    exp_id = runs_db.get_or_create_experiment(engine, EXPERIMENT, "GPT-2 small on OpenWebText, lr sweep")
    if list_runs(engine, exp_id):
        return exp_id
    legacy = runs_db.create_run(engine, exp_id, "baseline-legacy", command="python train.py --lr 6e-4")
    write_batch(engine, legacy, [], [(0, "loading dataset openwebtext...\ntraining started (metric capture not enabled)\n")])
    runs_db.set_status(engine, legacy, "completed", exit_code=0, finished=True)
    t0 = time.time() - 86_400
    for i, peak_lr in enumerate([1e-4, 3e-4, 6e-4, 1e-3]):
        name = f"lr-{peak_lr:.0e}".replace("e-0", "e-")
        start = t0 + i * 3600
        run_id = runs_db.create_run(engine, exp_id, name, command=f"python train.py --lr {peak_lr}", at=_utc(start))
        steps = np.arange(total)
        _write_run(engine, run_id, steps, total, demo_curves(steps, peak_lr=peak_lr, total=total, seed=i),
                   start, step_seconds=STEP_SECONDS)
        runs_db.set_status(engine, run_id, "completed", exit_code=0, finished=True,
                           at=_utc(start + total * STEP_SECONDS))
    return exp_id


TOY_TRAINER = Path(__file__).resolve().parents[1] / "examples" / "train_toy.py"


def run_live(engine: Engine, stop: threading.Event, *, total: int = 20_000, steps_per_second: float = 10.0,
             flush_seconds: float = 1.0, echo: bool = False) -> int:
    """A run that trains until `stop` is set (or `total` steps): examples/train_toy.py run under
    real capture, so the terminal shows its log and the parser produces the points.
    `echo` passes its output through to our terminal."""
    from dashboard.capture import capture

    cmd = [sys.executable, str(TOY_TRAINER), "--steps", str(total), "--speed", str(steps_per_second),
           "--log-every", "1", "--lr", "3e-4", "--seed", str(int(time.time()) % 1000)]
    result = capture(cmd, experiment=EXPERIMENT, name=f"live-{time.strftime('%H%M%S')}", db=engine,
                     flush_s=flush_seconds, echo=echo, stop=stop)
    return result.run_id

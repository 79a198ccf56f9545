"""Shared helpers for the parsing tests: where the sample logs are, and series comparison."""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from parsing.names import canonical_type


def shared_logs_dir() -> Path | None:
    """`/work/shared/logs` next to the checkout (`/work/<checkout>`), else $TRAINBOARD_SHARED."""
    candidates = [Path(__file__).resolve().parents[3] / "shared" / "logs"]
    env = os.environ.get("TRAINBOARD_SHARED")
    if env:
        candidates += [Path(env) / "logs", Path(env)]
    for path in candidates:
        if path.is_dir() and any(path.glob("*.expected.json")):
            return path
    return None


LOGS = shared_logs_dir()
SAMPLES = sorted(p.name[: -len(".log")] for p in LOGS.glob("*.log")) if LOGS else []


@pytest.fixture
def logs_dir() -> Path:
    if LOGS is None:
        pytest.skip("shared/logs not found (set TRAINBOARD_SHARED)")
    return LOGS


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def series(records) -> dict[str, list[tuple[int | None, float]]]:
    """name -> [(step, value)], a point at the step of the one before replacing it (as the database
    does with a step logged again)."""
    out: dict[str, list] = {}
    for rec in records:
        step = rec["step"] if isinstance(rec, dict) else rec.step
        metrics = rec["metrics"] if isinstance(rec, dict) else rec.metrics
        for name, value in metrics.items():
            pts = out.setdefault(canonical_type(name), [])
            value = float(value)
            if pts and step is not None and pts[-1][0] == step:
                pts[-1] = (step, value)
            else:
                pts.append((step, value))
    return out


def without_repeats(points):
    """Drop points whose value repeats the point before (a reprinted value is not a measurement)."""
    out = []
    for p in points:
        if out and same(out[-1][1], p[1]):
            continue
        out.append(p)
    return out

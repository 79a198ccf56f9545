"""Helpers for capture tests: the real `trainboard` command line and the toy trainer."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")
TOY = str(REPO / "examples" / "train_toy.py")
PY = sys.executable


def trainboard_cmd(*args: str) -> list[str]:
    return [PY, APP, *args]


def trainboard(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """`trainboard ARGS…` in a subprocess, stdout and stderr captured as bytes."""
    return subprocess.run(trainboard_cmd(*args), capture_output=True, timeout=timeout, cwd=REPO, **kw)


def wait_for(condition, timeout: float = 20.0, interval: float = 0.05):
    """Poll until `condition()` is truthy; returns its value (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)

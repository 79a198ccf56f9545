"""End-to-end against a real framework: a tiny GPT-2 trained by the Hugging Face Trainer, captured.

Skipped where torch, transformers or accelerate is not installed (they are not trainboard dependencies;
`make test` installs them when a CPU build of torch is at hand)."""
from __future__ import annotations

import io
import math

import pytest

from dashboard.capture import capture
from dashboard.db import queries
from dashboard.db.engine import init_db
from parsing import parse_text
from tests.capture.conftest import PY, REPO

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # the Trainer needs it on PyTorch (transformers 5)


def test_real_trainer_run_is_captured(sqlite_url):
    out, err = io.BytesIO(), io.BytesIO()
    # The Trainer draws its bar on stderr and prints its dicts on stdout: through two pipes their
    # order is up to the scheduler (a known limitation of capturing two pipes). Merged into one
    # here, the order is the Trainer's. Its bar is drawn at most every 0.1 s, so in this fast run
    # the bar before a dict is often steps behind: each dict takes the bar redrawn after it.
    script = REPO / "examples" / "train_hf_tiny.py"
    result = capture(["sh", "-c", f'exec "{PY}" "{script}" --steps 30 --logging-steps 5 2>&1'],
                     experiment="hf-tiny", db=sqlite_url, stdout=out, stderr=err)
    assert result.status == "completed", out.getvalue()[-2000:]
    engine = init_db(sqlite_url)
    loss = queries.metric_series(engine, result.run_id, ["loss"])
    printed = [r.metrics["loss"] for r in parse_text(out.getvalue().decode()) if "loss" in r.metrics]
    assert list(zip(loss.step, loss.value)) == list(zip([5, 10, 15, 20, 25, 30], printed))
    assert all(math.isfinite(v) for v in printed) and printed[-1] < printed[0]
    names = set(queries.get_run(engine, result.run_id)["metrics"])
    assert {"loss", "learning_rate", "epoch", "train_loss"} <= names
    engine.dispose()

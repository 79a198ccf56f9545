"""Capture and ingestion: run a job and store its output (log chunks + parsed metric points).

    from dashboard.capture import capture
    result = capture(["python", "train.py"], experiment="gpt2-sweep", name="lr-3e-4")
    result.run_id, result.status, result.exit_code

`trainboard run`, `trainboard ingest` and `trainboard reparse` are the same functions
(`capture`, `ingest`, `reparse`) behind the command line.
"""
from dashboard.capture.batcher import Batcher, BatcherStats
from dashboard.capture.command import CaptureResult, capture
from dashboard.capture.common import CaptureError, make_parser, open_engine
from dashboard.capture.files import IngestResult, ingest, reparse

__all__ = [
    "capture", "CaptureResult", "ingest", "IngestResult", "reparse", "CaptureError",
    "Batcher", "BatcherStats", "make_parser", "open_engine",
]

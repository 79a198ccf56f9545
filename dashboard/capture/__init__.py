"""Capture and ingestion: run a job and store its output (log chunks + parsed metric points).

    from dashboard.capture import capture
    result = capture(["python", "train.py"], experiment="gpt2-sweep", name="lr-3e-4")
    result.run_id, result.status, result.exit_code

`trainboard run`, `trainboard ingest` and `trainboard reparse` are the same functions
(`capture`, `ingest`, `reparse`) behind the command line.
"""
import importlib

# Imported when first used: a parser process (`dashboard.capture.parse_process`) imports this
# package and needs none of the database code behind these.
_WHERE = {
    "Batcher": "batcher", "BatcherStats": "batcher", "capture": "command", "CaptureResult": "command",
    "CaptureError": "common", "make_parser": "common", "open_engine": "common",
    "ingest": "files", "IngestResult": "files", "reparse": "files",
}

__all__ = [
    "capture", "CaptureResult", "ingest", "IngestResult", "reparse", "CaptureError",
    "Batcher", "BatcherStats", "make_parser", "open_engine",
]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)

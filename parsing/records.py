"""What the parser hands out: one Record per metric-bearing report, and running ParseStats."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Record:
    """One report: the metrics a line (or a multi-line block) printed, at one step.

    `step` is None where the log prints no training step for the report (an evaluation batch,
    an evaluation summary after training); `timestamp` is unix seconds taken from the line's
    own logging prefix, else None; `line` is 1-based in the universal-newline view (`\\r`,
    `\\r\\n` and `\\n` each end a line) and, for a block, its first line.
    """

    step: int | None
    metrics: dict[str, float]
    timestamp: float | None = None
    line: int = 0


@dataclass(slots=True)
class ParseStats:
    lines: int = 0
    records: int = 0
    failures: int = 0
    truncated_lines: int = 0
    metric_counts: dict[str, int] = field(default_factory=dict)

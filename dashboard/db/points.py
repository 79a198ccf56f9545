"""Metric points in memory, between the parser and the writer: `PointMaker` (records into
points), `PointColumns` (points gathered per record shape) and `Series` (one metric's points of a
batch, as arrays). numpy only, so that a parser process imports no database code."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAME_MAX = 120  # characters in a metric name (MetricPoint.name)
STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1  # BIGINT


@dataclass(frozen=True, eq=False)
class Series:
    """One metric's points in one batch: steps unique and ascending, NaN values as NaN."""

    name: str
    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    timestamps: np.ndarray  # float64


class PointColumns:
    """Points gathered as columns per record *shape* (the tuple of a record's metric names): a
    record costs a few list appends instead of a tuple per point, and `write_batch` takes the
    columns as they are. Built by the capture's `PointMaker`; `len()` is the number of points.
    `freeze()` turns the lists into arrays (what a parser process sends: cheap to pickle)."""

    __slots__ = ("shapes", "frozen", "count", "records")

    def __init__(self, first: int = 0) -> None:
        # shape -> (record numbers, steps, timestamps, value rows in the shape's order)
        self.shapes: dict[tuple[str, ...], tuple[list[int], list[int], list[float], list[list]]] = {}
        # (shape, record numbers, steps, timestamps, values matrix) arrays, in record order
        self.frozen: list[tuple] = []
        self.count = 0
        self.records = first  # the number the next record gets

    def __len__(self) -> int:
        return self.count

    def add(self, step: int, timestamp: float, metrics: dict[str, float]) -> None:
        shape = tuple(metrics)
        cols = self.shapes.get(shape)
        if cols is None:
            cols = self.shapes[shape] = ([], [], [], [])
        cols[0].append(self.records)
        cols[1].append(step)
        cols[2].append(timestamp)
        cols[3].append(list(metrics.values()))
        self.records += 1
        self.count += len(shape)

    def freeze(self) -> PointColumns:
        """The gathered lists as arrays, checked (ValueError); returns self."""
        self.frozen += [(shape, *_arrays(shape, cols)) for shape, cols in self.shapes.items()]
        self.shapes = {}
        return self

    def extend(self, later: PointColumns) -> None:
        """Add columns whose records come after these (numbered from `self.records` on)."""
        self.frozen += later.freeze().frozen
        self.count += later.count
        self.records = max(self.records, later.records)

    def series(self) -> list[Series]:
        """Per metric, in first-seen order: (record number, step, value, timestamp) arrays
        concatenated over the shapes that hold it, put back in record order; checked."""
        parts: dict[str, list] = {}  # name -> [its first record number, its pieces]
        for shape, numbers, steps, stamps, matrix in self.freeze().frozen:
            if not numbers.size:
                continue
            first = int(numbers[0])
            for j, name in enumerate(shape):
                part = parts.get(name)
                if part is None:
                    part = parts[name] = [first, []]
                elif first < part[0]:
                    part[0] = first
                part[1].append((numbers, steps, matrix[:, j], stamps))
        out = []
        for name, (_, pieces) in sorted(parts.items(), key=lambda item: item[1][0]):
            if len(pieces) == 1:
                numbers, steps, values, stamps = pieces[0]
            else:  # a log of many record shapes gives many pieces: each column concatenated once
                numbers, steps, values, stamps = (np.concatenate(column) for column in zip(*pieces))
            check_series(name, [stamps])
            if len(pieces) > 1 and not (np.diff(numbers) > 0).all():
                order = np.argsort(numbers, kind="stable")  # record order: the later point wins a step
                steps, values, stamps = steps[order], values[order], stamps[order]
            out.append(one_per_step(name, steps, values, stamps))
        return out


def _arrays(shape: tuple[str, ...], cols: tuple[list, ...]) -> tuple[np.ndarray, ...]:
    """(record numbers, steps, timestamps, values matrix) of one shape's lists."""
    numbers, steps, stamps, rows = cols
    try:
        return (np.asarray(numbers, dtype=np.int64), int_steps(steps), np.asarray(stamps, dtype=np.float64),
                np.asarray(rows, dtype=np.float64).reshape(len(rows), len(shape)))  # None -> NaN
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"points must have int steps, float values and float timestamps: {exc}") from exc


def int_steps(steps) -> np.ndarray:
    arr = np.asarray(steps)
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError("steps must be integers")
    return arr.astype(np.int64, copy=False)


def check_series(name, stamps: list[np.ndarray]) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= NAME_MAX:
        raise ValueError(f"a metric name must be a string of 1 to {NAME_MAX} characters, not {name!r}")
    if not all(np.isfinite(s).all() for s in stamps):
        raise ValueError("point timestamps must be finite unix seconds")


def one_per_step(name: str, s: np.ndarray, v: np.ndarray, t: np.ndarray) -> Series:
    """The series with steps ascending; a step given twice keeps its later point."""
    if len(s) > 1 and not (np.diff(s) > 0).all():
        uniq, first_from_end = np.unique(s[::-1], return_index=True)
        keep = len(s) - 1 - first_from_end
        s, v, t = uniq, v[keep], t[keep]
    return Series(name, s, v, t)


class PointMaker:
    """Parsed records into points, gathered as columns.

    The record's own timestamp wins over `ts` (capture time); a record without a step (the
    parser normally numbers every record) gets the next step after the highest seen."""

    def __init__(self) -> None:
        self.last_step = -1
        self.dropped = 0  # records the database could never store (a step beyond int64)

    def add(self, records, ts: float, into: PointColumns) -> None:
        for record in records:
            step = record.step
            if step is None:
                step = self.last_step + 1
            elif not STEP_MIN <= step <= STEP_MAX:
                # One absurd line must cost only its own record: a batch holding it would
                # fail on every retry and hold back every point after it.
                self.dropped += 1
                continue
            if step > self.last_step:
                self.last_step = step
            into.add(step, ts if record.timestamp is None else record.timestamp, record.metrics)

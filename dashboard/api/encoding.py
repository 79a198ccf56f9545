"""Pure encoders from series arrays: SPEC §5 JSON points and CSV blocks, vectorised with numpy
(a long series must not cost a Python formatting call per field)."""
from __future__ import annotations

from typing import Any

import numpy as np
import orjson

_DIGITS = 48  # ord("0")
# Years 0001 to 9999, what four digits can hold (a corrupt timestamp must not break a response).
_FIRST_SECOND, _LAST_SECOND = -62_135_596_800.0, 253_402_300_799.0


def _put_digits(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    for k in range(width - 1, -1, -1):
        values, digit = np.divmod(values, 10)
        out[:, col + k] = digit + _DIGITS


def iso_utc(unix_seconds: np.ndarray, fraction_digits: int = 3) -> np.ndarray:
    """Unix seconds -> fixed-width ISO 8601 UTC byte strings `YYYY-MM-DDTHH:MM:SS.fffZ` (3 or 6
    fraction digits: rounded to the microsecond, then truncated). Dates come from numpy once per
    distinct day, the clock digits from integer arithmetic: no per-point Python call, and
    several times faster than numpy.datetime_as_string."""
    unit = 10**fraction_digits
    # Round to the microsecond first (a float near 1.7e9 s resolves ~0.2 us): x.123 stored as
    # x.12299999 must still read .123.
    seconds = np.clip(np.asarray(unix_seconds, dtype=np.float64), _FIRST_SECOND, _LAST_SECOND)
    micros = np.round(seconds * 1e6).astype(np.int64)
    ticks = micros // (1_000_000 // unit)
    days, in_day = np.divmod(ticks, 86_400 * unit)
    distinct, which = np.unique(days, return_inverse=True)
    dates = np.frombuffer(
        "".join(np.datetime_as_string(distinct.astype("datetime64[D]")).tolist()).encode(), dtype=np.uint8
    ).reshape(-1, 10)
    width = 21 + fraction_digits
    out = np.empty((ticks.size, width), dtype=np.uint8)
    out[:, :10] = dates[which.ravel()]
    hours, in_day = np.divmod(in_day, 3600 * unit)
    minutes, in_day = np.divmod(in_day, 60 * unit)
    seconds, fraction = np.divmod(in_day, unit)
    for col, char in ((10, "T"), (13, ":"), (16, ":"), (19, "."), (width - 1, "Z")):
        out[:, col] = ord(char)
    _put_digits(out, 11, hours, 2)
    _put_digits(out, 14, minutes, 2)
    _put_digits(out, 17, seconds, 2)
    _put_digits(out, 20, fraction, fraction_digits)
    return out.view(f"S{width}").ravel()


def _nonfinite_names(values: np.ndarray) -> list[tuple[int, str]]:
    return [(i, "nan" if np.isnan(values[i]) else "inf" if values[i] > 0 else "-inf")
            for i in np.flatnonzero(~np.isfinite(values)).tolist()]


def json_points(steps: np.ndarray, values: np.ndarray, timestamps: np.ndarray) -> list[dict[str, Any]]:
    """SPEC §5 points: {step, value, timestamp (ISO 8601 UTC, ms)}; a non-finite value is null
    with `nonfinite: "nan" | "inf" | "-inf"`, so the JSON stays valid and the fact is kept."""
    stamps = iso_utc(timestamps, 3).astype("U24").tolist()
    points = [{"step": s, "value": v, "timestamp": t} for s, v, t in zip(steps.tolist(), values.tolist(), stamps)]
    for i, kind in _nonfinite_names(values):
        points[i]["value"] = None
        points[i]["nonfinite"] = kind
    return points


def csv_field(text: str) -> str:
    """A CSV field, quoted when it has to be (RFC 4180)."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_block(name: str, steps: np.ndarray, values: np.ndarray, timestamps: np.ndarray) -> bytes:
    """CSV lines `name,step,value,timestamp` for one page of a series. Values are the shortest
    text that reads back as the same float (`nan`, `inf`, `-inf` for the non-finite); timestamps
    ISO 8601 UTC with microseconds. orjson formats the numbers (in Rust) as the rows of one JSON
    array, which byte replacements then turn into CSV lines: no Python call per point."""
    if steps.size == 0:
        return b""
    value_list = values.tolist()
    for i, kind in _nonfinite_names(values):
        value_list[i] = kind
    stamps = iso_utc(timestamps, 6).astype("U27").tolist()
    # [[1,0.5,"2026-…Z"],[2,…]] -> 1,0.5,2026-…Z\n2,…  (no field can hold a quote or bracket)
    body = orjson.dumps(list(zip(steps.tolist(), value_list, stamps)))[2:-2]
    prefix = csv_field(name).encode() + b","
    return prefix + body.replace(b'"', b"").replace(b"],[", b"\n" + prefix) + b"\n"

"""Printed numbers: the regex fragments every pattern shares, and their conversion to float.

Values are what the log printed: thousands separators removed (`5,417`), units stripped
(`38871.18ms`, `71.24GiB`, percentages stay in percent), `h:mm:ss` durations in seconds, the first
element of a list (`lr=[0.0001, 0.0001]`), quotes dropped (`'4.706'`), `nan` / `inf` kept.
Every fragment is bounded or anchored on a literal so that no pattern backtracks badly.
"""
from __future__ import annotations

import math

# A number as logs print it. The thousands form needs groups of exactly three digits and must not
# run into more digits (`1,2345` is `1` then `2345`); `nan`/`inf` must not start a word (`info`).
NUM = (
    r"(?:[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d|,\d)|\d{1,40})(?:\.\d{0,40})?(?:[eE][-+]?\d{1,4})?"
    r"|[-+]?\.\d{1,40}(?:[eE][-+]?\d{1,4})?"
    r"|[-+]?(?:[nN][aA][nN]|[iI][nN][fF](?:inity)?)(?![A-Za-z]))"
)
# A unit glued to its number: `ms`, `GiB`, `M`, `%`, `/s`, `it/s`, `tok/s`, `GF`.
UNIT = r"(?:%|[A-Za-z]{1,8}(?:/[A-Za-z]{1,8}){0,2}|/[A-Za-z]{1,8})"
# What may follow a value: a delimiter or the end (so `epoch=0-step=1000.ckpt` and
# `2024-05-02` are not values).
END = r"(?=[\s,;|()\[\]{}'\"]|$)"
# `0:04:50.23`, `1 day, 0:30:51`
DURATION = r"(?:(\d{1,6}) days?, )?(\d{1,6}):(\d\d):(\d\d(?:\.\d{1,9})?)"

INF = math.inf


def to_float(token: str) -> float:
    """float() of a token matched by NUM (thousands separators allowed)."""
    try:
        return float(token)
    except ValueError:
        return float(token.replace(",", ""))


def json_value(v: float) -> float | str:
    """A metric value for JSON output: non-finite values become "nan", "inf", "-inf"."""
    if v != v:
        return "nan"
    if v == INF:
        return "inf"
    if v == -INF:
        return "-inf"
    return v

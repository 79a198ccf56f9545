"""Query parameters of the API, parsed and checked: a bad value raises ApiError naming it."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from parsing import canonical_type

from dashboard.api.errors import ApiError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Metric names are what the parser stores: snake_case words; aliases may carry `-`, `.`, `/`.
TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,119}$"
_TYPE = re.compile(TYPE_PATTERN.replace("$", r"\Z"))
_INT = re.compile(r"-?[0-9]{1,19}\Z")
MAX_TYPES = 50
LOG_LIMIT_DEFAULT = 1000
LOG_LIMIT_MAX = 10_000
RUN_NAME_MAX = 200


@dataclass(frozen=True)
class SeriesFilter:
    """Which points: some metric types (None: all of the run's) within a step range."""

    types: tuple[str, ...] | None = None
    step_min: int | None = None
    step_max: int | None = None


@dataclass(frozen=True)
class MetricsQuery:
    series: SeriesFilter
    max_points: int


def _single(args, name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise ApiError.bad_param(name, f"`{name}` was given {len(values)} times; give it once.")
    return values[0] if values else None


def parse_int(args, name: str, *, default: int | None = None, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int | None:
    """An optional decimal integer parameter within [lo, hi]."""
    raw = _single(args, name)
    if raw is None:
        return default
    if not _INT.match(raw):
        raise ApiError.bad_param(name, f"`{name}` must be an integer, not {raw[:40]!r}.")
    value = int(raw)
    if not lo <= value <= hi:
        raise ApiError.bad_param(name, f"`{name}` must be between {lo} and {hi}, not {value}.")
    return value


def parse_types(args) -> tuple[str, ...] | None:
    """`types=loss,lr` or `types=loss&types=lr` -> canonical types, in order, without repeats.
    Aliases map through parsing.canonical_type, the project's one alias table."""
    raw = args.getlist("types")
    if not raw:
        return None
    items = [item for value in raw for item in value.split(",")]
    if len(items) > MAX_TYPES:
        raise ApiError.bad_param("types", f"`types` names at most {MAX_TYPES} types, not {len(items)}.")
    canonical: dict[str, None] = {}
    for item in items:
        if not _TYPE.match(item):
            raise ApiError.bad_param(
                "types", f"`types` must be a comma-separated list of metric names; {item[:40]!r} is not one."
            )
        name = canonical_type(item)
        if not name:
            raise ApiError.bad_param("types", f"{item!r} does not name a metric type.")
        canonical[name] = None
    return tuple(canonical)


def parse_series_filter(args) -> SeriesFilter:
    step_min = parse_int(args, "step_min")
    step_max = parse_int(args, "step_max")
    if step_min is not None and step_max is not None and step_min > step_max:
        raise ApiError.bad_param("step_min", f"`step_min` ({step_min}) is greater than `step_max` ({step_max}).")
    return SeriesFilter(parse_types(args), step_min, step_max)


def parse_metrics_query(args, *, max_points_default: int, max_points_limit: int) -> MetricsQuery:
    series = parse_series_filter(args)
    max_points = parse_int(args, "max_points", default=max_points_default, lo=2, hi=max_points_limit)
    return MetricsQuery(series, max_points)


def parse_logs_query(args) -> tuple[int, int]:
    """(after, limit): chunks with seq > after, at most limit of them."""
    after = parse_int(args, "after", default=-1, lo=-1, hi=INT64_MAX)
    limit = parse_int(args, "limit", default=LOG_LIMIT_DEFAULT, lo=1, hi=LOG_LIMIT_MAX)
    return after, limit


def parse_run_patch(body: object) -> str:
    """The new name from a PATCH body `{"name": "..."}`."""
    if not isinstance(body, Mapping):
        raise ApiError.bad_param("name", 'The body must be a JSON object such as {"name": "new name"}.')
    unknown = sorted(set(body) - {"name"})
    if unknown:
        raise ApiError.bad_param(unknown[0], f"Only `name` can be changed, not `{unknown[0]}`.")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError.bad_param("name", "`name` must be a non-empty string.")
    name = name.strip()
    # Control characters (NUL above all: PostgreSQL text cannot hold it) and lone surrogates
    # (not encodable) would fail in the database; refuse them here with a clear message.
    if any(ch < " " for ch in name) or _unencodable(name):
        raise ApiError.bad_param("name", "`name` must be printable text without control characters.")
    if len(name) > RUN_NAME_MAX:
        raise ApiError.bad_param("name", f"`name` is at most {RUN_NAME_MAX} characters, not {len(name)}.")
    return name


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False

"""Query-string values into typed page state; a bad value falls back to the default."""
from __future__ import annotations


def int_param(value: str | int | None) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except ValueError:
        return None


def int_list(value: str | None) -> list[int]:
    """`"7,8,9"` → [7, 8, 9]; junk entries are skipped, order kept, duplicates dropped."""
    out: list[int] = []
    for part in (value or "").split(","):
        v = int_param(part.strip())
        if v is not None and v not in out:
            out.append(v)
    return out


def float_param(value: str | None, default: float, lo: float, hi: float) -> float:
    try:
        return min(max(float(value), lo), hi) if value not in (None, "") else default
    except ValueError:
        return default


def flag(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.lower() in ("1", "true", "yes", "on")


def experiment_param(engine, experiment_id: str) -> tuple[int | None, dict | None]:
    """The experiment a URL's `<id>` names: (id, row), with row None when there is none."""
    from dashboard.db import queries

    exp_id = int_param(experiment_id)
    return exp_id, queries.get_experiment(engine, exp_id) if exp_id is not None else None

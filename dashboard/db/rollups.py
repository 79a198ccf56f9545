"""Per-bucket rollups of metric points: kept current by the writer, read by the overview so a
long range costs a row per bucket of WIDTH steps instead of every point."""
from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from itertools import repeat

import numpy as np
from sqlalchemy import Connection, text

from dashboard.db.bulk import fetch_one

# Steps per bucket. An overview of a range reads its rollup rows (span / WIDTH) and every point
# of the buckets an output-bucket edge cuts (about n_buckets x WIDTH): 64 balances the two for a
# 1M-step run drawn with ~1000 buckets (bench/api_bench.py).
WIDTH = 64
# Steps per coarse bucket, a whole number of WIDTH buckets: the coarse rows are summaries of the
# fine ones, so a whole-run overview of 1M steps reads ~1,000 rows instead of ~16,000.
COARSE = 16 * WIDTH

_BUCKET = f"(CASE WHEN p.step >= 0 THEN p.step / {WIDTH} ELSE (p.step + 1) / {WIDTH} - 1 END)"
# Finite floats only: NaN is stored as NULL, and +-inf fall outside.
_FINITE = "p.value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308"
# A group of points' finite extremes and first non-finite steps.
_AGGREGATES = f"""
    min(CASE WHEN {_FINITE} THEN p.value END) AS min_value,
    max(CASE WHEN {_FINITE} THEN p.value END) AS max_value,
    min(CASE WHEN p.value IS NULL THEN p.step END) AS nan_step,
    min(CASE WHEN p.value > 1.7976931348623157e308 THEN p.step END) AS posinf_step,
    min(CASE WHEN p.value < -1.7976931348623157e308 THEN p.step END) AS neginf_step"""
_COLUMNS = (
    "points", "nonfinite", "first_step", "first_value", "last_step", "last_value",
    "min_step", "min_value", "max_step", "max_value", "nan_step", "posinf_step", "neginf_step",
)


# An upsert's SET that replaces a stored rollup row with the new one.
_REPLACE = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS)


def _point(cond: str) -> str:
    return f"(SELECT {cond} FROM metric_points q WHERE q.run_id = g.run_id AND q.name = g.name AND "


def _recompute_sql(where: str) -> str:
    """INSERT … SELECT of the rollup rows of the buckets holding the points `where` selects
    (whole buckets: `where` must select every point of them), replacing the stored ones."""
    extreme = "q.step BETWEEN g.first_step AND g.last_step AND q.value = g.{0}_value)"
    return f"""
INSERT INTO metric_rollups (run_id, name, bucket, {", ".join(_COLUMNS)})
SELECT g.run_id, g.name, g.bucket, g.points, g.nonfinite,
       g.first_step, {_point("q.value")}q.step = g.first_step),
       g.last_step, {_point("q.value")}q.step = g.last_step),
       {_point("min(q.step)")}{extreme.format("min")}, g.min_value,
       {_point("min(q.step)")}{extreme.format("max")}, g.max_value,
       g.nan_step, g.posinf_step, g.neginf_step
FROM (
    SELECT p.run_id, p.name, {_BUCKET} AS bucket, count(*) AS points,
           sum(CASE WHEN {_FINITE} THEN 0 ELSE 1 END) AS nonfinite,
           min(p.step) AS first_step, max(p.step) AS last_step, {_AGGREGATES}
    FROM metric_points p
    WHERE {where}
    GROUP BY p.run_id, p.name, {_BUCKET}
) g
WHERE true
ON CONFLICT (run_id, name, bucket) DO UPDATE SET
    {_REPLACE}
"""


# `WHERE true` before ON CONFLICT: SQLite would otherwise read ON as a join constraint.
BACKFILL_SQL = _recompute_sql("true")
_RECOMPUTE = text(_recompute_sql("p.run_id = :run_id AND p.name = :name AND p.step BETWEEN :lo AND :hi"))

_PER = COARSE // WIDTH
_COARSE_BUCKET = f"(CASE WHEN f.bucket >= 0 THEN f.bucket / {_PER} ELSE (f.bucket + 1) / {_PER} - 1 END)"


def _fine(column: str, cond: str) -> str:
    return (f"(SELECT {column} FROM metric_rollups f WHERE f.run_id = g.run_id AND f.name = g.name AND {cond})")


def _coarse_sql(where: str) -> str:
    """INSERT … SELECT of the coarse rollup rows over the fine rows `where` selects (whole coarse
    buckets), replacing the stored ones: sums, ends, and the extremes with their first steps
    (the fine rows hold each bucket's first on ties; the first bucket with the extreme wins)."""
    in_bucket = "f.bucket BETWEEN g.b0 AND g.b1"
    return f"""
INSERT INTO metric_rollups_coarse (run_id, name, bucket, {", ".join(_COLUMNS)})
SELECT g.run_id, g.name, g.bucket, g.points, g.nonfinite,
       g.first_step, {_fine("f.first_value", "f.bucket = g.b0")},
       g.last_step, {_fine("f.last_value", "f.bucket = g.b1")},
       {_fine("min(f.min_step)", in_bucket + " AND f.min_value = g.min_value")}, g.min_value,
       {_fine("min(f.max_step)", in_bucket + " AND f.max_value = g.max_value")}, g.max_value,
       g.nan_step, g.posinf_step, g.neginf_step
FROM (
    SELECT f.run_id, f.name, {_COARSE_BUCKET} AS bucket, sum(f.points) AS points, sum(f.nonfinite) AS nonfinite,
           min(f.first_step) AS first_step, max(f.last_step) AS last_step, min(f.bucket) AS b0, max(f.bucket) AS b1,
           min(f.min_value) AS min_value, max(f.max_value) AS max_value, min(f.nan_step) AS nan_step,
           min(f.posinf_step) AS posinf_step, min(f.neginf_step) AS neginf_step
    FROM metric_rollups f
    WHERE {where}
    GROUP BY f.run_id, f.name, {_COARSE_BUCKET}
) g
WHERE true
ON CONFLICT (run_id, name, bucket) DO UPDATE SET
    {_REPLACE}
"""


COARSE_BACKFILL_SQL = _coarse_sql("true")
_COARSE_RECOMPUTE = text(_coarse_sql("f.run_id = :run_id AND f.name = :name AND f.bucket BETWEEN :b0 AND :b1"))


def bucket_of(steps: np.ndarray, width: int = WIDTH) -> np.ndarray:
    """The rollup bucket of each step (floor division, as `_BUCKET` computes it in SQL)."""
    return np.floor_divide(np.asarray(steps, dtype=np.int64), width)


def bucket_ranges(steps: np.ndarray | Iterable[int], width: int = WIDTH) -> list[tuple[int, int]]:
    """(first step, last step) of each run of consecutive buckets holding some of `steps`."""
    buckets = np.unique(bucket_of(np.asarray(steps, dtype=np.int64), width))
    if buckets.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(buckets) != 1)
    firsts = np.concatenate((buckets[:1], buckets[breaks + 1]))
    lasts = np.concatenate((buckets[breaks], buckets[-1:]))
    return [(int(a) * width, int(b) * width + width - 1) for a, b in zip(firsts.tolist(), lasts.tolist())]


_COUNT = "SELECT count(*) FROM metric_points WHERE run_id = ? AND name = ? AND step BETWEEN ? AND ?"
_UPSERT = (
    f"INSERT INTO {{table}} (run_id, name, bucket, {', '.join(_COLUMNS)}) VALUES {{values}} "
    f"ON CONFLICT (run_id, name, bucket) DO UPDATE SET {_REPLACE}"
)


def _run_starts(items: np.ndarray) -> np.ndarray:
    """True where a run of equal items begins (np.r_ costs more than the comparison here: the
    writer calls this per series per batch)."""
    return np.concatenate(([True], items[1:] != items[:-1]))


def _firsts_in(owner: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Index of the first point of `mask` in each of the `n` buckets (`owner`: each point's bucket
    row, ascending), -1 where a bucket has none."""
    out = np.full(n, -1, np.int64)
    idx = np.flatnonzero(mask)
    if idx.size:
        rows = owner[idx]
        first = _run_starts(rows)
        out[rows[first]] = idx[first]
    return out


def _at(items: np.ndarray, idx: np.ndarray) -> list:
    """items[idx] as Python values, None where idx is -1 (or the item is NaN: stored as NULL)."""
    out = items[idx].astype(object)
    missing = idx < 0
    if items.dtype.kind == "f":
        missing |= np.isnan(items[idx])
    out[missing] = None
    return out.tolist()


def summarise(steps: np.ndarray, values: np.ndarray, width: int = WIDTH, key: tuple = ()) -> list[tuple]:
    """Rollup rows (*key, bucket, *_COLUMNS) of points given in full: sorted unique steps, values
    with NaN; what `_RECOMPUTE` computes in SQL (with `width=COARSE`, what `_COARSE_RECOMPUTE` does).
    `key` (run id, name) leads every row, built in the one zip.

    Steps ascend, so the first point of a kind in a bucket is the first by step: each extreme is
    found with one reduceat per bucket and the first point equal to it (the first on ties)."""
    buckets = bucket_of(steps, width)
    starts = np.flatnonzero(_run_starts(buckets))
    lasts = np.append(starts[1:], steps.size) - 1
    n = starts.size
    owner = np.repeat(np.arange(n), lasts - starts + 1)
    finite = np.isfinite(values)
    low = np.where(finite, values, np.inf)
    high = np.where(finite, values, -np.inf)
    mins = _firsts_in(owner, finite & (low == np.minimum.reduceat(low, starts)[owner]), n)
    maxs = _firsts_in(owner, finite & (high == np.maximum.reduceat(high, starts)[owner]), n)
    if finite.all():
        nonfinite, nan = [0] * n, [None] * n
        posinf = neginf = nan
    else:
        nonfinite = np.add.reduceat((~finite).astype(np.int64), starts).tolist()
        nan, posinf, neginf = (_at(steps, _firsts_in(owner, kind, n))
                               for kind in (np.isnan(values), values == np.inf, values == -np.inf))
    return list(zip(
        *(repeat(part, n) for part in key), buckets[starts].tolist(), (lasts - starts + 1).tolist(), nonfinite,
        steps[starts].tolist(), _at(values, starts), steps[lasts].tolist(), _at(values, lasts),
        _at(steps, mins), _at(values, mins), _at(steps, maxs), _at(values, maxs), nan, posinf, neginf,
    ))


@functools.lru_cache(maxsize=None)
def _upsert_sql(table: str, p: str, append: bool) -> str:
    """An upsert of a rollup row. With `append`, rows of points that all come after the
    stored points of their series: a bucket they continue merges with its stored row in SQL (sums,
    the old first and the new last, the new extreme only when strictly beyond the old one, so the
    earlier step wins ties, and the old first non-finite steps when there are any)."""
    values = f"({', '.join([p] * (3 + len(_COLUMNS)))})"
    if not append:
        return _UPSERT.format(table=table, values=values)

    def beyond(kind: str, op: str) -> str:
        return (f"excluded.{kind}_value IS NOT NULL AND ({table}.{kind}_value IS NULL "
                f"OR excluded.{kind}_value {op} {table}.{kind}_value)")

    extremes = [f"{kind}_{col} = CASE WHEN {beyond(kind, op)} THEN excluded.{kind}_{col} ELSE {table}.{kind}_{col} END"
                for kind, op in (("min", "<"), ("max", ">")) for col in ("step", "value")]
    sets = [f"points = {table}.points + excluded.points", f"nonfinite = {table}.nonfinite + excluded.nonfinite",
            "last_step = excluded.last_step", "last_value = excluded.last_value", *extremes,
            *(f"{c} = coalesce({table}.{c}, excluded.{c})" for c in ("nan_step", "posinf_step", "neginf_step"))]
    return (f"INSERT INTO {table} (run_id, name, bucket, {', '.join(_COLUMNS)}) VALUES {values} "
            f"ON CONFLICT (run_id, name, bucket) DO UPDATE SET {', '.join(sets)}")


_ALL_COLUMNS = ("run_id", "name", "bucket", *_COLUMNS)
_PG_STAGE = "trainboard_rollups_stage"
# From this many rows, staging pays for its four statements (a live flush's few rows go one by
# one): per batch, 5 rows 1.8 ms staged vs 0.8 one by one; 200 rows 3.9 vs 4.2; 2,000 rows 20 vs 32.
PG_STAGE_MIN_ROWS = 128


@functools.lru_cache(maxsize=None)
def _pg_from_stage_sql(table: str, append: bool) -> str:
    """The upsert of `_upsert_sql`, from the staging table: one statement for all the rows."""
    columns = ", ".join(_ALL_COLUMNS)
    single = _upsert_sql(table, "%s", append)
    return single.replace(single[single.index(" VALUES "):single.index(" ON CONFLICT ")], f" SELECT {columns} FROM {_PG_STAGE}")


def _store_pg(conn: Connection, table: str, rows: list[tuple], append: bool) -> None:
    """PostgreSQL: the rows COPYed into a temporary table, then upserted in one INSERT … SELECT
    instead of a statement each (the rollups of 20 batches of a sparse import: 1.15 -> 0.62 s)."""
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PG_STAGE} "
                         f"(LIKE metric_rollups INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    with conn.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {_PG_STAGE} ({', '.join(_ALL_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_pg_from_stage_sql(table, append))
        cursor.execute(f"TRUNCATE {_PG_STAGE}")


def _store(conn: Connection, table: str, rows: list[tuple], append: bool = False) -> None:
    """Upsert rollup rows with the driver's executemany (SQLAlchemy's parameter handling would cost
    more than the insert, and on SQLite multi-row statements measured no faster for rows this wide),
    or on PostgreSQL, from PG_STAGE_MIN_ROWS rows, staged."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= PG_STAGE_MIN_ROWS:
        _store_pg(conn, table, rows, append)
    else:
        conn.exec_driver_sql(_upsert_sql(table, "%s" if conn.dialect.name == "postgresql" else "?", append), rows)


def update_rollups(conn: Connection, run_id: int,
                   touched: Mapping[str, Mapping[int, tuple] | tuple[np.ndarray, np.ndarray]],
                   appended: Collection[str] = ()) -> None:
    """Bring up to date the rollups of the buckets holding the points just written ({name: {step:
    (value, timestamp)}} or {name: (steps, values)} arrays, NaN as NaN); to run in the writing
    transaction, after the points' upsert.

    `appended` names the series whose points all come after every stored point of theirs (the
    writer knows from the run's summary): their fine and coarse rows come from the batch in numpy,
    and a bucket they continue merges with its stored row in the upsert. Otherwise, a run of
    touched buckets whose inner buckets hold only this batch's points (a count over their range
    says so) gets those from the batch in numpy; its two end buckets, and any run holding older
    points, are recomputed from the stored points in SQL, and the coarse buckets holding the
    points are then recomputed from the fine rows."""
    recompute, rows, coarse, fine_appends, coarse_appends = [], [], [], [], []
    for name, series in touched.items():
        if isinstance(series, Mapping):
            steps = np.fromiter(series, dtype=np.int64, count=len(series))
            values = np.array([point[0] for point in series.values()], dtype=np.float64)
        else:
            steps, values = np.asarray(series[0], dtype=np.int64), np.asarray(series[1], dtype=np.float64)
        order = np.argsort(steps)
        steps, values = steps[order], values[order]
        if name in appended:
            fine_appends += summarise(steps, values, key=(run_id, name))
            coarse_appends += summarise(steps, values, COARSE, key=(run_id, name))
            continue
        coarse += [{"run_id": run_id, "name": name, "b0": lo // WIDTH, "b1": hi // WIDTH}
                   for lo, hi in bucket_ranges(steps, COARSE)]
        for lo, hi in bucket_ranges(steps):
            key = {"run_id": run_id, "name": name}
            recompute += [{**key, "lo": lo, "hi": lo + WIDTH - 1}]
            if hi > lo + WIDTH - 1:
                recompute += [{**key, "lo": hi - WIDTH + 1, "hi": hi}]
            inner = {**key, "lo": lo + WIDTH, "hi": hi - WIDTH}
            if inner["lo"] > inner["hi"]:
                continue
            a, b = np.searchsorted(steps, inner["lo"]), np.searchsorted(steps, inner["hi"], side="right")
            # asked per run of touched buckets: straight through the driver (bulk.fetch_one)
            if fetch_one(conn, _COUNT, (run_id, name, inner["lo"], inner["hi"]))[0] == b - a:
                rows += summarise(steps[a:b], values[a:b], key=(run_id, name))
            else:
                recompute.append(inner)
    if recompute:
        conn.execute(_RECOMPUTE, recompute)
    _store(conn, "metric_rollups", rows)
    _store(conn, "metric_rollups", fine_appends, append=True)
    if coarse:  # from the fine rows just written
        conn.execute(_COARSE_RECOMPUTE, coarse)
    _store(conn, "metric_rollups_coarse", coarse_appends, append=True)


_ROLLUP_ROWS = text(
    "SELECT bucket, min_step, min_value, max_step, max_value, nan_step, posinf_step, neginf_step "
    "FROM metric_rollups WHERE run_id = :run_id AND name = :name AND bucket BETWEEN :b0 AND :b1 ORDER BY bucket"
)
_NAN, _POSINF, _NEGINF = 5, 6, 7  # the columns of the first non-finite steps in _ROLLUP_ROWS


def _values(ranges: np.ndarray) -> str:
    """A VALUES list of (first, last) step ranges: int64 array items, never user text."""
    return ",".join(f"({int(a)},{int(b)})" for a, b in ranges.tolist())


_IN_RANGE = "p.run_id = :run_id AND p.name = :name AND p.step BETWEEN r.a AND r.b"


def _in_ranges(conn: Connection) -> str:
    """FROM the points in the ranges `r`, looping over the ranges outside, an index range scan
    each: SQLite's CROSS JOIN keeps the order written, PostgreSQL's LATERAL forces it (without
    it, stale statistics after a bulk load can make it scan the whole series once per range)."""
    if conn.dialect.name == "postgresql":
        # OFFSET 0 keeps the planner from flattening the LATERAL subquery back into a plain join.
        return (f"FROM r CROSS JOIN LATERAL (SELECT p.step, p.value, p.timestamp FROM metric_points p "
                f"WHERE {_IN_RANGE} OFFSET 0) p")
    return f"FROM r CROSS JOIN metric_points p WHERE {_IN_RANGE}"


def _pieces_sql(conn: Connection, ranges: np.ndarray) -> str:
    """Rows shaped like _ROLLUP_ROWS summarising the points of each step range, computed from the
    points: each range's extremes (first step on ties) and first non-finite steps."""
    extreme = ("(SELECT min(q.step) FROM metric_points q WHERE q.run_id = :run_id AND q.name = :name "
               "AND q.step BETWEEN g.a AND g.b AND q.value = g.{0}_value), g.{0}_value")
    return f"""
WITH r(a, b) AS (VALUES {_values(ranges)}),
g AS (SELECT r.a AS a, r.b AS b, {_AGGREGATES} {_in_ranges(conn)} GROUP BY r.a, r.b)
SELECT g.a, {extreme.format("min")}, {extreme.format("max")}, g.nan_step, g.posinf_step, g.neginf_step FROM g
"""


def _firsts(groups: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Index of the first item of each group when ordered by `keys` (most significant first)."""
    if groups.size == 0:
        return np.empty(0, np.int64)
    order = np.lexsort((*keys[::-1], groups))
    sorted_groups = groups[order]
    return order[np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]]


def _rows(conn: Connection, statement, params: dict) -> np.ndarray:
    # The driver's rows: numpy reads SQLAlchemy Row objects 100x slower; NULL becomes NaN.
    return np.array(conn.execute(statement, params).cursor.fetchall(), dtype=np.float64).reshape(-1, 8)


def overview_steps(conn: Connection, run_id: int, name: str, lo: int, hi: int, starts: np.ndarray) -> np.ndarray:
    """The steps `queries.metric_overview` keeps over [lo, hi] cut into buckets at `starts`
    (besides lo and hi), read from the rollups: a rollup bucket inside one output bucket stands
    for its points by its extremes and first non-finite steps; a rollup bucket an output edge
    (or lo, hi) cuts is summarised piece by piece from its points in SQL. So each output bucket
    gets its exact lowest and highest finite point (the first on ties) and first NaN, +inf, -inf."""
    params = {"run_id": run_id, "name": name}
    stored = _rows(conn, _ROLLUP_ROWS, {**params, "b0": lo // WIDTH, "b1": hi // WIDTH})
    cut = np.unique(np.r_[bucket_of(starts), hi // WIDTH])
    clean = stored[~np.isin(stored[:, 0].astype(np.int64), cut)]
    # The cut buckets split at the output edges: pieces each inside one rollup and one output bucket.
    edges = np.unique(np.r_[starts, cut * WIDTH, cut * WIDTH + WIDTH, hi + 1])
    edges = edges[(edges >= lo) & (edges <= hi + 1)]
    pieces = np.c_[edges[:-1], edges[1:] - 1]
    pieces = pieces[np.isin(bucket_of(pieces[:, 0]), cut)]
    summaries = np.r_[clean, _rows(conn, text(_pieces_sql(conn, pieces)), params)]
    # Candidates (step, value): each summary's extremes and first non-finite points (a NULL step,
    # now NaN, is none). Steps go through float64: exact below 2**53.
    parts = [summaries[:, [1, 2]], summaries[:, [3, 4]]]
    for column, value in ((_NAN, np.nan), (_POSINF, np.inf), (_NEGINF, -np.inf)):
        parts.append(np.c_[summaries[:, column], np.full(len(summaries), value)])
    candidates = np.concatenate(parts)
    candidates = candidates[~np.isnan(candidates[:, 0])]
    steps, values = candidates[:, 0].astype(np.int64), candidates[:, 1]
    group = np.searchsorted(starts, steps, side="right") - 1
    f = np.flatnonzero(np.isfinite(values))
    keep = [steps[f[_firsts(group[f], values[f], steps[f])]], steps[f[_firsts(group[f], -values[f], steps[f])]]]
    for kind in (np.isnan(values), values == np.inf, values == -np.inf):
        k = np.flatnonzero(kind)
        keep.append(steps[k[_firsts(group[k], steps[k])]])
    return np.unique(np.concatenate(keep))


def points_at(conn: Connection, run_id: int, name: str, steps: np.ndarray) -> list:
    """(step, value, timestamp) rows of one metric at the given steps, by step."""
    if steps.size == 0:
        return []
    sql = f"WITH r(a, b) AS (VALUES {_values(np.c_[steps, steps])}) SELECT p.step, p.value, p.timestamp {_in_ranges(conn)} ORDER BY p.step"
    return conn.execute(text(sql), {"run_id": run_id, "name": name}).cursor.fetchall()


_DIRTY = (f"SELECT bucket * {WIDTH}, bucket * {WIDTH} + {WIDTH - 1} FROM metric_rollups "
          "WHERE run_id = :run_id AND name = :name AND nonfinite > 0")
_GRID_ROWS = ("SELECT bucket, nonfinite, min_step, min_value, max_step, max_value, points "
              "FROM {table} WHERE run_id = :run_id AND name = :name ORDER BY bucket")


def grid_width(lo: float, hi: float, max_points: int) -> int | None:
    """Bucket width (in steps) of an overview of steps [lo, hi] reduced to about `max_points`
    points, when the range is long enough for the rollups to matter: whole rollup buckets
    (counted from step 0, so every series shares the edges), as few as keep the bucket count
    within `minmax_indices`' own, so an overview reads a rollup row instead of WIDTH points.
    None: the range is short; reduce on equal buckets over [lo, hi]."""
    n_buckets = max((max_points - 2) // 2, 1)
    span = int(hi) - int(lo) + 1
    if span <= WIDTH * n_buckets:
        return None
    width = WIDTH * -(-span // (WIDTH * n_buckets))
    if width >= COARSE:  # whole coarse buckets: a row read per COARSE steps, not per WIDTH
        width = COARSE * -(-span // (COARSE * n_buckets))
    return width


def grid_steps(conn: Connection, run_id: int, name: str, width: int) -> tuple[np.ndarray, int]:
    """The steps `minmax_indices(..., width=width)` keeps of a whole series besides its first and
    last points, from the rollups alone but for the non-finite points: in each bucket of
    `width` steps (a multiple of WIDTH, so whole rollup buckets; of COARSE: whole coarse ones)
    the first lowest and first highest finite point, and every NaN, +inf and -inf (read from the
    rollup buckets that count some). Also the number of points the rollups count, to check
    them against."""
    unit, table = (COARSE, "metric_rollups_coarse") if width % COARSE == 0 else (WIDTH, "metric_rollups")
    rows = np.array(conn.execute(text(_GRID_ROWS.format(table=table)), {"run_id": run_id, "name": name})
                    .cursor.fetchall(), dtype=np.float64).reshape(-1, 7)  # NULL (no finite point) becomes NaN
    counted = int(rows[:, 6].sum())
    group = rows[:, 0].astype(np.int64) // (width // unit)
    f = np.flatnonzero(~np.isnan(rows[:, 3]))
    mins = rows[f[_firsts(group[f], rows[f, 3], rows[f, 2])], 2]
    maxs = rows[f[_firsts(group[f], -rows[f, 5], rows[f, 4])], 4]
    keep = [mins.astype(np.int64), maxs.astype(np.int64)]
    if rows[:, 1].any():  # every non-finite point is kept: read them in the fine buckets counting some
        sql = (f"WITH r(a, b) AS ({_DIRTY}) SELECT p.step FROM (SELECT p.step, p.value {_in_ranges(conn)}) p "
               f"WHERE p.value IS NULL OR NOT ({_FINITE})")
        keep.append(np.array(conn.execute(text(sql), {"run_id": run_id, "name": name}).scalars().all(), dtype=np.int64))
    return np.unique(np.concatenate(keep)), counted

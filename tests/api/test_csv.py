"""GET …/metrics.csv: every point at full precision, streamed a page at a time."""
from __future__ import annotations

import csv
import io
import math

from dashboard.api import metrics as api_metrics
from tests.api.conftest import T0


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_csv_has_every_point_at_full_precision(client, seed):
    values = [0.1, 1 / 3, 2.220446049250313e-16, 1e300, -7.0, float("nan"), float("inf"), float("-inf")]
    exp, run = seed([("loss", s, v) for s, v in enumerate(values)] + [("learning_rate", 0, 3e-4)])
    response = client.get(f"/api/experiments/{exp}/runs/{run}/metrics.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv(response)
    assert [r["name"] for r in rows] == ["learning_rate"] + ["loss"] * len(values)
    loss = rows[1:]
    assert [int(r["step"]) for r in loss] == list(range(len(values)))
    parsed = [float(r["value"]) for r in loss]
    assert parsed[:5] == values[:5]  # exact round trip
    assert math.isnan(parsed[5]) and parsed[6:] == [math.inf, -math.inf]
    assert [r["value"] for r in loss[5:]] == ["nan", "inf", "-inf"]
    assert loss[1]["timestamp"] == "2025-11-24T16:00:01.000000Z"


def test_csv_is_streamed_in_pages(monkeypatch, client, seed):
    exp, run = seed([("loss", s, float(s)) for s in range(250)])
    monkeypatch.setattr(api_metrics, "CSV_PAGE_ROWS", 100)
    from dashboard.db import queries

    pages = []
    real = queries.iter_metric_pages

    def spy(*args, **kwargs):
        for page in real(*args, **kwargs):
            pages.append(len(page[0]))
            yield page

    monkeypatch.setattr(queries, "iter_metric_pages", spy)
    response = client.get(f"/api/experiments/{exp}/runs/{run}/metrics.csv")
    assert response.is_streamed
    assert [int(r["step"]) for r in _csv(response)] == list(range(250))
    assert pages == [100, 100, 50]


def test_csv_filters_by_type_and_step(client, seed):
    exp, run = seed([(n, s, 1.0) for n in ("loss", "learning_rate", "grad_norm") for s in range(10)])
    rows = _csv(client.get(f"/api/experiments/{exp}/runs/{run}/metrics.csv?types=lr,grad-norm&step_min=3&step_max=4"))
    assert [(r["name"], r["step"]) for r in rows] == [
        ("learning_rate", "3"), ("learning_rate", "4"), ("grad_norm", "3"), ("grad_norm", "4")]


def test_csv_of_a_run_without_metrics_is_just_the_header(client, seed):
    exp, run = seed()
    assert client.get(f"/api/experiments/{exp}/runs/{run}/metrics.csv").get_data() == b"name,step,value,timestamp\n"


def test_csv_timestamps_match_the_stored_ones(engine, client, seed):
    from dashboard.db.writer import write_batch

    exp, run = seed()
    write_batch(engine, run, [("loss", 1, 1.0, T0 + 0.123456)])
    assert _csv(client.get(f"/api/experiments/{exp}/runs/{run}/metrics.csv"))[0]["timestamp"] == \
        "2025-11-24T16:00:00.123456Z"


def _reference_csv(engine, run) -> bytes:
    """The CSV as the first implementation built it: SQLAlchemy rows, then csv_block per name."""
    import numpy as np
    from sqlalchemy import select

    from dashboard.api.encoding import csv_block
    from dashboard.db.models import MetricPoint

    mp = MetricPoint.__table__
    out = [api_metrics.CSV_HEADER]
    with engine.connect() as conn:
        for name in ("learning_rate", "loss"):
            rows = conn.execute(select(mp.c.step, mp.c.value, mp.c.timestamp)
                                .where(mp.c.run_id == run, mp.c.name == name).order_by(mp.c.step)).all()
            steps, values, stamps = (np.array(c, dtype=float) for c in zip(*rows))
            values = np.where([r[1] is None for r in rows], np.nan, values)
            out.append(csv_block(name, steps.astype(np.int64), values, stamps))
    return b"".join(out)


def test_csv_is_byte_for_byte_the_rows_read_by_sqlalchemy(monkeypatch, engine, client, seed):
    import numpy as np

    from dashboard.db.writer import write_batch

    rng = np.random.default_rng(2)
    exp, run = seed()
    steps = rng.permutation(1000)
    values = rng.normal(0, 10.0 ** rng.integers(-30, 30, steps.size))
    values[rng.choice(steps.size, 9, replace=False)] = [np.nan, np.inf, -np.inf] * 3
    write_batch(engine, run, [("loss", int(s), float(v), T0 + s * 1.000001) for s, v in zip(steps, values)]
                + [("learning_rate", int(s), 3e-4 / (s + 1), T0) for s in range(0, 1000, 7)])
    write_batch(engine, run, [("loss", int(s), float(s) / 3, T0 - s) for s in steps[:40]])  # rewrites
    monkeypatch.setattr(api_metrics, "CSV_PAGE_ROWS", 128)  # pages cut the series anywhere
    got = client.get(f"/api/experiments/{exp}/runs/{run}/metrics.csv").get_data()
    assert got == _reference_csv(engine, run) and got.count(b"\n") == 1 + 1000 + 143


def test_csv_is_gzipped_when_the_client_accepts_it(client, seed):
    import gzip

    exp, run = seed([("loss", s, s / 7) for s in range(5000)])
    url = f"/api/experiments/{exp}/runs/{run}/metrics.csv"
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]
    body = packed.get_data()
    assert gzip.decompress(body) == plain.get_data() and len(body) < len(plain.get_data()) / 3

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

"""GET …/metrics: the seed's scenarios (retrieve, by type, by step range, runs without metrics),
on SQLite and PostgreSQL, through the real app."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest
from sqlalchemy import event

from dashboard.db import runs
from dashboard.db.writer import write_batch
from tests.api.conftest import T0, metrics_url

TYPES = ("loss", "learning_rate", "grad_norm")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _three_series(n=20):
    return [(name, s, (i + 1) * 10.0 + s / 100) for i, name in enumerate(TYPES) for s in range(n)]


@pytest.fixture
def sql_log(engine):
    """Every SQL statement the engine runs, with its parameters."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    yield statements
    event.remove(engine, "before_cursor_execute", record)


# Scenario: Retrieve metrics via API
def test_metrics_grouped_by_type_with_step_value_timestamp(client, seed):
    exp, run = seed(_three_series(), name="lr-3e-4")
    body = client.get(metrics_url(exp, run)).get_json()
    assert body["experiment_id"] == exp and body["run_id"] == run and body["run_name"] == "lr-3e-4"
    assert body["has_metrics"] is True
    assert body["available_types"] == sorted(TYPES)
    assert set(body["metrics"]) == set(TYPES)
    loss = body["metrics"]["loss"]
    assert [p["step"] for p in loss] == list(range(20))
    assert loss[3] == {"step": 3, "value": 10.03, "timestamp": _iso(T0 + 3)}
    assert body["metrics"]["grad_norm"][0]["value"] == 30.0
    assert body["point_counts"] == {"grad_norm": 20, "learning_rate": 20, "loss": 20}
    assert body["downsampled"] is False
    assert "message" not in body


def test_response_says_whether_the_run_is_complete(engine, client, seed):
    exp, run = seed(_three_series(3))
    body = client.get(metrics_url(exp, run)).get_json()
    assert (body["status"], body["is_complete"]) == ("running", False)
    runs.set_status(engine, run, "completed", exit_code=0, finished=True)
    body = client.get(metrics_url(exp, run)).get_json()
    assert (body["status"], body["is_complete"]) == ("completed", True)


def test_timestamps_are_iso8601_utc_with_milliseconds(engine, client, seed):
    exp, run = seed()
    write_batch(engine, run, [("loss", 1, 0.5, 1_764_000_001.123), ("loss", 2, 0.4, 0.0)])
    points = client.get(metrics_url(exp, run)).get_json()["metrics"]["loss"]
    assert [p["timestamp"] for p in points] == ["2025-11-24T16:00:01.123Z", "1970-01-01T00:00:00.000Z"]


def test_nonfinite_values_are_null_with_a_marker_and_the_json_is_valid(client, seed):
    exp, run = seed([("loss", 1, float("nan")), ("loss", 2, float("inf")), ("loss", 3, float("-inf")),
                     ("loss", 4, 1.5)])
    response = client.get(metrics_url(exp, run))
    raw = response.get_data()
    assert b"NaN" not in raw and b"Infinity" not in raw
    points = orjson.loads(raw)["metrics"]["loss"]  # a strict parser: bare NaN would fail here
    assert [(p["value"], p.get("nonfinite")) for p in points] == [
        (None, "nan"), (None, "inf"), (None, "-inf"), (1.5, None)]


# Scenario: Query metrics by type
@pytest.mark.parametrize("query, expected", [
    ("types=loss", ["loss"]),
    ("types=lr", ["learning_rate"]),
    ("types=grad-norm,LR", ["grad_norm", "learning_rate"]),
    ("types=loss&types=gnorm", ["loss", "grad_norm"]),
    ("types=loss,Loss,train/loss", ["loss"]),
])
def test_types_return_only_those_types_with_aliases_mapped(client, seed, query, expected):
    exp, run = seed(_three_series(5))
    body = client.get(metrics_url(exp, run, query)).get_json()
    assert list(body["metrics"]) == expected
    assert list(body["point_counts"]) == expected
    assert body["available_types"] == sorted(TYPES)  # what the run has, whatever was asked


def test_an_unknown_well_formed_type_simply_has_no_points(client, seed):
    exp, run = seed(_three_series(5))
    body = client.get(metrics_url(exp, run, "types=loss,accuracy")).get_json()
    assert body["metrics"]["accuracy"] == [] and body["point_counts"]["accuracy"] == 0
    assert len(body["metrics"]["loss"]) == 5


def test_type_filter_happens_in_sql(client, seed, sql_log):
    exp, run = seed(_three_series(50))
    sql_log.clear()
    client.get(metrics_url(exp, run, "types=lr"))
    point_reads = [(sql, params) for sql, params in sql_log if "FROM metric_points" in sql]
    assert point_reads, "the points must be read from metric_points"
    for sql, params in point_reads:
        assert "metric_points.name" in sql
        assert "learning_rate" in str(params) and "'loss'" not in str(params)


# Scenario: Query metrics by step range
@pytest.mark.parametrize("query, steps", [
    ("step_min=5&step_max=9", [5, 6, 7, 8, 9]),
    ("step_min=17", [17, 18, 19]),
    ("step_max=2", [0, 1, 2]),
    ("step_min=7&step_max=7", [7]),
    ("step_min=100", []),
    ("step_min=-50&step_max=1", [0, 1]),
])
def test_step_range_is_inclusive(client, seed, query, steps):
    exp, run = seed(_three_series(20))
    body = client.get(metrics_url(exp, run, "types=loss&" + query)).get_json()
    assert [p["step"] for p in body["metrics"]["loss"]] == steps
    assert body["point_counts"]["loss"] == len(steps)


def test_step_filter_happens_in_sql(client, seed, sql_log):
    exp, run = seed(_three_series(1000))
    sql_log.clear()
    body = client.get(metrics_url(exp, run, "types=loss&step_min=500&step_max=509")).get_json()
    assert len(body["metrics"]["loss"]) == 10
    reads = [(sql, params) for sql, params in sql_log if "FROM metric_points" in sql]
    assert reads and all("metric_points.step >=" in sql and "metric_points.step <=" in sql for sql, _ in reads)
    assert all(500 in _values(params) and 509 in _values(params) for _, params in reads)


def _values(params) -> list:
    return list(params.values()) if isinstance(params, dict) else list(params)


def test_a_thousand_point_range_of_a_long_run_is_exact(client, seed):
    exp, run = seed([("loss", s, float(s % 7)) for s in range(5000)])
    body = client.get(metrics_url(exp, run, "step_min=1000&step_max=1999&max_points=1000")).get_json()
    assert [p["step"] for p in body["metrics"]["loss"]] == list(range(1000, 2000))
    assert body["downsampled"] is False


# Scenario: Handle runs without metrics
def test_a_run_made_before_capture_has_no_metrics_and_says_so(client, seed):
    exp, run = seed()
    response = client.get(metrics_url(exp, run))
    assert response.status_code == 200
    body = response.get_json()
    assert body["has_metrics"] is False
    assert body["metrics"] == {} and body["available_types"] == [] and body["point_counts"] == {}
    assert body["downsampled"] is False
    assert "no metrics" in body["message"].lower()


def test_a_run_whose_log_had_no_metrics_still_has_its_log(client, seed):
    exp, run = seed(chunks=[(0, "compiling...\n"), (1, "done\n")], status="completed")
    body = client.get(metrics_url(exp, run, "types=loss&step_min=0&step_max=10")).get_json()
    assert (body["has_metrics"], body["metrics"], body["is_complete"]) == (False, {}, True)
    logs = client.get(f"/api/experiments/{exp}/runs/{run}/logs").get_json()
    assert [c["text"] for c in logs["chunks"]] == ["compiling...\n", "done\n"]


# Downsampling
def test_a_long_series_is_reduced_flagged_and_counted(make_client, seed):
    exp, run = seed([("loss", s, 1.0 / (s + 1)) for s in range(3000)] + [("learning_rate", s, 1e-3) for s in range(50)])
    client = make_client(max_points_default=200)
    body = client.get(metrics_url(exp, run)).get_json()
    loss = body["metrics"]["loss"]
    assert body["downsampled"] is True
    assert body["point_counts"] == {"learning_rate": 50, "loss": 3000}
    assert 100 < len(loss) <= 200
    assert loss[0]["step"] == 0 and loss[-1]["step"] == 2999  # first and last always kept
    assert len(body["metrics"]["learning_rate"]) == 50  # a short series is left whole
    # max_points in the query overrides the configured default
    assert len(client.get(metrics_url(exp, run, "max_points=5000")).get_json()["metrics"]["loss"]) == 3000


def test_a_one_step_spike_survives_reduction_of_100k_points(engine, client, seed):
    exp, run = seed()
    values = [1.0 + (s % 10) / 100 for s in range(100_000)]
    values[61_803] = 50 * sorted(values)[len(values) // 2]
    for lo in range(0, 100_000, 50_000):
        write_batch(engine, run, [("loss", s, values[s], T0 + s) for s in range(lo, lo + 50_000)])
    body = client.get(metrics_url(exp, run, "max_points=100")).get_json()
    loss = body["metrics"]["loss"]
    assert len(loss) <= 100 and body["downsampled"] is True and body["point_counts"]["loss"] == 100_000
    assert {"step": 61_803, "value": values[61_803], "timestamp": _iso(T0 + 61_803)} in loss
    assert min(p["value"] for p in loss) == 1.0


def test_a_reduced_series_is_chosen_in_sql_not_loaded(monkeypatch, client, seed, sql_log):
    exp, run = seed([("loss", s, float(s % 13)) for s in range(4000)])
    sql_log.clear()
    from dashboard.db import queries

    def loads_everything(*args, **kwargs):
        raise AssertionError("a series longer than max_points must not be read whole")

    monkeypatch.setattr(queries, "iter_metric_pages", loads_everything)
    monkeypatch.setattr(queries, "metric_series", loads_everything)
    body = client.get(metrics_url(exp, run, "max_points=40")).get_json()
    assert len(body["metrics"]["loss"]) <= 40
    assert any("ORDER BY p.value" in sql for sql, _ in sql_log)


def test_nonfinite_points_survive_reduction(client, seed):
    points = [("loss", s, 1.0) for s in range(2000)]
    points[700] = ("loss", 700, float("nan"))
    points[1500] = ("loss", 1500, float("inf"))
    points[1501] = ("loss", 1501, 9.0)  # a spike beside an inf in the same bucket
    exp, run = seed(points)
    loss = client.get(metrics_url(exp, run, "max_points=20")).get_json()["metrics"]["loss"]
    by_step = {p["step"]: p for p in loss}
    assert by_step[700]["nonfinite"] == "nan" and by_step[1500]["nonfinite"] == "inf"
    assert by_step[1501]["value"] == 9.0


def test_a_step_range_within_max_points_is_exact_even_when_the_series_is_long(make_client, seed):
    exp, run = seed([("loss", s, float(s)) for s in range(3000)])
    client = make_client(max_points_default=100)
    body = client.get(metrics_url(exp, run, "step_min=1000&step_max=1099")).get_json()
    assert [p["step"] for p in body["metrics"]["loss"]] == list(range(1000, 1100))
    assert body["downsampled"] is False
    body = client.get(metrics_url(exp, run, "step_min=1000&step_max=1999")).get_json()
    loss = body["metrics"]["loss"]
    assert body["downsampled"] is True and body["point_counts"]["loss"] == 1000
    assert loss[0]["step"] == 1000 and loss[-1]["step"] == 1999 and len(loss) <= 100


def test_a_new_batch_is_seen_by_the_next_reduced_request(engine, make_client, seed):
    exp, run = seed([("loss", s, 1.0) for s in range(1000)])
    client = make_client(max_points_default=50)
    first = client.get(metrics_url(exp, run)).get_json()["metrics"]["loss"]
    write_batch(engine, run, [("loss", 1000, 7.0, T0)])
    second = client.get(metrics_url(exp, run)).get_json()
    assert second["point_counts"]["loss"] == 1001
    assert second["metrics"]["loss"][-1]["value"] == 7.0 and first[-1]["step"] == 999


def test_a_zoom_denser_than_the_series_average_is_still_reduced_and_counted(make_client, seed):
    dense = [("loss", s, float(s % 5)) for s in range(300)]
    sparse = [("loss", s, 1.0) for s in range(1000, 100_000, 1000)]
    exp, run = seed(dense + sparse)
    client = make_client(max_points_default=50)
    body = client.get(metrics_url(exp, run, "step_min=0&step_max=299")).get_json()
    assert body["point_counts"]["loss"] == 300 and body["downsampled"] is True
    loss = body["metrics"]["loss"]
    assert len(loss) <= 50 and loss[0]["step"] == 0 and loss[-1]["step"] == 299
    assert {p["value"] for p in loss} == {0.0, 4.0}


def test_large_responses_are_gzipped_for_clients_that_accept_it(client, seed):
    import gzip

    exp, run = seed([("loss", s, s / 7) for s in range(500)])
    plain = client.get(metrics_url(exp, run))
    packed = client.get(metrics_url(exp, run), headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.get_data()) < len(plain.get_data()) / 3
    assert gzip.decompress(packed.get_data()) == plain.get_data()

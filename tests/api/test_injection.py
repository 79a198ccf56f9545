"""SQL-injection-looking values in every parameter: a 400, a 404 or an empty result, never a 500,
and the data is untouched."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from dashboard.db.models import MetricPoint

NASTY = [
    "1 OR 1=1",
    "1; DROP TABLE metric_points; --",
    "' OR '1'='1",
    "loss' OR '1'='1",
    "loss); DELETE FROM metric_points; --",
    "1 UNION SELECT name FROM sqlite_master",
    "%27%20OR%201%3D1",
    "\x00",
    "１２",  # full-width digits
    "1e3",
    "-0x10",
    "9" * 40,
    "loss\nstep",
]


def _points(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(MetricPoint)).scalar_one()


@pytest.fixture
def ids(seed):
    return seed([(n, s, float(s)) for n in ("loss", "learning_rate") for s in range(20)], chunks=[(0, "x\n")])


@pytest.mark.parametrize("param", ["types", "step_min", "step_max", "max_points"])
def test_metrics_query_parameters(engine, client, ids, param):
    exp, run = ids
    for value in NASTY:
        for path in ("metrics", "metrics.csv"):
            if path == "metrics.csv" and param == "max_points":
                continue
            response = client.get(f"/api/experiments/{exp}/runs/{run}/{path}?{param}={quote(value)}")
            if response.status_code == 200:  # a well-formed type name such as `1e3`: nothing there
                assert param == "types", value
                assert response.get_data() == b"name,step,value,timestamp\n" if path == "metrics.csv" else \
                    all(points == [] for points in response.get_json()["metrics"].values())
                continue
            assert response.status_code == 400, (param, value, response.status_code)
            assert response.get_json()["error"]["param"] == param
    assert _points(engine) == 40


@pytest.mark.parametrize("param", ["after", "limit"])
def test_log_query_parameters(client, ids, param):
    exp, run = ids
    for value in NASTY:
        response = client.get(f"/api/experiments/{exp}/runs/{run}/logs?{param}={quote(value)}")
        assert response.status_code == 400 and response.get_json()["error"]["param"] == param


def test_path_parameters(engine, client, ids):
    exp, run = ids
    for value in NASTY:
        for url in (f"/api/experiments/{quote(value)}", f"/api/experiments/{exp}/runs/{quote(value)}/metrics",
                    f"/api/experiments/{quote(value)}/runs/{run}"):
            for method in (client.get, client.delete):
                response = method(url)
                assert response.status_code in (404, 405), (url, response.status_code)
                assert response.is_json
    assert _points(engine) == 40


def test_a_run_name_is_data_not_sql(engine, client, ids):
    exp, run = ids
    for value in NASTY[:6]:
        response = client.patch(f"/api/experiments/{exp}/runs/{run}", json={"name": value})
        assert response.status_code == 200 and response.get_json()["name"] == value.strip()
    assert client.get(f"/api/experiments/{exp}/runs").get_json()["runs"][0]["name"] == NASTY[5]
    assert _points(engine) == 40


def test_a_well_formed_but_odd_type_is_just_an_empty_series(client, ids):
    exp, run = ids
    body = client.get(f"/api/experiments/{exp}/runs/{run}/metrics?types=sqlite_master,1--").get_json()
    assert body["metrics"] == {"sqlite_master": [], "1": []}

"""Every API error has one JSON shape, {"error": {"code", "message", "param"}}, built in one place."""
from __future__ import annotations

import pytest

from dashboard.db import queries
from tests.api.conftest import metrics_url


def assert_error(response, status: int, code: str, param: str | None) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "param"}
    assert (body["error"]["code"], body["error"]["param"]) == (code, param)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.fixture
def ids(seed):
    exp, run = seed([("loss", 1, 1.0)])
    other_exp, other_run = seed([("loss", 1, 1.0)], experiment="other")
    return exp, run, other_exp, other_run


def test_unknown_experiment_is_404(client, ids):
    assert_error(client.get("/api/experiments/999"), 404, "not_found", "experiment_id")
    assert_error(client.get("/api/experiments/999/runs"), 404, "not_found", "experiment_id")
    assert_error(client.get(metrics_url(999, ids[1])), 404, "not_found", "experiment_id")


def test_unknown_run_or_a_run_of_another_experiment_is_404(client, ids):
    exp, run, other_exp, other_run = ids
    assert_error(client.get(metrics_url(exp, 999)), 404, "not_found", "run_id")
    message = assert_error(client.get(metrics_url(exp, other_run)), 404, "not_found", "run_id")["message"]
    assert str(other_run) in message
    assert_error(client.get(f"/api/experiments/{exp}/runs/{other_run}/logs"), 404, "not_found", "run_id")
    assert_error(client.get(f"/api/experiments/{exp}/runs/{other_run}/metrics.csv"), 404, "not_found", "run_id")
    assert_error(client.delete(f"/api/experiments/{exp}/runs/{other_run}"), 404, "not_found", "run_id")


@pytest.mark.parametrize("query, param", [
    ("step_min=10&step_max=5", "step_min"),
    ("step_min=1.5", "step_min"),
    ("step_max=ten", "step_max"),
    ("step_max=", "step_max"),
    ("step_min=99999999999999999999", "step_min"),
    ("step_min=1&step_min=2", "step_min"),
    ("max_points=1", "max_points"),
    ("max_points=0", "max_points"),
    ("max_points=-5", "max_points"),
    ("max_points=1000001", "max_points"),
    ("max_points=2e3", "max_points"),
    ("types=", "types"),
    ("types=loss,,lr", "types"),
    ("types=lo ss", "types"),
    ("types=" + ",".join(["loss"] * 51), "types"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, ids, query, param):
    exp, run = ids[:2]
    assert_error(client.get(metrics_url(exp, run, query)), 400, "invalid_parameter", param)


@pytest.mark.parametrize("query, param", [("after=-2", "after"), ("after=x", "after"), ("limit=0", "limit"),
                                          ("limit=10001", "limit")])
def test_bad_log_paging_is_400(client, ids, query, param):
    exp, run = ids[:2]
    assert_error(client.get(f"/api/experiments/{exp}/runs/{run}/logs?{query}"), 400, "invalid_parameter", param)


def test_max_points_limit_comes_from_settings(make_client, ids):
    exp, run = ids[:2]
    client = make_client(max_points_limit=500)
    assert_error(client.get(metrics_url(exp, run, "max_points=501")), 400, "invalid_parameter", "max_points")
    assert client.get(metrics_url(exp, run, "max_points=500")).status_code == 200


def test_other_methods_are_405_in_json_with_allow(client, ids):
    exp, run = ids[:2]
    error = assert_error(client.post("/api/experiments"), 405, "method_not_allowed", None)
    assert "POST" in error["message"]
    response = client.put(metrics_url(exp, run))
    assert_error(response, 405, "method_not_allowed", None)
    assert "GET" in response.headers["Allow"]
    assert_error(client.delete(f"/api/experiments/{exp}/runs"), 405, "method_not_allowed", None)


def test_unknown_api_paths_are_json_404_not_the_dash_page(client):
    assert_error(client.get("/api/nothing/here"), 404, "not_found", None)
    assert_error(client.post("/api/nothing"), 404, "not_found", None)
    assert_error(client.get("/api/experiments/abc"), 404, "not_found", None)
    assert_error(client.get("/api/experiments/0"), 404, "not_found", None)


@pytest.mark.parametrize("body, param", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": 5}, "name"),
    ({"name": "x" * 201}, "name"), ({"name": "a\x00b"}, "name"), ({"name": "ok", "status": "completed"}, "status"),
    ([1, 2], "name"),
])
def test_bad_rename_bodies_are_400(client, ids, body, param):
    exp, run = ids[:2]
    assert_error(client.patch(f"/api/experiments/{exp}/runs/{run}", json=body), 400, "invalid_parameter", param)


def test_a_body_that_is_not_json_is_400(client, ids):
    exp, run = ids[:2]
    response = client.patch(f"/api/experiments/{exp}/runs/{run}", data=b"{not json", content_type="application/json")
    assert_error(response, 400, "invalid_parameter", "name")


def test_an_unexpected_failure_is_a_json_500_without_internals(monkeypatch, client):
    def broken(engine):
        raise RuntimeError("secret connection string")

    monkeypatch.setattr(queries, "list_experiments", broken)
    error = assert_error(client.get("/api/experiments"), 500, "internal_error", None)
    assert "secret" not in error["message"]

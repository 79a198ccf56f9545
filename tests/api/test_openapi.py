"""The OpenAPI document is accurate: schemathesis fuzzes every operation against the WSGI app
(no 5xx, responses and status codes as documented).

The schema is loaded from the same document the app serves at /api/openapi.json (a test pins
that they are equal) rather than through `schemathesis.pytest.from_fixture`, whose lazy loader
breaks on pytest 9 (it sets `Function._nodeid`, which pytest 9 no longer has)."""
from __future__ import annotations

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from dashboard import create_app
from dashboard.api.openapi import openapi_document
from dashboard.config import Settings
from dashboard.db import runs
from dashboard.db.engine import init_db
from dashboard.db.writer import write_batch
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'trainboard.db'}"
    engine = init_db(url)
    for name in ("alpha", "beta"):
        exp = runs.get_or_create_experiment(engine, name)
        for r in range(2):
            run = runs.create_run(engine, exp, f"{name}-{r}")
            write_batch(engine, run, [("loss", s, 1.0 / (s + 1), 1e9 + s) for s in range(300)]
                        + [("learning_rate", 3, float("nan"), 1e9)], [(0, "step 0 loss 1.0\n")])
    runs.create_run(engine, exp, "no-metrics")
    app = create_app(SETTINGS.with_(db_url=url), engine=engine)
    yield app.server
    engine.dispose()


SETTINGS = Settings(db_url="sqlite://", max_points_default=100)
DOCUMENT = orjson.loads(orjson.dumps(openapi_document(SETTINGS)))
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_app_serves_this_document(api_app):
    response = api_app.test_client().get("/api/openapi.json")
    assert response.status_code == 200 and response.get_json() == DOCUMENT


def test_the_document_lists_every_endpoint(api_app):
    doc = api_app.test_client().get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    ops = {(path, method) for path, item in doc["paths"].items() for method in item if method != "parameters"}
    run = "/api/experiments/{experiment_id}/runs/{run_id}"
    assert ops == {
        ("/api/experiments", "get"), ("/api/experiments/{experiment_id}", "get"),
        ("/api/experiments/{experiment_id}", "delete"), ("/api/experiments/{experiment_id}/runs", "get"),
        (run, "get"), (run, "patch"), (run, "delete"), (f"{run}/logs", "get"), (f"{run}/metrics", "get"),
        (f"{run}/metrics.csv", "get"),
    }


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(api_app, case):
    # positive_data_acceptance is left out on purpose: step_min > step_max is a 400 that OpenAPI
    # cannot express (no cross-parameter constraints), and schemathesis would call it valid input.
    case.call_and_validate(app=api_app, checks=[
        not_a_server_error, status_code_conformance, content_type_conformance,
        response_schema_conformance, negative_data_rejection,
    ])

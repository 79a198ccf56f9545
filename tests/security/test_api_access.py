"""Every operation of the API's own OpenAPI document: 401 without the token (and nothing
changes), the documented answer with it."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from dashboard import create_app
from dashboard.api.openapi import openapi_document
from dashboard.config import Settings
from dashboard.db import queries, runs
from dashboard.db.engine import init_db
from dashboard.db.writer import write_batch
from tests.security.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Deletions last, the run before its experiment, so every operation finds what it needs.
ORDER = {"get": 0, "patch": 1, "delete": 2}


def _operations(settings: Settings) -> list[tuple[str, str, dict]]:
    paths = openapi_document(settings)["paths"]
    ops = [(method, path, op) for path, item in paths.items() for method, op in item.items() if method in ORDER]
    return sorted(ops, key=lambda o: (ORDER[o[0]], -len(o[1])))


@pytest.fixture
def api(sqlite_url):
    engine = init_db(sqlite_url)
    exp = runs.get_or_create_experiment(engine, "guarded")
    run = runs.create_run(engine, exp, "run")
    write_batch(engine, run, [("loss", s, 1.0, 1.7e9 + s) for s in range(10)], [(0, "loss 1.0\n")])
    settings = Settings(db_url=sqlite_url, token=TOKEN)
    client = create_app(settings, engine=engine).server.test_client()
    yield client, settings, engine, {"experiment_id": exp, "run_id": run}
    engine.dispose()


def _call(client, method, path, ids, headers=None):
    url = path.format(**ids)
    body = {"json": {"name": "renamed"}} if method == "patch" else {}
    return getattr(client, method)(url, headers=headers or {}, **body)


def test_every_operation_needs_the_token(api):
    client, settings, engine, ids = api
    operations = _operations(settings)
    assert len(operations) >= 10
    for method, path, _ in operations:
        response = _call(client, method, path, ids)
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"]["code"] == "unauthorized"
    # Nothing was renamed or deleted by the refused calls.
    run = queries.get_run(engine, ids["run_id"])
    assert run["name"] == "run" and queries.point_count(engine, ids["run_id"], "loss") == 10


def test_every_operation_answers_as_documented_with_the_token(api):
    client, settings, engine, ids = api
    for method, path, op in _operations(settings):
        response = _call(client, method, path, ids, AUTH)
        success = min(code for code in op["responses"] if code.startswith("2"))
        assert response.status_code == int(success), (method, path, response.status_code)
    assert queries.get_run(engine, ids["run_id"]) is None


def test_query_token_works_for_api_scripts(api):
    client, *_ = api
    response = client.get(f"/api/experiments?token={quote(TOKEN, safe='')}")
    assert response.status_code == 200 and response.get_json()["experiments"][0]["name"] == "guarded"


def test_unknown_api_paths_reveal_nothing_without_the_token(api):
    client, *_ = api
    for path in ("/api/nope", "/api/experiments/1/runs/1/secrets", "/api/openapi.json"):
        assert client.get(path).status_code == 401
    assert client.get("/api/nope", headers=AUTH).status_code == 404

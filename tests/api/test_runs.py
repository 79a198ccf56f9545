"""Experiments and runs: listing, renaming, deleting (points and log chunks go by cascade)."""
from __future__ import annotations

from sqlalchemy import func, select

from dashboard.db.models import ExperimentRun, LogChunk, MetricPoint


def _rows(engine, table, run_id) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(table.c.run_id == run_id)).scalar_one()


def test_experiments_and_their_runs_are_listed(client, seed):
    exp, run = seed([("loss", 1, 2.0)], name="baseline")
    seed(experiment="exp", name="second")
    experiments = client.get("/api/experiments").get_json()["experiments"]
    assert [(e["id"], e["name"], e["run_count"]) for e in experiments] == [(exp, "exp", 2)]
    assert experiments[0]["created_at"].endswith("Z")
    assert client.get(f"/api/experiments/{exp}").get_json()["name"] == "exp"
    body = client.get(f"/api/experiments/{exp}/runs").get_json()
    assert body["experiment_id"] == exp
    assert [r["name"] for r in body["runs"]] == ["baseline", "second"]
    first = body["runs"][0]
    assert first["metrics"]["loss"]["count"] == 1 and first["status"] == "running" and first["is_complete"] is False
    assert client.get(f"/api/experiments/{exp}/runs/{run}").get_json() == first


def test_a_run_is_renamed(client, seed):
    exp, run = seed(name="old")
    response = client.patch(f"/api/experiments/{exp}/runs/{run}", json={"name": "  lr-3e-4  "})
    assert response.status_code == 200 and response.get_json()["name"] == "lr-3e-4"
    assert client.get(f"/api/experiments/{exp}/runs").get_json()["runs"][0]["name"] == "lr-3e-4"


def test_deleting_a_run_takes_its_points_and_log_with_it(engine, client, seed):
    exp, run = seed([("loss", s, 1.0) for s in range(10)], chunks=[(0, "a\n"), (1, "b\n")])
    _, kept = seed([("loss", 1, 1.0)], chunks=[(0, "keep\n")])
    assert _rows(engine, MetricPoint.__table__, run) == 10 and _rows(engine, LogChunk.__table__, run) == 2
    response = client.delete(f"/api/experiments/{exp}/runs/{run}")
    assert response.status_code == 204 and response.get_data() == b""
    assert _rows(engine, MetricPoint.__table__, run) == 0 and _rows(engine, LogChunk.__table__, run) == 0
    assert client.get(f"/api/experiments/{exp}/runs/{run}/metrics").status_code == 404
    assert _rows(engine, MetricPoint.__table__, kept) == 1 and _rows(engine, LogChunk.__table__, kept) == 1
    assert client.delete(f"/api/experiments/{exp}/runs/{run}").status_code == 404


def test_deleting_an_experiment_takes_its_runs_points_and_logs(engine, client, seed):
    exp, run_a = seed([("loss", 1, 1.0)], chunks=[(0, "a\n")])
    _, run_b = seed([("loss", 2, 1.0)], chunks=[(0, "b\n")])
    other_exp, other_run = seed([("loss", 1, 1.0)], experiment="other")
    assert client.delete(f"/api/experiments/{exp}").status_code == 204
    for run in (run_a, run_b):
        assert _rows(engine, MetricPoint.__table__, run) == 0 and _rows(engine, LogChunk.__table__, run) == 0
    with engine.connect() as conn:
        assert conn.execute(select(ExperimentRun.id)).scalars().all() == [other_run]
    assert [e["id"] for e in client.get("/api/experiments").get_json()["experiments"]] == [other_exp]
    assert client.get(f"/api/experiments/{exp}").status_code == 404

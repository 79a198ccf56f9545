"""GET …/logs: the terminal's source, paged by `after` / `limit`."""
from __future__ import annotations

from dashboard.db import runs


def test_logs_page_in_order_by_seq(client, seed):
    exp, run = seed(chunks=[(seq, f"line {seq}\n") for seq in range(25)])
    url = f"/api/experiments/{exp}/runs/{run}/logs"
    first = client.get(url + "?limit=10").get_json()
    assert [c["seq"] for c in first["chunks"]] == list(range(10))
    assert first["chunks"][3] == {"seq": 3, "text": "line 3\n"}
    assert first["next_after"] == 9 and first["is_complete"] is False
    second = client.get(f"{url}?after={first['next_after']}&limit=10").get_json()
    assert [c["seq"] for c in second["chunks"]] == list(range(10, 20))
    rest = client.get(f"{url}?after={second['next_after']}").get_json()
    assert [c["seq"] for c in rest["chunks"]] == list(range(20, 25))
    done = client.get(f"{url}?after={rest['next_after']}").get_json()
    assert done == {"chunks": [], "next_after": 24, "is_complete": False}


def test_logs_say_when_the_run_is_complete(engine, client, seed):
    exp, run = seed(chunks=[(0, "\x1b[32mok\x1b[0m\r\n")])
    runs.set_status(engine, run, "failed", exit_code=1, finished=True)
    body = client.get(f"/api/experiments/{exp}/runs/{run}/logs").get_json()
    assert body["chunks"] == [{"seq": 0, "text": "\x1b[32mok\x1b[0m\r\n"}]  # byte for byte
    assert body["is_complete"] is True


def test_a_run_without_log_has_no_chunks(client, seed):
    exp, run = seed()
    assert client.get(f"/api/experiments/{exp}/runs/{run}/logs").get_json() == {
        "chunks": [], "next_after": -1, "is_complete": False}

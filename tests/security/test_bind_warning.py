"""`trainboard serve` binds 127.0.0.1 by default and warns on stderr when exposed without a token."""
from __future__ import annotations

import dash
import pytest

from dashboard import cli
from dashboard.config import Settings
from dashboard.security import bind_warning


@pytest.fixture
def served(monkeypatch):
    """Record what `app.run` would have been called with, instead of blocking on a server."""
    calls = []
    monkeypatch.setattr(dash.Dash, "run", lambda self, **kwargs: calls.append(kwargs))
    monkeypatch.delenv("TRAINBOARD_TOKEN", raising=False)
    return calls


def test_default_bind_is_loopback_and_quiet(served, sqlite_url, capsys):
    assert cli.main(["serve", "--db", sqlite_url]) == 0
    assert served[0]["host"] == "127.0.0.1"
    assert "WARNING" not in capsys.readouterr().err


def test_exposed_without_token_warns_on_stderr(served, sqlite_url, capsys):
    assert cli.main(["serve", "--db", sqlite_url, "--host", "0.0.0.0"]) == 0
    assert served[0]["host"] == "0.0.0.0"
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "0.0.0.0" in captured.err and "TRAINBOARD_TOKEN" in captured.err
    assert "WARNING" not in captured.out


def test_exposed_with_token_is_quiet(served, sqlite_url, capsys, monkeypatch):
    monkeypatch.setenv("TRAINBOARD_TOKEN", "t0ken")
    assert cli.main(["serve", "--db", sqlite_url, "--host", "0.0.0.0"]) == 0
    assert "WARNING" not in capsys.readouterr().err


@pytest.mark.parametrize("host", ["192.168.0.7", "::", "box.example"])
def test_bind_warning_names_the_host(host):
    warning = bind_warning(Settings(db_url="sqlite://", host=host, token=None))
    assert warning is not None and host in warning
    assert bind_warning(Settings(db_url="sqlite://", host=host, token="x")) is None

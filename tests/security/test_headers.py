"""Security headers: CSP frame-ancestors from the settings, nosniff, never X-Frame-Options."""
from __future__ import annotations

import pytest

from tests.security.conftest import TOKEN

PATHS = ["/", "/_dash-layout", "/assets/vendor/bootstrap.min.css", "/api/experiments", "/no-such-page"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("token", [None, TOKEN])
def test_default_headers_on_every_response(make_app, path, token):
    """Pages, data, static files, 404s and 401s all carry the headers."""
    client = make_app(token=token, frame_ancestors="'self'").server.test_client()
    response = client.get(path)
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_frame_ancestors_follow_the_settings(make_app):
    client = make_app(frame_ancestors="'self' https://lab.example:8443").server.test_client()
    response = client.get("/embed/experiments/1/runs/1")
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'self' https://lab.example:8443"
    assert "X-Frame-Options" not in response.headers


def test_frame_ancestors_from_the_environment(monkeypatch, sqlite_url, seeded_engine):
    from dashboard import create_app
    from dashboard.config import Settings

    monkeypatch.setenv("TRAINBOARD_FRAME_ANCESTORS", "'none'")
    monkeypatch.delenv("TRAINBOARD_TOKEN", raising=False)
    client = create_app(Settings(db_url=sqlite_url), engine=seeded_engine).server.test_client()
    assert client.get("/").headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_a_route_setting_x_frame_options_is_overridden(make_app):
    """Whatever a later route sets, the CSP is the one framing rule."""
    app = make_app(frame_ancestors="https://lab.example")

    @app.server.route("/framed-test")
    def framed():
        return "x", 200, {"X-Frame-Options": "DENY"}

    response = app.server.test_client().get("/framed-test")
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Content-Security-Policy"] == "frame-ancestors https://lab.example"

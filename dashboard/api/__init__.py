"""trainboard's JSON API (SPEC §5): `register_api(server, engine, settings)` adds it to the
Dash app's Flask server under /api."""
from __future__ import annotations

from flask import Flask, request
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from dashboard.api.errors import ApiError, error_response
from dashboard.api.routes import build_blueprint
from dashboard.config import Settings


def register_api(server: Flask, engine: Engine, settings: Settings) -> None:
    server.register_blueprint(build_blueprint(engine, settings))
    server.register_error_handler(ApiError, error_response)

    @server.before_request
    def _json_errors_under_api():
        # A path under /api that no API route serves would otherwise reach Dash's catch-all
        # page (HTML), or Flask's HTML 405: answer in the API's JSON shape instead.
        if request.blueprint == "api" or not (request.path == "/api" or request.path.startswith("/api/")):
            return None
        allowed = _api_methods(server, request.routing_exception)
        if allowed:
            raise ApiError(405, f"{request.method} is not allowed here; allowed: {', '.join(allowed)}.",
                           allow=allowed)
        raise ApiError(404, f"There is no API endpoint at {request.path}.")


def _api_methods(server: Flask, exc: HTTPException | None) -> list[str]:
    """The methods API routes accept at this path (empty when none serves it)."""
    if not isinstance(exc, MethodNotAllowed):
        return []
    adapter = server.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in sorted(exc.valid_methods or ()):
        try:
            rule, _ = adapter.match(method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.endpoint.startswith("api."):
            allowed.append(method)
    return allowed


__all__ = ["register_api", "ApiError"]

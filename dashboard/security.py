"""Access token, security headers and the bind warning: the Flask hooks that guard every route."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlencode

from flask import Flask, Response, redirect, request

from dashboard.config import Settings

COOKIE_NAME = "trainboard_session"
QUERY_PARAM = "token"

# Static bundles (Dash's JS, our CSS) carry no data: they stay open so a 401 page can render.
# Everything else -- pages, /_dash-layout, /_dash-dependencies, /_dash-update-component,
# /api/... and any route added later -- needs the token: closed unless listed here.
OPEN_PREFIXES = ("/_dash-component-suites/", "/assets/")
OPEN_PATHS = frozenset({"/_favicon.ico"})

# The Dash renderer's own XHRs, which never carry ?token= and never want a redirect.
DASH_INTERNAL_PREFIX = "/_dash-"

BIND_WARNING = (
    "trainboard: WARNING: serving on {host}, reachable from other machines, with no access token: "
    "anyone who can reach this port can read and delete every run. Set TRAINBOARD_TOKEN, "
    "or bind 127.0.0.1 (the default)."
)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname we will not resolve: assume it is reachable


def bind_warning(settings: Settings) -> str | None:
    """The stderr warning for a server reachable from elsewhere without a token, or None."""
    if settings.token or is_loopback(settings.host):
        return None
    return BIND_WARNING.format(host=settings.host)


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison: the time taken says nothing about how much of `given` was right."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def cookie_value(token: str) -> str:
    """The session cookie holds a digest of the token, never the token itself.

    Hex is safe in any cookie, whatever characters the token has, and a leaked cookie
    does not reveal the token used for the API.
    """
    return hmac.new(token.encode("utf-8"), b"trainboard-session-cookie", hashlib.sha256).hexdigest()


def bearer(header: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer …` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def unauthorized(path: str) -> Response:
    """401: JSON in the API's one error shape under /api, plain text elsewhere."""
    message = (
        "this trainboard needs its access token: send `Authorization: Bearer <token>` "
        "or add ?token=<token> to the URL"
    )
    if is_api_path(path):
        # Imported here: dashboard imports this module, and the API package pulls in the query layer.
        from dashboard.api.errors import ApiError, error_response

        response = error_response(ApiError(401, message, code="unauthorized"))
    else:
        # Plain text: nothing of the request is echoed, so nothing can be injected.
        response = Response(f"401 Unauthorized: {message}\n", mimetype="text/plain")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="trainboard"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _embeds_cross_site(frame_ancestors: str) -> bool:
    """Whether pages may be framed by other sites: then the cookie must be SameSite=None."""
    sources = frame_ancestors.split()
    return any(s.strip("'").lower() not in ("self", "none") for s in sources)


def _url_without_token() -> str:
    query = [(k, v) for k, v in request.args.items(multi=True) if k != QUERY_PARAM]
    # request.path has one leading slash (werkzeug folds `//evil.example`), so this stays on-site;
    # script_root keeps the prefix a reverse proxy mounts the app under.
    return request.script_root + request.path + ("?" + urlencode(query) if query else "")


def _with_session_cookie(response: Response, settings: Settings) -> Response:
    cross_site = _embeds_cross_site(settings.frame_ancestors)
    response.set_cookie(
        COOKIE_NAME,
        cookie_value(settings.token),
        httponly=True,
        # Lax keeps cross-site POSTs (Dash callbacks, API deletes) from riding on the cookie.
        # A page framed by another site gets no Lax cookie, so there SameSite=None, which
        # browsers accept only with Secure (HTTPS, or http://localhost in Chromium).
        samesite="None" if cross_site else "Lax",
        secure=cross_site or request.is_secure,
        path="/",
    )
    return response


def check_access(settings: Settings) -> Response | None:
    """The before_request hook's verdict: None lets the request through, else the response."""
    token = settings.token
    path = request.path
    if not token or is_open_path(path):
        return None
    query_token = request.args.get(QUERY_PARAM)
    authorized = (
        token_matches(bearer(request.headers.get("Authorization")), token)
        or token_matches(request.cookies.get(COOKIE_NAME), cookie_value(token))
    )
    if query_token is not None:
        if not token_matches(query_token, token):
            return unauthorized(path)
        authorized = True
        if request.method in ("GET", "HEAD") and not is_api_path(path) and not path.startswith(DASH_INTERNAL_PREFIX):
            # A page opened with ?token=: set the cookie its own XHRs will carry, and take the
            # token out of the address bar (and out of history, Referer and the page's kwargs).
            return _with_session_cookie(redirect(_url_without_token(), code=303), settings)
    return None if authorized else unauthorized(path)


def security_headers(response: Response, settings: Settings) -> Response:
    """Headers every response gets, 401s and static files included."""
    # frame-ancestors is the one framing rule: an X-Frame-Options: DENY would contradict it.
    response.headers.pop("X-Frame-Options", None)
    response.headers["Content-Security-Policy"] = f"frame-ancestors {settings.frame_ancestors}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # A ?token= URL must not leak to other sites through Referer.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def install_security(server: Flask, settings: Settings) -> None:
    """Guard every route of `server` with the token (when set) and add the security headers."""
    if settings.token is not None and not settings.token.strip():
        raise ValueError("TRAINBOARD_TOKEN is set but blank")
    server.before_request(lambda: check_access(settings))
    server.after_request(lambda response: security_headers(response, settings))

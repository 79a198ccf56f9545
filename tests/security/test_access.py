"""Access token: every route that exposes data answers 401 without it and works with it."""
from __future__ import annotations

import hmac
import re
from urllib.parse import quote

import pytest
from dash import Input, Output

from dashboard import security
from dashboard.security import COOKIE_NAME, cookie_value, is_loopback, token_matches
from tests.security.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
Q_TOKEN = quote(TOKEN, safe="")  # the test token has +, / and =

# Routes that expose data (or the app's structure) and must be guarded.
GUARDED_GETS = ["/", "/experiments/1", "/embed/experiments/1/runs/1", "/_dash-layout",
                "/_dash-dependencies", "/_reload-hash", "/api/experiments", "/api/experiments/1/runs/1/metrics",
                "/api", "/no-such-page"]

UPDATE_BODY = {
    "output": "echo.children",
    "outputs": {"id": "echo", "property": "children"},
    "inputs": [{"id": "source", "property": "value", "value": 21}],
    "changedPropIds": ["source.value"],
    "state": [],
}


def _with_echo_callback(app):
    """A server-side callback to call through /_dash-update-component."""
    app.callback(Output("echo", "children"), Input("source", "value"))(lambda v: f"doubled {2 * v}")
    return app


@pytest.fixture
def client(make_app):
    return _with_echo_callback(make_app(token=TOKEN)).server.test_client()


@pytest.fixture
def open_client(make_app):
    return _with_echo_callback(make_app(token=None)).server.test_client()


@pytest.mark.parametrize("path", GUARDED_GETS)
def test_guarded_routes_refuse_without_token(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="trainboard"'


@pytest.mark.parametrize("path", GUARDED_GETS)
def test_guarded_routes_answer_with_token_as_without_one_when_open(client, open_client, path):
    """With the token, each route answers exactly as the same app with no token configured."""
    guarded = client.get(path, headers=AUTH)
    reference = open_client.get(path)
    assert guarded.status_code == reference.status_code != 401
    if path.startswith("/_dash-"):
        assert guarded.get_json() == reference.get_json()


def test_dash_update_component_needs_token(client):
    assert client.post("/_dash-update-component", json=UPDATE_BODY).status_code == 401
    response = client.post("/_dash-update-component", json=UPDATE_BODY, headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["response"]["echo"]["children"] == "doubled 42"


ROUTE_BODY = {  # the router callback: what the browser asks for the page at /
    "output": "tb-page.children",
    "outputs": {"id": "tb-page", "property": "children"},
    "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
    "changedPropIds": ["url.pathname"],
    "state": [{"id": "url", "property": "search", "value": ""}],
}


def test_page_data_reaches_client_only_with_token(client):
    """The experiments page carries the experiments' names: 401 hides them, the token shows them."""
    refused = client.post("/_dash-update-component", json=ROUTE_BODY)
    assert refused.status_code == 401 and b"exp-a" not in refused.data
    page = client.post("/_dash-update-component", json=ROUTE_BODY, headers=AUTH)
    assert page.status_code == 200 and b"exp-a" in page.data and b"exp-b" in page.data


def test_api_401_is_the_json_error_shape(client):
    response = client.get("/api/experiments")
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body == {"error": {"code": "unauthorized", "message": body["error"]["message"], "param": None}}
    assert "token" in body["error"]["message"]


def test_page_401_is_plain_text(client):
    response = client.get("/experiments/1?run=<script>alert(1)</script>")
    assert response.status_code == 401
    assert response.mimetype == "text/plain"
    assert b"<script>" not in response.data


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN.upper()}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer ",
        "Bearer",
        "Bearer caf\u00e9",
    ],
)
def test_wrong_credentials_are_refused(client, header):
    assert client.get("/_dash-layout", headers={"Authorization": header}).status_code == 401
    assert client.get("/api/experiments", headers={"Authorization": header}).status_code == 401


def test_bearer_scheme_is_case_insensitive(client):
    response = client.get("/_dash-layout", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


def test_wrong_query_token_is_refused(client):
    assert client.get("/?token=nope").status_code == 401
    assert client.get("/api/experiments?token=nope").status_code == 401
    # A wrong ?token= is refused even when a good header comes with it: no mixing.
    assert client.get("/?token=nope", headers=AUTH).status_code == 401


def test_query_token_on_a_page_sets_cookie_and_leaves_the_url(client):
    response = client.get(f"/experiments/1?run=7&token={Q_TOKEN}&metric=loss")
    assert response.status_code == 303
    assert response.headers["Location"] == "/experiments/1?run=7&metric=loss"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}={cookie_value(TOKEN)};")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie
    # The page's own XHRs now work with the cookie alone.
    assert client.get("/_dash-layout").status_code == 200
    assert client.post("/_dash-update-component", json=UPDATE_BODY).status_code == 200
    assert client.get("/experiments/1?run=7&metric=loss").status_code == 200


def test_query_token_redirect_never_leaves_the_site(client):
    response = client.get(
        f"/x?token={Q_TOKEN}", environ_overrides={"PATH_INFO": "//evil.example/x"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/evil.example/x"


def test_query_token_on_api_answers_directly_without_cookie(client, open_client):
    response = client.get(f"/_dash-layout?token={Q_TOKEN}")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    response = client.get(f"/api/experiments?token={Q_TOKEN}")
    assert response.status_code == open_client.get("/api/experiments").status_code
    assert "Set-Cookie" not in response.headers


def test_forged_cookies_are_refused(client):
    for value in (TOKEN, cookie_value("other-token"), "", cookie_value(TOKEN)[:-1]):
        client.set_cookie(COOKIE_NAME, value)
        assert client.get("/_dash-layout").status_code == 401


def test_cross_site_embedding_makes_the_cookie_samesite_none(make_app):
    client = make_app(token=TOKEN, frame_ancestors="'self' https://lab.example").server.test_client()
    cookie = client.get(f"/embed/experiments/1/runs/1?token={Q_TOKEN}").headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie and "HttpOnly" in cookie


def test_static_bundles_stay_open(client):
    index = client.get("/", headers=AUTH).get_data(as_text=True)
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+)"', index)
    assert scripts, index
    for src in scripts:
        assert client.get(src).status_code == 200, src
    assert client.get("/assets/vendor/bootstrap.min.css").status_code == 200
    assert client.get("/_favicon.ico").status_code == 200


def test_no_token_leaves_everything_open(open_client):
    assert open_client.get("/").status_code == 200
    assert b"exp-b" in open_client.post("/_dash-update-component", json=ROUTE_BODY).data
    assert open_client.post("/_dash-update-component", json=UPDATE_BODY).status_code == 200


def test_comparison_is_constant_time(client, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    assert client.get("/api/experiments", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert (b"guess", TOKEN.encode()) in calls


def test_token_matches():
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches("", TOKEN)
    assert not token_matches("\udcff", TOKEN)  # a lone surrogate neither raises nor matches


def test_blank_token_is_refused(make_app):
    with pytest.raises(ValueError, match="blank"):
        make_app(token="   ")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("example.com", False), ("", False)],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_query_token_redirect_keeps_a_proxy_prefix(client):
    response = client.get(f"/experiments/1?token={Q_TOKEN}", environ_overrides={"SCRIPT_NAME": "/board"})
    assert response.status_code == 303 and response.headers["Location"] == "/board/experiments/1"

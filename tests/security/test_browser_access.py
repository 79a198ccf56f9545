"""In the browser: ?token= opens the page, and the page's own XHRs then work through the cookie."""
from __future__ import annotations

from urllib.parse import quote

from tests.security.conftest import TOKEN


def test_token_in_url_opens_the_dashboard(dash_duo, make_app):
    app = make_app(token=TOKEN)
    dash_duo.start_server(app, navigate=False)
    base = dash_duo.server.url

    dash_duo.driver.get(base + "/")
    dash_duo.wait_for_contains_text("body", "401 Unauthorized", timeout=10)
    assert "exp-a" not in dash_duo.find_element("body").text
    assert all("401" in entry["message"] for entry in dash_duo.get_logs())  # reading drains the log

    # /_dash-layout and the callbacks are XHRs without ?token=: they pass only with the cookie.
    dash_duo.wait_for_page(f"{base}/?token={quote(TOKEN, safe='')}")
    dash_duo.wait_for_contains_text("#experiments", "exp-a", timeout=10)
    assert "token" not in dash_duo.driver.current_url
    assert dash_duo.get_logs() == []

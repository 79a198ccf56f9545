"""Dark / light theme: a toggle in the navbar, remembered in the browser (localStorage)."""
from __future__ import annotations

from dash import Input, Output, State


def register(app) -> None:
    app.clientside_callback(
        """function(n, current) {
            if (!n) { return window.dash_clientside.no_update; }
            return current === 'light' ? 'dark' : 'light';
        }""",
        Output("tb-theme", "data"), Input("tb-theme-toggle", "n_clicks"), State("tb-theme", "data"),
        prevent_initial_call=True,
    )
    # the page (Bootstrap) and the grid (AG Grid theme mode) follow the stored theme
    app.clientside_callback(
        """function(theme) {
            theme = theme === 'light' ? 'light' : 'dark';
            document.documentElement.setAttribute('data-bs-theme', theme);
            document.body.setAttribute('data-ag-theme-mode', theme);
            return theme;
        }""",
        Output("tb-theme-applied", "data"), Input("tb-theme", "data"),
    )

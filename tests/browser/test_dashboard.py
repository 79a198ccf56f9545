"""The dashboard in headless Chromium: experiment page, live updates by Patch, the no-metrics
fallback, comparison, embedding in an iframe, and zoom at full resolution.

One small database for the module; each test starts its own app on it (dash_duo is per test).
Waits are on conditions (WebDriverWait), never on time; their limits are generous because
the test machine's two cores are shared.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from flask import send_file
from selenium.webdriver.common.by import By
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

from dashboard import components, create_app
from dashboard.config import Settings
from dashboard.db import runs as runs_db
from dashboard.db.engine import init_db
from dashboard.db.writer import write_batch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embed.html"
T0 = 1_700_000_000.0
GD = "document.querySelector('[data-chart=\"{chart}\"] .js-plotly-plot')"


def curves(steps, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    loss = scale * (2.0 + 3.0 * np.exp(-steps / 80.0)) + rng.normal(0, 0.02, steps.size)
    return {"loss": loss, "learning_rate": 1e-4 * np.minimum(1.0, (steps + 1) / 50.0), "grad_norm": 1.0 + 0.0 * steps}


def points_for(steps, values_by_name):
    return [(name, int(s), float(v), T0 + s) for name, vals in values_by_name.items() for s, v in zip(steps, vals)]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('ui') / 'ui.db'}"
    engine = init_db(url)
    exp = runs_db.get_or_create_experiment(engine, "browser-exp", "runs for the browser tests")
    ids = {}
    for i, name in enumerate(["alpha", "beta", "gamma"]):
        rid = runs_db.create_run(engine, exp, name)
        steps = np.arange(300)
        log = f"\x1b[32mstarting {name}\x1b[0m\n<script>window.pwned=1</script>\nstep 299 loss 2.0\n"
        log += "".join(f"eval batch {k}/40 █\n" for k in range(40))  # over a KiB: stored compressed
        write_batch(engine, rid, points_for(steps, curves(steps, i, 1.0 + 0.1 * i)), [(0, log)])
        runs_db.set_status(engine, rid, "completed", exit_code=0, finished=True)
        ids[name] = rid
    legacy = runs_db.create_run(engine, exp, "legacy")
    write_batch(engine, legacy, [], [(0, "legacy job: metric capture was off\nepoch 1 done\n")])
    runs_db.set_status(engine, legacy, "completed", exit_code=0, finished=True)
    ids["legacy"] = legacy
    big = runs_db.create_run(engine, exp, "big")
    steps = np.arange(200_000)
    write_batch(engine, big, [("loss", int(s), float(v), T0 + s) for s, v in zip(steps, np.sin(steps / 40.0))])
    runs_db.set_status(engine, big, "completed", exit_code=0, finished=True)
    ids["big"] = big
    yield url, engine, exp, ids
    engine.dispose()


@pytest.fixture
def app(db, monkeypatch):
    url, engine, exp, ids = db
    monkeypatch.setattr(components, "LIVE_INTERVAL_MS", 300)  # ticks fast enough for a test
    app = create_app(Settings(db_url=url, stale_after_s=3600), engine=engine)

    @app.server.route("/host/embed.html")
    def host_page():  # the example host page, served as a host application would serve it
        return send_file(EXAMPLE)

    return app


@pytest.fixture
def dash_duo(dash_duo):
    dash_duo.driver.set_window_size(1400, 1000)  # the pages are made for a desktop window
    return dash_duo


def wait(dash_duo, condition, timeout=30, show=None):
    """Wait for a condition; on timeout, say what `show()` was (the state the test waited on)."""
    try:
        return WebDriverWait(dash_duo.driver, timeout, poll_frequency=0.1).until(lambda d: condition())
    except TimeoutException:
        raise AssertionError(f"condition not met; state: {show() if show else None}") from None


def visible(dash_duo, selector):
    """The element, scrolled to the middle of the window (the page is longer than the window)."""
    el = dash_duo.wait_for_element(selector, timeout=30)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    return el


def click(dash_duo, selector, timeout=30):
    """Click the element once nothing covers it: while a page (re)loads, a loading layer or a
    redrawn grid can take the click ("element click intercepted"); the test is about what the
    click does, so it waits for the element to take it."""
    def attempt(_driver):
        try:
            visible(dash_duo, selector).click()
            return True
        except (ElementClickInterceptedException, StaleElementReferenceException):
            return False
    WebDriverWait(dash_duo.driver, timeout, poll_frequency=0.2).until(attempt, f"could not click {selector}")


def choose(dash_duo, selector, label, timeout=30):
    """Pick `label` in the dropdown at `selector`, as dash_duo.select_dcc_dropdown does, each click
    retried as click() retries it (under load a redraw took the dropdown's click once): the
    dropdown is opened until its menu shows, then the option clicked."""
    def attempt(_driver):
        try:
            menus = dash_duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-options")
            if not menus:
                visible(dash_duo, selector).click()
                return False
            next(o for o in menus[0].find_elements(By.CSS_SELECTOR, ".dash-dropdown-option") if o.text == label).click()
            return True
        except (ElementClickInterceptedException, StaleElementReferenceException, StopIteration):
            return False
    WebDriverWait(dash_duo.driver, timeout, poll_frequency=0.2).until(attempt, f"could not choose {label} in {selector}")


def js(dash_duo, script):
    return dash_duo.driver.execute_script(script)


def trace_count(dash_duo, chart):
    return js(dash_duo, f"const g={GD.format(chart=chart)}; return g && g._fullData ? g._fullData.filter(t => t.yaxis !== 'y2').length : 0")


def line_x(dash_duo, chart, i=0):
    return js(dash_duo, f"const g={GD.format(chart=chart)}; return g && g._fullData && g._fullData[{i}] ? Array.from(g._fullData[{i}].x) : []")


def test_experiment_page_table_terminal_chart_and_lr_selector(dash_duo, app, db):
    _, _, exp, ids = db
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/experiments/{exp}?run={ids['alpha']}&metric=loss", timeout=30)
    dash_duo.wait_for_element(f".ag-row[row-id='{ids['gamma']}']", timeout=30)
    assert "alpha" in dash_duo.find_element(".tb-grid").text and "completed" in dash_duo.find_element(".tb-grid").text
    dash_duo.wait_for_contains_text("#terminal", "starting alpha", timeout=30)
    dash_duo.wait_for_contains_text("#terminal", "eval batch 39/40 █", timeout=30)
    assert "<script>window.pwned=1</script>" in dash_duo.find_element("#terminal").text  # text, not markup
    assert js(dash_duo, "return window.pwned === undefined")
    assert dash_duo.find_element("#terminal span.tb-fg-2").text == "starting alpha"
    wait(dash_duo, lambda: len(line_x(dash_duo, "main")) == 300, show=lambda: line_x(dash_duo, "main")[:5])
    loss_y = js(dash_duo, f"return Array.from({GD.format(chart='main')}._fullData[0].y)")
    assert 2.0 < min(loss_y) and max(loss_y) < 6.0

    choose(dash_duo, ".tb-chart[data-chart='main'] .tb-metric-select", "LR")
    wait(dash_duo, lambda: js(dash_duo, f"return {GD.format(chart='main')}?.layout?.yaxis?.title?.text") == "LR")
    lr_y = js(dash_duo, f"return Array.from({GD.format(chart='main')}._fullData[0].y)")
    assert max(lr_y) == pytest.approx(1e-4) and lr_y != loss_y
    # the state is in the URL: a reload shows the same view
    wait(dash_duo, lambda: "metric=learning_rate" in dash_duo.driver.current_url)
    assert f"run={ids['alpha']}" in dash_duo.driver.current_url
    dash_duo.driver.refresh()
    wait(dash_duo, lambda: js(dash_duo, f"return {GD.format(chart='main')}?.layout?.yaxis?.title?.text") == "LR")  # (a redraw: title not yet set)

    # clicking another row selects it for the terminal and the chart
    click(dash_duo, f".ag-row[row-id='{ids['beta']}'] [col-id='name']")
    dash_duo.wait_for_contains_text("#terminal", "starting beta", timeout=30)
    wait(dash_duo, lambda: f"run={ids['beta']}" in dash_duo.driver.current_url)
    assert dash_duo.get_logs() == []


def test_live_run_gains_points_by_patch_and_keeps_the_zoom(dash_duo, app, db):
    _, engine, exp, _ = db
    live = runs_db.create_run(engine, exp, "live")
    steps = np.arange(60)
    write_batch(engine, live, points_for(steps, {"loss": 3.0 - steps / 100.0}), [(0, "step 0\nstep 59\n")])
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/experiments/{exp}?run={live}", timeout=30)
    wait(dash_duo, lambda: len(line_x(dash_duo, "main")) == 60)
    # record what the server sends for the figure from now on
    js(dash_duo, """
        window.tbResponses = [];
        const orig = window.fetch;
        window.fetch = async (...args) => {
            const res = await orig(...args);
            if (String(args[0]).includes('_dash-update-component')) {
                res.clone().text().then(t => window.tbResponses.push(t));
            }
            return res;
        };""")
    js(dash_duo, f"Plotly.relayout({GD.format(chart='main')}, {{'xaxis.range': [10, 50]}})")
    more = np.arange(60, 90)
    write_batch(engine, live, points_for(more, {"loss": 3.0 - more / 100.0}), [(1, "step 89\n")])
    wait(dash_duo, lambda: len(line_x(dash_duo, "main")) == 90)
    assert line_x(dash_duo, "main")[-30:] == list(range(60, 90))
    assert js(dash_duo, f"return {GD.format(chart='main')}.layout.xaxis.range") == [10, 50]  # the user's zoom stays
    figure_updates = [json.loads(t)["response"] for t in js(dash_duo, "return window.tbResponses")
                      if "tb-graph" in t]
    ticks = [r for r in figure_updates for k, v in r.items() if "tb-graph" in k and "Extend" in json.dumps(v)]
    assert ticks, figure_updates  # the new points came as a Patch (extend), not a new figure
    assert all("__dash_patch_update" in json.dumps(v) for r in ticks for k, v in r.items() if "tb-graph" in k)
    dash_duo.wait_for_contains_text("#terminal", "step 89", timeout=30)
    # the run completes: the interval stops
    runs_db.set_status(engine, live, "completed", exit_code=0, finished=True)
    wait(dash_duo, lambda: "completed" in dash_duo.find_element("#term-status").text)
    assert dash_duo.get_logs() == []


def test_run_without_metrics_shows_the_fallback_and_its_terminal(dash_duo, app, db):
    _, _, exp, ids = db
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/experiments/{exp}?run={ids['legacy']}", timeout=30)
    dash_duo.wait_for_text_to_equal(".tb-chart[data-chart='main'] .tb-chart-empty", "Metrics not available for this run", timeout=30)
    dash_duo.wait_for_contains_text("#terminal", "legacy job: metric capture was off", timeout=30)
    assert "epoch 1 done" in dash_duo.find_element("#terminal").text
    assert dash_duo.find_element(f".ag-row[row-id='{ids['legacy']}']").text.startswith("legacy")
    assert dash_duo.get_logs() == []


def test_three_checked_runs_overlay_in_the_comparison(dash_duo, app, db):
    _, _, exp, ids = db
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/experiments/{exp}?run={ids['alpha']}", timeout=30)
    for name in ("alpha", "beta", "gamma"):
        click(dash_duo, f".ag-row[row-id='{ids[name]}'] input.ag-checkbox-input")
    wait(dash_duo, lambda: trace_count(dash_duo, "section") == 3)
    legend = js(dash_duo, f"return Array.from({GD.format(chart='section')}.querySelectorAll('.legendtext')).map(e => e.textContent)")
    assert legend == ["alpha", "beta", "gamma"]
    colors = js(dash_duo, f"return {GD.format(chart='section')}._fullData.filter(t => t.yaxis !== 'y2').map(t => t.line.color)")
    assert len(set(colors)) == 3
    dash_duo.wait_for_text_to_equal("#compare-link", "Compare 3 runs", timeout=30)
    click(dash_duo, "#compare-link")
    wait(dash_duo, lambda: "/compare?runs=" in dash_duo.driver.current_url)
    wait(dash_duo, lambda: trace_count(dash_duo, "cmp-0") == 3)
    rows = dash_duo.find_elements(".tb-chart[data-chart='cmp-0'] .tb-summary-table tbody tr")
    assert [r.text.split()[0] for r in rows] == ["alpha", "beta", "gamma"]
    assert js(dash_duo, f"return {GD.format(chart='cmp-0')}.layout.hovermode") == "x unified"
    assert dash_duo.get_logs() == []


def test_embed_view_renders_inside_the_example_host_page(dash_duo, app, db):
    _, _, exp, ids = db
    dash_duo.start_server(app)
    dash_duo.driver.get(f"{dash_duo.server_url}/host/embed.html?experiment={exp}&run={ids['beta']}&metric=loss&theme=light")
    frame = dash_duo.find_element("#trainboard-chart")
    assert f"/embed/experiments/{exp}/runs/{ids['beta']}?metric=loss&theme=light" in frame.get_attribute("src")
    dash_duo.driver.switch_to.frame(frame)
    try:
        wait(dash_duo, lambda: len(line_x(dash_duo, "embed")) == 300)
        assert js(dash_duo, "return document.querySelector('.tb-navbar')") is None  # the chart alone
        assert js(dash_duo, "return document.querySelector('.tb-embed').getAttribute('data-bs-theme')") == "light"
        assert js(dash_duo, "return getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    finally:
        dash_duo.driver.switch_to.default_content()
    assert dash_duo.get_logs() == []


def test_zoom_fetches_the_range_at_full_resolution(dash_duo, app, db):
    _, _, exp, ids = db
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/experiments/{exp}?run={ids['big']}", timeout=30)
    wait(dash_duo, lambda: len(line_x(dash_duo, "main")) > 100, timeout=30)

    def in_range():
        return sum(100_000 <= x <= 100_500 for x in line_x(dash_duo, "main"))

    overview = in_range()
    assert overview < 50 and "of 200,000 points" in dash_duo.find_element(".tb-chart[data-chart='main'] .tb-note").text
    js(dash_duo, f"Plotly.relayout({GD.format(chart='main')}, {{'xaxis.range[0]': 100000, 'xaxis.range[1]': 100500}})")
    wait(dash_duo, lambda: in_range() == 501, show=in_range)
    assert in_range() > overview
    # double-click (autorange) restores the overview
    js(dash_duo, f"Plotly.relayout({GD.format(chart='main')}, {{'xaxis.autorange': true}})")
    wait(dash_duo, lambda: in_range() == overview, show=lambda: (in_range(), overview))
    assert dash_duo.get_logs() == []


def test_rename_then_delete_a_run_from_the_experiment_page(dash_duo, app, db):
    _, engine, exp, _ = db
    rid = runs_db.create_run(engine, exp, "doomed")  # its own run: the module's runs stay as they are
    steps = np.arange(50)
    write_batch(engine, rid, points_for(steps, curves(steps, 9)), [(0, "doomed run log\n")])
    runs_db.set_status(engine, rid, "completed", exit_code=0, finished=True)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/experiments/{exp}?run={rid}", timeout=30)
    dash_duo.wait_for_contains_text("#terminal", "doomed run log", timeout=30)

    click(dash_duo, "#rename-open")
    field = dash_duo.wait_for_element("#rename-input", timeout=30)
    wait(dash_duo, lambda: field.get_attribute("value") == "doomed")
    dash_duo.clear_input(field)  # keystrokes, so that React sees the change (clear() alone is not seen)
    wait(dash_duo, lambda: field.get_attribute("value") == "")
    # an empty name is refused with a message, and the modal stays open
    click(dash_duo, "#rename-save")
    dash_duo.wait_for_text_to_equal("#rename-error", "A run needs a name.", timeout=30)
    field.send_keys("renamed-run")
    click(dash_duo, "#rename-save")
    dash_duo.wait_for_text_to_equal(f".ag-row[row-id='{rid}'] [col-id='name']", "renamed-run", timeout=30)
    dash_duo.wait_for_text_to_equal("#chart-run-name", "renamed-run", timeout=30)
    assert runs_db.find_run(engine, exp, "renamed-run") == rid

    click(dash_duo, "#delete-open")
    dash_duo.wait_for_contains_text("#delete-body", "renamed-run", timeout=30)
    assert "150 metric points" in dash_duo.find_element("#delete-body").text
    click(dash_duo, "#delete-confirm")
    wait(dash_duo, lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, f".ag-row[row-id='{rid}']"))
    assert runs_db.find_run(engine, exp, "renamed-run") is None
    assert dash_duo.get_logs() == []

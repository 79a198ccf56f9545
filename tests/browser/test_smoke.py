"""The stack end to end: a page served from the database lists the demo experiment."""
from __future__ import annotations

from dashboard import create_app
from dashboard.config import Settings
from dashboard.db.engine import init_db
from dashboard.demo import EXPERIMENT, seed_demo


def test_home_lists_demo_experiment(dash_duo, sqlite_url):
    engine = init_db(sqlite_url)
    seed_demo(engine, total=200)
    app = create_app(Settings(db_url=sqlite_url), engine=engine)
    dash_duo.start_server(app)
    dash_duo.wait_for_contains_text("#experiments", EXPERIMENT, timeout=10)
    assert "lr-3e-4" in dash_duo.find_element("#experiments").text
    logs = dash_duo.get_logs()
    assert logs == [], logs

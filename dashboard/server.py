"""Serving the app: Flask's own threaded server for one worker, gunicorn for `--workers N`.

Workers share nothing but the database: each builds its own app, engine and connection pool
after the fork (a pool must never cross a fork), and every piece of state a request needs is
in the database or the URL, so any worker can answer any request.
"""
from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication

from dashboard.config import Settings
from dashboard.db.engine import init_db

# Threads per gunicorn worker: a slow request (a CSV of a long run) holds one thread, not a
# whole worker. GUNICORN_CMD_ARGS="--threads 8 --timeout 120 …" overrides any of these.
THREADS_PER_WORKER = 4
WORKER_TIMEOUT_S = 60


class GunicornServer(BaseApplication):
    """gunicorn run from Python: its master here, the app built in each worker."""

    def __init__(self, settings: Settings, workers: int):
        self.settings = settings
        self.options = {
            "bind": f"{settings.host}:{settings.port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": THREADS_PER_WORKER,
            "timeout": WORKER_TIMEOUT_S,
            "proc_name": "trainboard",
            "preload_app": False,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn ≥ 24's control socket has one default path per user: a second server
            # on the machine would take it over. Nothing here uses it.
            self.cfg.set("control_socket_disable", True)
        # As the gunicorn command does: GUNICORN_CMD_ARGS tunes anything else.
        parser = self.cfg.parser()
        env_args = parser.parse_args(self.cfg.get_cmd_args_from_env())
        for key, value in vars(env_args).items():
            if value is not None and key != "args":
                self.cfg.set(key.lower(), value)

    def load(self):
        from dashboard import create_app

        return create_app(self.settings).server


def serve(settings: Settings, workers: int = 1) -> int:
    """Serve until interrupted. workers=1: Flask's threaded server in this process;
    workers>1: gunicorn with that many worker processes."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")
    where = f"http://{settings.host}:{settings.port}/"
    if workers == 1:
        from dashboard import create_app

        app = create_app(settings)
        print(f"trainboard: serving {settings.db_url} at {where}", flush=True)
        app.run(host=settings.host, port=settings.port, debug=False)
        return 0
    # Migrate once, here, before the fork: N workers migrating an empty database at once
    # would race on CREATE TABLE. The workers then find the schema at head.
    init_db(settings.db_url, pool_size=1, max_overflow=0).dispose()
    # Anything in a worker that reads Settings() from the environment sees the same database.
    os.environ["TRAINBOARD_DB"] = settings.db_url
    print(f"trainboard: serving {settings.db_url} at {where} with gunicorn, {workers} workers", flush=True)
    try:
        GunicornServer(settings, workers).run()
    except SystemExit as stop:  # gunicorn's master exits through sys.exit when it halts
        return stop.code if isinstance(stop.code, int) else 0
    return 0

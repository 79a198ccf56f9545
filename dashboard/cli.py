"""`trainboard …` (same as `python app.py …`): serve, demo."""
from __future__ import annotations

import argparse
import sys
import threading

from dashboard.config import Settings, resolve_db_url


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="database URL or SQLite file path (default: TRAINBOARD_DB, DATABASE_URL, ./trainboard.db)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainboard", description="Live training-metrics dashboard.")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="serve the dashboard and the API")
    _add_db(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8050)
    serve.add_argument("--workers", type=int, default=1)

    demo = sub.add_parser("demo", help="a demo experiment with finished runs and one live run")
    _add_db(demo)
    demo.add_argument("--serve", action="store_true", help="also serve the dashboard")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8050)
    demo.add_argument("--steps-per-second", type=float, default=10.0)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings().with_(
        db_url=resolve_db_url(getattr(args, "db", None)),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from dashboard import create_app
    from dashboard.security import bind_warning

    settings = settings_from(args)
    if warning := bind_warning(settings):
        print(warning, file=sys.stderr, flush=True)
    app = create_app(settings)
    print(f"trainboard: serving {settings.db_url} at http://{settings.host}:{settings.port}/", flush=True)
    app.run(host=settings.host, port=settings.port, debug=False)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from dashboard.db.engine import init_db
    from dashboard.demo import run_live, seed_demo

    settings = settings_from(args)
    engine = init_db(settings.db_url)
    seed_demo(engine)
    stop = threading.Event()
    if not args.serve:
        print("trainboard: demo run training; Ctrl-C to stop", flush=True)
        try:
            run_live(engine, stop, steps_per_second=args.steps_per_second)
        except KeyboardInterrupt:
            stop.set()
        return 0
    live = threading.Thread(
        target=run_live, args=(engine, stop), kwargs={"steps_per_second": args.steps_per_second}, daemon=True
    )
    live.start()
    try:
        return cmd_serve(args)
    finally:
        stop.set()
        live.join(timeout=10)


COMMANDS = {"serve": cmd_serve, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("--") and argv[0] not in ("--help", "-h"):
        argv = ["serve", *argv]
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args) or 0

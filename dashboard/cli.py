"""`trainboard …` (same as `python app.py …`): serve, demo, run, ingest, reparse."""
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

    run = sub.add_parser("run", help="run a command and capture its output and metrics",
                         usage="trainboard run --experiment NAME [--name RUN] [options] -- CMD [ARGS…]")
    _add_db(run)
    _add_capture_options(run)
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the command to run")

    ingest = sub.add_parser("ingest", help="import a log file (or tail a growing one with --follow)")
    _add_db(ingest)
    ingest.add_argument("file", help="the log file")
    _add_capture_options(ingest)
    ingest.add_argument("--follow", action="store_true", help="keep reading what is appended until interrupted")
    ingest.add_argument("--idle-exit", type=float, metavar="SECONDS",
                        help="with --follow: stop (run completed) once the file has not grown for this long")
    ingest.add_argument("--progress", action="store_true", default=None,
                        help="draw a progress bar on stderr even when it is not a terminal")

    reparse = sub.add_parser("reparse", help="parse a run's stored log again and replace its metric points")
    _add_db(reparse)
    reparse.add_argument("run_id", type=int)
    _add_pattern_options(reparse)
    reparse.add_argument("--force", action="store_true", help="reparse even a run that is still running")
    return parser


def _flush_chunks(value: str) -> int:
    n = int(value)
    if not 5 <= n <= 10:
        raise argparse.ArgumentTypeError("must be between 5 and 10")
    return n


def _positive(value: str) -> float:
    x = float(value)
    if not x > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return x


def _add_pattern_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pattern", action="append", default=[], metavar="REGEX",
                   help="a log format of your own: a regex with named groups (repeatable)")
    p.add_argument("--patterns", metavar="FILE", help="a TOML file of such formats")


def _add_capture_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", required=True, help="experiment name (created when missing)")
    p.add_argument("--name", help="run name (run: default run-N; ingest: the file's name)")
    _add_pattern_options(p)
    p.add_argument("--flush-chunks", type=_flush_chunks, default=8, metavar="N",
                   help="write to the database every N log chunks (5-10, default 8) ...")
    p.add_argument("--flush-seconds", type=_positive, default=2.0, metavar="S", help="... or every S seconds (default 2)")
    p.add_argument("--heartbeat", type=_positive, default=5.0, metavar="S",
                   help="touch the run's heartbeat at least every S seconds (default 5)")


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings().with_(
        db_url=resolve_db_url(getattr(args, "db", None)),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from dashboard.security import bind_warning
    from dashboard.server import serve

    settings = settings_from(args)
    if warning := bind_warning(settings):
        print(warning, file=sys.stderr, flush=True)
    return serve(settings, workers=getattr(args, "workers", 1))


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
            run_live(engine, stop, steps_per_second=args.steps_per_second, echo=True)
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


def _capture_errors(fn):
    """A capture that cannot start says why on stderr and exits non-zero (2: bad usage)."""
    def wrapper(args: argparse.Namespace) -> int:
        from dashboard.capture import CaptureError
        from parsing import PatternError

        try:
            return fn(args)
        except PatternError as exc:
            print(f"trainboard: bad pattern: {exc}", file=sys.stderr)
            return 2
        except CaptureError as exc:
            print(f"trainboard: {exc}", file=sys.stderr)
            return exc.exit_code
    return wrapper


@_capture_errors
def cmd_run(args: argparse.Namespace) -> int:
    from dashboard.capture import capture

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    result = capture(
        cmd, experiment=args.experiment, name=args.name, db=resolve_db_url(args.db),
        patterns=args.pattern, patterns_file=args.patterns, flush_chunks=args.flush_chunks,
        flush_s=args.flush_seconds, heartbeat_s=args.heartbeat, announce=sys.stderr.isatty(),
    )
    return result.exit_code


@_capture_errors
def cmd_ingest(args: argparse.Namespace) -> int:
    from dashboard.capture import ingest

    result = ingest(
        args.file, experiment=args.experiment, name=args.name, db=resolve_db_url(args.db),
        patterns=args.pattern, patterns_file=args.patterns, follow=args.follow, idle_exit_s=args.idle_exit,
        progress=args.progress, flush_chunks=args.flush_chunks, flush_s=args.flush_seconds,
        heartbeat_s=args.heartbeat,
    )
    print(f"trainboard: run {result.run_id}: {result.stats.chunks} log chunks and {result.stats.points} points "
          f"stored ({result.status})", file=sys.stderr)
    return 0 if result.stats.lost_chunks == result.stats.lost_points == 0 else 1


@_capture_errors
def cmd_reparse(args: argparse.Namespace) -> int:
    from dashboard.capture import reparse

    result = reparse(args.run_id, db=resolve_db_url(args.db), patterns=args.pattern,
                     patterns_file=args.patterns, force=args.force)
    print(f"trainboard: run {result.run_id}: {result.records} records, {result.points} points", file=sys.stderr)
    return 0


COMMANDS = {"serve": cmd_serve, "demo": cmd_demo, "run": cmd_run, "ingest": cmd_ingest, "reparse": cmd_reparse}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("--") and argv[0] not in ("--help", "-h"):
        argv = ["serve", *argv]
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args) or 0

"""Terminal callbacks: the selected run's log tail, then only new chunks on each tick (a Patch)."""
from __future__ import annotations

from typing import Any

from dash import Input, Output, Patch, State, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import Engine

from dashboard.components import TERMINAL_MAX_LINES, lines_block, open_line, status_badge
from dashboard.db import queries
from dashboard.terminal import TermState, open_segments, render

# The first view reads at most this many chunks from the end of the log.
TAIL_CHUNKS = 400
TICK_CHUNKS = 200


def load_log(engine: Engine, run_id: int) -> tuple[list, dict]:
    """The terminal's children for a run (the tail of its log) and the cursor to follow it."""
    last = queries.last_log_seq(engine, run_id)
    start = max(-1, last - TAIL_CHUNKS)
    chunks = queries.log_chunks(engine, run_id, after=start, limit=TAIL_CHUNKS)
    lines, state = render("".join(text for _, text in chunks))
    children: list = []
    if start > -1:
        children.append(_elided(start + 1))
        lines = lines[1:]  # the first line may start mid-line: drop it rather than show half of it
    lines = lines[-TERMINAL_MAX_LINES:]
    if lines:
        children.append(lines_block(lines))
    blocks = [len(lines)] if lines else []
    tail = open_segments(state)
    if tail:
        children.append(open_line(tail))
    cursor = {"run": run_id, "seq": chunks[-1][0] if chunks else start, "state": state.to_json(),
              "open": bool(tail), "blocks": blocks, "head": start > -1}
    return children, cursor


def _elided(n_chunks: int):
    from dash import html
    return html.Span(f"… {n_chunks:,} earlier chunks not shown\n", className="tb-term-elided")


def tail_patch(engine: Engine, cursor: dict) -> tuple[Patch | None, dict]:
    """New log text after the cursor as a Patch: the open last line is replaced, new lines
    appended as one block, the oldest blocks dropped past the scrollback limit."""
    chunks = queries.log_chunks(engine, cursor["run"], after=cursor["seq"], limit=TICK_CHUNKS)
    if not chunks:
        return None, cursor
    state = TermState.from_json(cursor["state"])
    lines, state = render("".join(text for _, text in chunks), state)
    patch = Patch()
    if cursor["open"]:
        del patch[-1]
    blocks = list(cursor["blocks"])
    if lines:
        patch.append(lines_block(lines[-TERMINAL_MAX_LINES:]))
        blocks.append(min(len(lines), TERMINAL_MAX_LINES))
    tail = open_segments(state)
    if tail:
        patch.append(open_line(tail))
    first = 1 if cursor.get("head") else 0  # the "earlier chunks" notice stays first
    while sum(blocks) > TERMINAL_MAX_LINES and len(blocks) > 1:
        del patch[first]
        blocks.pop(0)
    return patch, {**cursor, "seq": chunks[-1][0], "state": state.to_json(), "open": bool(tail), "blocks": blocks}


def register(app, engine: Engine, stale_after_s: float = queries.STALE_AFTER_S) -> None:
    @app.callback(
        Output("terminal", "children"), Output("term-cursor", "data"), Output("term-interval", "disabled"),
        Output("term-title", "children"), Output("term-status", "children"),
        Input("exp-run", "data"),
    )
    def show_run(run_id):
        run = queries.get_run(engine, run_id, stale_after_s) if run_id is not None else None
        if run is None:
            return ["No run selected."], None, True, "", ""
        children, cursor = load_log(engine, run_id)
        if not children:
            children = [_empty_note()]
            cursor["head"] = True  # a fixed first child, like the elision notice
        return children, cursor, run["is_complete"], run["name"], status_badge(run["status"])

    @app.callback(
        Output("terminal", "children", allow_duplicate=True), Output("term-cursor", "data", allow_duplicate=True),
        Output("term-interval", "disabled", allow_duplicate=True), Output("term-status", "children", allow_duplicate=True),
        Input("term-interval", "n_intervals"), State("term-cursor", "data"),
        prevent_initial_call=True,
    )
    def follow(_n, cursor):
        if not cursor:
            raise PreventUpdate
        run = queries.get_run(engine, cursor["run"], stale_after_s)
        patch, new_cursor = tail_patch(engine, cursor)
        done = run is None or run["is_complete"]
        if patch is None and not done:
            raise PreventUpdate
        badge = status_badge(run["status"]) if run else no_update
        return (patch if patch is not None else no_update), new_cursor, done, badge


def _empty_note() -> Any:
    from dash import html
    return html.Span("(no output captured for this run yet)", className="tb-term-elided")

"""A message written with tqdm.write() takes the step of the bar redrawn after it.

tqdm draws a bar at most every 0.1 s, so in a fast run the last bar drawn before a Trainer dict
can be steps behind; tqdm.write() clears the bar (a line of spaces), prints the message, and
redraws the bar at its current position. The regression log is the real output of
`examples/train_hf_tiny.py --steps 30 --logging-steps 5` (stderr merged into stdout), captured
live: the dict of step 15 followed a bar already drawn at 15, the dict of step 10 one drawn at 5.
Read with the bar before, the two dicts took one step and the database kept one of them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from parsing import StreamParser, parse_text

FAST_RUN = (Path(__file__).parent / "regressions" / "hf_trainer_fast_run.log").read_bytes()
BAR = " 50%|█████     | {n}/30 [00:00<00:00, 146.75it/s]"
CLEAR = "\r" + " " * 48 + "\r"


def parse(text: str, pure: bool) -> list[tuple[int | None, dict]]:
    parser = StreamParser(pure=pure)
    return [(r.step, r.metrics) for r in parser.feed(text) + parser.finish()]


def losses(records) -> list[tuple[int | None, float]]:
    return [(step, m["loss"]) for step, m in records if "loss" in m]


@pytest.mark.parametrize("pure", [False, True], ids=["fast", "pure"])
def test_a_fast_trainer_run_takes_the_steps_of_the_redrawn_bars(pure):
    got = parse(FAST_RUN.decode(), pure)
    assert losses(got) == [(5, 4.022), (10, 3.955), (15, 3.926), (20, 3.864), (25, 3.892), (30, 3.895)]
    summary = [(step, m) for step, m in got if "train_loss" in m]
    assert summary == [(30, {"train_runtime": 0.2004, "train_samples_per_second": 1198.0,
                             "train_steps_per_second": 149.7, "train_loss": 3.926, "epoch": 0.4688})]


@pytest.mark.parametrize("pure", [False, True], ids=["fast", "pure"])
def test_every_split_of_the_fast_run_gives_the_same_records(pure):
    whole = [(r.step, r.line, r.metrics) for r in parse_text(FAST_RUN.decode())]
    for cut in range(1, len(FAST_RUN)):
        parser = StreamParser(pure=pure)
        got = parser.feed_bytes(FAST_RUN[:cut]) + parser.feed_bytes(FAST_RUN[cut:]) + parser.finish()
        assert [(r.step, r.line, r.metrics) for r in got] == whole, cut


@pytest.mark.parametrize("pure", [False, True], ids=["fast", "pure"])
def test_the_message_is_out_as_soon_as_the_redrawn_bar_shows_its_position(pure):
    """Live, a bar redraw has no line end until the next one: the record must not wait for it."""
    parser = StreamParser(pure=pure)
    assert parser.feed("\r" + BAR.format(n=5)) == []
    assert parser.feed(CLEAR + "{'loss': 2.5, 'epoch': 0.3}\n") == []  # the bar is not redrawn yet
    assert parser.feed("\r" + BAR.format(n=10)[:-6]) == []  # cut before the bar's `]`: not yet known
    out = parser.feed(BAR.format(n=10)[-6:])
    assert [(r.step, r.metrics) for r in out] == [(10, {"loss": 2.5, "epoch": 0.3})]
    assert parser.finish() == []


@pytest.mark.parametrize("pure", [False, True], ids=["fast", "pure"])
@pytest.mark.parametrize("after, step", [
    ("\r" + BAR.format(n=10) + "\r", 10),  # the redraw: its position
    ("\r" + BAR.format(n=3) + "\r", 5),  # a bar that went back (a restart) is no redraw of this one
    ("\r" + BAR.replace("/30", "/40").format(n=10) + "\r", 5),  # another bar
    ("\r" + "Eval" + BAR.format(n=10) + "\r", 5),  # an evaluation bar
    ("Saving model checkpoint to out/checkpoint-10\n", 5),  # no redraw (the bar was closed)
    ("", 5),  # the log ends
])
def test_without_a_redraw_of_the_same_bar_the_message_keeps_the_bar_before(pure, after, step):
    text = "\r" + BAR.format(n=5) + CLEAR + "{'loss': 2.5}\n" + after
    assert losses(parse(text, pure)) == [(step, 2.5)]


@pytest.mark.parametrize("pure", [False, True], ids=["fast", "pure"])
def test_read_from_two_pipes_a_message_glued_after_the_redraw_takes_it(pure):
    """Captured from two pipes, the bar's clear and redraw (stderr) can be read before the
    message (stdout): the message then ends the redrawn bar's line, and belongs to it, not to the
    bar redrawn after the next message."""
    text = "".join("\r" + BAR.format(n=n - 3) + CLEAR + "\r" + BAR.format(n=n) + f"{{'loss': {n / 10}}}\n"
                   for n in (5, 10, 15))
    assert losses(parse(text, pure)) == [(5, 0.5), (10, 1.0), (15, 1.5)]


@pytest.mark.parametrize("pure", [False, True], ids=["fast", "pure"])
def test_only_a_message_after_a_clear_waits_and_steps_of_its_own_are_kept(pure):
    text = ("\r" + BAR.format(n=5) + "\n{'loss': 2.5}\n"  # printed without tqdm.write: the bar before
            + "\r" + BAR.format(n=6) + CLEAR + "{'step': 6, 'loss': 2.4}\n\r" + BAR.format(n=9) + "\n")
    assert losses(parse(text, pure)) == [(5, 2.5), (6, 2.4)]


@pytest.mark.parametrize("pure", [False, True], ids=["fast", "pure"])
def test_a_toy_run_with_stale_bars_steps_every_dict_exactly(pure):
    """examples/train_toy.py with a bar drawn at most every 50 ms: its dicts (every 10 steps,
    evaluations at epoch ends) at exactly their steps, whatever bars were drawn in between."""
    import subprocess
    import sys

    toy = Path(__file__).parents[2] / "examples" / "train_toy.py"
    out = subprocess.run([sys.executable, str(toy), "--steps", "300", "--log-every", "10", "--speed", "1500",
                          "--mininterval", "0.05"], capture_output=True, check=True)
    # what tqdm.write() does across the two streams, in order: stderr's clear, stdout's line, stderr's redraw
    text = interleave(out.stderr.decode(), out.stdout.decode())
    got = parse(text, pure)
    assert [s for s, _ in losses(got)] == list(range(10, 301, 10))
    assert [s for s, m in got if "eval_loss" in m] == [100, 200, 300]


def interleave(err: str, out: str) -> str:
    """The toy's two streams as one terminal shows them: each stdout line goes where stderr
    cleared the bar for it."""
    lines = iter(out.splitlines(keepends=True))
    pieces, rest = [], err
    clear = "\r" + " " * 49 + "\r"
    head = []
    for line in lines:  # the banner, before the first bar
        head.append(line)
        if line.startswith("  Total optimization steps"):
            break
    while clear in rest:
        before, rest = rest.split(clear, 1)
        pieces += [before, clear, next(lines)]
    return "".join(head + pieces + [rest] + list(lines))


@pytest.mark.parametrize("pure", [False, True], ids=["fast", "pure"])
def test_release_waiting_gives_the_records_out_at_the_bar_before(pure):
    """What a live capture does when the job goes quiet with a message waiting."""
    parser = StreamParser(pure=pure)
    assert parser.feed("\r" + BAR.format(n=5) + CLEAR + "{'loss': 2.5}\n") == [] and parser.waiting
    assert [(r.step, r.metrics) for r in parser.release_waiting()] == [(5, {"loss": 2.5})]
    assert not parser.waiting and parser.release_waiting() == []
    assert parser.feed("\r" + BAR.format(n=9) + "\r") == [] and parser.finish() == []

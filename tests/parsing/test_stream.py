"""The streaming contract: chunks split anywhere, any bytes, bounded memory, line numbers, stats."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsing import Record, StreamParser, parse_text
from parsing.parser import MAX_LINE
from tests.parsing.conftest import LOGS, SAMPLES

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MIXED = (
    "Epoch 1/2\n"
    "\x1b[1m 10/100\x1b[0m \x1b[32m━━\x1b[0m\x1b[37m━━━━━━━━━━━━━━━━━━\x1b[0m 1s 5ms/step - loss: 0.9853\x08\x08\x08\r"
    "\x1b[1m100/100\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m 3s 5ms/step - loss: 0.4862 - val_loss: 0.1737\n"
    " 50%|█████     | 5/10 [00:01<00:01,  4.2it/s, loss=0.5]\r"
    " 60%|██████    | 6/10 [00:01<00:01,  4.2it/s, loss=0.4]\r\n"
    "{'loss': '4.706', 'learning_rate': 1.5e-04, 'epoch': 0.5}\r\n"
    "[rank0]:[titan] 2025-06-16 22:28:10,245 - root - INFO - \x1b[31mstep:  1  \x1b[32mloss: 11.54104\x1b[39m\n"
    "[rank1]:[titan] 2025-06-16 22:28:10,245 - root - INFO - \x1b[31mstep:  1  \x1b[32mloss: 11.54104\x1b[39m\n"
    "iter 3100: loss nan, time 1184.55ms, mfu 13.10%\n"
    "***** eval metrics *****\n  eval_loss = 2.8463\n  eval_runtime = 0:00:02.58\n"
    "step=7 lr=[0.0001, 0.0001] grad_norm=inf loss=-inf\n"
    "tail without newline: loss=1.0"
)


def key(records: list[Record]):
    """Records as comparable values (NaN == NaN)."""
    return [(r.step, r.line, r.timestamp, {k: ("nan" if v != v else v) for k, v in r.metrics.items()})
            for r in records]


def feed_in_chunks(text: str, cuts: list[int]) -> list[Record]:
    parser = StreamParser()
    out: list[Record] = []
    prev = 0
    for cut in sorted(set(c % (len(text) + 1) for c in cuts)):
        out += parser.feed(text[prev:cut])
        prev = cut
    out += parser.feed(text[prev:])
    return out + parser.finish()


def sample_texts() -> list[str]:
    # a real Trainer run's bars and dicts, merged from stderr and stdout (tqdm.write, test_tqdm_write)
    texts = [MIXED, (Path(__file__).parent / "regressions" / "hf_trainer_fast_run.log").read_text(encoding="utf-8")]
    if LOGS is not None:
        texts += [(LOGS / f"{name}.log").read_text(encoding="utf-8") for name in SAMPLES]
    return texts


TEXTS = sample_texts()


@FAST
@given(st.sampled_from(range(len(TEXTS))), st.lists(st.integers(min_value=0, max_value=10**6), max_size=40))
def test_any_split_into_text_chunks_gives_the_same_records(i, cuts):
    text = TEXTS[i]
    assert key(feed_in_chunks(text, cuts)) == key(parse_text(text))


@FAST
@given(st.sampled_from(range(len(TEXTS))), st.lists(st.integers(min_value=0, max_value=10**6), max_size=40))
def test_any_split_into_byte_chunks_gives_the_same_records(i, cuts):
    data = TEXTS[i].encode("utf-8")  # cuts fall inside multi-byte characters too
    parser = StreamParser()
    out, prev = [], 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)):
        out += parser.feed_bytes(data[prev:cut])
        prev = cut
    out += parser.feed_bytes(data[prev:]) + parser.finish()
    assert key(out) == key(parse_text(TEXTS[i]))


def test_every_single_character_chunking():
    text = MIXED
    parser = StreamParser()
    out = []
    for ch in text:
        out += parser.feed(ch)
    out += parser.finish()
    assert key(out) == key(parse_text(text))
    assert len(out) >= 8


@FAST
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(data):
    parser = StreamParser()
    records = parser.feed_bytes(data) + parser.feed_bytes(data[::-1]) + parser.finish()
    assert all(isinstance(r.metrics, dict) for r in records)


@FAST
@given(st.text(alphabet=st.sampled_from(list("loss:=lr 0123456789.e-+naif|[]{}'\",/%\r\n\x1b\x08()_ptsEpoch")), max_size=600))
def test_log_like_noise_never_raises(text):
    parser = StreamParser()
    for record in parser.feed(text) + parser.finish():
        assert all(isinstance(v, float) for v in record.metrics.values())


FORMATS = [
    lambda v: f"loss: {v}",
    lambda v: f"loss={v!r}",
    lambda v: f"step 3 | loss {v:.6e}",
    lambda v: f"{{'loss': {v!r}, 'epoch': 1.0}}",
    lambda v: f"{{'loss': '{v:g}', 'epoch': 1.0}}",
    lambda v: f'{{"step": 3, "loss": {v!r}}}'.replace("nan", "NaN").replace("inf", "Infinity"),
    lambda v: f"iter 3: loss {v:.4f}, time 12.5ms",
]


@FAST
@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(range(len(FORMATS))))
def test_a_formatted_float_round_trips(value, fmt):
    line = FORMATS[fmt](value)
    printed = line  # the value as printed is what the parser must give back
    records = parse_text(line + "\n")
    assert len(records) == 1, line
    got = records[0].metrics["loss"]
    expected = _printed_value(printed)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected, line


def _printed_value(line: str) -> float:
    import re
    m = re.search(r"loss['\"]?(?::|=| )\s*'?([-+0-9.eEnaifNIty]+)", line)
    return float(m.group(1))


def test_universal_newlines_and_line_numbers():
    text = "a\r\nloss: 1.0\rloss: 2.0\nb\n\nloss: 3.0"
    assert [(r.line, r.metrics["loss"]) for r in parse_text(text)] == [(2, 1.0), (3, 2.0), (6, 3.0)]
    # `\r\n` split between two chunks is one line end
    parser = StreamParser()
    out = parser.feed("x\r") + parser.feed("\nloss: 1.0\r") + parser.feed("\nloss: 2.0\n") + parser.finish()
    assert [r.line for r in out] == [2, 3]


def test_a_line_that_never_ends_is_capped_and_counted():
    parser = StreamParser()
    chunk = "9" * (1 << 20)
    for _ in range(10):  # 10 MiB of digits, no newline
        assert parser.feed(chunk) == []
    assert len(parser._pending) <= MAX_LINE
    out = parser.feed("\nloss: 1.5\n") + parser.finish()
    assert [r.metrics for r in out] == [{"loss": 1.5}]
    assert parser.stats.truncated_lines == 1
    assert parser.stats.lines == 2


@pytest.mark.parametrize("line", [
    "loss: " + "1" * 3_000_000,
    "a" * 5_000_000,
    "9" * 10_000_000,
    "loss " * 200_000,
    "loss: 1, " * 100_000,
    "| loss " * 200_000,
    "{'loss': " * 100_000,
    "[" * 1_000_000 + "]" * 1_000_000,
    " 1%|" + "█" * 2_000_000 + "| 1/2 [" + "0" * 1_000_000,
    "Epoch(train) [1][" + "1" * 2_000_000,
    "\x1b[" + "1;" * 2_000_000,
    "step " + "9" * 2_000_000 + ": loss=1",
    "loss=" + "-" * 1_000_000 + "1e" + "9" * 1_000_000,
])
def test_adversarial_lines_complete(line):
    """No pattern backtracks badly: these must merely finish (no timing is asserted)."""
    parser = StreamParser()
    parser.feed(line + "\n" + line)
    parser.finish()


def test_stats_count_lines_records_metrics_and_failures(caplog):
    parser = StreamParser()
    with caplog.at_level(logging.DEBUG, logger="parsing.parser"):
        parser.feed("loss: 1.0 lr: 0.1\nhello\nloss: 2.0\nloss: oops\n")
        parser.finish()
    s = parser.stats
    assert (s.lines, s.records, s.failures) == (4, 2, 1)
    assert s.metric_counts == {"loss": 2, "learning_rate": 1}
    assert any("line 4" in m for m in caplog.messages)


def test_finish_flushes_an_open_block_and_a_partial_line():
    parser = StreamParser()
    assert parser.feed("***** train metrics *****\n  train_loss = 3.0\n  epoch = 1.0\n") == []
    out = parser.feed("loss: 2") + parser.finish()
    assert [r.metrics for r in out] == [{"train_loss": 3.0, "epoch": 1.0}, {"loss": 2.0}]
    assert [r.line for r in out] == [1, 4]


_NUMBER = __import__("re").compile(r"(?<![\w.])\d+(?:\.\d+)?")


@FAST
@given(st.sampled_from(range(len(TEXTS))), st.lists(st.sampled_from(
    ["0", "7", "12.5", "1,234", "nan", "-inf", "3e-05", "99999999", "0.00", "5ms", "(1.5)", "1.0 (2.0)"]), min_size=1, max_size=50))
def test_learned_shapes_read_exactly_what_the_fields_say(i, replacements):
    """Lines read through a learned shape give the records the field-by-field reader gives, whatever
    values the lines carry (a value a shape cannot read sends its line back to the field reader)."""
    from parsing import bodies, formats
    it = iter(replacements * 1000)
    text = _NUMBER.sub(lambda m: next(it), TEXTS[i])
    with_shapes = key(parse_text(text + text))
    saved = [(cf, cf.shapes) for cf in formats.FMTS]
    budget = bodies.LEARN_BUDGET
    try:
        for cf, _ in saved:
            cf.shapes = {}
        bodies.LEARN_BUDGET = 0
        without = key(parse_text(text + text))
    finally:
        bodies.LEARN_BUDGET = budget
        for cf, shapes in saved:
            cf.shapes = shapes
    assert with_shapes == without


def test_a_learned_shape_reads_a_line_as_the_field_reader_does():
    """What a line gives must not depend on the lines the process read before (a fuzz reading with
    templates and shapes other texts taught found these). Where a label that is never a metric has
    its value (`eta x`), a shape's text took in what the field reader splits at: `, lr 0.1` (lost),
    a `|` (comma_fields then splits there and reads nothing), a second word (`eta lr 0.1` is
    eta_lr). And a label's fixed text held a number with a unit (`time 12.5ms x`), which it then
    swallowed where it is the value (`time 12.5ms` is time = 12.5)."""
    from parsing import formats
    lines = ("iter 45: loss 0.25, eta x, lr 0.1\n"
             "iter 46: loss 0.5, eta AP @[ IoU=0.50:0.95 | area=   all ] = 0.0.5\n"
             "iter 47: loss 0.5, eta lr 0.1\n"
             "iter 48: loss 0.5, time 12.5ms        \n")
    saved = [(cf, cf.shapes) for cf in formats.FMTS]
    try:
        for cf, _ in saved:
            cf.shapes = {}
        fresh = [(r.step, r.metrics) for r in parse_text(lines, pure=True)]
        parse_text("iter 13: loss 1, eta x\n" * 3 + "iter 14: loss 1, time 12.5ms x\n" * 3, pure=True)
        nanogpt = next(cf for cf, _ in saved if cf.fmt.name == "nanogpt")
        assert any("eta" in shape.rx.pattern for shape in nanogpt.shapes[None][1:])  # what `eta x` taught
        assert [(r.step, r.metrics) for r in parse_text(lines, pure=True)] == fresh == [
            (45, {"loss": 0.25, "learning_rate": 0.1}), (47, {"loss": 0.5, "eta_lr": 0.1}),
            (48, {"loss": 0.5, "time": 12.5})]
    finally:
        for cf, shapes in saved:
            cf.shapes = shapes


def _without_whole_lines(text: str) -> list[Record]:
    """Records with learned whole lines switched off: every line takes the full path."""
    from parsing.parser import StreamParser as SP
    learn = SP._learn_line
    SP._learn_line = lambda *args: None
    try:
        return parse_text(text)
    finally:
        SP._learn_line = learn


@pytest.mark.parametrize("i", range(len(TEXTS)))
def test_learned_whole_lines_read_each_sample_as_the_full_path_does(i):
    assert key(parse_text(TEXTS[i] * 2)) == key(_without_whole_lines(TEXTS[i] * 2))


_FRACTION = __import__("re").compile(r"(?<=\d\.)\d+")


@FAST
@given(st.lists(st.tuples(st.sampled_from(range(len(TEXTS))), st.integers(0, 400), st.integers(1, 30)),
                min_size=1, max_size=30),
       st.lists(st.text("0123456789", min_size=1, max_size=6), min_size=1, max_size=20))
def test_learned_whole_lines_read_what_the_full_path_reads(runs, fractions):
    """Runs of lines from every sample, interleaved (prefixes, ranks, formats and shapes change
    under the learned whole-line regexes), with fractions redrawn: the same records either way."""
    it = iter(fractions * 10_000)
    lines = [t.splitlines(keepends=True) for t in TEXTS]
    text = "".join("".join(lines[i][start:start + n]) for i, start, n in runs)
    text = _FRACTION.sub(lambda m: next(it), text)
    assert key(parse_text(text + text)) == key(_without_whole_lines(text + text))


def test_learned_whole_lines_are_used_and_agree_on_a_repeated_format():
    text = "".join(f"[rank{r}]:[titan] 2025-06-16 22:28:1{s % 10},245 - root - INFO - step: {s:2d}  loss: {s / 3:.5f}"
                   f"  memory: 71.24GiB(74.99%)  tps: {s},417\n" for s in range(1, 40) for r in (0, 1))
    parser = StreamParser()
    got = parser.feed(text) + parser.finish()
    assert [len(v) for v in parser._fast.values()] == [1]
    assert key(got) == key(_without_whole_lines(text))
    assert [r.step for r in got] == list(range(1, 40))
    assert got[4].metrics == {"loss": 1.66667, "memory": 71.24, "memory_pct": 74.99, "tps": 5417.0}

"""The compiled fast path gives exactly the pure-Python parser's records and stats."""
from __future__ import annotations

import importlib.util
import os
import random
import re
import threading
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsing
from parsing import StreamParser, TemplateStore, fastpath, parse_text
from tests.parsing import test_generic
from tests.parsing.test_stream import TEXTS

# (a stress run: TRAINBOARD_DIFF_EXAMPLES=1500 pytest tests/parsing/test_fastpath.py; about 3 minutes here)
DIFF = settings(max_examples=int(os.environ.get("TRAINBOARD_DIFF_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_DIGITS = re.compile(r"\d")
_BENCH = Path(__file__).resolve().parents[2] / "bench" / "parse_bench.py"


def test_the_extension_is_built():
    """A machine with a compiler must not fall back to pure Python unnoticed (CI sets nothing)."""
    if os.environ.get("TRAINBOARD_ALLOW_PURE_PARSER") == "1":
        pytest.skip("TRAINBOARD_ALLOW_PURE_PARSER=1")
    assert parsing.fastcore_available()
    assert StreamParser()._engine is not None


needs_fastcore = pytest.mark.skipif(not fastpath.available(), reason="parsing._fastcore not built")


# The templates of every fast parse in this module, as a process shares them (parse_file, the CLIs,
# captures: parsing/templates.py): each text is also read with what the texts before it taught, in
# contexts they never met.
SHARED = TemplateStore()


def parse(chunks, pure: bool, as_bytes: bool = False, templates=SHARED):
    """(records as comparable values, stats, parser) of a text fed in these chunks."""
    parser = StreamParser(pure=pure, templates=None if pure else templates)
    out = []
    for chunk in chunks:
        out += parser.feed_bytes(chunk) if as_bytes else parser.feed(chunk)
    out += parser.finish()
    return [fastpath.record_key(r) for r in out], parser.stats, parser


def assert_same(text: str, chunks=None, as_bytes: bool = False) -> StreamParser:
    """The fast path on `chunks` gives what the pure parser gives on the whole text."""
    whole = text.encode("utf-8", "surrogatepass") if as_bytes else text
    want, want_stats, _ = parse([whole], pure=True, as_bytes=as_bytes)
    got, got_stats, parser = parse(chunks if chunks is not None else [whole], pure=False, as_bytes=as_bytes)
    assert got == want
    assert got_stats == want_stats
    return parser


def redrawn(text: str, seed: int) -> str:
    """The text with every digit redrawn: the same line shapes, other numbers."""
    rng = random.Random(seed)
    return _DIGITS.sub(lambda m: rng.choice("0123456789"), text)


def generic_lines() -> str:
    cases = [m for m in test_generic.test_generic_line.pytestmark if m.name == "parametrize"][0].args[1]
    return "\n".join(line for line, *_ in cases) + "\n"


def bench_log(tmp_path: Path, lines: int) -> str:
    spec = importlib.util.spec_from_file_location("parse_bench", _BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "mixed.log"
    bench.generate(path, lines, seed=11)
    return path.read_text(encoding="utf-8")


# Each text three times, digits redrawn: the fast path learns on the first and reads the rest.
CORPUS = [t + redrawn(t, 1) + redrawn(t, 2) for t in TEXTS + [generic_lines()]]


@needs_fastcore
@pytest.mark.parametrize("i", range(len(CORPUS)))
def test_each_sample_and_test_log_reads_the_same(i):
    parser = assert_same(CORPUS[i])
    assert len(parser._engine) > 0 or i == len(CORPUS) - 1  # templates were learned and used


@needs_fastcore
def test_the_bench_log_reads_the_same(tmp_path):
    text = bench_log(tmp_path, 20_000)
    parser = assert_same(text, [text[i:i + 65536] for i in range(0, len(text), 65536)])
    assert len(parser._engine) > 50


@needs_fastcore
def test_every_chunking_of_a_sample_reads_the_same():
    text = CORPUS[1]
    for size in (1, 7, 100, 4096):
        assert_same(text, [text[i:i + size] for i in range(0, len(text), size)])


@needs_fastcore
@DIFF
@given(st.sampled_from(range(len(CORPUS))), st.lists(st.integers(min_value=0, max_value=10**6), max_size=30),
       st.integers(min_value=0, max_value=10**6), st.booleans())
def test_any_chunking_and_redrawing_reads_the_same(i, cuts, seed, as_bytes):
    text = redrawn(CORPUS[i], seed)
    data = text.encode("utf-8") if as_bytes else text
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    assert_same(text, [data[a:b] for a, b in zip(bounds, bounds[1:])], as_bytes=as_bytes)


@st.composite
def perturbed_logs(draw):
    """Sample lines, shuffled into runs, with numbers changed in length, sign and form."""
    lines = [ln for t in TEXTS for ln in re.findall(r"[^\r\n]*(?:\r\n|\r|\n)", t)]
    rng = random.Random(draw(st.integers(min_value=0, max_value=10**9)))
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        start = rng.randrange(len(lines))
        run = lines[start:start + rng.randint(1, 30)]
        for _ in range(rng.randint(1, 4)):
            out += [re.sub(r"\d+(?:\.\d+)?", lambda m: _number(rng, m.group()), ln) for ln in run]
    return "".join(out)


def _number(rng: random.Random, token: str) -> str:
    kind = rng.randrange(10)
    if kind < 6:
        return token if kind < 3 else "".join(rng.choice("0123456789") for _ in token)
    return rng.choice(["0", "-1", "1e400", "99999999999999999999999", "0.5", "1,234", "nan", "7" * 40, "3.5e-05"])


@needs_fastcore
@DIFF
@given(perturbed_logs())
def test_perturbed_logs_read_the_same(text):
    assert_same(text)


@needs_fastcore
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=4))
def test_arbitrary_bytes_read_the_same(data, repeat):
    assert_same((data * repeat).decode("utf-8", "replace"))


@needs_fastcore
@pytest.mark.parametrize("odd", [
    "iter 99999999999999999999999999: loss 1.0",
    "iter 5: loss 1" + "0" * 400,
    "iter 5: loss 1e999999",
    "iter 5: loss " + "9" * (1 << 20),
    "iter " + "9" * 5000 + ": loss 2.0",
    "iter 5: loss 2.0\x00",
    "iter 5: loss 2.0 \udc80",
])
def test_learned_shapes_with_odd_numbers_read_the_same(odd):
    learned = "".join(f"iter {i}: loss {i / 7:.4f}, time 12.5ms\n" for i in range(50))
    lines = odd.replace(", time", "") + "\n" + learned + odd + "\n" + learned
    if "\udc80" in odd:
        parser = StreamParser()
        assert parser.feed(lines) and parser.finish() == []  # a str with a lone surrogate: no crash
    else:
        assert_same(lines)


@needs_fastcore
def test_pure_switch_and_environment(monkeypatch):
    assert StreamParser(pure=True)._engine is None
    monkeypatch.setenv("TRAINBOARD_PARSER_PURE", "1")
    assert StreamParser()._engine is None


# ---- what the fast path models beyond plain records: ranks, evaluation values, context steps, bars
def _sample(name: str) -> str:
    from tests.parsing.conftest import LOGS
    if LOGS is None or not (LOGS / f"{name}.log").exists():
        pytest.skip("shared/logs not found")
    return (LOGS / f"{name}.log").read_text(encoding="utf-8", errors="replace")


def lines_read_in_python(text: str, templates: TemplateStore | None = None) -> list[str]:
    """The lines the fast path hands to Python on `text` (starting from `templates`), its records
    checked against the pure parser."""
    seen = []
    parser = StreamParser(templates=templates)
    slow = parser._slow_line
    parser._slow_line = lambda *a: (seen.append(a[0]), slow(*a))[1]
    got = [fastpath.record_key(r) for r in parser.feed(text) + parser.finish()]
    want, want_stats, _ = parse([text], pure=True)
    assert got == want and parser.stats == want_stats
    return seen


def slow_lines(text: str) -> tuple[int, int]:
    """(lines read in Python, lines) of the fast path on `text`, checked against the pure parser."""
    return len(lines_read_in_python(text)), text.count("\n")


def _relabel_ranks(text: str, rng: random.Random) -> str:
    """Rank prefixes redrawn line by line: copies from other ranks, a lower rank showing up late."""
    return re.sub(r"\[rank(\d)\]:", lambda m: f"[rank{rng.choice('0123')}]:", text)


@needs_fastcore
def test_rank_copies_are_read_in_c():
    text = _sample("torchtitan")
    text = "".join(redrawn(text, k) for k in range(12))
    slow, lines = slow_lines(text)
    assert slow < lines * 0.4  # the rank-0 lines and the rank-1 copies both have templates


@needs_fastcore
@DIFF
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=6))
def test_rank_copies_in_any_order_read_the_same(seed, repeat):
    rng = random.Random(seed)
    text = _sample("torchtitan")
    assert_same("".join(_relabel_ranks(redrawn(text, seed + k), rng) for k in range(repeat)))


@needs_fastcore
@pytest.mark.parametrize("name", ["timm", "nanogpt", "keras", "hf_trainer", "megatron", "fairseq"])
def test_evaluation_lines_and_context_steps_read_the_same(name):
    """`Test: [..]` (no step), `val loss` reprints, `Test loss:` and Trainer dicts after a bar."""
    text = _sample(name)
    # the same values again (stale evaluation values), then other values
    assert_same(text * 3 + redrawn(text, 3) + text)


@needs_fastcore
@DIFF
@given(st.lists(st.sampled_from(["timm", "nanogpt", "keras", "hf_trainer", "lightning", "torchtitan", "megatron",
                                 "mmengine", "fairseq", "detectron2"]), min_size=2, max_size=8),
       st.integers(min_value=0, max_value=10**6))
def test_frameworks_after_one_another_read_the_same(names, seed):
    """One framework's bar context, ranks and last values meet another's lines (a bar of another
    length after a finished bar is an evaluation bar)."""
    rng = random.Random(seed)
    parts = []
    for name in names:
        lines = _sample(name).splitlines(keepends=True)
        start = rng.randrange(len(lines))
        parts.append(redrawn("".join(lines[start:start + rng.randint(5, 60)]), rng.randrange(10**6)))
    text = "".join(parts)
    assert_same(text + text)


@needs_fastcore
def test_a_line_that_sets_context_to_its_value_is_not_a_noop():
    """The table title line, seen when the title is already set, still sets it (not learned as a no-op)."""
    title = "[05/08 23:57:59 d2.evaluation.coco_evaluation]: Evaluation results for {}: \n"
    table = "|   AP   |  AP50  |\n|:------:|:------:|\n| {} | 59.688 |\n\n"
    text = "".join(title.format("bbox") * 3 + table.format(f"{i}.5") for i in range(6))
    text += "".join(title.format("segm") + table.format(f"{i}.25") for i in range(6))
    assert_same(text)


@needs_fastcore
@pytest.mark.parametrize("text", [
    # a template learned where a 23-digit value made the line no match of its format must not take
    # the same line with a short value (a regex bounds its digits: `(epoch \\d{1,9})`)
    "*** Best metric: 0 (epoch 1)\n*** Best metric: 99999999999999999999999 (epoch 1)\n"
    "*** Best metric: 267003847937 (epoch 7777777777777777777777777777777777777777)\n"
    "*** Best metric: 5 (epoch 2)\n",
    # two slots that only together make a header: `Epoch 99…/99…` is none, `Epoch 6/3` is one
    (Path(__file__).parent / "regressions" / "two_long_numbers_then_a_header.log").read_text(),
])
def test_long_numbers_do_not_widen_a_template(text):
    """Found by hypothesis (perturbed logs), shrunk to these lines."""
    assert_same(text * 3)


_CLEAN_ALPHABET = st.sampled_from(["\x1b", "[", "]", "A", "\r", "\n", "\x07", "\x08", "\\", "0", "9", ";", "?", " ", "/",
                                   "m", "@", "~", "Z", "_", "^", "é", "█", "\ue000", "\x1b[A", "\x1b]", "\x1b[", "\r\n"])


@needs_fastcore
@DIFF
@given(st.lists(_CLEAN_ALPHABET, max_size=60).map("".join))
def test_block_cleaning_in_c_is_the_python_one(text):
    """Engine.run cleans a block in C (`\\r`, ANSI codes, tqdm's cursor-up, backspaces) as
    parser._clean does."""
    from parsing import _fastcore
    from parsing.parser import _clean
    assert _fastcore.clean(text) == _clean(text)


@needs_fastcore
def test_block_cleaning_caps_in_c_are_the_python_ones():
    """The regex's bounded runs: 32 CSI parameters, 8 intermediates, 4096 OSC code points."""
    from parsing import _fastcore
    from parsing.parser import _clean
    for text in ["\x1b[" + "1" * n + "m" for n in (31, 32, 33)] + ["\x1b[1" + " " * n + "m" for n in (7, 8, 9)] + \
            ["\x1b]" + c * n + tail for c in ("a", "é", "\x1b[A", "\x08") for n in (4095, 4096, 4097)
             for tail in ("\x07x", "\x1b\\x", "\nx", "x")]:
        assert _fastcore.clean(text) == _clean(text)


@needs_fastcore
def test_bars_with_an_epoch_in_their_description_are_read_in_c():
    """Lightning's `Epoch 3:  25%|██▌ | 250/1000 [...]` bars: the step from the description's epoch."""
    text = _sample("lightning")
    text = "".join(redrawn(text, k) for k in range(12))
    slow, lines = slow_lines(text)
    assert slow < lines * 0.3


_EPOCH_BAR = "{desc}{pct:3d}%|#         | {n}/{total} [00:05<00:15, 48.26it/s{post}]\n"


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(["Epoch {e}: ", "Epoch {e}/{k}: ", "epoch {e} ", "Validation: ", ""]),
                          st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=12),
                          st.sampled_from([10, 12]),
                          st.sampled_from(["", ", loss={v}", ", loss={v}, v_num=1", ", epoch={e}, loss={v}",
                                           ", loss={v}, acc=0.5"]),
                          st.sampled_from(["0.5", "0.25", "nan", "1.5"])),
                min_size=1, max_size=60),
       st.integers(min_value=1, max_value=4))
def test_bars_with_an_epoch_in_their_description_read_the_same(bars, repeat):
    """Epochs that stay or move, `Epoch k/K` counting from 0 or 1, an `epoch` postfix value, only
    the epoch new, bars restarting, evaluation bars in between."""
    lines = []
    for desc, e, n, total, post, v in bars:
        fields = {"e": e, "k": 3, "v": v}
        lines.append(_EPOCH_BAR.format(desc=desc.format(**fields), pct=100 * min(n, total) // total, n=min(n, total),
                                       total=total, post=post.format(**fields)))
    assert_same("".join(lines) * repeat)


_TOKEN_DIGITS = st.text("0123456789", min_size=1, max_size=24)


def _token_text(whole: str, fraction: str | None, exponent: tuple | None) -> str:
    return whole + ("." + fraction if fraction is not None else "") + ("".join(exponent) if exponent else "")


_EXPONENTS = st.one_of(st.none(), st.tuples(st.sampled_from("eE"), st.sampled_from(["", "+", "-"]),
                                            st.text("0123456789", min_size=1, max_size=4)))


@needs_fastcore
@settings(max_examples=2000, deadline=None)
@given(_TOKEN_DIGITS, st.one_of(st.none(), _TOKEN_DIGITS), _EXPONENTS,
       st.integers(1, 12), st.one_of(st.none(), st.integers(1, 12)),
       st.one_of(st.none(), st.tuples(st.sampled_from("eE"), st.sampled_from(["", "+", "-"]), st.integers(1, 12))))
def test_c_tells_a_form_from_its_counts_as_from_its_text(whole, fraction, exponent, fi, ff, fe):
    """slots_admit admits a token in a FORM slot by the runs tokenize counted; same_form, which reads
    the text, must say the same, for forms of a token's own runs and of other lengths."""
    from parsing import _fastcore
    token = _token_text(whole, fraction, exponent)
    forms = [fastpath.form(token.encode()),
             ("9" * fi + ("." + "9" * ff if ff else "") + (fe[0] + fe[1] + "9" * fe[2] if fe else "")).encode()]
    for form in forms:
        by_counts, by_text = _fastcore.form_admits(form, token.encode())
        assert by_counts == by_text, (form, token)
    assert _fastcore.form_admits(forms[0], token.encode()) == (True, True)


@needs_fastcore
@settings(max_examples=2000, deadline=None)
@given(_TOKEN_DIGITS, st.one_of(st.none(), _TOKEN_DIGITS), _EXPONENTS)
def test_c_reads_a_number_token_as_float_does(whole, fraction, exponent):
    """C's float of a token (an exact fast path, else Python's own conversion) is float()'s, bit for bit."""
    from parsing import _fastcore
    token = _token_text(whole, fraction, exponent)
    assert repr(_fastcore.to_float(token.encode())) == repr(float(token))


@needs_fastcore
@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([b"0", b"7", b".", b"e", b"E", b"+", b"-", b" ", b"abcdefgh", b"loss: ", b"\xe2\x96\x88",
                                 b"\x00", b"12345678", b"1.5e-3", b",", b"|", b"\xe2\x96\x8c", b"\xe2\x96", b"\x01",
                                 b" " * 40]), max_size=40).map(b"".join))
def test_c_keys_are_the_python_keys(line):
    """The C tokenizer (eight literal bytes at a time) cuts a line where fastpath.TOKEN does, and
    folds a bar's fill where fastpath.line_key does."""
    from parsing import _fastcore
    key, spans = fastpath.line_key(line)
    want = None if b"\0" in line or b"\1" in line or len(spans) > _fastcore.MAX_TOKENS else (key, len(spans))
    assert _fastcore.line_key(line) == want


@needs_fastcore
def test_a_bar_keeps_its_template_as_it_fills():
    """tqdm draws `|█▏        |` ... `|█████████▉|` as a bar fills: one key (the fill is one byte
    of it), one template, verified with other fills: a bar of a thousand steps is learned once,
    not once per fill."""
    glyphs = " ▏▎▍▌▋▊▉"
    def fill(n):
        full, part = divmod(n * 80 // 1000, 8)
        return ("█" * full + (glyphs[part] if part else "")).ljust(10)[:10]
    text = "".join(f" {n // 10:2d}%|{fill(n)}| {n}/1000 [00:{n % 60:02d}<00:15, 47.03it/s, loss=0.{n}]\n"
                   for n in range(1, 1000, 3))
    parser = assert_same(text)
    assert len(parser._engine) <= 4  # (the percentage's padding: ` 1%`, `10%`)
    seen = lines_read_in_python(text)
    assert len(seen) <= 12


_FILLED = [" {p:3d}%|{f}| {n}/1000 [00:01<00:15, 47.03it/s, loss=0.{n}]\n",
           "Epoch 1: {p:3d}%|{f}| {n}/1000 [00:05<00:15, 47.03it/s, v_num=3, train_loss_step=0.{n}]\n",
           "Validation: {p}%|{f}| {n}/37 [00:01<00:00]\n", "|{f}|{f}| {n}\n", "| {f} | 0.{n} |\n",
           "{n}/1000 {f} 1s 5ms/step - loss: 0.{n}\n", "loss={n}|{f}|\n", "iter {n}: loss 0.{n}, time 38.5ms\n"]


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(_FILLED), st.lists(st.sampled_from(["█", "▏", "▌", "▉", " ", "#", "━"]),
                                                              max_size=14).map("".join),
                          st.integers(1, 12), st.integers(0, 1000)), min_size=1, max_size=60), st.integers(1, 3))
def test_bars_of_any_fill_read_the_same(lines, repeat):
    """Bars whose fill is glyphs, spaces, other characters, none, or longer than a fold takes."""
    text = "".join(line.format(f=fill * wide, n=n, p=n // 10) for line, fill, wide, n in lines)
    assert_same(text * repeat)


_NO_TOTAL = ["Training: |          | {n}/? [00:00<?, ?it/s]\n", "Validation: |          | {n}/? [00:00<?, ?it/s]\n",
             "Training: |          | {n}/? [00:00<?, ?it/s, loss=0.{n}]\n", "{n}it [00:01, 3.{n}it/s]\n",
             "Epoch {e}: |          | {n}/? [00:00<?, ?it/s]\n", "Epoch {e}:  25%|██▌       | {n}/1000 [00:05<00:15]\n",
             " {n}%|█▏        | {n}/{e} [00:33<04:16,  3.00it/s]\n", "Epoch {e}/3\n", "Epoch 0/3\n",
             "{{'loss': 0.{n}, 'epoch': {e}}}\n", "                    \n", "iter {n}: loss 0.{n}, time 38.5ms\n"]


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(_NO_TOTAL), st.integers(0, 2000), st.integers(0, 12)), min_size=1,
                max_size=60), st.integers(1, 3))
def test_bars_of_no_total_read_the_same(lines, repeat):
    """`n/?` bars (Lightning's `Training: | 0/?`) among bars with a total, after them (a finished
    bar: an evaluation), restarting, in epochs, after a tqdm.write() clear, with postfix values."""
    text = "".join(line.format(n=n, e=e) for line, n, e in lines)
    assert_same(text * repeat)


@needs_fastcore
def test_bars_of_no_total_are_read_in_c():
    text = "".join("Training: |          | 0/? [00:00<?, ?it/s]\n"
                   f"Epoch {k}:  25%|██▌       | 250/1000 [00:05<00:15, 47.77it/s, v_num=3, train_loss_step=1.{k:03d}]\n"
                   "Validation: |          | 0/? [00:00<?, ?it/s]\n" for k in range(40))
    seen = lines_read_in_python(text)
    assert sum("0/?" in line for line in seen) <= 4  # of 80: the misses of the two keys that teach them


@needs_fastcore
def test_a_bar_of_no_total_with_an_epoch_in_its_description_never_restarts():
    """`Epoch 0: | 1/?` then `Epoch 0: | 0/?` is no restart: _bar reads the epoch from the
    description. Such a bar's template, learned under an epoch header (where no bar restarts), took
    it for one that does, found by the differential test reading with what other texts taught: a
    later dict got the next epoch's step (1 for 0). Its template now knows the bar is described,
    verified where a bar of the same total ran further and no header was seen."""
    teach = ("Epoch 0: |          | 211/? [00:00<?, ?it/s]\nEpoch 0/3\nEpoch 0: |          | 2/? [00:00<?, ?it/s]\n"
             "Epoch 1: |          | 2/? [00:00<?, ?it/s]\n")
    store = TemplateStore()
    parse([teach], pure=False, templates=store)
    text = ("Epoch 0: |          | 1/? [00:00<?, ?it/s]\nEpoch 0: |          | 0/? [00:00<?, ?it/s]\n"
            " 0%|█▏        | 0/1 [00:33<04:16,  3.00it/s]\n{'loss': 0.0, 'epoch': 0}\n") * 3
    got, _, _ = parse([text], pure=False, templates=store)
    assert got == parse([text], pure=True)[0]
    assert [r[1] for r in got] == [0, 0, 0]
    text = "".join(f"Epoch {e}: |          | {n}/? [00:00<?, ?it/s]\n" for e in range(3) for n in (0, 1, 2, 1, 0))
    assert len(lines_read_in_python(text, templates=store)) <= 2  # of 15: read in C


@needs_fastcore
def test_evaluation_bars_after_training_are_read_in_c():
    """Keras's `313/313 ━━━━ 1s 2ms/step - accuracy: ...` after training does nothing there; it is
    learned as a bar (studied where no bar was seen) that knows it does nothing after training."""
    text = _sample("keras")
    text = "".join(redrawn(text, k) for k in range(12))
    slow, lines = slow_lines(text)
    assert slow < lines * 0.25


_COCO_ROWS = [f" Average {kind:<9} ({k}) @[ IoU={iou:<9} | area={area:>6} | maxDets={dets:>4} ] = {{}}\n"
              for kind, k in (("Precision", "AP"), ("Recall", "AR")) for iou in ("0.50:0.95", "0.50", "0.75")
              for area in ("all", "small") for dets in (100, 1000)]


def _coco_blocks(rng: random.Random, blocks: int) -> str:
    parts = []
    for _ in range(blocks):
        parts.append("".join(row.format(rng.choice(["0.334", "0.000", "-1.000", "0.5", "1.000", "0.0123"]))
                             for row in rng.sample(_COCO_ROWS, rng.randint(1, len(_COCO_ROWS)))))
        parts.append(rng.choice(["\n", "Evaluation done.\n", "***** eval metrics *****\n  eval_loss = 0.25\n\n",
                                 "iter 10: loss 2.5, time 1.0ms\n", " Average Precision  (AP) @[ IoU=0.50 ] = 0.1\n"]))
    return "".join(parts)


_KERAS = "{k}/10 [==============================] - 1s 5ms/step - loss: 0.{k}5 - accuracy: 0.9\n"


@needs_fastcore
def test_keras_epoch_headers_are_read_in_c():
    """Keras' `Epoch 3/10` sets the epoch of the bars that follow (an `Epoch 0/...` makes epochs
    count from 0): C reads it, epoch and all."""
    text = "".join(f"Epoch {k}/{n}\n" + _KERAS.format(k=k) for n in (3, 12, 100) for k in range(n + 1))
    seen = lines_read_in_python(text)
    assert sum(line.startswith("Epoch") for line in seen) <= 3


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(["Epoch {e}/{n}\n", _KERAS, "Epoch {e}/{n}: 0.5\n", "loss: 0.{k}\n",
                                           "Epoch {e}: 100%|##########| {k}/10 [00:01<00:00, 1.00it/s, loss=0.5]\n",
                                           "   Epoch {e}/{n}\n", "Epoch {e}/{n}\r\n"]),
                          st.sampled_from(["0", "1", "3", "12", "007", "123456789", "1234567890"]),
                          st.sampled_from(["3", "10", "0", "99999"])), min_size=1, max_size=60), st.integers(1, 3))
def test_epoch_headers_read_the_same(lines, repeat):
    """Headers of any epoch (0 among them) and total, with and without bars between them."""
    text = "".join(line.format(e=e, n=n, k=k % 10) for k, (line, e, n) in enumerate(lines))
    assert_same(text * repeat)


@needs_fastcore
def test_rows_of_an_open_block_are_read_in_c():
    """pycocotools' rows after the first of a block: added to the block's metrics in C."""
    text = _coco_blocks(random.Random(3), 60)
    slow, lines = slow_lines(text)
    assert slow < lines * 0.35


@needs_fastcore
@DIFF
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=12))
def test_rows_of_an_open_block_read_the_same(seed, blocks):
    """Rows in any order and subset, names repeated, -1.000 values, blocks closed by other lines,
    other blocks (a Trainer metrics block, whose rows Python reads) between them."""
    text = _coco_blocks(random.Random(seed), blocks)
    assert_same(text * 3)


@needs_fastcore
def test_engine_usage_counts_the_lines_templates_read():
    """What the learner asks before learning a key again (its templates must have paid)."""
    parser = StreamParser()
    lines = [f"iter {i}: loss {i % 7}.25, time 12.{i % 10}ms\n" for i in range(1, 21)]
    parser.feed("".join(lines))
    templates, read = parser._engine.usage(fastpath.line_key(lines[0].rstrip("\n").encode())[0])
    assert templates == 1 and read >= 15
    assert parser._engine.usage(b"no such key") == (0, 0)


_STATE_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1.0, 1, True]),
                          st.integers(-3, 3))


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), _STATE_VALUES, max_size=6), st.data())
def test_state_comparisons_are_by_repr_and_order(a, data):
    """The learner's comparison of the parser's dicts after C and after Python (in C when built)
    is the exact one: the same names, each value of the same repr (NaN, -0.0, 1 vs 1.0); the
    record shapes' table also in the same order."""
    b = dict(a)
    for k in data.draw(st.lists(st.sampled_from(sorted(a)), max_size=3)) if a else []:
        b[k] = data.draw(_STATE_VALUES)
    if data.draw(st.booleans()):
        b = dict(reversed(list(b.items())))
    same_reprs = a.keys() == b.keys() and all(repr(v) == repr(b[k]) for k, v in a.items())
    assert (fastpath._Floats(a) == fastpath._Floats(b)) == same_reprs
    assert (fastpath._Ordered(a) == fastpath._Ordered(b)) == (list(a.items()) == list(b.items()))


_GLUED_BAR = "Epoch {e}: {pct:3d}%|#####     | {n}/{total} [00:21<00:00, 46.25it/s, v_num=3, loss={v}{post}]{rest}\n"
_GLUED_RESTS = ["Epoch {e}, global step {s}: 'val_loss' reached {v} (best 0.5), saving model to '/ckpt/epoch={e}-step={s}.ckpt'",
                "`Trainer.fit` stopped: `max_epochs={e}` reached.", "iter {s}: loss {v}, time 12.5ms", "   ",
                "{s} steps done", "Epoch {e}: 100%|##########| {s}/{s} [00:01<00:00, 1.00it/s, acc={v}]Epoch {e} done",
                " | val_loss {v}", "Validation: 100%|##########| 5/5 [00:01<00:00]"]


def _glued_bars(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        e, total = rng.randint(0, 3), rng.choice([10, 12])
        n = rng.randint(0, total)
        fields = {"e": e, "s": e * total + n, "v": rng.choice(["0.5", "0.25", "nan", "1.5", "0.125"])}
        rest = rng.choice(_GLUED_RESTS + [""]).format(**fields)
        out.append(_GLUED_BAR.format(e=e, pct=100 * n // total, n=n, total=total, v=fields["v"],
                                     post=rng.choice(["", ", val_loss=0.75"]), rest=rest))
    return "".join(out)


@needs_fastcore
def test_bars_with_text_glued_after_them_are_read_in_c():
    """Lightning's last redraw of an epoch's bar with its checkpoint message glued on: the bar by
    its template, the message as a line of its own (by its template too, once learned)."""
    lines = [_GLUED_BAR.format(e=e, pct=100, n=1000, total=1000, v=f"0.{e % 7}5", post="", rest=_GLUED_RESTS[0].format(
        e=e, s=1000 * (e + 1), v=f"0.{e % 9}25")) for e in range(60)]
    seen = lines_read_in_python("".join(lines))
    assert sum("it/s" in line for line in seen) <= 3  # before the bar's template was learned
    assert len(seen) <= 10


@needs_fastcore
@DIFF
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=60), st.integers(1, 3))
def test_bars_with_text_glued_after_them_read_the_same(seed, lines, repeat):
    """Glued text of any kind (a format line, a generic metric line, blanks, another bar with its
    own glued text, an evaluation bar), bars moving, restarting and redrawn, epochs changing."""
    assert_same(_glued_bars(random.Random(seed), lines) * repeat)


# lines that leave state no template models: an open table (markdown, column, key/value box) and
# copypaste names; and lines that read it
_ASIDE_OPENERS = ["|   AP   |  AP50  |  AP75  |\n", "|:------:|:------:|:------:|\n", "| 38.344 | 59.688 | 41.263 |\n",
                  "-------------------------------------\n", "| loss      | 0.25  |\n", "Epoch  train_loss  valid_loss  accuracy\n",
                  "1  0.5  0.25  0.75\n", "[05/08 23:58:03 d2.evaluation.testing]: copypaste: Task: bbox\n",
                  "[05/08 23:58:03 d2.evaluation.testing]: copypaste: AP,AP50,AP75\n",
                  "[05/08 23:58:03 d2.evaluation.testing]: copypaste: 38.4461,59.7992,41.4053\n",
                  "03/25 10:13:48 - mmengine - INFO - bbox_mAP_copypaste: 0.538 0.550 0.351 0.821 0.056 0.551\n"]
_ASIDE_READERS = ["iter {i}: loss {v}, time 38.5ms, mfu 12.1%\n", "step {i}: train loss {v}, val loss {v}\n",
                  "2021-05-04 09:59:00 | INFO | train_inner | epoch 001:    {i} / 1124 loss={v}, nll_loss=12.798, ppl=6.41\n",
                  "loss: {v}\n", "Epoch 1: 100%|##########| {i}/{i} [00:01<00:00, 1.00it/s, loss={v}]\n",
                  "| {v} | 2.5 | 3.5 |\n", "{i}  {v}  0.25  0.75\n", "| lr        | {v}  |\n",
                  "[05/08 23:58:03 d2.engine.defaults]: Evaluation results for coco_{i}_val in csv format:\n",
                  "-------------------------------------\n", "Saving checkpoint {i}\n", "| train/    |       |\n",
                  "03/25 10:13:48 - mmengine - INFO - Exp name: faster-rcnn_r{i}_fpn_1x_coco\n"]


def _aside_log(rng: random.Random, lines: int) -> str:
    out = []
    for i in range(1, lines + 1):
        if rng.random() < 0.2:
            out.append(rng.choice(_ASIDE_OPENERS))
        else:
            out.append(rng.choice(_ASIDE_READERS).format(i=i, v=rng.choice(["0.5", "0.25", "nan", "1.5", "0.125"])))
    return "".join(out)


@needs_fastcore
def test_format_lines_beside_an_open_table_are_read_in_c():
    """A format's line does not look at an open table or copypaste names (Python's _line reads
    the formats first): with such state left open by other lines, C still reads it."""
    text = "".join(opener + "".join(f"iter {10 * k + i}: loss {i}.{k}5, time 38.5ms, mfu 12.1%\n" for i in range(10))
                   for k, opener in enumerate(_ASIDE_OPENERS * 3))
    slow, lines = slow_lines(text)
    assert slow < lines * 0.35


@needs_fastcore
@DIFF
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=80), st.integers(1, 3))
def test_lines_beside_an_open_table_read_the_same(seed, lines, repeat):
    """Format, generic, bar and table lines after tables of each kind and copypaste lines."""
    assert_same(_aside_log(random.Random(seed), lines) * repeat)


_UTF8_PIECES = [b"loss: 0.5\n", b"iter 3: loss 2.5, time 1.0ms\n", b"\xe2\x96\x88", b"\r", b"\n", b"\r\n", b" ",
                b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                b"\xf5", b"\xff", b"\x80", b"\xe2\x96", b"\xf0\x9f", b"\x1b[A", b"Epoch 1:  50%|#    | 5/10 [00:01<00:01]"]


@needs_fastcore
@DIFF
@given(st.lists(st.sampled_from(_UTF8_PIECES), max_size=80), st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
       st.integers(1, 3))
def test_bytes_fed_in_any_chunks_read_the_same(pieces, cuts, repeat):
    """feed_bytes hands the lines a chunk completes to C as bytes when they are UTF-8: the same
    as decoding them (bad bytes replaced), whatever the chunks cut (a character, `\\r\\n`)."""
    data = b"".join(pieces) * repeat
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    parser = StreamParser(pure=True)
    want = [fastpath.record_key(r) for c in [data] for r in parser.feed_bytes(c) + parser.finish()]
    want_stats = parser.stats
    got, got_stats, _ = parse(chunks, pure=False, as_bytes=True)
    assert got == want
    assert got_stats == want_stats


@needs_fastcore
def test_c_takes_bytes_only_when_they_are_utf8():
    """Engine.run on bytes: Python's strict decoder decides what is UTF-8."""
    for piece in _UTF8_PIECES:
        parser = StreamParser()
        block = b"x " + piece + b"\n"
        try:
            block.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        assert (parser._engine.run(parser, block, 0, []) is not None) == valid, piece


_MEMORY = "[Rank {r}] (after {i} iterations) memory (MB) | allocated: {v} | max allocated: 31018.77 | reserved: 33364.0\n"


@needs_fastcore
def test_a_token_another_context_reads_otherwise_is_narrowed_there():
    """Megatron's `[Rank 0] ... memory (MB)` lines: a rank of nine digits is no rank prefix, which
    the line's own context (rank 0 printed every value already: nothing kept either way) cannot
    show; the joint check in another context finds it, and the rank slot is narrowed there."""
    text = "".join(_MEMORY.format(r=0, i=10 * i, v=f"{i}.25") for i in range(1, 40))
    slow, lines = slow_lines(text)
    assert slow < lines * 0.3


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(["0", "1", "7", "12", "123456", "123456789"]), st.integers(1, 10**6),
                          st.sampled_from(["5235.13232421875", "0.5", "12", "nan"])), min_size=1, max_size=40),
       st.integers(1, 3))
def test_rank_prefixed_memory_lines_read_the_same(rows, repeat):
    assert_same("".join(_MEMORY.format(r=r, i=i, v=v) for r, i, v in rows) * repeat)


@needs_fastcore
def test_a_line_that_ends_an_open_table_is_read_in_c():
    """detectron2's `Evaluation results for coco_2017_val in csv format:` after its AP table: no
    row of it, so it ends the table (as _table_line does) and is then read as without one."""
    table = "|   AP   |  AP50  |  AP75  |\n|:------:|:------:|:------:|\n| 38.344 | 59.688 | 41.263 |\n"
    closer = "[05/08 23:58:{s:02d} d2.engine.defaults]: Evaluation results for coco_2017_val in csv format:\n"
    text = "".join(table + closer.format(s=k) for k in range(40))
    seen = lines_read_in_python(text)
    assert sum("csv format" in line for line in seen) <= 3


@needs_fastcore
def test_a_line_that_closes_a_box_of_no_row_is_read_in_c():
    """mmengine prints ` -------------------- ` between its hooks' stages: a rule, which opens a
    box. The `Exp name:` line after it is no row of a box, so it closes it (a box of no row: no
    record) and is then read as without one; C reads it in any box that holds no row yet."""
    text = "".join(f" -------------------- \n03/25 10:13:{k % 60:02d} - mmengine - INFO - Exp name: r{k}_fpn_1x\n"
                   for k in range(40))
    seen = lines_read_in_python(text)
    assert sum("Exp name" in line for line in seen) <= 3
    # with a row in it, the box is closed by Python: its record is out
    rows = "".join(f"----------\n| loss | 0.{k}5 |\n03/25 10:13:48 - mmengine - INFO - Exp name: r{k}_fpn\n" for k in range(20))
    assert len(assert_same(text + rows + text).stats.metric_counts) == 1


@needs_fastcore
def test_dashed_rules_are_read_in_c():
    """A dashed rule opens a box where no table is open and closes a box that holds no row yet
    (Lightning's model summary, mmengine's hooks): C reads both."""
    summary = "0 | model | ResNet | {k}.2 M\n---------------------------------\n{k}.2 M    Trainable params\n"
    text = "".join(summary.format(k=k) + " -------------------- \n -------------------- \n" for k in range(40))
    seen = lines_read_in_python(text)
    assert sum(line.strip().startswith("---") for line in seen) <= 6


@needs_fastcore
def test_a_rule_that_ends_a_markdown_table_is_read_on():
    """In a markdown table (Lightning's `  | Name | Type | Params` header) a rule ends the table
    and is then read on: the bar context is dropped, where no table is open a rule keeps it (it
    opens a box). A rule template learned without a bar context must not close such a table."""
    learn = "".join("|   AP   |  AP50  |\n|:------:|:------:|\n---------------------------------\n" for _ in range(6))
    bar = " 50%|█████     | 5/10 [00:01<00:01,  3.00it/s]\n"
    trial = "".join(bar + "|   AP   |  AP50  |\n---------------------------------\n{'loss': 0.5, 'epoch': 0.5}\n"
                    for _ in range(4))
    assert_same(learn + trial)


@needs_fastcore
def test_a_rule_that_ends_a_markdown_table_is_read_in_c():
    """There C ends the table and drops the bar context, as the table's reader and _generic do."""
    bar = " 50%|█████     | {k}/10 [00:01<00:01,  3.00it/s]\n"
    text = "".join(bar.format(k=k % 10) + "|   AP   |  AP50  |\n|:------:|:------:|\n| {k}.5 | 2.5 |\n"
                   "---------------------------------\n{{'loss': 0.5, 'epoch': 0.{k}}}\n".format(k=k) for k in range(40))
    seen = lines_read_in_python(text)
    assert sum(line.startswith("---") for line in seen) <= 4  # of 40


_BOX_LINES = ["---------------------------------\n", " -------------------- \n", "--------\n", "-------\n",
              "03/25 10:13:48 - mmengine - INFO - ----------------------\n", "[rank{k}]: ------------------\n",
              "0: ----------------------\n", "| loss      | 0.{k}5  |\n", "| train/    |       |\n",
              "| lr        | {k}e-4  |\n", "|   AP   |  AP50  |\n", "|:------:|:------:|\n", "| {k}.5 | 2.5 |\n",
              "Epoch  train_loss  valid_loss\n", "{k}  0.5  0.25\n", "iter {k}: loss 0.{k}5, time 38.5ms\n",
              "03/25 10:13:48 - mmengine - INFO - Exp name: r{k}_fpn\n", "Saving checkpoint {k}\n", "\n",
              "{k}.2 M    Trainable params\n", "step {k}: train loss 0.5, val loss 0.{k}\n",
              " 50%|█████     | {k}/10 [00:01<00:01,  3.00it/s]\n", "{{'loss': 0.5, 'epoch': 0.{k}}}\n"]


@needs_fastcore
@DIFF
@given(st.lists(st.sampled_from(_BOX_LINES), min_size=1, max_size=80), st.integers(1, 3))
def test_rules_and_boxes_read_the_same(lines, repeat):
    """Rules of any length, with prefixes or none, boxes with rows and sections or none, other
    tables and lines in between."""
    text = "".join(line.format(k=k % 10) for k, line in enumerate(lines))
    assert_same(text * repeat)


# rich's drawn tables (Lightning's test results, a model summary) among the lines around them
_DRAWN_LINES = ["┏━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓\n", "┃ Test metric  ┃ DataLoader 0 ┃\n", "┡━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩\n",
                "│ test_loss    │ 0.{k}5         │\n", "│ test_acc     │    {k}.5      │\n", "└──────────────┴──────────────┘\n",
                "│ loss/dataloader_idx_1 │     │ 0.{k} │\n", "│ {k} │ model │ ResNet │ 11.2 M │\n", "╭──────╮\n", "╰──────╯\n",
                "├──────┼──────┤\n", "│ lr │ {k}e-4 │\n", "│        │\n", "──────────────────\n", "   test_acc     0.{k}8\n",
                "Testing DataLoader 0: 100%|██████████| {k}/79 [00:01<00:00, 61.23it/s]\n",
                "Epoch {k}: 100%|██████████| 1000/1000 [00:21<00:00, 46.50it/s, v_num=3, train_loss_step=0.{k}]\n",
                "---------------------------------\n", "| loss      | 0.{k}5  |\n", "|   AP   |  AP50  |\n", "\n",
                "{{'loss': 0.5, 'epoch': 0.{k}}}\n", "iter {k}: loss 0.{k}5, time 38.5ms\n"]


@needs_fastcore
@DIFF
@given(st.lists(st.sampled_from(_DRAWN_LINES), min_size=1, max_size=80), st.integers(1, 3))
def test_drawn_tables_read_the_same(lines, repeat):
    text = "".join(line.format(k=k % 10) for k, line in enumerate(lines))
    assert_same(text * repeat)


@needs_fastcore
def test_a_row_seen_without_its_table_is_a_row_of_it():
    """A `| 13.747 | 49.271 |` line where no table is open does nothing; under a header of as many
    columns it is a row: what a table's reader makes of a line depends on the table, so a
    template learned without a table never ends (nor ignores) a table on a line such a reader saw."""
    rows = "".join(f"| {k}.747 | 49.{k}71 | 23.560 |\n" for k in range(1, 6))
    table = "|   AP   |  AP50  |  AP75  |\n|:------:|:------:|:------:|\n"
    assert_same((rows + table + rows + "iter 1: loss 2.5, time 1.0ms\n") * 4)


_MD_LINES = ["|   AP   |  AP50  |  AP75  |\n", "|   AP   |  AP50  |\n", "|  step  |  loss  |  acc   |\n",
             "|:------:|:------:|:------:|\n", "|:------:|:------:|\n", "| {v} | {w} | 41.263 |\n", "| {v} | {w} |\n",
             "| {v} | n/a | 41.263 |\n", "| {i} | {v} | {w} |\n",
             "[05/08 23:58:03 d2.evaluation.coco_evaluation]: Evaluation results for {task}: \n",
             "[05/08 23:58:03 d2.engine.defaults]: Evaluation results for coco_2017_val in csv format:\n",
             "iter {i}: loss {v}, time 1.0ms\n", "\n"]


@needs_fastcore
def test_rows_of_an_open_markdown_table_are_read_in_c():
    """detectron2's `| 38.344 | 59.688 | ... |` under its `|   AP   |  AP50  | ...` header: a
    template bound to the table (compared by value) reads the rows of every such table."""
    head = "[05/08 23:58:03 d2.evaluation.coco_evaluation]: Evaluation results for bbox: \n" \
           "|   AP   |  AP50  |  AP75  |\n|:------:|:------:|:------:|\n"
    text = "".join(f"iter {k}: loss {k}.5, time 1.0ms\n" + head + f"| {k}.344 | 59.{k}88 | 41.263 |\n" for k in range(40))
    seen = lines_read_in_python(text)
    assert sum(line.endswith("41.263 |") for line in seen) <= 3


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(_MD_LINES), st.sampled_from(["0.5", "38.344", "nan", "12"]),
                          st.sampled_from(["bbox", "segm"])), min_size=1, max_size=80), st.integers(1, 3))
def test_markdown_tables_read_the_same(lines, repeat):
    """Rows under tables of other names, column counts, titles and stages; rows with no table;
    headers, separators and other lines in between."""
    text = "".join(line.format(v=v, w=v[::-1], i=k, task=task) for k, (line, v, task) in enumerate(lines))
    assert_same(text * repeat)


def test_a_number_split_by_a_comma_is_verified_with_a_thousands_group():
    # A template learned on `tps: 5,33` (not a thousands group: 5) must not read `tps: 5,393`
    # (5393): a slot's variants include 3-digit runs, the length a thousands group needs.
    line = ("[rank0]:[titan] 2025-06-16 22:28:15,847 - root - INFO - \x1b[31mstep:  5  \x1b[32mloss:  8.83797  "
            "\x1b[34mtps: {}  \x1b[36mtflops: 259.62  \x1b[35mmfu: 26.25%\x1b[39m\n")
    assert_same(line.format("5,393") + line.format("5,33") + line.format("5,393"))


@needs_fastcore
def test_an_integer_part_longer_than_any_variant_is_admitted_only_at_its_length():
    """Variants try runs of up to FORM_MAX_TRIED digits: a slot learned on a longer integer part
    admits only that length. As FORM it admitted every shorter run, which another odd token of the
    line can hide from each variant: a hypothesis run learned pycocotools' row on mutated
    `IoU=<23 digits> | area= all | maxDets=0.5` (read by the generic reader: both break the
    format, each variant kept the other) and read the real `IoU=4024 ... maxDets=1000` as that."""
    store = TemplateStore()
    text = "".join(f"iter {k}: loss 0.{k}5, time 38.5ms, seen 123456789012{k % 10}\n" for k in range(10, 40))
    assert_same(text)
    parse([text], pure=False, templates=store)
    (spec,) = [spec for specs in store._by_key.values() for spec in specs]
    assert [level for level, _ in spec[2]] == [fastpath.FORM, fastpath.NUMBER, fastpath.NUMBER, fastpath.SHAPE]


KNOWN_DIFFERENCES = Path(__file__).parent / "known_differences"


@pytest.fixture
def own_body_shapes():
    """The formats' body shapes (learned for the whole process) put back afterwards: a mutated log
    can still teach one that reads a later line otherwise (the CatBoost case below), and must not
    change what the other tests read."""
    from parsing import formats

    saved = [(cf, {section: list(shapes) for section, shapes in cf.shapes.items()}) for cf in formats.FMTS]
    yield
    for cf, shapes in saved:
        cf.shapes = shapes


@needs_fastcore
def test_a_mutated_log_reads_the_same_but_for_the_known_catboost_lines(own_body_shapes):
    """Known, not reduced yet: on this randomly mutated log (lines cut, glued and shuffled across
    frameworks) fed in uneven chunks, the fast path reads best_avg from CatBoost's `best: 0.66
    (12)` line and the pure parser does not (likely a body shape learned from an earlier mutated
    CatBoost line, bodies.read_body). (A second such line, where best_avg repeats unchanged,
    differed until evaluation names were told by their prefix: whether the set of such names held
    best_avg yet depended on which lines Python had read, and C reads without adding to it.)
    Every other record must be the same: as a
    strict xfail this test hid any later difference (one template took mutated `2021-05-04
    150:03:09` for no timestamp and then stripped the timestamps of fairseq's real lines). Fix the
    known one and this fails: then assert_same the whole log."""
    import gzip

    text = gzip.decompress((KNOWN_DIFFERENCES / "mutated_mixed.log.gz").read_bytes()).decode("utf-8")
    rng, chunks, at = random.Random(len(text)), [], 0
    while at < len(text):
        n = rng.choice((1, 7, 100, 5000, 65536))
        chunks.append(text[at:at + n])
        at += n
    want, _, _ = parse([text], pure=True)
    got, _, _ = parse(chunks, pure=False, templates=None)  # (what other texts taught moves the lines that differ)
    assert len(got) == len(want)
    differ = [(g, w) for g, w in zip(got, want) if g != w]
    # (step, metrics, timestamp, line): the same but for best_avg, on CatBoost's `best:` line
    assert [(g[-1], [m for m in g[2] if m not in w[2]]) for g, w in differ] == [(2733, [("best_avg", "12.0")])], differ[:3]
    assert all(g[:2] + g[3:] == w[:2] + w[3:] for g, w in differ)


def test_a_label_holding_a_number_is_not_learned_as_fixed_text(own_body_shapes):
    # Formats learn body shapes for the whole process. A mutated line whose field reader took
    # `ppl 486.82` for a label (its value no number) taught a shape with that text fixed, which then
    # swallowed `ppl 486.82` where it is a field: every later parser lost fairseq's valid_ppl.
    import gzip

    text = gzip.decompress((KNOWN_DIFFERENCES / "mutated_mixed.log.gz").read_bytes()).decode("utf-8")
    parser = StreamParser(pure=True)
    rng, at = random.Random(len(text)), 0
    while at < len(text):
        n = rng.choice((1, 7, 100, 5000, 65536))
        parser.feed(text[at:at + n])
        at += n
    parser.finish()
    real = ("2021-05-04 10:02:52 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 9.342 | nll_loss 8.927 "
            "| ppl 486.82 | wps 45123.4 | wpb 3581.3 | bsz 140.2 | num_updates 1124 | best_loss 9.342\n")
    assert parse_text(real)[-1].metrics.get("valid_ppl") == 486.82


def _stale_bar_run(rng: random.Random, steps: int = 3000) -> str:
    """A fast Trainer-style run as one terminal shows it: a bar drawn every few steps, a dict
    every 10 (tqdm.write: clear, message, redraw), an evaluation dict at each 500."""
    bar = " {p:2d}%|#####     | {n}/{t} [00:01<00:01, 95.00it/s]"
    out = ["\r" + bar.format(p=0, n=0, t=steps)]
    for n in range(1, steps + 1):
        if rng.random() < 0.3:
            out.append("\r" + bar.format(p=100 * n // steps, n=n, t=steps))
        for message in ([f"{{'loss': {rng.uniform(1, 4):.4f}, 'learning_rate': 5e-05, 'epoch': {n / steps:.2f}}}"]
                        if n % 10 == 0 else []) + ([f"{{'eval_loss': {rng.uniform(1, 4):.4f}}}"] if n % 500 == 0 else []):
            out.append("\r" + " " * 48 + "\r" + message + "\n\r" + bar.format(p=100 * n // steps, n=n, t=steps))
    return "".join(out) + "\n"


@needs_fastcore
def test_messages_after_a_cleared_bar_read_the_same_in_c_and_python():
    """The clears, the dicts after them (their records wait for the redraw) and the redraws are
    read in C once learned; the records are the pure parser's, at the steps the redraws show."""
    text = _stale_bar_run(random.Random(5))
    seen = lines_read_in_python(text)  # checks the records against the pure parser
    steps = [r.step for r in parse_text(text) if "loss" in r.metrics]
    assert steps == list(range(10, 3001, 10))
    assert [r.step for r in parse_text(text) if "eval_loss" in r.metrics] == list(range(500, 3001, 500))
    assert not any(line.isspace() for line in seen)  # the clears: C
    lines = len(re.split(r"\r\n|\r|\n", text)) - 1
    assert len(seen) <= 30 and lines > 1500, (len(seen), lines)


@needs_fastcore
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.lists(st.integers(0, 10**7), max_size=40), st.booleans())
def test_stale_bar_runs_read_the_same_in_c_in_any_chunks(seed, cuts, as_bytes):
    """Records wait for a redraw across chunk ends (and are out as soon as it shows): in C, in
    any chunks, what the pure parser gives on the whole text."""
    rng = random.Random(seed)
    text = _stale_bar_run(rng, steps=rng.choice([200, 1200]))
    if rng.random() < 0.5:  # some messages without a redraw, some with text in between
        text = text.replace("\n\r 5", "\nSaving checkpoint\n\r 5").replace("\n\r 2", "\n\r 0%|#####     | 0/9 [00:01<00:01, 95.00it/s]\n\r 2")
    points = sorted({c % (len(text) + 1) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0] + points, points + [len(text)])]
    if as_bytes:
        chunks = [c.encode("utf-8") for c in chunks]
    assert_same(text, chunks, as_bytes=as_bytes)


_G_LINES = ["2021-05-04 09:59:{s:02d} | INFO | train_inner | epoch 001:    {i} / 1124 loss={a}, nll_loss={b}, "
            "ppl={a}, wps={b}, ups={a}, lr={b}, gnorm={a}, train_wall={b}, wall={i}\n",
            "iter {i}: loss {a}, time {b}ms, mfu {a}%\n", "step {a}: train loss {b}, val loss {a}\n",
            "{{'loss': {a}, 'grad_norm': {b}, 'learning_rate': {a}, 'epoch': {b}}}\n",
            "| {a} | {b} | {i} |\n", "Epoch {a}/{i}\n", "epoch={a} step={b} loss={a}\n", "v{a}.{b} ready\n",
            "step {i} loss {a} lr {b}\n", "epoch {i} iter {i} loss {a} grad norm {b}\n", "step {i} of {i}\n",
            "Iter {i}: Train loss {a}, Learning Rate {b}, It/sec {a}\n", "Iter {i}: Val loss {a}, Val took {b}s\n",
            "[train.py:{i}] step: {i} loss: {a}\n", "INFO (main:{i}): step {i} loss: {a} (ema:{i})\n",
            "[2024-01-01 10:00:{s:02d},123][__main__][INFO] - step {i} loss {a}\n", "global_step={i}, episodic_return={a}\n"]


@needs_fastcore
def test_values_printed_as_integers_or_decimals_are_read_in_c():
    """fairseq prints a value `%g`-like: `wps=16707` on one line, `wps=16844.1` on the next. A slot
    a metric is read from admits either (NUMBER), so one template reads the line however its
    values happen to print, not one template per mix of integers and decimals."""
    rng = random.Random(5)
    values = ["16707", "16844.1", "4", "4.03", "137.2", "139", "0.5", "12"]
    text = "".join(_G_LINES[0].format(s=k % 60, i=100 * k, a=rng.choice(values), b=rng.choice(values))
                   for k in range(1, 80))
    slow, lines = slow_lines(text)
    assert slow < lines * 0.2


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(_G_LINES), st.sampled_from(["0", "7", "12", "4.1", "16707", "16844.1", "0.25",
                                                                       "123456789", "1234567890", "1.5e-04", "nan"]),
                          st.sampled_from(["3", "3.0", "2.64", "99999", "0.000001"])), min_size=1, max_size=60),
       st.integers(1, 3))
def test_integers_and_decimals_in_any_slot_read_the_same(lines, repeat):
    """A token that is an integer on one line and a decimal on the next: in a metric's slot (either
    reads), in a step's or an epoch header's (only an integer is one), in a version."""
    text = "".join(line.format(s=k % 60, i=k, a=a, b=b) for k, (line, a, b) in enumerate(lines))
    assert_same(text * repeat)


_METRICS_BLOCK = ("***** {part} metrics *****\n  epoch                    =        {e}\n"
                  "  total_flos               =  {f}GF\n  {part}_loss               =     {v}\n"
                  "  {part}_runtime            = 0:04:{s:02d}.23\n  {part}_samples            =       2318\n"
                  "  {part}_samples_per_second =     {w}\n")


@needs_fastcore
def test_rows_of_a_block_of_no_format_are_read_in_c():
    """transformers' `***** train metrics *****` opens a block of no format; its `  name = value`
    rows are read in C by templates bound to the block's row regex, `train_runtime = 0:04:50.23`
    (a duration in three tokens) among them. (The line that ends the block is read in Python.)"""
    rng = random.Random(3)
    text = "".join(_METRICS_BLOCK.format(part=rng.choice(["train", "eval"]), e=f"{k}.0", f=rng.randrange(10**6),
                                         v=f"{rng.random() * 4:.4f}", s=k % 60, w=f"{rng.random() * 90:.3f}")
                   + "iter 5: loss 2.5, time 1.0ms\n" for k in range(60))
    seen = lines_read_in_python(text)
    assert sum(line.startswith("  ") for line in seen) <= 20  # of 360: the two misses of each key that teach it
    assert sum("runtime" in line for line in seen) <= 4  # of 60


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(["0", "1", "23", "999999", "1234567", "00", "07"]),
                          st.sampled_from(["04", "4", "59", "60", "99", "004", "00"]),
                          st.sampled_from(["50.23", "5.23", "50", "09.5", "59.123456789", "59.1234567891", "7",
                                           "50e3", "00.00"]),
                          st.sampled_from(["", "1 day, ", "2 days, "])), min_size=1, max_size=30))
def test_durations_read_the_same(durations):
    """`h:mm:ss.ff` rows (a Trainer block's `train_runtime`): any digit counts, days, exponents."""
    text = "".join(f"***** train metrics *****\n  train_loss = 0.{k}\n  train_runtime            = {d}{h}:{m}:{sec}\n"
                   f"  train_samples = 5\niter {k}: loss 2.5, time 1.0ms\n" for k, (h, m, sec, d) in enumerate(durations))
    assert_same(text * 3)


@needs_fastcore
def test_a_line_that_opens_a_block_is_read_in_c():
    """pycocotools' first `Average Precision` row and transformers' `***** eval metrics *****`
    open a block where none is open (no timestamp, no rank): C opens it as StreamParser does,
    the first row's metric in it."""
    rng = random.Random(5)
    coco = "".join("".join(row.format(f"0.{rng.randrange(1000):03d}") for row in _COCO_ROWS) + "Evaluation done.\n"
                   for _ in range(40))
    trainer = "".join(_METRICS_BLOCK.format(part=part, e=f"{k}.0", f=rng.randrange(10**6), v=f"{rng.random() * 4:.4f}",
                                            s=k % 60, w=f"{rng.random() * 90:.3f}") + "iter 5: loss 2.5, time 1.0ms\n"
                      for k in range(40) for part in ("train", "eval"))
    seen = lines_read_in_python(coco + trainer)
    assert sum(line.startswith(_COCO_ROWS[0].format("").rstrip("\n")) for line in seen) <= 5  # of 40
    assert sum(line.startswith("*****") for line in seen) <= 5


_BLOCK_LINES = ["***** train metrics *****\n", "***** eval metrics *****\n", "  epoch = {v}\n", "  train_loss = {v}\n",
                "  eval_loss               =     {v}\n", "  total_flos = {v}GF\n", "  train_runtime = 0:04:{i}.23\n",
                "  step = {v}\n", "  loss = n/a\n", "  {v} = {v}\n", "  Average Precision  (AP) @[ IoU=0.50 | area=   all | "
                "maxDets=100 ] = {v}\n", "iter {i}: loss {v}, time 1.0ms\n", "[batch={i}/100]\n", "  Train loss: {v}\n",
                "\n", "  \n"]


# blocks (a Trainer's metrics block, with a step of its own or none; pycocotools' rows) and what
# ends them: a format's line, a dict, a bar, a logger line, blank lines, ranks, timestamps
_FLUSHED = ["***** train metrics *****\n  epoch = {e}\n  train_loss = 0.{v}\n",
            "***** eval metrics *****\n  epoch = {e}\n  eval_loss = 0.{v}\n  eval_accuracy = 0.5\n",
            "***** eval metrics *****\n  epoch = {e}\n",
            "***** Running Evaluation at step {v} *****\n  eval_loss = 0.{v}\n",
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.{v}\n"
            " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.5\n",
            "05/02/2024 09:18:56 - INFO - __main__ - *** Evaluate ***\n",
            "03/25 10:13:48 - mmengine - INFO - bbox_mAP_copypaste: 0.{v} 0.389 0.214 0.118 0.237 0.271\n",
            "03/25 10:13:48 - mmengine - INFO - Epoch(val) [{e}][8/8]    coco/bbox_mAP: 0.{v}  data_time: 0.0150\n",
            "[rank1]: *** Evaluate ***\n", "{{'eval_loss': 0.{v}, 'epoch': {e}.0}}\n", "iter {v}: loss 0.{e}, time 1.0ms\n",
            " {e}%|█▏        | {e}/870 [00:33<04:16,  3.00it/s]\n", "Training completed.\n", "\n", "                \n",
            "Epoch {e}/3\n", "{e}0/100 ━━━━━━━━━━━━━━━━━━━━ 1s 4ms/step - loss: 0.{v}\n", "  train_loss = 0.{v}\n"]


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(_FLUSHED), st.integers(0, 99), st.integers(0, 9)), min_size=1, max_size=60),
       st.integers(1, 3))
def test_lines_that_end_a_block_read_the_same(lines, repeat):
    """A line that is no row of the open block ends it (its record: step, stale values, only an
    epoch left) and is read on: C does both where verified to (such lines studied at once here)."""
    text = "".join(line.format(v=v, e=e) for line, v, e in lines)
    with mock.patch.object(fastpath, "_FLUSH_ASKS", 0):
        assert_same(text * repeat)


@needs_fastcore
def test_lines_that_end_a_block_are_read_in_c(monkeypatch):
    # (studied once a key asks twice in a block here; by default only after 128 of its lines ended
    # blocks: see _FLUSH_ASKS)
    monkeypatch.setattr(fastpath, "_FLUSH_ASKS", 1)
    rng = random.Random(9)
    trainer = "".join(f"iter {k}: loss 2.{k}, time 1.0ms\n***** eval metrics *****\n  epoch = {k}.0\n"
                      f"  eval_loss = 0.{rng.randrange(1000)}\n05/02/2024 09:18:56 - INFO - __main__ - *** Evaluate ***\n"
                      for k in range(40))
    coco = "".join("".join(row.format(f"0.{rng.randrange(1000):03d}") for row in _COCO_ROWS)
                   + f"03/25 10:13:48 - mmengine - INFO - bbox_mAP_copypaste: 0.{k} 0.389 0.214 0.118 0.237 0.271\n"
                   for k in range(40))
    seen = lines_read_in_python(trainer + coco)
    assert sum("Evaluate" in line for line in seen) <= 4  # of 40
    assert sum("copypaste" in line for line in seen) <= 4  # of 40


@needs_fastcore
def test_a_key_that_ends_blocks_now_and_then_costs_no_study(monkeypatch):
    flushes, studied = [], []
    monkeypatch.setattr(fastpath._Study, "_flushing", lambda self, spec: flushes.append(spec) or spec)
    template = fastpath._Study.template
    monkeypatch.setattr(fastpath._Study, "template", lambda self: studied.append(self.data) or template(self))
    text = "".join(f"iter {k}: loss 2.{k}, time 1.0ms\n***** eval metrics *****\n  eval_loss = 0.{k}\n" for k in range(100))
    seen = lines_read_in_python(text)
    assert sum(line.startswith("iter") for line in seen) > 90  # it ends each block: Python reads it there
    assert flushes == []  # and no study of it there (100 lines: fewer than a study costs)
    # nor a run to find out that it ends the block, which the parser's own read showed (C asks
    # from a key's second miss: each of its asks here is in a block)
    assert not [line for line in studied if line.startswith(b"iter")]


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(_BLOCK_LINES), st.sampled_from(["3.0", "2318", "0.4336", "nan", "1e-05", "12"])),
                min_size=1, max_size=80), st.integers(1, 3))
def test_blocks_of_no_format_read_the_same(lines, repeat):
    """Rows of transformers' metrics blocks and of other headers' blocks (another row regex), rows
    of no value, blank lines that end a block, rows where no block is open."""
    text = "".join(line.format(v=v, i=k) for k, (line, v) in enumerate(lines))
    assert_same(text * repeat)


_COPYPASTE = ("[05/08 23:58:{s:02d} d2.evaluation.testing]: copypaste: Task: {task}\n"
              "[05/08 23:58:{s:02d} d2.evaluation.testing]: copypaste: AP,AP50,AP75,APs,APm,APl\n"
              "[05/08 23:58:{s:02d} d2.evaluation.testing]: copypaste: {v},59.4821,41.9318,22.6123,42.1180,{w}\n")


@needs_fastcore
def test_lines_that_set_unmodelled_state_are_read_in_c():
    """detectron2's copypaste task, names and values and its markdown tables' titles, headers and
    separators set state no template models (_copy_task, _copy_names, _table_title, _table): a
    template bound to the state its line was read in (aux_state) sets it as the line did there."""
    table = ("[05/08 23:57:59 d2.evaluation.coco_evaluation]: Evaluation results for {task}: \n"
             "|   AP   |  AP50  |  AP75  |\n|:------:|:------:|:------:|\n| {v} | 59.688 | {w} |\n")
    rng = random.Random(2)
    text = "".join((table + _COPYPASTE).format(task=task, s=k % 60, v=f"{rng.random() * 50:.4f}",
                                              w=f"{rng.random() * 50:.3f}")
                   + f"iter {k}: loss {k}.5, time 1.0ms\n" for k in range(60) for task in ("bbox", "segm"))
    seen = lines_read_in_python(text)
    assert len(seen) < text.count("\n") * 0.1, seen[:20]


_AUX_LINES = ["[05/08 23:58:03 d2.evaluation.testing]: copypaste: Task: {task}\n",
              "[05/08 23:58:03 d2.evaluation.testing]: copypaste: AP,AP50,AP75,APs,APm,APl\n",
              "[05/08 23:58:03 d2.evaluation.testing]: copypaste: AP,AP{i}\n",
              "[05/08 23:58:03 d2.evaluation.testing]: copypaste: {v},59.4821,41.9318,22.6123,42.1180,{v}\n",
              "[05/08 23:58:03 d2.evaluation.testing]: copypaste: {v},{v}\n",
              "[05/08 23:58:03 d2.evaluation.coco_evaluation]: Evaluation results for {task}: \n",
              "|   AP   |  AP50  |  AP75  |\n", "|   AP   |  AP{i}  |\n", "|:------:|:------:|:------:|\n",
              "|:------:|:------:|\n", "| {v} | 59.688 | {v} |\n", "| {v} | {v} |\n", "-" * 41 + "\n",
              "| rollout/           |          |\n", "|    ep_len_mean     | {v}      |\n",
              "Epoch  train_loss  valid_loss  accuracy\n", "{i}  {v}  {v}  0.5\n", "iter {i}: loss {v}, time 1.0ms\n", "\n"]


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(_AUX_LINES), st.sampled_from(["0.5", "38.344", "nan", "12"]),
                          st.sampled_from(["bbox", "segm"])), min_size=1, max_size=80), st.integers(1, 3))
def test_lines_that_set_unmodelled_state_read_the_same(lines, repeat):
    """Copypaste tasks, names of other lengths and values with and without names; markdown, box and
    column tables opened, read and ended among them."""
    text = "".join(line.format(v=v, i=k, task=task) for k, (line, v, task) in enumerate(lines))
    assert_same(text * repeat)


_MANY_NAMES = "".join(f"layer{k}/grad_norm: {k}.5\n" for k in range(300))
_STALE_LINES = ["Epoch 1:  25%|██▌       | {n}/1000 [00:05<00:15, 48.46it/s, v_num=3, train_loss_step={v}, "
                "val_loss={w}, val_acc=0.818]\n", "{{'eval_loss': {w}, 'eval_accuracy': 0.75, 'epoch': 2.0}}\n",
                "{{'loss': {v}, 'learning_rate': 1e-05, 'epoch': 2.0}}\n", "step {n}: train loss {v}, val loss {w}\n",
                "layer{n}/grad_norm: {v}\n", "iter {n}: loss {v}, time 1.0ms\n"]


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.sampled_from(_STALE_LINES), st.sampled_from(["0.5", "0.25", "nan"]),
                          st.sampled_from(["0.976", "0.5", "nan"]), st.integers(0, 400)), min_size=1, max_size=60),
       st.integers(1, 3))
def test_a_log_of_many_names_reads_the_same(lines, repeat):
    """After hundreds of metric names a study runs on a state that keeps only the last values and
    shapes its line reads (_trimmed): evaluation values reprinted (stale) or new, bars and dicts
    among lines of other names read as the pure parser reads them."""
    text = _MANY_NAMES + "".join(line.format(v=v, w=w, n=n) for line, v, w, n in lines)
    assert_same(text * repeat)


def test_a_token_whose_length_matters_only_with_the_others_as_they_are_is_narrowed():
    """Mutated `2021-05-04 150:03:09` is no logging timestamp (a 3-digit hour) and `10:03:09` is
    one. Changed with every other token at once, no variant is a timestamp either way: each token is
    also tried alone, the others as they are, so the template learned on the mutated line does not
    take the real ones (it stripped their timestamps)."""
    line = ("2021-05-04 {h}:03:09 | INFO | train_inner | epoch 002:     76 / 1124 loss={v}, nll_loss=9.163, "
            "ppl=573.27, wps=17702.3, ups=4.86, wpb=3650.9, bsz=143.8, num_updates={n}, lr=0.00015, gnorm=1.497\n")
    text = "".join(line.format(h=h, v=f"{k}.283", n=1200 + k) for k, h in enumerate(["150", "150", "10", "11", "150", "12"]))
    assert_same(text * 3)


# Every line pool above, and the lines of the sample and test texts.
_MIXED_POOLS = [_FILLED, _NO_TOTAL, _COCO_ROWS, _GLUED_RESTS, _ASIDE_OPENERS, _ASIDE_READERS, _BOX_LINES, _MD_LINES,
                _G_LINES, _BLOCK_LINES, _FLUSHED, _AUX_LINES, _STALE_LINES, _DRAWN_LINES]
_SAMPLE_LINES = [line for text in TEXTS for line in re.findall(r"[^\n]*\n", text)]
_VALUES = st.sampled_from(["0", "1", "0.5", "0.25", "0.724", "12.5", "16707", "4.1"])
_FIELDS = st.fixed_dictionaries({
    "n": st.sampled_from([0, 1, 2, 5, 37, 999, 1000, 1999]), "e": st.integers(0, 12), "i": st.integers(0, 500),
    "s": st.integers(0, 59), "p": st.integers(0, 100), "k": st.integers(0, 3), "v": _VALUES, "w": _VALUES,
    "a": _VALUES, "b": _VALUES, "f": st.sampled_from(["", "█", "███", "█████▌"]),
    "task": st.sampled_from(["bbox", "segm"]), "part": st.sampled_from(["train", "eval"]), "redraw": st.integers(0, 3)})


def _mixed_line(pool: int, k: int, fields: dict) -> str:
    if pool == len(_MIXED_POOLS):  # a sample line as it is, or with its digits redrawn
        line = _SAMPLE_LINES[k % len(_SAMPLE_LINES)]
        return redrawn(line, k) if fields["redraw"] else line
    line = _MIXED_POOLS[pool][k % len(_MIXED_POOLS[pool])]
    try:
        return line.format(fields["v"], **fields)  # (pycocotools' rows take their value by place)
    except (KeyError, IndexError, ValueError):
        return ""


@needs_fastcore
@DIFF
@given(st.lists(st.tuples(st.integers(0, len(_MIXED_POOLS)), st.integers(0, 10**6), _FIELDS), min_size=1, max_size=60),
       st.integers(1, 3))
def test_lines_of_every_kind_mixed_read_the_same(picks, repeat):
    """Lines of every pool above and of the sample logs, mixed (a table's row after a bar, a block's
    row in a dict's context), read with the module's store: each kind of line meets the templates
    the others taught, in contexts no pool makes alone. A longer fuzz of this kind (thousands of
    texts of up to 120 lines, one store) found shapes that read otherwise than the field reader
    (test_stream.test_a_learned_shape_reads_a_line_as_the_field_reader_does)."""
    assert_same("".join(_mixed_line(pool, k, fields) for pool, k, fields in picks) * repeat)


# ---- parsers in threads -------------------------------------------------------------------------
@needs_fastcore
def test_parsers_learning_in_threads_read_each_log_as_alone():
    """One parser per thread, each on its own log, learning at the same time into one store (what
    a process's parsers share): each gives the pure parser's records, and the parser module is left
    as it was. A study used to swap the module's timestamp function and cache for its own while it
    ran: a parser made meanwhile kept the study's function in its engine for good (every timestamp
    it read noted in that study's list), and two studies at once could leave either in place."""
    from tests.parsing.conftest import LOGS
    if LOGS is None:
        pytest.skip("shared/logs not found")
    texts = [redrawn(p.read_text(encoding="utf-8", errors="replace"), k) * 2
             for k, p in enumerate(sorted(LOGS.glob("*.log")))]
    stamp, cache = parsing.parser._timestamp, parsing.parser._TS_BASES
    store = TemplateStore()
    got: dict[int, list] = {}

    def read(k: int) -> None:
        rng = random.Random(k)
        parser, out, text, at = StreamParser(templates=store), [], texts[k], 0
        while at < len(text):  # in chunks, so that the threads take turns mid-log
            step = rng.randrange(1, 2000)
            out += parser.feed(text[at:at + step])
            at += step
        got[k] = [fastpath.record_key(r) for r in out + parser.finish()]
        assert parser._engine is not None

    threads = [threading.Thread(target=read, args=(k,)) for k in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert parsing.parser._timestamp is stamp and parsing.parser._TS_BASES is cache
    assert StreamParser._stamp is stamp
    for k, text in enumerate(texts):
        assert got[k] == parse([text], pure=True)[0], k
    assert len(store) > 0

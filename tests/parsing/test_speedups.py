"""Rewrites made for speed decide exactly what the plain forms they replace decide."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsing import patterns as P
from parsing.bodies import _spaced_fields

FAST = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# METRIC_WORDS as it was written before by_first_letter
FLAT_METRIC_WORDS = re.compile(
    r"(?<![a-z])(?:loss|lr|learning|g?norm|acc|accuracy|ppl|perplexity|reward|rewards|kl|entropy|f1"
    r"|bleu|rouge\w{0,4}|auc|map|wer|cer|err|error|mse|mae|rmse|score|mfu|tflops|tps|throughput"
    r"|tokens|samples|precision|recall|iou|miou|dice|bpb|bpc|nll|logloss|mlogloss|l1|l2|ndcg|merror|xent)(?![a-z])"
)
WORDS = ["loss", "lr", "learning", "gnorm", "norm", "acc", "accuracy", "ppl", "reward", "rewards", "kl", "f1", "rouge",
         "rouge1", "rougelsum", "rouge_l", "map", "err", "error", "mse", "rmse", "miou", "iou", "l1", "l2", "logloss",
         "mlogloss", "merror", "xent", "dice", "ndcg", "tflops"]
# words, pieces of words and the characters around them that decide a match
texts = st.lists(st.one_of(st.sampled_from(WORDS), st.text("abcdefglmorsux_ 012:=/.(Lé\t", max_size=4)),
                 max_size=8).map("".join)


@FAST
@given(texts)
def test_metric_words_match_where_the_flat_alternation_matches(text):
    for s in (text, text.lower()):
        assert (P.METRIC_WORDS.search(s) is None) == (FLAT_METRIC_WORDS.search(s) is None)


def plain_spaced_fields(body: str, sep: str, label_sep: str | None) -> list[tuple[str, int, int]]:
    """bodies._spaced_fields as it was written before its label test looked at one character."""
    fields = []
    off = 0
    for seg in body.split(sep):
        i = seg.find(label_sep) if label_sep else -1
        if i >= 0 and not seg[:i].rstrip()[-1:].isdigit():
            fields.append((seg[:i], off + i + len(label_sep), off + len(seg)))
        else:
            start = i + len(label_sep) if i >= 0 else 0
            core = seg.rstrip()
            j = core.rfind(" ")
            if j > start:
                fields.append((core[start:j].lstrip(), off + j + 1, off + len(core)))
        off += len(seg) + len(sep)
    return fields


@FAST
@given(st.text("ab1 2,:=|\t\u00a0\u0663x.", max_size=30))
def test_spaced_fields_split_as_before(body):
    for sep, label_sep in (("|", ":"), (", ", None), (", ", "="), (" | ", ": ")):
        assert _spaced_fields(body, sep, label_sep) == plain_spaced_fields(body, sep, label_sep)


def test_a_format_lead_is_text_every_match_starts_with():
    """Fmt.lead lets _line skip a format's regex: it must be text every match starts with."""
    from parsing.formats import FMTS, literal_lead
    assert literal_lead(r"Epoch\((?P<section>\w{1,16})\)") == "Epoch("
    assert literal_lead(r"Epoch: \[(?P<epoch>\d)") == "Epoch: ["
    assert literal_lead(r"(?i)Epoch \d") == ""  # case-insensitive: `epoch 1` matches too
    assert literal_lead(r"(?:iter|step) \d") == ""
    assert literal_lead(r"Epoch|Iter") == ""
    for cf in FMTS:
        assert cf.lead == "" or (len(cf.lead) > 4 and cf.lead == literal_lead(cf.fmt.head))


LABELS = ["loss", "lr", "val_acc", "step", "eta", "Step 3", "it", "grad norm", "x", "", "1", "a: b"]
VALUES = ["1.5", "-2e-3", "nan", "71.2GiB(74.9%)", "0.28s,  912.88/s  (0.306s,  835.26/s)", "5,417", "0:04:50.23", "x",
          "1 ", "", "3/10", "6.72 (6.81)"]
# `label<sep>value<gap>...`: what pipe, comma, eq and colon bodies look like, and what they must survive
fields = st.tuples(st.sampled_from(LABELS), st.sampled_from([": ", "=", " ", ":", ":  "]), st.sampled_from(VALUES),
                   st.sampled_from([" ", "  ", ", ", " | ", "|", " - ", ""])).map("".join)
bodies = st.one_of(st.text("ab1 2,:=|\t.e-nlosr_%()G", max_size=40), st.lists(fields, max_size=8).map("".join))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies, st.sampled_from(["pipe", "comma", "eq"]), st.booleans())
def test_one_pass_readers_read_what_read_fields_reads(body, style, sectioned):
    """parse_fields' one-pass reader (read_spaced) against the split-then-read it replaces: the
    same metrics in the same order, the same step."""
    from parsing.bodies import FIELDS, GLUED_STYLES, parse_fields, read_fields
    from parsing.formats import GENERIC
    section = "val" if sectioned else None
    want: dict = {}
    want_step = read_fields(GENERIC, section, body, FIELDS[style](body), style in GLUED_STYLES, want)
    got: dict = {}
    got_step = parse_fields(GENERIC, style, body, section, got)
    assert list(got.items()) == list(want.items()) or repr(got) == repr(want)
    assert got_step == want_step


def plain_field_value(text):
    """bodies.field_value as it was before its letters-only shortcut."""
    from parsing.bodies import DURATION_RX
    from parsing.values import to_float
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    vm = P.VALUE_GROUP.match(text)
    if vm is not None:
        return to_float(vm.group("num"))
    dm = DURATION_RX.match(text)
    if dm is not None:
        days, h, mnt, sec = dm.groups()
        return (int(days or 0) * 24 + int(h)) * 3600 + int(mnt) * 60 + float(sec)
    return None


@FAST
@given(st.one_of(st.text("aAnNiIfFtyxé٣ 1.e_'\"[%", max_size=12),
                 st.sampled_from(["nan", "NaN", "Infinity", "inf", "iNF", "AP", "APs", "Loss", "infinity", "é"])))
def test_field_value_reads_as_before(text):
    from parsing.bodies import field_value
    assert repr(field_value(text)) == repr(plain_field_value(text))


@FAST
@given(st.lists(st.sampled_from(["\x1b[A", "\x1b", "[A", "\x1b[", "A", "x", "\x1b[1A", "█", "\n"]), max_size=20).map("".join))
def test_cursor_up_is_replaced_as_str_replace_does(text):
    from parsing.parser import _CURSOR_UP, _NESTED
    assert _CURSOR_UP.sub(_NESTED, text) == text.replace("\x1b[A", _NESTED)


def test_a_learned_whole_line_serves_lines_of_other_first_characters():
    """Whole lines are learned by their first two characters: a log crossing a month (`09/30` ->
    `10/01`) reads the second month's lines by the line it learned in the first, with the same records."""
    from parsing import StreamParser, parse_text
    line = ("{d} 09:13:20 - mmengine - INFO - Epoch(train)  [1][ {i}/7330]  base_lr: 2.4593e-02 lr: 4.1e-03  "
            "eta: 1 day, 0:29:36  time: 0.4596  data_time: 0.2586  memory: 4129  grad_norm: 7.6478  loss: 1.{i}\n")
    text = "".join(line.format(d="09/30", i=i) for i in range(1, 50)) + "".join(line.format(d="10/01", i=i) for i in range(50, 99))
    parser = StreamParser(pure=True)
    records = parser.feed(text) + parser.finish()
    assert len(records) == 98 and records[-1].step == 98 and records[-1].metrics["loss"] == 1.98
    assert [fl.cf.fmt.name for fl in parser._fast["10"]] == ["mmengine"]
    assert records == parse_text(text)

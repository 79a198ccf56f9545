"""The compiled fast path: line templates learned here from what `StreamParser._line` does, applied in C.

Lines that differ only in their numbers (`iter 2750: loss 4.0404, time 38871.18ms`) share a *key*:
the line with each number token (`[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?`) replaced by a NUL byte.
When a key misses the C table a few times, the line that missed is studied on copies of the parser
as it was before the line:

1. what the full parser did: nothing; only forget the bar context (`_attach = None`); one record
   with a step of its own (a format or generic line); a progress-bar move; or a metric added to
   the open block (pycocotools' rows, a Trainer metrics block's); a block opened (its header, or
   a format's first row) with no timestamp or rank; an epoch header (Keras' `Epoch 3/10`); a
   dashed rule that opens a box; any of these that also sets a table's title, header or stage or
   copypaste's task and names (`aux_state`: then bound to that state as it was); any of these read
   after ending an open block (then studied after its flush, and bound to its format where verified
   flushing it: _flushing). Anything else (a failure, a box's rows, any other context touched) is
   not learned: such lines stay with Python.
2. which token feeds what (studied where the last values and shapes are only the line's own:
   `_trimmed`): each token is changed alone and the full parser run again; the step,
   each metric value and the timestamp are matched to the tokens that changed them, as C will
   compute them (int of a token, `(epoch - base) * total + pos`, float of tokens or a duration's
   seconds, the timestamp text handed to `parser._timestamp`).
3. which tokens a template admits: any integer or decimal (a metric's value, which a log may print
   as `16707` on one line and `16844.1` on the next), the same form (each run of digits up to a
   length), the same digit shape, or only this token.
4. the template is applied by C and the full parser is run on many variants of the line (each
   token alone, all tokens at once, zeros, other lengths, fractions) and in several contexts;
   records and the whole context afterwards must be identical, else the admitted tokens are
   narrowed or the template is dropped.

Nothing learned here changes the parser's own state: every run is on a copy, and the timestamp
cache is overlaid. See parsing/README.md (Fast path).
"""
from __future__ import annotations

import copy
import functools
import itertools
import logging
import operator
import random
import re
import threading
from dataclasses import dataclass

from parsing import parser as _parser
from parsing import tables as _tables
from parsing.formats import EVALISH_PREFIXES, FMTS, GENERIC
from parsing.records import ParseStats, Record

try:
    from parsing import _fastcore
except ImportError:  # no compiler at install time: the pure-Python parser does everything
    _fastcore = None

log = logging.getLogger(__name__)

NUMBER, FORM, SHAPE, EXACT = range(4)  # which tokens a slot admits (the C enum): see _fastcore.c
NOOP, DETACH, RECORD, BAR, BLOCKROW, HEADER, RULE, BLOCKOPEN = range(8)  # what a template does (the C enum)
ST_SLOT, ST_EPT, ST_CTX, ST_NULL = 1, 2, 3, 4
# parser state no template models (the C enum): an open table, copypaste names; a template applies
# in it only when verified there (a format's line: _line reads formats before an open table);
# ASIDE_CLOSE: in an open markdown table the line closes it, then reads as without one;
# ASIDE_CLOSE_BOX: the same in an open box that holds no row yet (closing it emits nothing)
ASIDE_TABLE, ASIDE_COPY, ASIDE_CLOSE, ASIDE_CLOSE_BOX = 1, 2, 4, 8

TOKEN = re.compile(rb"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
# a tqdm bar's fill between its `|`s (block elements, then spaces; FILL_MAX characters at most): one
# \x01 in a key, as _fastcore's bar_fill makes it, so that a filling bar keeps its key
FILL_MAX = 100
_FILL = re.compile(rb"(?<=\|)(?:\xe2\x96[\x88-\x8f])+ *(?=\|)")
_GLYPH = "\u2588\u2589\u258a\u258b\u258c\u258d\u258e\u258f".encode()
_RUN = re.compile(rb"[0-9]+")
FORM_MAX_TRIED = 9  # the longest digit run variants() tries in a slot of the FORM level
# a token a NUMBER slot admits (_fastcore.c is_number): digits, maybe a fraction, runs up to 9
_NUMBER = re.compile(rb"[0-9]{1,9}(?:\.[0-9]{1,9})?")
_JOINT_VARIANTS = 8
# a key whose templates keep missing (a token that must be exact keeps changing: pycocotools'
# `IoU=0.50:0.95` where a log redraws it) is learned again only once its templates read this many
# lines each: learning one costs about what Python spends on a few hundred lines
_PAYBACK_LINES = 100
# a line that ends an open block is studied once its key ended 128 blocks (C asks on the 2nd, 4th,
# ..., 2**k-th miss; this many asks first): such a study costs what Python spends on about a thousand
# lines (the flush verified on every variant), and a key may end blocks only now and then (in a log
# of several frameworks any line may follow one; a real closer prints once per evaluation)
_FLUSH_ASKS = 6
_SENTINEL_ATTACH = 987_654_321
_FORMATS = FMTS + (GENERIC,)
_BAR_STATE = ("_bar_total", "_bar_n", "_bar_done", "_bar_epoch", "_expect_train_bar", "_header_epoch")


# tables of each kind, open (what _table holds), for the verification of ASIDE_TABLE
_OPEN_TABLES = (
    {"kind": "markdown", "names": ["AP", "AP50"], "stage": "rows", "title": None},
    {"kind": "markdown", "names": ["AP", "AP50"], "stage": "header", "title": "bbox"},
    {"kind": "box", "rows": [(None, "loss", "0.5")], "section": None, "ts": None, "line": 1},
    {"kind": "columns", "names": _tables.column_header("Epoch  train_loss  valid_loss  accuracy")},
)
# boxes that hold no row yet, for the verification of ASIDE_CLOSE_BOX
_EMPTY_BOXES = (
    {"kind": "box", "rows": [], "section": None, "ts": None, "line": 1},
    {"kind": "box", "rows": [], "section": "train", "ts": 1.7e9, "line": 3},
)


# the keys of a block StreamParser opens (_block_header, _block_row_line), in their order
_OPENED_BLOCK = ("row", "cf", "ts", "rank", "line", "metrics", "step")


def _opened_block(row, cf, lineno: int, metrics: dict) -> dict:
    """A block opened with no timestamp, rank or step, as _block_state shows it (what C makes)."""
    return {"row": id(row), "cf": id(cf), "ts": None, "rank": None, "line": lineno, "metrics": _Floats(metrics),
            "step": None}


def _opened_box(lineno: int) -> dict:
    """The box a dashed rule with no timestamp opens (StreamParser._box_line), as C makes it."""
    return {"kind": "box", "rows": [], "section": None, "ts": None, "line": lineno}


def _empty_box(table: dict | None) -> bool:
    """An open box that holds no row yet: closing it emits nothing (what ASIDE_CLOSE_BOX closes)."""
    return table is not None and table.get("kind") == "box" and table.get("rows") == []


def aside(p) -> int:
    """The ASIDE_* states the parser is in."""
    return (ASIDE_TABLE if p._table is not None else 0) | (ASIDE_COPY if p._copy_names is not None else 0)


def available() -> bool:
    """Whether the C extension was built (pip builds it wherever a C compiler is found)."""
    return _fastcore is not None


def new_engine(stamp=None):
    """An engine; `stamp`: the timestamp function it calls (a study's, else the parser module's)."""
    return _fastcore.Engine(Record, stamp or _parser._timestamp, EVALISH_PREFIXES)


class _Table:
    """The open table a row template is bound to, in a template's (hashable) spec."""

    __slots__ = ("d",)

    def __init__(self, d: dict) -> None:
        self.d = d


class _Aux:
    """The unmodelled state an aux template applies in and leaves (see aux_state), in a spec."""

    __slots__ = ("pre", "post")

    def __init__(self, pre: tuple, post: tuple) -> None:
        self.pre, self.post = pre, post


def aux_state(p) -> tuple:
    """(_table, _table_title, _copy_task, _copy_names): the state no template models, which a
    line may set (a table's title, header and separator rows; detectron2's copypaste task, names
    and values). A template of such a line applies only where these equal what it was learned in,
    and sets them as the line did there (_fastcore.c: aux_pre, aux_post)."""
    return (p._table, p._table_title, p._copy_task, p._copy_names)


_AUX_KEYS = frozenset({"table", "table_title", "copy"})  # their snapshot keys


def _constant_table(table: dict | None) -> bool:
    """No table, or one that holds nothing of the line that opened it: a markdown or column table
    (a box holds its line number and timestamp: a template cannot set it, nor would one bound to
    it ever apply again)."""
    return table is None or table.get("kind") in ("markdown", "columns")


def add(engine, spec: tuple) -> bool:
    """engine.add of a spec (its table, when it has one, as the dict C compares _table with; its
    aux states as tuples; the block it flushes, when it does)."""
    table = spec[10].d if len(spec) > 10 and spec[10] is not None else None
    aux = (spec[11].pre, spec[11].post) if len(spec) > 11 and spec[11] is not None else None
    if len(spec) > 12 and spec[12] is not None:
        return engine.add(*spec[:10], table, aux, spec[12])
    if aux is not None:
        return engine.add(*spec[:10], table, aux)
    if table is not None:
        return engine.add(*spec[:10], table)
    return engine.add(*spec[:10])


def line_key(data: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    spans = [m.span() for m in TOKEN.finditer(data)]
    parts, at = [], 0
    for a, b in spans:
        parts.append(data[at:a])
        parts.append(b"\0")
        at = b
    parts.append(data[at:])
    key = b"".join(parts)
    if b"|\xe2\x96" in key:  # (a fill holds no digit: the same in the key as in the line)
        key = _FILL.sub(lambda m: b"\1" if _fill_chars(m.group()) <= FILL_MAX else m.group(), key)
    return key, spans


def _fill_chars(fill: bytes) -> int:
    """Characters of a bar fill: three bytes a block element, one a space."""
    spaces = len(fill) - len(fill.rstrip(b" "))
    return (len(fill) - spaces) // 3 + spaces


def fills(data: bytes, rng: random.Random) -> list[bytes]:
    """The line with each bar fill as others (empty but one glyph, full, of other widths up to
    FILL_MAX): what a template learned on one fill is verified with."""
    found = [m for m in _FILL.finditer(data) if _fill_chars(m.group()) <= FILL_MAX] if b"|\xe2\x96" in data else []
    if not found:
        return []
    out = []
    for width, full in ((1, 1), (10, 10), (10, 1), (FILL_MAX, rng.randrange(1, FILL_MAX + 1)), (3, 2)):
        glyph = _GLYPH[3 * rng.randrange(8):][:3]
        new = b"\xe2\x96\x88" * (full - 1) + glyph + b" " * (width - full)
        parts, at = [], 0
        for m in found:
            parts += [data[at:m.start()], new]
            at = m.end()
        out.append(b"".join(parts) + data[at:])
    return out


# ---- running the full parser on a copy ------------------------------------------------------------
def clone(p, caches: bool = True):
    """A parser to try a line on: the original's context, nothing shared that a line mutates.
    `caches=False` (a run of the study on one of its contexts): the learned prefixes and whole
    lines (`_prefixes`, `_fast`, `_fast_known`: caches that read a line as the full parser does,
    which order and content the fast path already leaves different from a pure parser's; the
    formats' body shapes they are built from are shared by a study's runs as well, _Isolated)
    are shared with the context, itself a copy: copying them for each run cost about as much as
    the dict of last values."""
    c = object.__new__(type(p))  # copy.copy's result, without its __reduce_ex__ round trip
    c.__dict__ = p.__dict__.copy()  # (a fourth of the time of __dict__.update)
    c._last, c._primary, c._labels, c._shapes = dict(p._last), dict(p._primary), dict(p._labels), dict(p._shapes)
    s = p._stats
    c._stats = ParseStats(s.lines, s.records, s.failures, s.truncated_lines, dict(s.metric_counts))
    if caches:
        c._prefixes = dict(zip(p._prefixes, map(list, p._prefixes.values())))
        c._fast = dict(zip(p._fast, map(list, p._fast.values())))
        c._fast_known = dict(p._fast_known)
    # a block's rows only add to its metrics; its format (`cf`) stays the same object, which C
    # compares by identity
    c._block = None if p._block is None else {**p._block, "metrics": dict(p._block["metrics"])}
    c._table = None if p._table is None else copy_table(p._table)
    c._copy_names = list(p._copy_names) if p._copy_names is not None else None
    c._held = None if p._held is None else list(p._held)
    return c


_SCALARS = (str, int, float, bool, type(None))


def copy_table(table: dict) -> dict:
    """An open table (`_table`) as deepcopy copies it, cheaper: its dict and its lists (of names,
    of a box's row tuples, whose items are str, None or the STEP marker that the parser only
    appends to or replaces); deepcopy for anything else."""
    out = {}
    for k, v in table.items():
        if type(v) is list:
            v = list(v)
        elif type(v) not in _SCALARS:
            return copy.deepcopy(table)
        out[k] = v
    return out


def _same_float(a, b) -> bool:
    return a is b or repr(a) == repr(b)  # repr tells NaN from NaN-free, -0.0 from 0.0


class _Floats:
    """A parser copy's dict of floats, compared NaN-aware and by sign of zero. Not copied: a
    snapshot is taken of a copy no line runs on any more (run_python / run_c made it for one line,
    the study's contexts are only cloned), and copying the dict of every last value (hundreds of
    names in a mixed log) for each of the study's runs cost more than the runs' lines."""

    __slots__ = ("d",)

    def __init__(self, d: dict) -> None:
        self.d = d

    def __eq__(self, other) -> bool:
        a, b = self.d, other.d
        if _fastcore is not None:  # in step, at C speed: the common case
            same = _fastcore.same_items(a, b, True)
            if same is not None:
                return same
        if a is b:
            return True
        if len(a) != len(b):
            return False
        if list(a) != list(b):  # the same names in another order (never seen; kept exact)
            return a.keys() == b.keys() and all(_same_float(v, b[k]) for k, v in a.items())
        # the values that are not the same objects (what the line set, in C and in Python apart):
        # found at C speed, then compared by repr
        moved = list(map(operator.is_not, a.values(), b.values()))
        return all(map(_same_float, itertools.compress(a.values(), moved), itertools.compress(b.values(), moved)))

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = None


class _Ordered:
    """A parser copy's dict (not copied, as _Floats) compared as its lists of keys and values: a
    dict comparison hashes its tuple keys again one by one; both paths add a new key at the end,
    so equal tables give equal lists."""

    __slots__ = ("d",)

    def __init__(self, d: dict) -> None:
        self.d = d

    def __eq__(self, other) -> bool:
        a, b = self.d, other.d
        if _fastcore is not None:
            return _fastcore.same_items(a, b, False)
        return a is b or (len(a) == len(b) and list(a.values()) == list(b.values()) and list(a) == list(b))

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = None


def snapshot(p) -> dict:
    """Everything a line may change, as comparable values (floats by repr: NaN, -0.0). The
    parser's dicts are referenced, not copied: `p` is not run on afterwards (see _Floats)."""
    s = p._stats
    return {
        "has_steps": p._has_steps, "counter": p._counter, "attach": p._attach, "kk_base": p._kk_base,
        "header_epoch": p._header_epoch, "expect_train_bar": p._expect_train_bar, "bar_total": p._bar_total,
        "bar_n": p._bar_n, "bar_done": p._bar_done, "bar_epoch": p._bar_epoch, "last": _Floats(p._last),
        "primary": p._primary, "labels": p._labels, "shapes": _Ordered(p._shapes),
        "block": _block_state(p._block), "table": repr(p._table), "table_title": p._table_title,
        "copy": (p._copy_task, p._copy_names), "stats": (s.records, s.failures, s.truncated_lines, s.metric_counts),
        "held": p._held and list(map(record_key, p._held)),  # (None, [] or the records waiting)
    }


def _block_state(block: dict | None) -> tuple | None:
    """An open block as a comparable value: its format and row regex by identity (their reprs are
    long, and clones share them), its metrics NaN- and sign-aware."""
    if block is None:
        return None
    return tuple((k, id(v) if k in ("cf", "row") else _Floats(v) if k == "metrics" else v) for k, v in block.items())


def record_key(r: Record) -> tuple:
    return (type(r.step), r.step, tuple((k, repr(v)) for k, v in r.metrics.items()), repr(r.timestamp), r.line)


def same_record(a: Record, b: Record) -> bool:
    """record_key(a) == record_key(b), the metrics compared in C when it can tell (in step, floats
    by bits, NaN as NaN)."""
    if type(a.step) is not type(b.step) or a.step != b.step or a.line != b.line \
            or not _same_float(a.timestamp, b.timestamp):
        return False
    if _fastcore is not None and type(a.metrics) is dict and type(b.metrics) is dict:
        same = _fastcore.same_items(a.metrics, b.metrics, True)
        if same is not None:
            return same
    return record_key(a) == record_key(b)


@dataclass
class Outcome:
    records: list
    state: dict
    timestamps: list  # the texts handed to _timestamp
    unmodelled: bool  # a failure counted, or more than one record asked for: not for a template
    ranks: tuple = ()  # the ranks _emit filtered by (`[rank1]:`)
    emits: tuple = ()  # the reprint flag of each _emit call (a record may be asked for and not made)
    block: tuple | None = None  # (format, metrics, row regex) of the open block afterwards
    rests: tuple = ()  # texts glued after a bar that _bar read as lines of their own
    tables: tuple = ()  # (reader, message) of each open-table reader called (only where a table was open)
    aux: tuple | None = None  # aux_state afterwards (the full parser's runs)

    def same(self, other: Outcome) -> bool:
        return len(self.records) == len(other.records) and all(map(same_record, self.records, other.records)) \
            and self.state == other.state


class _TimestampCache(dict):
    """The module's timestamp cache seen through an overlay, so that tries leave it as it was."""

    def __init__(self, base: dict) -> None:
        super().__init__()
        self.base = base

    def get(self, key, default=None):
        v = super().get(key)
        return v if v is not None else self.base.get(key, default)

    def __len__(self) -> int:
        return super().__len__() + len(self.base)


# one study at a time in a process: each puts the formats' body shapes back as they were (a parser
# in another thread meanwhile only learns some of them again)
_STUDYING = threading.Lock()


class _Isolated:
    """Within: the only study in the process; its runs note the timestamp texts they hand on and
    cache in an overlay (`stamp`: the timestamp function of its parser copies and engines; nothing
    of the module's is replaced, which parsers in other threads read meanwhile), and the body
    shapes the formats learn are put back as they were on the way out."""

    def __enter__(self):
        _STUDYING.acquire()
        try:
            # (dict() and list() copy at once: parsers in other threads may add shapes meanwhile)
            self.saved_shapes = [(cf, {k: list(v) for k, v in dict(cf.shapes).items()}) for cf in _FORMATS]
        except BaseException:
            _STUDYING.release()
            raise
        self.texts: list[str] = []
        # one overlay for the study: what a run caches there is what any run would compute
        self.cache = _TimestampCache(_parser._TS_BASES)
        return self

    def stamp(self, ts: str) -> float | None:
        self.texts.append(ts)
        return _parser._timestamp(ts, self.cache)

    def fresh(self) -> None:
        self.texts = []

    def __exit__(self, *exc):
        try:
            for cf, shapes in self.saved_shapes:
                cf.shapes = shapes
        finally:
            _STUDYING.release()


def run_python(iso: _Isolated, state, data: bytes, lineno: int, glued: bool = False) -> Outcome | None:
    """The full parser on the line; `glued`: without reading the text glued after a bar (what a
    bar template does itself: C reads that text as a line of its own, as _bar does)."""
    p = clone(state, caches=False)
    flags, ranks, emits, rests = [], [], [], []
    rank_filter, failed, emit, read = p._primary_rank, p._failed, p._emit, p._line
    p._primary_rank = lambda m, r: (ranks.append(r), rank_filter(m, r))[1]
    p._failed = lambda *a: (flags.append("failed"), failed(*a))[1]
    p._emit = lambda *a, **k: (emits.append(k.get("reprint", len(a) > 6 and a[6])), emit(*a, **k))[1]

    def nested(text, n, out):  # _bar's call of _line on the text after the bar
        rests.append(text)
        if not glued:
            read(text, n, out)

    tables = []
    if p._table is not None:  # which readers of the open table see the line, and its message
        for name in _TABLE_READERS:
            setattr(p, name, functools.partial(_watched, getattr(p, name), name, tables))
    iso.fresh()
    out: list[Record] = []
    try:
        p._line = nested
        read(data.decode("utf-8"), lineno, out)
    except Exception:
        return None
    del p._primary_rank, p._failed, p._emit, p._line
    block = None if p._block is None else (p._block["cf"], p._block["metrics"], p._block["row"])
    return Outcome(out, snapshot(p), iso.texts, bool(flags) or len(emits) > 1, tuple(ranks), tuple(emits), block,
                   tuple(rests), tuple(tables), aux_state(p))  # p is not run on again: no copy


_TABLE_READERS = ("_table_line", "_column_row", "_box_line", "_drawn_line")


def _watched(reader, name: str, calls: list, msg: str, *args):
    calls.append((name, msg))
    return reader(msg, *args)


def run_c(iso: _Isolated, state, data: bytes, lineno: int, spec: tuple, engine=None) -> Outcome | None:
    """The template alone applied by C; None when C declines the line (Python would read it).
    `engine`: one that holds this template only (it keeps no parser context between lines)."""
    p = clone(state, caches=False)
    if engine is None:
        engine = new_engine(iso.stamp)
        add(engine, spec)
    iso.fresh()
    out: list[Record] = []
    if not engine.try_line(p, data.decode("utf-8"), lineno, out):
        return None
    return Outcome(out, snapshot(p), iso.texts, False)


# ---- variants of a line ---------------------------------------------------------------------------
def _digits(tok: bytes, fn) -> bytes:
    return bytes(fn(c) if 48 <= c <= 57 else c for c in tok)


def successor(tok: bytes) -> bytes:
    """Every digit changed, none to 0: the token's value surely changes, its shape does not."""
    return _digits(tok, lambda c: 48 + (c - 48) % 9 + 1)


def form(tok: bytes) -> bytes:
    """The token with each run of digits as a run of `9`s as long as the longest run verified
    there (variants() tries up to FORM_MAX_TRIED digits, besides the token's own): `12.25` ->
    `999999999.999999999`. A slot admits runs of 1 up to that many digits: a regex bounds a
    count of digits from above (`\\d{1,9}`), so a longer run than any tried may read otherwise."""
    return _RUN.sub(lambda m: b"9" * max(len(m.group()), FORM_MAX_TRIED), tok)


_DIGIT_POOL = bytes(random.Random(1).choices(range(48, 58), k=1 << 16))


def random_digits(rng: random.Random, n: int) -> bytes:
    """n random digits: a slice of a fixed random pool at a random place (one draw per call)."""
    at = rng.randrange(len(_DIGIT_POOL) - n)
    return _DIGIT_POOL[at:at + n]


def _redrawn(tok: bytes, rng: random.Random) -> bytes:
    """The token with each digit drawn at random."""
    fresh = iter(random_digits(rng, len(tok)))
    return bytes(next(fresh) if 48 <= c <= 57 else c for c in tok)


def with_runs(tok: bytes, length: int, rng: random.Random) -> bytes:
    """The token with each run of digits as `length` random digits."""
    return _RUN.sub(lambda m: random_digits(rng, length), tok)


# Run lengths a form slot is verified with. 3 is there for thousands groups: `5,33` reads 5 but
# `5,393` reads 5393, so a template learned on the first must have seen a 3-digit run after the comma.
_RUN_LENGTHS = (1, 2, 3, 4, FORM_MAX_TRIED)


def variant_count(level: int) -> int:
    return 0 if level == EXACT else 3 if level == SHAPE else 4 + len(_RUN_LENGTHS) + 2 * (level == NUMBER)


def toggled(tok: bytes, length: int, rng: random.Random) -> bytes:
    """The token as the other kind of number: a decimal's integer part, or the integer with a
    fraction of `length` digits (`4.1` -> `4`, `16707` -> `16707.38`); with `length` >= 9, each
    run of digits that long (`4.1` -> `123456789`)."""
    head, dot, _ = tok.partition(b".")
    if length >= FORM_MAX_TRIED:
        head = random_digits(rng, length)
    return head if dot else head + b"." + random_digits(rng, length)


def variant(tok: bytes, level: int, k: int, rng: random.Random) -> bytes:
    """The k-th of variants(tok, level)."""
    if k >= 4 + len(_RUN_LENGTHS):  # a NUMBER slot: the other kind of number
        return toggled(tok, 2 if k == 4 + len(_RUN_LENGTHS) else FORM_MAX_TRIED, rng)
    if k == 0:
        return successor(tok)
    if k == 1:
        return _digits(tok, lambda c: 48)
    if k == 2:
        return _redrawn(tok, rng)
    if k < 3 + len(_RUN_LENGTHS):
        return with_runs(tok, _RUN_LENGTHS[k - 3], rng)
    return _RUN.sub(b"7", tok)


def variants(tok: bytes, level: int, rng: random.Random) -> list[bytes]:
    """Tokens a slot of this level admits, to try: every digit changed, zeros, random digits; for
    a form, also other lengths (a value, a count of digits a regex may care about); for a number,
    also the other kind (an integer for a decimal, a decimal for an integer)."""
    return [variant(tok, level, k, rng) for k in range(variant_count(level))]


def with_tokens(data: bytes, spans: list, new: dict[int, bytes], key: bytes | None = None) -> bytes | None:
    """The line with some tokens replaced; None when that would cut it into other tokens. `key`:
    the line's own key, when the caller knows it."""
    parts, at = [], 0
    for i, (a, b) in enumerate(spans):
        parts.append(data[at:a])
        parts.append(new.get(i, data[a:b]))
        at = b
    parts.append(data[at:])
    line = b"".join(parts)
    if key is None:
        key = line_key(data)[0]
    if _fastcore is not None:  # the same key in C (tokens as TOKEN finds them), without the spans
        return line if _fastcore.line_key(line) == (key, len(spans)) else None
    vkey, vspans = line_key(line)
    return line if len(vspans) == len(spans) and vkey == key else None


# ---- learning ---------------------------------------------------------------------------------------
class Learner:
    """Learns templates into an engine from lines the full parser read."""

    def __init__(self, engine, store=None) -> None:
        self.engine = engine
        self.store = store  # templates shared with other parsers (templates.TemplateStore), or None
        self.taken: set[int] = set()  # the store's templates this engine holds (by id: the store keeps them)
        self.own: dict[bytes, int] = {}  # templates learned here, by key
        # asks of a key whose line ended the open block, not studied yet (_FLUSH_ASKS)
        self.flush_asks: dict[bytes, int] = {}
        self.rng = random.Random(0)  # the same log learns the same templates
        # keys tried in vain and how often, apart in an open block and out of one (a line that
        # closes a block is not learned there; the same line elsewhere may well be)
        self.failed: dict[tuple[bytes, bool], int] = {}

    def wants(self, key: bytes, block: dict | None = None) -> bool:
        """A key tried twice in vain is not tried again (C asks again on ever rarer misses), nor one
        whose templates learned here did not pay yet."""
        if self.own.get(key, 0) >= 2:
            templates, lines = self.engine.usage(key)
            if lines < _PAYBACK_LINES * templates:
                return False
        return self.failed.get((key, block is not None), 0) < 2

    def adopt(self, key: bytes) -> bool:
        """Takes the store's templates of a key that this engine lacks (learned by another parser,
        or by an earlier process: see parsing/templates.py); True when it took any."""
        if self.store is None:
            return False
        took = False
        for spec in self.store.get(key):
            if id(spec) not in self.taken:
                self.taken.add(id(spec))
                try:
                    took = bool(add(self.engine, spec)) or took
                except Exception:  # a template C refuses costs learning, never output
                    log.debug("template of %r not taken", key, exc_info=True)
        return took

    def learn(self, pre, line: str, key: bytes, lineno: int, ended: bool = False) -> bool:
        """Study `line` as read by the parser `pre` (a copy of the parser before it); add its
        template when one reproduces the full parser exactly. `ended`: the parser's read of the
        line ended the block `pre` has open (and opened none): such a study is deferred
        (_FLUSH_ASKS), here without a run that finds it out again (a log of several frameworks
        had 600 of them in 1M lines, 6% of a warm read)."""
        data = line.encode("utf-8")
        own_key, spans = line_key(data)
        if own_key != key or len(data) > _fastcore.MAX_FAST_LINE or len(spans) > _fastcore.MAX_TOKENS:
            return False
        asked = self.flush_asks.get(key, 0)
        if ended and asked < _FLUSH_ASKS and pre._block is not None and data.strip():
            self.flush_asks[key] = asked + 1  # (_Study.template defers it: the same count)
            return False
        study = None
        try:
            with _Isolated() as iso:
                pre._stamp = iso.stamp  # (a copy: every context of the study is one of it)
                _trimmed(iso, pre, data, lineno)
                study = _Study(iso, pre, data, spans, key, lineno, self.rng,
                               flush_ok=asked >= _FLUSH_ASKS)
                spec = study.template()
        except Exception:  # learning is an optimisation: a bug here costs speed, never output
            log.debug("line %d: not learned", lineno, exc_info=True)
            spec = None
        if study is not None and study.deferred:
            self.flush_asks[key] = self.flush_asks.get(key, 0) + 1
            return False
        if spec is not None and add(self.engine, spec):
            self.own[key] = self.own.get(key, 0) + 1
            if self.store is not None:
                self.taken.add(id(self.store.put(spec)))
            return True
        if len(self.failed) > 100_000:
            self.failed.clear()
        where = (key, pre._block is not None)
        self.failed[where] = self.failed.get(where, 0) + 1
        return False


class _Consulted(dict):
    """A dict that notes the keys read from it."""

    def __init__(self, base: dict) -> None:
        super().__init__(base)
        self.seen: set = set()

    def get(self, key, default=None):
        self.seen.add(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self.seen.add(key)
        return super().__contains__(key)

    def __getitem__(self, key):
        self.seen.add(key)
        return super().__getitem__(key)


def _trimmed(iso: _Isolated, pre, data: bytes, lineno: int) -> None:
    """`pre` with only the last values and record shapes the line reads (its metrics' names: a
    template's are constant). A study runs the parser about a hundred times, each on a copy of
    `pre`: a log of thousands of metric names (per-layer norms, pycocotools' `IoU=` ranges) made
    copying and comparing those two dicts most of its cost. C reads them afresh on each line it
    applies a template to, as Python does: a study in a state without the other names is as
    good (it tries a state with no last values anyway)."""
    if len(pre._last) + len(pre._shapes) < 64:
        return  # copying so few costs less than the run that finds what the line reads
    p = clone(pre, caches=False)
    p._last, p._shapes = _Consulted(p._last), _Consulted(p._shapes)
    iso.fresh()
    try:
        p._line(data.decode("utf-8"), lineno, [])
    except Exception:
        return
    # (in the order read: C and Python are compared from this same state, which is all it is for)
    last, shapes = pre._last, pre._shapes
    pre._last = {k: last[k] for k in p._last.seen if k in last}
    pre._shapes = {k: shapes[k] for k in p._shapes.seen if k in shapes}


class _Study:
    """One line, its variants and the template they support."""

    def __init__(self, iso, pre, data: bytes, spans: list, key: bytes, lineno: int, rng, flush_ok: bool = True) -> None:
        self.iso, self.pre, self.data, self.spans, self.key, self.lineno, self.rng = iso, pre, data, spans, key, lineno, rng
        self.flush_ok = flush_ok  # a line that ends the open block is studied (else: deferred)
        self.deferred = False
        self.toks = [data[a:b] for a, b in spans]
        self.seen: dict[tuple, Outcome | None] = {}  # the full parser's outcomes by (state, line)
        self.alive: list = []
        self.study = pre  # the context the tokens are studied in (no rank filtered, no value stale)
        self.sbase: Outcome | None = None
        self.extra_states: list = []  # contexts the verification adds for this kind of line
        self.engines: dict[tuple, object] = {}  # an engine holding each template tried
        self.checked: dict[tuple, tuple] = {}  # (template's engine, context, line) C was checked on
        # a bar with text glued after it (which _bar reads as a line): where that text starts, as
        # (token, bytes after its end); the study runs the full parser without reading it (_run)
        self.rest: tuple[int, int] | None = None
        self.disagreed = None  # the context of the last line C and Python read apart (_agrees)
        self.closed = None  # the parser before the line, when the line closed its open table
        self.flushed = None  # the parser before the line, when the line ended its open block (no row)
        self.row_of = None  # the open markdown table whose row the line is (_Table), if it is one
        self.aux = None  # the unmodelled state the line sets, from that it was read in (_Aux), if it sets it
        self.ignored = frozenset()  # snapshot keys _kind leaves to the aux state (_AUX_KEYS then)
        # the line between its tokens (the text before the first, ..., after the last)
        self.gaps = [data[b:a] for (_, b), (a, _) in zip([(0, 0)] + spans, spans + [(len(data), 0)])]

    def template(self) -> tuple | None:
        base = self._run(self.pre, self.data)
        if base is not None and self.pre._block is not None and base.state["block"] is None \
                and self.data.strip():  # (C leaves a blank line in a block to Python)
            # it ends the open block (it is no row of it): studied after the block's flush, then
            # verified flushing it (_flushing); the flush's record and the line's own make two emits:
            # the line is judged as read after it
            if not self.flush_ok:
                self.deferred = True
                return None
            self.flushed, self.pre = self.pre, clone(self.pre)
            self.pre._flush_block([])
            self.study = self.pre
            base = self._run(self.pre, self.data)
        table = self.pre._table
        if base is not None and base.state["table"] == "None" and (
                (table is not None and table.get("kind") == "markdown" and _ends_markdown(base.tables))
                or (_empty_box(table) and _ends_box(base.tables))):
            # it ends the open table (it is no row of it) or a box that holds no row: studied where
            # no table is open, then verified as closing one (ASIDE_CLOSE, ASIDE_CLOSE_BOX), this
            # one among others
            self.closed, self.pre = self.pre, clone(self.pre)
            self.pre._table = None
            self.study = self.pre
            base = self._run(self.pre, self.data)
        elif base is not None and table is not None and table.get("kind") == "markdown" and base.tables \
                and all(name == "_table_line" and msg[:1] == "|" for name, msg in base.tables) \
                and base.state["table"] == repr(table):
            # a row of the open table (or a line it lets through): read as it is only under a
            # table equal to this one, and the template applies only there
            self.row_of = _Table(copy_table(table))
        if base is not None and base.rests:
            self.rest = self._rest_start(base.rests)
            base = self.rest and self._run(self.pre, self.data)
        if base is None or base.unmodelled:
            return None
        kind = self._kind(base)
        if kind is None or (self.rest is not None and kind != BAR):
            return None
        if kind in (NOOP, DETACH):
            spec = self._noop(kind)
        elif kind == BLOCKROW:
            spec = self._block_row()
        elif kind == HEADER:
            spec = self._header(base)
        elif kind == RULE:
            spec = self._rule()
        elif kind == BLOCKOPEN:
            spec = self._block_open(base)
        elif kind == RECORD:
            spec = self._record(base)
        else:
            spec = self._bar(base)
        spec = spec and self._verified(spec)
        return self._flushing(spec) if spec and self.flushed is not None else spec

    def _flushing(self, spec: tuple) -> tuple:
        """The template also ending an open block of the format (or row regex) of the one the line
        ended (fast_line: flush_block, then the line read on) where C and the full parser agree on
        the line and its variants in that block, with other metrics, values stale, a step of its
        own, another bar context; else as it is (it applies where no block is open)."""
        block = self.flushed._block
        bound = block["cf"] if block["cf"] is not None else block["row"]
        flushing = spec[:12] + (bound,)
        states = [self.flushed]
        for name, value in (("_attach", None if self.flushed._attach is not None else _SENTINEL_ATTACH),
                            ("_last", {**self.flushed._last, **block["metrics"]}),  # all stale
                            ("_has_steps", not self.flushed._has_steps)):
            states.append(clone(self.flushed))
            setattr(states[-1], name, value)
        for name, value in (("step", 7), ("metrics", {})):  # a block with a step of its own; an empty one
            states.append(clone(self.flushed))
            states[-1]._block[name] = value
        lines = [self.data] + [line for i, tok in enumerate(self.toks) if spec[2][i][0] != EXACT
                               for line in map(lambda v: self._with({i: v}), variants(tok, spec[2][i][0], self.rng)) if line]
        return flushing if self._agrees(flushing, states, lines, must_apply=True) else spec

    def _run(self, state, line: bytes) -> Outcome | None:
        """The full parser on a line of the study (a glued bar's rest not read: see _rest_start)."""
        return run_python(self.iso, state, line, self.lineno, glued=self.rest is not None)

    def _rest_start(self, rests: tuple) -> tuple[int, int] | None:
        """(token, offset after its end) where the text glued after a bar starts: the line's end,
        after a token, not blank (_bar reads no blank rest), in the literal text after that token."""
        if len(rests) != 1 or not rests[0] or rests[0].isspace():
            return None
        rest = rests[0].encode("utf-8")
        cut = len(self.data) - len(rest)
        if not self.data.endswith(rest):
            return None
        before = [i for i, (a, b) in enumerate(self.spans) if b <= cut]
        if not before or (before[-1] + 1 < len(self.spans) and self.spans[before[-1] + 1][0] < cut):
            return None
        return before[-1], cut - self.spans[before[-1]][1]

    def _rest_of(self, line: bytes) -> str | None:
        """The text a glued bar template hands on as a line, for a variant of the line."""
        tok, off = self.rest
        cut = [m.end() for m in TOKEN.finditer(line)][tok] + off
        return line[cut:].decode("utf-8") if cut < len(line) else None

    # -- what the line did
    def _kind(self, base: Outcome) -> int | None:
        before, after = snapshot(self.pre), base.state
        changed = {k for k in before if before[k] != after[k]}
        block = self.pre._block
        if changed == {"table"} and block is None and self.pre._table is None and not base.records \
                and not base.emits and not base.ranks and base.aux[0] == _opened_box(self.lineno):
            return RULE  # a dashed rule: it opens a box (and closes one that holds no row: _rule)
        if changed & _AUX_KEYS:  # it sets the unmodelled state: bound to the state it was read in
            if not self._bind_aux(base):
                return None
            changed -= _AUX_KEYS
        if block is not None:  # in an open block C reads its rows and nothing else
            return BLOCKROW if changed == {"block"} and not base.records and not base.emits and not base.ranks else None
        if changed == {"block"} and not base.records and not base.emits and not base.ranks and self.aux is None \
                and after["block"] is not None and [k for k, _ in after["block"]] == list(_OPENED_BLOCK) \
                and _opened_block(base.block[2], base.block[0], self.lineno, base.block[1]) == dict(after["block"]):
            return BLOCKOPEN  # a block's header, or the first row of a format's block (no timestamp, no rank)
        if changed <= {"attach", "last", "shapes"} and len(base.records) <= 1 and not base.ranks and all(base.emits):
            # a bar redrawn at the same position changes nothing but its postfix values (Lightning's
            # last redraw, a checkpoint message glued on): try it where no bar was seen (other
            # context set to values no line sets, so that a line that only set it again shows)
            probe = clone(self.pre)
            probe._attach, probe._bar_total, probe._bar_n, probe._bar_done = _SENTINEL_ATTACH, None, -1, False
            probe._kk_base = 7
            if self.aux is None:
                probe._table_title, probe._copy_task = "\0probe", "\0probe"
            got = self._run(probe, self.data)
            if got is None or got.unmodelled or got.ranks:
                return None
            if got.state["bar_n"] != -1:
                if self.aux is not None:
                    return None
                # a bar, possibly one that here is an evaluation bar doing nothing (_bar studies it
                # where no bar was seen, and checks what it does after training)
                return BAR if len(got.records) <= 1 and type(got.state["attach"]) is int else None
            was = snapshot(probe)
            differ = {k for k in was if k != "attach" and k not in self.ignored and was[k] != got.state[k]}
            if differ and differ <= _AUX_KEYS and self._bind_aux(base):
                differ = set()  # it sets the unmodelled state to what it was (detectron2's `Task: bbox`)
            if got.records or got.emits or differ:
                return None
            return DETACH if got.state["attach"] is None else NOOP if got.state["attach"] == _SENTINEL_ATTACH else None
        if "header_epoch" in changed:  # an epoch header (Keras' `Epoch 3/10`): the bars' epoch
            ok = changed <= {"header_epoch", "expect_train_bar", "attach", "kk_base"} and self.aux is None
            return HEADER if ok and not base.records and not base.emits and not base.ranks \
                and after["attach"] is None and after["expect_train_bar"] is True else None
        if {"bar_n", "bar_total", "bar_done", "bar_epoch", "expect_train_bar"} & changed:
            if self.aux is not None:
                return None
            ok = changed <= {"has_steps", "attach", "bar_total", "bar_n", "bar_done", "bar_epoch", "expect_train_bar",
                             "last", "shapes"}
            return BAR if ok and not base.ranks and len(base.records) <= 1 and type(after["attach"]) is int else None
        record_ok = {"has_steps", "attach", "last", "shapes", "primary"}
        if base.emits == (False,) and len(base.records) <= 1 and changed <= record_ok:
            # studied where no rank copy is filtered and no value is stale: then it makes its record
            study = clone(self.pre)
            study._primary, study._last = {}, {}
            got = self._run(study, self.data)
            if got is None or got.unmodelled or got.emits != (False,) or len(got.records) != 1:
                return None
            if {k for k in got.state if snapshot(study)[k] != got.state[k]} - self.ignored <= record_ok:
                self.study, self.sbase = study, got
                return RECORD
        return None

    def _bind_aux(self, base: Outcome) -> bool:
        """Bind the template to the unmodelled state the line was read in (aux_state), where the
        line may set it: False where it cannot be (a block or table state of its own, a box)."""
        if self.pre._block is not None or self.row_of is not None or self.closed is not None or base.aux is None \
                or not _constant_table(self.pre._table) or not _constant_table(base.aux[0]):
            return False
        self.aux = _Aux(copy.deepcopy(aux_state(self.pre)), base.aux)
        self.ignored = _AUX_KEYS
        return True

    # -- which token feeds what
    def _single_variants(self, state) -> list[Outcome | None]:
        out = []
        for i, tok in enumerate(self.toks):
            line = self._with({i: successor(tok)})
            out.append(None if line is None else self._python(state, line))
        return out

    def _slots(self, levels: list[int]) -> tuple:
        return tuple((lv, form(tok) if lv == FORM else tok) for lv, tok in zip(levels, self.toks))

    def _noop(self, kind: int) -> tuple | None:
        return (self.key, kind, self._slots([FORM] * len(self.toks)), (), (), None, self.pre._kk_base, None, None)

    def _metrics(self, rec: Record, variants: list, levels: list[int], structural: set, steps=()) -> tuple | None:
        """Each metric as a constant or as the float of a run of tokens joined by thousands commas.
        A metric read from one token, no step's, admits any integer or decimal there (NUMBER)."""
        specs = []
        for name, value in rec.metrics.items():
            deps = sorted(i for i, v in enumerate(variants) if v is not None and i not in structural
                          and repr(v.records[0].metrics[name]) != repr(value))
            if not deps:
                specs.append((name, value, 0, 0, 0))
                continue
            first, last = deps[0], deps[-1]
            gaps = {self.data[self.spans[k][1]:self.spans[k + 1][0]] for k in range(first, last)}
            if deps != list(range(first, last + 1)) or not gaps <= {b","} and not (gaps == {b":"} and len(deps) == 3):
                return None
            if gaps == {b":"}:  # a duration, `0:04:50.23` (bodies.field_value: whole minutes, then seconds)
                h, mnt, sec = self.toks[first:last + 1]
                number = (int(h) * 60 + int(mnt)) * 60 + float(sec) if h.isdigit() and mnt.isdigit() else None
                if repr(number) != repr(value):
                    return None
                neg = 2
            else:
                number = float(self.data[self.spans[first][0]:self.spans[last][1]].replace(b",", b""))
                if repr(number) == repr(value):
                    neg = 0
                elif repr(-number) == repr(value):
                    neg = 1
                else:
                    return None
            if first == last and levels[first] == FORM and first not in steps and _NUMBER.fullmatch(self.toks[first]):
                levels[first] = NUMBER
            else:
                for k in range(first, last + 1):
                    levels[k] = max(levels[k], FORM if first == last else SHAPE)
            specs.append((name, None, first, last, neg))
        return tuple(specs)

    def _timestamp(self, texts: list[str], levels: list[int]) -> tuple | None | bool:
        """(first, last, extra) of the timestamp text; None for none; False when not found."""
        if not texts:
            return None
        text = texts[-1].encode("utf-8")
        for i, (a, _) in enumerate(self.spans):
            if self.data.startswith(text, a):
                end = a + len(text)
                inside = [j for j, (x, y) in enumerate(self.spans) if x >= a and y <= end]
                later = [j for j, (x, _) in enumerate(self.spans) if a <= x < end]
                if not inside or later != inside:
                    return False
                last = inside[-1]
                for j in inside:
                    levels[j] = max(levels[j], SHAPE)
                return (i, last, end - self.spans[last][1])
        return False

    def _step(self, step: int, variants: list, structural: set, levels: list[int]) -> tuple | None:
        deps = [i for i, v in enumerate(variants) if v is not None and i not in structural
                and v.records and v.records[0].step != step]
        if not deps:  # no token moves the step: the context's (`_step(None)`), or none
            probe = clone(self.study)
            probe._attach, probe._has_steps = _SENTINEL_ATTACH, True
            got = self._python(probe, self.data)
            if got is None or len(got.records) != 1:
                return None
            got_step = got.records[0].step
            return (ST_CTX,) if got_step == _SENTINEL_ATTACH else (ST_NULL,) if got_step is None else None
        ints = {i: int(self.toks[i]) for i in deps if self.toks[i].isdigit()}
        if len(ints) != len(deps):
            return None
        if len(deps) == 1 and ints[deps[0]] == step:
            return (ST_SLOT, deps[0])
        if len(deps) == 2:  # (epoch - base) * total + pos in the base epoch: find the total
            deps = deps + self._hidden_total(deps, variants, structural)
            ints = {i: int(self.toks[i]) for i in deps if self.toks[i].isdigit()}
            if len(ints) != 3:
                return None
        if len(deps) == 3:
            # (epoch - base) * total + pos, checked on the line and on each token's variant
            # (epoch and total are interchangeable on one line alone)
            cases = [(ints, step)] + [({**ints, i: int(successor(self.toks[i]))}, variants[i].records[0].step) for i in deps]
            for e, p, t in itertools.permutations(deps):
                for base in (0, 1):
                    if all((v[e] - base) * v[t] + v[p] == s for v, s in cases):
                        return (ST_EPT, e, p, t, base)
        return None

    def _hidden_total(self, deps: list[int], variants: list, structural: set) -> list[int]:
        """The token that is the total of an epoch position when the epoch is the base one (so
        that the total changed nothing): the one that changes the step once the epoch changed."""
        for e in deps:
            moved = {e: successor(self.toks[e])}
            line = self._with(moved)
            there = variants[e]
            for c, tok in enumerate(self.toks):
                if c in deps or c in structural or not tok.isdigit() or line is None:
                    continue
                both = self._with({**moved, c: successor(tok)})
                got = both and self._run(self.study, both)
                if got and len(got.records) == 1 and got.records[0].step != there.records[0].step:
                    return [c]
        return []

    def _record(self, base: Outcome) -> tuple | None:
        sbase = self.sbase
        rec = sbase.records[0]
        variants = self._single_variants(self.study)
        names = tuple(rec.metrics)
        structural = {i for i, v in enumerate(variants)
                      if v is None or v.unmodelled or len(v.records) != 1 or tuple(v.records[0].metrics) != names
                      or len(v.ranks) != len(sbase.ranks)}
        levels = [EXACT if i in structural else FORM for i in range(len(self.toks))]
        rank_slot = -1
        if sbase.ranks:  # the token the rank is read from
            found = [i for i, v in enumerate(variants) if i not in structural and v.ranks != sbase.ranks]
            if len(found) != 1 or not self.toks[found[0]].isdigit() or int(self.toks[found[0]]) != sbase.ranks[0]:
                return None
            rank_slot = found[0]
        step = self._step(rec.step, variants, structural, levels)
        metrics = step and self._metrics(rec, variants, levels, structural, _step_slots(step))
        ts = metrics and self._timestamp(sbase.timestamps, levels)
        if not metrics or ts is False or (rec.timestamp is not None and ts is None):
            return None
        # what the line does to the bar context after a record, and after none (all copies / all stale)
        probe = clone(self.study)
        probe._attach, probe._has_steps = _SENTINEL_ATTACH, True
        got = self._python(probe, self.data)
        if got is None or len(got.records) != 1 or got.state["attach"] not in (None, _SENTINEL_ATTACH):
            return None
        attach_emit = int(got.state["attach"] is None)
        attach_none = attach_emit
        empty = clone(probe)
        if rank_slot >= 0:
            empty._primary = {k: -1 for k in names}
        else:
            empty._last = dict(rec.metrics)
        got = self._python(empty, self.data)
        if got is not None and not got.records:
            if got.state["attach"] not in (None, _SENTINEL_ATTACH):
                return None
            attach_none = int(got.state["attach"] is None)
        self.extra_states = [probe, empty]
        if rank_slot >= 0:
            other = clone(self.study)
            other._primary = {k: sbase.ranks[0] + 1 for k in names[::2]} | {k: -1 for k in names[1::2]}
            self.extra_states.append(other)
        return (self.key, RECORD, self._slots(levels), step, metrics, ts, self.pre._kk_base, None,
                (rank_slot, attach_emit, attach_none))

    def _bar(self, base: Outcome) -> tuple | None:
        # with no last values every postfix metric is emitted, so each shows which token it reads
        # where no bar was seen (the parser's own context may take the line for an evaluation bar)
        fresh = clone(self.pre)
        fresh._last, fresh._bar_total, fresh._bar_n, fresh._bar_done = {}, None, -1, False
        first = self._run(fresh, self.data)
        if first is None or first.unmodelled or first.ranks or len(first.records) > 1 or first.state["bar_n"] == -1:
            return None
        variants = self._single_variants(fresh)
        after = first.state
        structural = {i for i, v in enumerate(variants) if v is None or v.unmodelled
                      or [tuple(r.metrics) for r in v.records] != [tuple(r.metrics) for r in first.records]}
        levels = [EXACT if i in structural else FORM for i in range(len(self.toks))]
        n_slot = [i for i, v in enumerate(variants) if i not in structural and v.state["bar_n"] != after["bar_n"]]
        t_slot = [i for i, v in enumerate(variants) if i not in structural and v.state["bar_total"] != after["bar_total"]]
        if not t_slot and after["bar_total"] is None:
            t_slot = [-1]  # a bar of no total (`0/?`): its step is its position
        if len(n_slot) != 1 or len(t_slot) != 1 or n_slot == t_slot:
            return None
        n_slot, t_slot = n_slot[0], t_slot[0]
        if not (self.toks[n_slot].isdigit() and int(self.toks[n_slot]) == after["bar_n"]
                and (t_slot < 0 or (self.toks[t_slot].isdigit() and int(self.toks[t_slot]) == after["bar_total"]))):
            return None
        step = self._bar_epoch(variants, structural, n_slot, t_slot, after["attach"])
        if step is None:
            return None
        metrics, ts = (), None
        if first.records:
            metrics = self._metrics(first.records[0], [v if v is None or v.records else None for v in variants],
                                    levels, structural, {n_slot, t_slot} - {-1} | _step_slots(step))
            ts = metrics and self._timestamp(first.timestamps, levels)
            if not metrics or ts is False or (first.records[0].timestamp is not None and ts is None):
                return None
        # after training, a bar of another length is an evaluation bar: does it do nothing?
        done = clone(self.pre)
        done._bar_total, done._bar_n, done._bar_done, done._expect_train_bar = (after["bar_total"] or 999_983) + 1, 10**6, True, False
        got = self._python(done, self.data)
        eval_noop = int(got is not None and not got.records and not got.emits and got.state == snapshot(done))
        # where a bar of the same total ran further and no epoch header was seen, a bar restarts (its
        # epoch moves on), unless its description holds an epoch, which _bar reads there (`Epoch 3: |
        # 5/?`: in a bar of no total it moves no step, so _bar_epoch found no such token)
        restart = clone(self.pre)
        restart._bar_total, restart._bar_n, restart._bar_done, restart._header_epoch, restart._expect_train_bar = \
            after["bar_total"], 10**6, False, None, False
        got = self._python(restart, self.data)
        described = int(t_slot < 0 and step == () and got is not None and got.state["bar_n"] == after["bar_n"]
                        and got.state["bar_epoch"] == restart._bar_epoch)
        self.extra_states = [done, restart]
        # a plain tqdm bar, which StreamParser._redraw_step reads as the redraw after a message
        redraw = int(t_slot >= 0 and _parser.redraw_position(self.data.decode("utf-8")) == (after["bar_n"], after["bar_total"]))
        bar = (n_slot, t_slot, eval_noop | redraw << 1 | described << 2) + (self.rest or ())
        return (self.key, BAR, self._slots(levels), step, metrics, ts, self.pre._kk_base, bar, None)

    def _block_row(self) -> tuple | None:
        """The metric a row adds to the open block: studied in that block emptied (so that the
        row's name and value show), its name fixed by the tokens that make it. The template is
        bound to the block's format; to a block of no format (transformers' `***** train metrics
        *****`) by the row regex its header gave it (what _fastcore's apply_block_row compares)."""
        cf = self.pre._block["cf"]
        study = clone(self.pre)
        study._block["metrics"] = {}
        row = _row(self._python(study, self.data), cf)
        if row is None:
            return None
        rows = [_row(v, cf) for v in self._single_variants(study)]
        structural = {i for i, r in enumerate(rows) if r is None or r[0] != row[0]}
        levels = [EXACT if i in structural else FORM for i in range(len(self.toks))]
        as_records = [None if r is None else Outcome([Record(None, dict([r]), None, 0)], {}, [], False) for r in rows]
        metrics = self._metrics(Record(None, dict([row]), None, 0), as_records, levels, structural)
        if not metrics:
            return None
        again = clone(self.pre)  # the name already in the block, with another value
        again._block["metrics"] = {row[0]: -1.5}
        self.extra_states = [study, again]
        bound = cf if cf is not None else self.pre._block["row"]
        return (self.key, BLOCKROW, self._slots(levels), (), metrics, None, self.pre._kk_base, None, bound)

    def _block_open(self, base: Outcome) -> tuple | None:
        """A line that opens a block where none is open: a block header (transformers' `*****
        train metrics *****`: no row yet) or a format's first row (pycocotools' first `Average
        Precision` line: its metric in the block), with no timestamp or rank (C makes the block
        StreamParser does: _opened_block). The row's metric is found as _block_row finds it."""
        cf, metrics, row = base.block
        if len(metrics) > 1 or (row is None) == (cf is None):
            return None
        levels = [FORM] * len(self.toks)
        specs = ()
        if metrics:
            name = next(iter(metrics))
            rows = [_row(v, cf) for v in self._single_variants(self.pre)]
            structural = {i for i, r in enumerate(rows) if r is None or r[0] != name}
            levels = [EXACT if i in structural else FORM for i in range(len(self.toks))]
            as_records = [None if r is None else Outcome([Record(None, dict([r]), None, 0)], {}, [], False) for r in rows]
            specs = self._metrics(Record(None, dict(metrics), None, 0), as_records, levels, structural)
            if not specs:
                return None
        return (self.key, BLOCKOPEN, self._slots(levels), (), specs, None, self.pre._kk_base, None, (row, cf))

    def _rule(self) -> tuple:
        """A dashed rule (no timestamp): C opens a box where no table is open, and closes a box that
        holds no row yet where verified to (_verified); in any other table Python reads it."""
        return (self.key, RULE, self._slots([FORM] * len(self.toks)), (), (), None, self.pre._kk_base, None, None)

    def _header(self, base: Outcome) -> tuple | None:
        """An epoch header: the one token its epoch is read from (`_header_epoch` is the epoch less
        `_kk_base`, which an epoch 0 sets to 0); C applies it where `_kk_base` is as it was."""
        after = base.state
        moves = [i for i, v in enumerate(self._single_variants(self.pre))
                 if v is not None and v.state["header_epoch"] != after["header_epoch"]]
        if len(moves) != 1 or not self.toks[moves[0]].isdigit() \
                or int(self.toks[moves[0]]) != after["header_epoch"] + after["kk_base"]:
            return None
        return (self.key, HEADER, self._slots([FORM] * len(self.toks)), (ST_SLOT, moves[0]), (), None,
                self.pre._kk_base, None, None)

    def _bar_epoch(self, variants: list, structural: set, n_slot: int, t_slot: int, step: int) -> tuple | None:
        """() when the bar's epoch is the context's; (ST_EPT, e, n, t, base) when a token of its
        description is the epoch (`Epoch 3:  25%|...| 250/1000`: step (3 - base) * 1000 + 250);
        None when some other token moves the step."""
        moves = [i for i, v in enumerate(variants) if i not in structural and i not in (n_slot, t_slot)
                 and v.state["attach"] != step]
        if not moves:
            return ()
        e = moves[0]
        if len(moves) != 1 or not self.toks[e].isdigit() or t_slot < 0:  # (a bar of no total: its position)
            return None
        ints = {i: int(self.toks[i]) for i in (e, n_slot, t_slot)}
        cases = [(ints, step)] + [({**ints, i: int(successor(self.toks[i]))}, variants[i].state["attach"])
                                  for i in (e, n_slot, t_slot)]
        for base in sorted({0, self.pre._kk_base}):
            if all((v[e] - base) * v[t_slot] + v[n_slot] == got for v, got in cases):
                return (ST_EPT, e, n_slot, t_slot, base)
        return None

    # -- checking the template against the full parser
    def _states(self) -> list:
        """The parser before the line, then the same with other contexts a line may meet: a bar
        context, an epoch header, no bar, a finished bar, no last values, another `_attach`."""
        states = [self.pre] + self.extra_states
        for change in ({"_attach": None if self.pre._attach is not None else _SENTINEL_ATTACH},
                       {"_header_epoch": 2, "_expect_train_bar": True}, {"_bar_n": 10**6, "_bar_done": True},
                       {"_bar_total": None, "_bar_n": -1, "_bar_done": False, "_header_epoch": None,
                        "_expect_train_bar": False},
                       {"_last": {}, "_has_steps": not self.pre._has_steps}):
            s = clone(self.pre)
            for k, v in change.items():
                setattr(s, k, v)
            states.append(s)
        return states

    def _agrees(self, spec: tuple, states: list, lines: list[bytes], must_apply: bool, tables=None) -> bool:
        """C and the full parser agree on every line in the parser's own context, and on the line
        itself and a few variants in the other contexts; `tables`: what the open table's readers
        may have seen of the line where C applied (Outcome.tables), checked too."""
        engine = self._engine(spec)
        tried = id(engine)  # the template, hashed once (its engine lives as long as the study)
        for n, state in enumerate(states):
            for k, line in enumerate(lines if n == 0 else lines[:1] + lines[-3:]):
                # a line this template was already checked on in this context (variants repeat:
                # the line itself, short tokens redrawn alike): it agreed, or C declined it
                done = self.checked.get((tried, id(state), line))
                if done is not None and done[0] is state:
                    declined = done[1]
                else:
                    got = run_c(self.iso, state, line, self.lineno, spec, engine)
                    declined = got is None
                    if not declined:
                        want = self._python(state, line, full=True)
                        if want is None or not got.same(want) or \
                                (self.rest is not None and want.rests != (self._rest_of(line),)):
                            # (a glued bar: C would hand on other text than _bar does)
                            self.disagreed = state
                            return False
                        if tables is not None and not tables(want.tables):
                            return False
                    self.checked[tried, id(state), line] = (state, declined)  # the state kept alive
                if declined and must_apply and k == 0 and n == 0:
                    return False  # it does not even take the line it was learned from
        return True

    def _engine(self, spec: tuple):
        engine = self.engines.get(spec)
        if engine is None:
            engine = self.engines[spec] = new_engine(self.iso.stamp)
            add(engine, spec)
        return engine

    def _python(self, state, line: bytes, full: bool = False) -> Outcome | None:
        """_run, or with `full` the whole line read (what C and Python are compared on), cached."""
        glued = self.rest is not None and not full
        key = (id(state), line, glued)
        if key not in self.seen:
            self.alive.append(state)  # so that no other state gets its id while the study runs
            self.seen[key] = run_python(self.iso, state, line, self.lineno, glued)
        return self.seen[key]

    def _verified(self, spec: tuple) -> tuple | None:
        """The template with each slot as wide as its variants allow, if all variants together,
        in several contexts, then agree; else None. It applies in the ASIDE_* states the line was
        read in, and in the others where the full parser agrees there."""
        mask = aside(self.pre)
        spec = spec + (mask, self.row_of, self.aux)
        levels = self._narrowed(spec, [lv for lv, _ in spec[2]], self.pre)
        for retry in (False, True):
            if levels is None:
                return None
            spec = self._with_levels(spec, levels)
            joint = [self.data] + [self._with({  # one variant drawn per slot (built alone: this runs often)
                i: variant(tok, levels[i], self.rng.randrange(variant_count(levels[i])), self.rng)
                for i, tok in enumerate(self.toks) if levels[i] != EXACT}) for _ in range(_JOINT_VARIANTS)]
            # a bar's fill as others (the key holds none of it), in the other contexts too (with
            # the run lengths below, the last of which they see)
            joint += fills(self.data, self.rng)
            # every FORM slot at one run length at once: slots interact (`Epoch 99999999999/3` is no
            # header while either number is too long for its regex, `Epoch 6/3` is one)
            for k, length in enumerate(_RUN_LENGTHS):
                line = self._with({
                    i: with_runs(tok, length, self.rng)
                    for i, tok in enumerate(self.toks) if levels[i] in (NUMBER, FORM)})
                refilled = line and fills(line, self.rng)
                joint.append(refilled[k % len(refilled)] if refilled else line)
            joint = [x for x in joint if x]
            self.disagreed = None
            if self._agrees(spec, self._states(), joint, must_apply=True):
                break
            if retry or self.disagreed is None or self.disagreed is self.pre:
                return None
            # another context reads some token otherwise (`[Rank 123456789]` is no rank prefix;
            # where that rank filtered every value anyway, the line's own context could not
            # tell): each slot narrowed in that context too, then all of it checked again
            levels = self._narrowed(spec, levels, self.disagreed)
        # each state no template models, of every kind (the line's own state is one example of
        # its kind: a table's separator row does nothing in the rows of a table, not in its header)
        # (what an open table's readers make of a line depends on the table: its columns; a line
        # may pass where they read it only as markdown's `_table_line` ends a table on a line that
        # does not start with `|`)
        if self.aux is not None:
            return spec  # it applies only in the unmodelled state it was verified in
        lines = joint[:1] + joint[-1:]
        for bit, states, tables in ((ASIDE_COPY, self._copy_states, None), (ASIDE_TABLE, self._table_states, _unread)):
            if bit == ASIDE_TABLE and self.row_of is not None:
                continue  # bound to its table: applied under no other
            wider = spec[:9] + (spec[9] | bit,) + spec[10:]
            # (a rule is read by the tables themselves: it applies only in those it is verified to close)
            if not (bit == ASIDE_TABLE and spec[1] == RULE) and \
                    self._agrees(wider, states(), lines, must_apply=False, tables=tables):
                spec = wider
            elif mask & bit:
                return None  # it would apply in some such states where Python reads otherwise
            elif bit == ASIDE_TABLE:  # a line that is no row of a markdown table (no row of a box) ends it
                for close, kind, ends in _CLOSES:
                    # (a rule that ends a markdown table is then read on, not as where no table is
                    # open, where it opens a box: C drops `_attach` there, as _generic does; the
                    # table states hold a bar context and none, so that this shows)
                    closing = spec[:9] + (spec[9] | close,) + spec[10:]
                    if self._agrees(closing, self._table_states(closable=kind), lines, must_apply=False, tables=ends):
                        spec = closing
        return spec

    def _narrowed(self, spec: tuple, levels: list[int], state) -> list[int] | None:
        """Each slot's level, from `levels`, as wide as its variants alone allow in `state`; None
        when a slot the template reads a value from (or any slot of a no-op) must be exact. A slot
        is tried alone, the other tokens as they are: a token's length may matter only with the
        others' own (mutated `2021-05-04 150:03:09` is no logging timestamp, `10:03:09` is one;
        with every token changed at once no line is one, and such a template took `10:03:09`)."""
        kind, roles, levels = spec[1], _role_slots(spec), list(levels)
        for i, tok in enumerate(self.toks):
            if levels[i] < SHAPE and len(_RUN.match(tok).group()) > FORM_MAX_TRIED:
                # an integer part longer than any variant tries: only its own length is verified (a
                # FORM slot admits every shorter one, where a regex bounding the count may read
                # otherwise, and another odd token of the line may hide that from each variant:
                # learned on mutated `IoU=<23 digits> ... maxDets=0.5`, pycocotools' real
                # `IoU=4024 ... maxDets=1000` was read as the generic line). (A fraction's digits,
                # as long as a float's repr makes them, no regex here bounds.)
                levels[i] = SHAPE
            while levels[i] != EXACT:
                lines = [self._with({i: v}) for v in variants(tok, levels[i], self.rng)]
                if self._agrees(self._with_levels(spec, levels), [state], [x for x in lines if x], False):
                    break
                levels[i] += 1
                if levels[i] == EXACT and (i in roles or (kind in (NOOP, DETACH) and self.aux is None)):
                    return None  # a value that matters only as this token: not a template (but in
                    # a line that sets the unmodelled state: `copypaste: AP,AP50,AP75` sets its names)
        return levels

    def _copy_states(self) -> list:
        """The parser before the line with copypaste names and a task."""
        s = clone(self.pre)
        s._copy_task, s._copy_names = "bbox", ["AP", "AP50"]
        return [s]

    def _table_states(self, closable: str | None = None) -> list:
        """The parser before the line with a table of each kind open (`closable`: only tables of
        that kind a line may close, what ASIDE_CLOSE / ASIDE_CLOSE_BOX applies in)."""
        states = []
        tables = _OPEN_TABLES if closable is None else _EMPTY_BOXES if closable == "box" else \
            [t for t in _OPEN_TABLES if t["kind"] == closable]
        for table in tables:
            s = clone(self.pre)
            s._table = copy_table(table)
            states.append(s)
        if closable is not None:
            if self.closed is not None and self.closed._table["kind"] == closable:
                states.append(self.closed)
            # each with the bar context the line's own lacks, or none: what a closing line does to it
            # after the close is what shows which reading C took (a rule read on, or a box opened)
            for s in list(states):
                other = clone(s)
                other._attach = None if s._attach is not None else _SENTINEL_ATTACH
                states.append(other)
        return states

    def _with(self, new: dict[int, bytes]) -> bytes | None:
        if _fastcore is None:
            return with_tokens(self.data, self.spans, new, self.key)
        toks = list(self.toks)  # with_tokens, with the line's cuts made once (this runs often)
        for i, tok in new.items():
            toks[i] = tok
        parts = self.gaps + toks
        parts[::2], parts[1::2] = self.gaps, toks
        line = b"".join(parts)
        return line if _fastcore.line_key(line) == (self.key, len(toks)) else None

    def _with_levels(self, spec: tuple, levels: list[int]) -> tuple:
        return spec[:2] + (self._slots(levels),) + spec[3:]


def _row(got: Outcome | None, cf) -> tuple | None:
    """(name, value) of the one metric a line added to an emptied block of format cf (or put in the
    block of format cf it opened), else None."""
    if got is None or got.unmodelled or got.records or got.emits or got.ranks or got.block is None \
            or got.block[0] is not cf or len(got.block[1]) != 1:
        return None
    return next(iter(got.block[1].items()))


def _unread(tables: tuple) -> bool:
    """No reader of the open table saw the line (a format's line, one that ends in a format's
    reader): its content cannot matter."""
    return not tables


def _ends_markdown(tables: tuple) -> bool:
    """Only markdown's reader saw the line, and it does not start with `|`: it ends any markdown
    table, whatever its columns."""
    return all(name == "_table_line" and msg[:1] != "|" for name, msg in tables)


def _ends_box(tables: tuple) -> bool:
    """Only the box's reader saw the line, which closed the box: a rule, or a line that is no row of
    it (that line then reads on as where no table is open)."""
    return bool(tables) and all(name == "_box_line" for name, _ in tables)


# how each kind of table a line may close is verified: its ASIDE_* bit, the table's kind, and
# what the open table's readers must have seen of the line
_CLOSES = ((ASIDE_CLOSE, "markdown", _ends_markdown), (ASIDE_CLOSE_BOX, "box", _ends_box))


def _role_slots(spec: tuple) -> set[int]:
    """The slots a template reads a value from."""
    _, kind, _, step, metrics, ts, _, bar, extra, *_ = spec
    extra = extra if kind == RECORD else None
    roles = _step_slots(step)
    for _, const, first, last, _ in metrics:
        if const is None:
            roles.update(range(first, last + 1))
    if ts:
        roles.update(range(ts[0], ts[1] + 1))
    if extra and extra[0] >= 0:
        roles.add(extra[0])
    return roles | set(bar[:2] if bar else ())


def _step_slots(step: tuple | None) -> set[int]:
    """The slots a template's step is read from."""
    return set(step[1:4] if step and step[0] == ST_EPT else step[1:2] if step and step[0] == ST_SLOT else ())

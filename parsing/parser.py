"""Streaming parser: text chunks in (split anywhere), Records out, in order.

A chunk is cut at its last line end; the rest waits for the next chunk. Complete lines are cleaned
per block (universal newlines, ANSI codes, backspaces) and then read one at a time:

1. a rank prefix and a logging prefix are taken off (the prefix style that matched last is tried
   first, so a log pays for one short match per line);
2. the message's first characters pick the candidate formats of `patterns.FORMATS`, whose head
   regex is tried (no scan over the line);
3. otherwise it may be a progress bar, a dict / JSON object, a markdown table, or, when a label
   names a training quantity, a line for the generic key/value fallback.

Bodies are split with `str` methods rather than scanned by regexes: that is what keeps the cost per
line low. The little context a log needs (the training bar's position, the epoch, an open block,
which rank is primary, the last value of each metric) lives on the parser.
"""
from __future__ import annotations

import codecs
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from parsing import patterns as P
from parsing import tables
from parsing.bodies import (STEP_MAX, as_step, bar_metrics, dict_pairs, eval_word, field_value, generic_pairs, head_metrics,
                            metric_words, read_body)
from parsing.formats import BY_START, EVALISH_PREFIXES, GENERIC, HINTED, MISS, PREFIXES, STEP, Fmt, final_name
from parsing.names import canonical_type, normalize_name
from parsing.records import ParseStats, Record
from parsing.timestamps import parse_timestamp
from parsing.user_patterns import UserPattern
from parsing.values import NUM, to_float

if TYPE_CHECKING:
    from parsing.templates import TemplateStore

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20  # a line beyond this is cut; the rest is dropped and counted
MAX_PARSE = 1 << 16  # how much of a (capped) line is read for metrics
# parse_file's read size, as capture's (CHUNK_BYTES): each block is copied a few times (bytes, str,
# pending + text, its UTF-8); at 1 MiB those copies were fresh pages from malloc each time (200k
# page faults, 7% of the CPU on bench/parse_bench.py), under the mmap threshold they are reused
READ_BLOCK = 1 << 16

_ANSI = re.compile(r"\x1b(?:\[[0-?]{0,32}[ -/]{0,8}[@-~]|\][^\x07\x1b\n]{0,4096}(?:\x07|\x1b\\)?|[@-Z\\-_])")
_NESTED = "\ue000"  # stands in for tqdm's cursor-up (`\x1b[A`) that ends a bar drawn at position >= 1
# str.replace("\x1b[A", _NESTED), in one regex pass: twice as fast as replace's count-then-copy on
# a block of wide (non-Latin-1) text
_CURSOR_UP = re.compile(r"\x1b\[A")
_DIGITS = frozenset("0123456789")
_TS_SEP = frozenset("/:")
_NUM_RX = re.compile(NUM)
_DS_RANK = re.compile(r"\[Rank (\d{1,5})\] ")
_TABLE_SEP = re.compile(r"\|(?:\s{0,64}:?-{1,200}:?\s{0,64}\|){1,64}\s{0,64}$")
_COPY_TASK = re.compile(r"Task: (?P<task>\w{1,64})\s{0,8}$")
_COPY_NAMES = re.compile(r"[A-Za-z][\w\-]{0,63}(?:,[A-Za-z][\w\-]{0,63}){0,63}\s{0,8}$")
_COPY_VALUES = re.compile(rf"{NUM}(?:,{NUM}){{0,63}}\s{{0,8}}$")
_FAIL_HINT = re.compile(r"(?i)(?:loss|lr|learning[ _]rate|acc\w{0,8}|norm)['\"]?\s{0,4}[:=]\s{0,4}\S")
_TEMPLATE_CLEAN = re.compile(r"[^a-z0-9]+")
_DIGIT = re.compile(r"\d")
_ROW_NAMES: dict[tuple, str] = {}  # (name template, a row's groups) -> its metric name
_POSITIONAL_NAMES: dict[tuple, list[str]] = {}  # (a positional format's names, task) -> metric names


def _clean(block: str) -> str:
    """A block as its lines are read: universal newlines, tqdm's cursor-up as _NESTED, no other
    ANSI codes, no backspaces (_fastcore.clean does the same in C for the fast path)."""
    if "\r" in block:
        block = block.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in block:
        block = _ANSI.sub("", _CURSOR_UP.sub(_NESTED, block))
    if "\x08" in block:
        block = block.replace("\x08", "")
    return block


_ABSENT = object()


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


_TS_BASES: dict[str, float] = {}


def _timestamp(ts: str, bases: dict[str, float] = _TS_BASES) -> float | None:
    """Unix seconds of a prefix timestamp; the part up to the minutes is parsed once (`bases`:
    that cache, the module's; a study of the fast path gives its runs an overlay of it)."""
    i = ts.rfind(":")
    head = ts[:i]
    base = bases.get(head)
    if base is not None:
        try:
            return base + float(ts[i + 1:].replace(",", "."))
        except ValueError:
            pass
    full = parse_timestamp(ts)
    if full is not None:
        try:
            if len(bases) > 100_000:
                bases.clear()
            bases[head] = full - float(ts[i + 1:].replace(",", "."))
        except ValueError:
            pass
    return full


class StreamParser:
    """Feed text (or bytes) as it arrives; get Records back as lines complete."""

    # a record's timestamp from its text: a copy a study of the fast path runs gets one that notes
    # the texts (parsing/fastpath.py: an instance's own, never the module's, which parsers in other
    # threads read meanwhile)
    _stamp = staticmethod(_timestamp)

    def __init__(self, patterns: list[UserPattern] | None = None, *, pure: bool = False,
                 templates: TemplateStore | None = None) -> None:
        """`pure=True` (or env TRAINBOARD_PARSER_PURE=1) reads every line in Python, without the
        compiled fast path; the records are the same either way. `templates`: a store of the fast
        path's learned line templates to take from and add to (parsing/templates.py: what
        parse_file, the CLIs and captures pass is the process's, kept on disk); by default the
        parser learns alone."""
        self._user = list(patterns or ())
        self._pending = ""
        self._overflow = False
        self._decoder = None
        self._lineno = 0
        self._stats = ParseStats()
        self._shapes: dict[tuple[str, ...], int] = {}
        # logging prefixes by first character, the last one that matched first (weak ones last)
        self._prefixes: dict[str, list] = {}
        for entry in PREFIXES:
            for c in entry[1]:
                self._prefixes.setdefault(c, []).append(entry)
        # context
        self._has_steps = False  # the stream prints steps (else records are numbered)
        self._counter = 0
        self._attach: int | None = None  # the training bar position a following report belongs to
        self._kk_base = 1  # `Epoch k/K` counts from 1 unless an `Epoch 0/K` shows up
        self._header_epoch: int | None = None  # Keras `Epoch 2/3` header (0-based)
        self._expect_train_bar = False
        self._bar_total: int | None = None
        self._bar_n = -1
        self._bar_done = False
        self._bar_epoch = 0  # epochs of a bar that restarts without printing its epoch
        # tqdm.write(): the bar cleared (a line of spaces), the message, the bar redrawn. A bar is
        # drawn at most every 0.1 s, so the one before the message may be steps behind; the redraw
        # after it shows the position the message was written at. Records of the message that take
        # the bar's step wait here for that redraw ([] : the bar was cleared, no message yet).
        self._held: list[Record] | None = None
        self._hold = False  # reading the message after a clear
        self._hold_next = False  # the step `_step` just gave is the bar's (the record may wait)
        self._last: dict[str, float] = {}  # last value emitted per metric (reprints are not new)
        self._primary: dict[str, int] = {}  # metric -> lowest rank that printed it
        self._labels: dict[str, int] = {}  # `N: ` prefixes seen, to tell ranks from other numbers
        self._block: dict | None = None
        self._table: dict | None = None
        self._table_title: str | None = None
        self._copy_task: str | None = None
        self._copy_names: list[str] | None = None
        # learned whole lines (prefix + head + body shape as one regex) by the line's first two
        # characters (one would send `Test:` lines to the regex of `Train:` lines), the last used first
        self._fast: dict[str, list[FastLine]] = {}
        self._fast_known: dict[tuple, FastLine | None] = {}
        # learned line templates applied in C (parsing/fastpath.py); user patterns are read in Python
        self._engine = self._learner = None
        if not (pure or self._user or os.environ.get("TRAINBOARD_PARSER_PURE") == "1"):
            from parsing import fastpath
            if fastpath.available():
                self._engine = fastpath.new_engine()
                self._learner = fastpath.Learner(self._engine, templates)

    # ---- input ------------------------------------------------------------------------------
    def feed(self, text: str) -> list[Record]:
        """Records of the lines this chunk completes (a chunk may split anywhere)."""
        if not text:
            return []
        if self._overflow:
            cut = _first_line_end(text)
            if cut < 0:
                return []
            text = text[cut:]
            self._overflow = False
        data = self._pending + text if self._pending else text
        nl = data.rfind("\n")
        end = max(nl, data.rfind("\r", nl + 1))  # a `\r` before the last `\n` cannot be the last end
        if end == len(data) - 1 and data[end] == "\r":
            # `\r` may be the first half of `\r\n`: keep the line it ends until more arrives
            end = max(data.rfind("\n", 0, end), data.rfind("\r", 0, end))
        out: list[Record] = []
        if end < 0:
            self._pending = self._cap(data)
        else:
            self._pending = self._cap(data[end + 1:])
            self._block_text(data[: end + 1], out)
        if self._held:
            self._redrawn(out)
        return out

    def feed_bytes(self, data: bytes) -> list[Record]:
        """Like feed(); bytes are decoded incrementally as UTF-8, bad bytes replaced."""
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        if self._engine is not None and not self._overflow and self._decoder.getstate()[0] == b"":
            out = self._feed_utf8(data)
            if out is not None:
                return out
        return self.feed(self._decoder.decode(data))

    def _feed_utf8(self, data: bytes) -> list[Record] | None:
        """feed(decode(data)) with the lines `data` completes handed to C as bytes (no str made of
        them, nor their UTF-8 again); None, nothing done, when `data` completes no line after the
        pending text or they are not UTF-8 (feed() then reads the decoded text). The cut is
        feed()'s: a line end is ASCII, the decoder is clean after it."""
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if 0 <= end == len(data) - 1 and data[end] == 13:  # `\r`, maybe the first half of `\r\n`
            end = max(data.rfind(b"\n", 0, end), data.rfind(b"\r", 0, end))
        if end < 0:
            return None
        block = data[:end + 1]
        if self._pending:
            block = self._pending.encode("utf-8", "surrogatepass") + block
        out: list[Record] = []
        lineno = self._engine.run(self, block, self._lineno, out)
        if lineno is None:
            return None
        self._lineno = lineno
        self._pending = self._cap(self._decoder.decode(data[end + 1:]))
        if self._held:
            self._redrawn(out)
        return out

    def finish(self) -> list[Record]:
        """Flush the pending partial line and any open block."""
        out: list[Record] = []
        if self._decoder is not None:
            tail = self._decoder.decode(b"", final=True)
            if tail:
                out += self.feed(tail)
        if self._pending:
            text, self._pending = self._pending, ""
            self._block_text(text + "\n", out)
        if self._held is not None:
            self._release(None, out)
        self._overflow = False
        self._flush_block(out)
        if self._table is not None and self._table["kind"] in ("box", "drawn"):
            self._close_box(None, out)  # a box the log ended inside
        self._table = None
        return out

    @property
    def waiting(self) -> bool:
        """Records of a tqdm.write() message wait for the bar's redraw (see `_held`)."""
        return bool(self._held)

    def release_waiting(self) -> list[Record]:
        """The records waiting for a bar's redraw, out now at the step they have (the bar before).
        For a live capture whose job went quiet: tqdm redraws at once after a message, so a redraw
        that has not come will not; a log read whole never needs it."""
        out: list[Record] = []
        if self._held:
            self._release(None, out)
        return out

    @property
    def stats(self) -> ParseStats:
        """Counts so far (records and per-metric counts are totalled from the record shapes)."""
        s = self._stats
        counts = dict(s.metric_counts)
        for names, n in self._shapes.items():
            for name in names:
                counts[name] = counts.get(name, 0) + n
        return ParseStats(lines=self._lineno, records=s.records + sum(self._shapes.values()), failures=s.failures,
                          truncated_lines=s.truncated_lines, metric_counts=counts)

    def _cap(self, partial: str) -> str:
        if len(partial) > MAX_LINE:
            self._stats.truncated_lines += 1
            self._overflow = True
            return partial[:MAX_LINE]
        return partial

    # ---- lines ------------------------------------------------------------------------------
    def _block_text(self, block: str, out: list[Record]) -> None:
        if self._engine is not None:
            lineno = self._engine.run(self, block, self._lineno, out)  # cleans the block as _clean does
            if lineno is not None:
                self._lineno = lineno
                return
        lines = _clean(block).split("\n")
        lines.pop()
        lineno = self._lineno
        line_fn = self._line
        # _read_line inlined: a call less per line (a `try` costs nothing in 3.11 until it raises)
        for line in lines:
            lineno += 1
            if len(line) > MAX_LINE:
                line = line[:MAX_LINE]
                self._stats.truncated_lines += 1
            try:
                line_fn(line, lineno, out)
            except Exception:
                log.debug("line %d: parser error", lineno, exc_info=True)
                self._stats.failures += 1
        self._lineno = lineno

    def _read_line(self, line: str, lineno: int, out: list[Record]) -> bool:
        """One line (cut at MAX_LINE) through `_line`; False when the parser failed on it: the
        parser never raises on input, a bug costs one line (counted)."""
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE]
            self._stats.truncated_lines += 1
        try:
            self._line(line, lineno, out)
        except Exception:
            log.debug("line %d: parser error", lineno, exc_info=True)
            self._stats.failures += 1
            return False
        return True

    def _slow_line(self, line: str, lineno: int, out: list[Record], learn_key: bytes | None) -> None:
        """A line the fast path did not take; with `learn_key` (only for lines short enough for
        the fast path), it asks for the line's template to be learned."""
        if learn_key is not None and self._learner.adopt(learn_key):
            learn_key = None  # another parser's templates of the key, taken now: tried on its next lines
        before = fastpath_clone(self) if learn_key is not None and self._learner.wants(learn_key, self._block) else None
        if before is not None:
            # learned as read in the plain context: in the message after a tqdm.write() clear, C
            # keeps a template's record waiting as `_emit` does (_held)
            before._held = None
        if self._read_line(line, lineno, out) and before is not None:
            ended = self._block is None and before._block is not None  # (the line ended the open block)
            self._learner.learn(before, line, learn_key, lineno, ended=ended)

    def _line(self, line: str, lineno: int, out: list[Record]) -> None:
        if not line or line.isspace():
            if self._block is not None and self._block["cf"] is None:
                self._flush_block(out)
            if self._held is None and self._bar_n >= 0 and line[:1] == " " and not line.strip(" "):
                self._held = []  # tqdm.write() cleared the bar: a message follows (_fastcore agrees)
            return  # a blank line keeps the bar context
        if self._held is not None:
            if self._held:  # the line after the message: the bar redrawn, or not
                self._release(self._redraw_step(line), out)
            else:
                self._held, self._hold = None, True
                try:
                    self._line(line, lineno, out)  # the message: its records may wait (`_emit`)
                finally:
                    self._hold = False
                return
        if self._user:
            if self._user_line(line, lineno, out):
                return
        else:
            fast = self._fast.get(line[:2])
            if fast is not None and self._block is None and len(line) <= MAX_PARSE:
                for k, fl in enumerate(fast):
                    m = fl.rx.match(line)
                    if m is not None:
                        if fl.read(self, m, line, lineno, out):
                            if k:
                                fast.insert(0, fast.pop(k))
                            return
                        break
        # -- rank and logging prefixes
        pos = 0
        rank = ts = logger = None
        lead = ranked = False
        prefix = None
        c = line[0]
        if c == "[":
            if line.startswith(P.RANK_STARTS):
                rm = P.RANK_PREFIX.match(line)
                if rm is not None:
                    rank = rm.group(1) or rm.group(2)
                    ranked = True
                    pos = rm.end()
                    c = line[pos:pos + 1]
        elif c in _DIGITS:
            i = line.find(": ", 1, 7)
            if i > 0 and line[:i].isdigit():  # srun --label / torchrun -t: `0: `
                label = line[:i]
                seen = self._labels[label] = self._labels.get(label, 0) + 1
                if seen >= 2:  # one `5: ...` line is not a rank; a rank prints many
                    rank = label
                lead = None  # a line a learned whole-line regex must not take
                pos = i + 2
                c = line[pos:pos + 1]
        elif c == " " and line[1:2] == "[":
            pos, c, lead = 1, "[", True
        prefixes = self._prefixes.get(c)
        if prefixes is not None and (c not in _DIGITS or line[pos + 2:pos + 3] in _TS_SEP or line[pos + 4:pos + 5] == "-"):
            for k, entry in enumerate(prefixes):
                rx, _first, has_ts, has_logger, weak = entry
                pm = rx.match(line, pos)
                if pm is not None:
                    if k and not weak:
                        prefixes.insert(0, prefixes.pop(k))
                    if has_ts:
                        ts = pm.group("ts")
                    if has_logger:
                        logger = pm.group("logger")
                    pos = pm.end()
                    prefix = entry
                    break
        msg = line[pos:] if pos else line
        if len(msg) > MAX_PARSE:
            msg = msg[:MAX_PARSE]  # a report is never this long; the rest of such a line is noise
        if msg[:6] == "[Rank ":
            rm = _DS_RANK.match(msg)
            if rm is not None:
                rank = rm.group(1)
                lead = None
                msg = msg[rm.end():]
        if msg[:1] in (" ", "\t"):
            msg = msg.lstrip()
        # -- an open block takes its rows
        if self._block is not None:
            if self._block_row(msg):
                return
            self._flush_block(out)
        # -- the table of formats
        cands = BY_START.get(msg[:4])
        if cands is not None:
            for cf in cands:
                if cf.lead and not msg.startswith(cf.lead):
                    continue  # its regex cannot match (see Fmt.lead)
                hm = cf.rx.match(msg)
                if hm is not None:
                    if _KINDS[cf.kind](self, cf, hm, msg, ts, rank, logger, lineno, out) is not False:
                        if cf.fast_ok and lead is not None and not self._user and len(line) <= MAX_PARSE:
                            self._learn_line(cf, hm, line, ranked, lead, prefix)
                        return
                    break
        for hint, cf in _HINTS:
            if hint in msg:
                hm = cf.rx.search(msg)
                if hm is not None and _KINDS[cf.kind](self, cf, hm, msg, ts, rank, logger, lineno, out) is not False:
                    return
        if not msg or msg.isspace() or (msg[-1] == _NESTED and not msg[:-1].strip()):
            return  # a blank line, or a cleared inner bar, keeps the bar context
        # an open table (`_table`: a markdown table, a column table or a key/value box) takes its rows
        kind = self._table["kind"] if self._table is not None else None
        if kind == "columns":
            if self._column_row(msg, ts, rank, lineno, out):
                return
        elif kind == "box" or (kind is None and msg[0] == "-"):
            if self._box_line(msg, ts, rank, lineno, out):
                return
        elif kind == "drawn" or (kind is None and msg[0] in tables.DRAWN_TOPS):
            if self._drawn_line(msg, ts, rank, lineno, out):
                return
        if msg[0] == "|" or self._table is not None:
            if self._table_line(msg, ts, rank, lineno, out):
                return
        if "/" in msg and self._bar(msg, ts, rank, lineno, out):
            return
        if "{" in msg and self._dict(msg, ts, rank, lineno, out):
            return
        if "  " in msg and msg[0].isalpha():
            columns = tables.column_header(msg)
            if columns is not None:
                self._table = {"kind": "columns", "names": columns}
                return
        if not self._generic(msg, ts, rank, lineno, out):
            self._attach = None

    # ---- records ----------------------------------------------------------------------------
    def _step(self, step: int | None, eval_counter: bool = False) -> int | None:
        """Own step; else none for an evaluation batch; else the bar position the report follows;
        else, in a log that prints no steps at all, the running count of records."""
        if step is not None and abs(step) > STEP_MAX:
            step = None  # `step=1e300`: no database holds it, and no training ran that long
        if step is not None:
            self._has_steps = True
            return step
        if eval_counter:
            return None
        if self._attach is not None:
            self._hold_next = self._hold
            return self._attach
        if not self._has_steps:
            step = self._counter
            self._counter += 1
            return step
        self._hold_next = self._hold
        return None

    def _emit(self, metrics: dict[str, float], step: int | None, ts: str | None, rank: str | None,
              lineno: int, out: list[Record], reprint: bool = False) -> bool:
        """Append a record; `reprint` marks a source (a progress bar) that reprints old values."""
        hold, self._hold_next = self._hold_next, False
        if rank is not None:
            metrics = self._primary_rank(metrics, int(rank))
        last = self._last
        if reprint:
            # the epoch is the bar's context, not a reprinted value: it goes with whatever is new
            # (`_same` inlined: NaN equals NaN; `o` is _ABSENT for a name without a last value)
            metrics = {k: v for k, v in metrics.items()
                       if k == "epoch" or (o := last.get(k, _ABSENT)) is _ABSENT or not (o == v or (o != o and v != v))}
            if len(metrics) == 1 and "epoch" in metrics and "epoch" in last and _same(last["epoch"], metrics["epoch"]):
                return False
        else:
            stale = [k for k in metrics if k.startswith(EVALISH_PREFIXES) and k in last and _same(last[k], metrics[k])]
            if stale:
                metrics = {k: v for k, v in metrics.items() if k not in stale}
                if len(metrics) == 1 and "epoch" in metrics:
                    return False
        if not metrics:
            return False
        last.update(metrics)
        record = Record(step, metrics, None if ts is None else self._stamp(ts), lineno)
        if hold:
            if self._held is None:
                self._held = []
            self._held.append(record)
        else:
            out.append(record)
        shapes = self._shapes
        shape = tuple(metrics)
        n = shapes.get(shape)
        if n is not None:
            shapes[shape] = n + 1
        elif len(shapes) < 4096:
            shapes[shape] = 1
        else:  # a stream whose records keep changing names: count per name instead
            counts = self._stats.metric_counts
            for name in shape:
                counts[name] = counts.get(name, 0) + 1
            self._stats.records += 1
        return True

    def _redraw_step(self, line: str) -> int | None:
        """The step of the training bar redrawn on `line` after a tqdm.write() message, else None.
        Read from the bar up to its `]`, which text added later cannot change: the same whether the
        line is complete or still arriving (`_redrawn`). _fastcore's redraw templates do the same."""
        bar = redraw_position(line)
        if bar is None or bar[1] != self._bar_total or bar[0] < self._bar_n:
            return None
        n = bar[0]
        epoch = self._header_epoch if self._header_epoch is not None else self._bar_epoch
        return epoch * self._bar_total + n  # as _bar gives it (same bar, no restart)

    def _release(self, step: int | None, out: list[Record]) -> None:
        """The waiting records out: at the redrawn bar's step when there was one."""
        held, self._held = self._held, None
        for record in held:
            if step is not None and (record.step is None or step > record.step):
                record.step = step
            out.append(record)

    def _redrawn(self, out: list[Record]) -> None:
        """At the end of a feed: the waiting records out when the text still arriving (a bar is
        redrawn without a line end) is the bar redrawn far enough to tell its step."""
        if self._pending:
            step = self._redraw_step(_clean(self._pending).split("\n", 1)[0])
            if step is not None:
                self._release(step, out)

    def _primary_rank(self, metrics: dict[str, float], rank: int) -> dict[str, float]:
        """Keep the metrics this rank is the lowest to print; copies from other ranks are dropped."""
        primary = self._primary
        keep = {}
        for k, v in metrics.items():
            p = primary.get(k)
            if p is None or rank <= p:
                primary[k] = rank
                keep[k] = v
        return keep

    def _failed(self, lineno: int, line: str, why: str) -> None:
        self._stats.failures += 1
        log.debug("line %d: %s: %.200r", lineno, why, line)

    # ---- learned whole lines -------------------------------------------------------------------
    def _learn_line(self, cf: Fmt, hm: re.Match, line: str, ranked: bool, lead: bool, prefix) -> None:
        """After a format read a line: the line's prefixes, head and body shape as one regex, so
        that the next line like it costs one match (see FastLine)."""
        if prefix is not None and prefix[4]:
            return  # a weak prefix may stand for a longer one on the next line
        section_raw = hm.groupdict().get("section")
        if _section(cf, section_raw, None) is not None:
            return
        shapes = cf.shapes.get(None)
        shape = shapes[1] if shapes and len(shapes) > 1 else None  # (a list other threads change too)
        if shape is None:
            return
        key = (cf, shape, ranked, lead, prefix and prefix[0], section_raw)
        fl = self._fast_known.get(key, MISS)
        known = fl is not MISS
        if not known:
            fl = FastLine.build(cf, shape, ranked, lead, prefix, section_raw)
            if len(self._fast_known) < 256:
                self._fast_known[key] = fl
        if fl is None:
            return
        fast = self._fast.get(line[:2])
        if known and fast is not None and (len(fast) >= _MAX_FAST or fl in fast):
            # a known line joins the list of other first characters (`09/30 ...` then `10/01 ...`)
            # only where there is room: lines of many shapes must not push each other out
            return
        if fl.rx.match(line) is not None:
            if fast is None:
                fast = self._fast[line[:2]] = []
            fast.insert(0, fl)
            del fast[_MAX_FAST:]

    # ---- formats of the table ----------------------------------------------------------------
    def _format_line(self, cf: Fmt, hm: re.Match, msg: str, ts, rank, logger, lineno: int, out: list[Record]) -> bool | None:
        fmt = cf.fmt
        g = hm.groupdict()
        section = _section(cf, g.get("section"), logger) if cf.sectioned else None
        body = msg[hm.end():]
        step = None
        if fmt.body == "none":
            metrics = head_metrics(cf, hm, g)
        elif fmt.body == "positional":
            task = g.get("task")
            values = [to_float(v) for v in _NUM_RX.findall(body)]
            key = (fmt.names, task)
            names = _POSITIONAL_NAMES.get(key)
            if names is None:  # a log prints the same few tasks again and again
                names = [normalize_name(f"{task}_{n}" if task else n) for n in fmt.names]
                if len(_POSITIONAL_NAMES) < 10_000:
                    _POSITIONAL_NAMES[key] = names
            metrics = dict(zip(names, values))
        else:
            metrics, step = read_body(cf, fmt.body, body, section)
        own = g.get("step")
        if own is not None:
            step = int(own)
        if g.get("rank") is not None:
            rank = g["rank"]
        epoch = g.get("epoch")
        is_eval = section in P.EVAL_SECTIONS
        if epoch is not None and not is_eval:
            metrics["epoch"] = float(epoch)
        eval_counter = False
        pos = g.get("pos")
        if step is None and pos is not None:
            total = g.get("total")
            if is_eval:
                eval_counter = True  # an evaluation batch counter is not a training step
            else:
                step = _position_step(epoch, pos, total, fmt.epoch_base)
        if not metrics or (len(metrics) == 1 and "epoch" in metrics):
            return False  # the generic reader may still make sense of it
        self._emit_format(metrics, step, eval_counter, ts, rank, lineno, out)

    def _emit_format(self, metrics: dict[str, float], step: int | None, eval_counter: bool, ts, rank,
                     lineno: int, out: list[Record]) -> None:
        """A format line's record: its own step ends the bar context; else the step it follows."""
        if step is not None:
            self._has_steps = True
            if self._emit(metrics, step, ts, rank, lineno, out):
                self._attach = None
        else:
            self._emit(metrics, self._step(None, eval_counter), ts, rank, lineno, out)

    def _epoch_header(self, cf: Fmt, hm: re.Match, msg: str, ts, rank, logger, lineno: int, out) -> None:
        epoch = int(hm.group("epoch"))
        if epoch == 0:
            self._kk_base = 0
        self._header_epoch = epoch - self._kk_base
        self._expect_train_bar = True
        self._attach = None

    def _table_title_line(self, cf: Fmt, hm: re.Match, msg: str, ts, rank, logger, lineno: int, out) -> None:
        self._table_title = hm.group("task")
        self._attach = None

    def _block_header(self, cf: Fmt, hm: re.Match, msg: str, ts, rank, logger, lineno: int, out) -> None:
        self._flush_block(out)
        step = hm.groupdict().get("step")
        self._block = {"row": cf.row or P.BLOCK_ROW, "cf": None, "ts": ts, "rank": rank, "line": lineno, "metrics": {},
                       "step": None if step is None else int(step)}

    def _block_row_line(self, cf: Fmt, hm: re.Match, msg: str, ts, rank, logger, lineno: int, out) -> None:
        if self._block is None:
            self._block = {"row": None, "cf": cf, "ts": ts, "rank": rank, "line": lineno, "metrics": {}, "step": None}
        self._add_row(cf, hm)

    def _block_row(self, msg: str) -> bool:
        """Whether an open block takes this line as one of its rows."""
        block = self._block
        if block["cf"] is not None:  # rows of a format (pycocotools)
            hm = block["cf"].rx.match(msg)
            if hm is None:
                return False
            self._add_row(block["cf"], hm)
            return True
        rm = block["row"].match(msg)
        if rm is None:
            return False
        value = field_value(rm.group("value"))
        if value is not None:
            name = final_name(rm.group("name"), None)
            if isinstance(name, str):
                block["metrics"][name] = value
        return True

    def _add_row(self, cf: Fmt, hm: re.Match) -> None:
        groups = hm.groupdict()
        value = groups.pop("value", None)
        key = (cf.fmt.name_template, tuple(groups.items()))
        name = _ROW_NAMES.get(key)
        if name is None:  # a block prints the same rows again and again: their names are cached
            parts = {k: _TEMPLATE_CLEAN.sub("_", (v or "").lower().replace(".", "")).strip("_") for k, v in groups.items()}
            name = cf.fmt.name_template.format(**parts)
            if len(_ROW_NAMES) < 10_000:
                _ROW_NAMES[key] = name
        self._block["metrics"][name] = to_float(value)

    def _flush_block(self, out: list[Record]) -> None:
        block, self._block = self._block, None
        if block and block["metrics"]:
            self._emit(block["metrics"], self._step(block["step"]), block["ts"], block["rank"], block["line"], out)
            self._attach = None

    def _copypaste(self, cf: Fmt, hm: re.Match, msg: str, ts, rank, logger, lineno: int, out) -> None:
        rest = msg[hm.end():].strip()
        task = _COPY_TASK.match(rest)
        if task:
            self._copy_task, self._copy_names = task.group("task"), None
        elif _COPY_NAMES.match(rest):
            self._copy_names = [n.strip() for n in rest.split(",")]
        elif _COPY_VALUES.match(rest) and self._copy_names:
            prefix = f"{self._copy_task}_" if self._copy_task else ""
            metrics = {normalize_name(prefix + n): to_float(v) for n, v in zip(self._copy_names, rest.split(","))}
            self._emit(metrics, self._step(None), ts, rank, lineno, out)
            self._copy_names = None
        self._attach = None

    # ---- markdown tables: a header row of names, a `|---|` row, rows of numbers ---------------
    def _table_line(self, msg: str, ts, rank, lineno: int, out: list[Record]) -> bool:
        table = self._table
        if msg[:1] != "|":
            self._table = None
            return False
        if _TABLE_SEP.match(msg):
            if table is not None and table["stage"] == "header":
                table["stage"] = "rows"
                return True
            return False
        cells = [c.strip() for c in msg.strip().strip("|").split("|")]
        values = [field_value(c) for c in cells]
        if table is not None and table["stage"] == "rows" and len(cells) == len(table["names"]) \
                and all(v is not None for v in values):
            prefix = f"{table['title']}_" if table["title"] else ""
            metrics, step = {}, None
            for name, v in zip(table["names"], values):
                final = final_name(prefix + name, None)
                if final is STEP:
                    step = as_step(v)
                elif final is not None:
                    metrics[final] = v
            if metrics:
                self._emit(metrics, self._step(step), ts, rank, lineno, out)
            return True
        if len(cells) >= 2 and all(c and v is None for c, v in zip(cells, values)):
            self._table = {"kind": "markdown", "names": cells, "stage": "header", "title": self._table_title}
            self._table_title = None
            return True
        self._table = None
        return False

    # ---- tables without pipes (see tables.py) -------------------------------------------------
    def _column_row(self, msg: str, ts, rank, lineno: int, out: list[Record]) -> bool:
        if tables.is_underline(msg):
            return True
        got = tables.column_row(self._table["names"], msg)
        if got is None:
            self._table = None  # the table ended
            return False
        metrics, step, position = got
        if step is None and position is not None:
            epoch, n, total = position
            step = (epoch - 1) * total + n  # YOLO: `1/100` epochs count from 1, the bar is the batch
        self._emit(metrics, self._step(step), ts, rank, lineno, out)
        return True

    def _box_line(self, msg: str, ts, rank, lineno: int, out: list[Record]) -> bool:
        box = self._table
        if tables.is_rule(msg):
            if box is None:
                self._table = {"kind": "box", "rows": [], "section": None, "ts": ts, "line": lineno}
            else:
                self._close_box(rank, out)
            return True
        if box is None:
            return False
        row = tables.box_row(msg)
        if row is None:
            self._close_box(rank, out)
            return False
        name, value = row
        if value is None:
            box["section"] = name.rstrip("/") if name.endswith("/") else box["section"]
        else:
            box["rows"].append((box["section"], name, value))
        return True

    def _drawn_line(self, msg: str, ts, rank, lineno: int, out: list[Record]) -> bool:
        """A line of a drawn table (tables.drawn_row: rich's borders and `│` cells): a top border
        opens one (closing the one open), a bottom border closes it (its rows one record, as a
        box's), rows and the rules between them are read into it; any other line closes it."""
        box = self._table
        edge = tables.drawn_edge(msg)
        if edge == "top":
            if box is not None:
                self._close_box(rank, out)
            self._table = {"kind": "drawn", "rows": [], "section": None, "ts": ts, "line": lineno}
            return True
        if box is None:
            return False
        if edge is not None:
            if edge == "bottom":
                self._close_box(rank, out)
            return True
        row = tables.drawn_row(msg)
        if row is None:
            self._close_box(rank, out)
            return False
        if row[1] is not None:
            box["rows"].append((None, *row))
        return True

    def _close_box(self, rank, out: list[Record]) -> None:
        box, self._table = self._table, None
        metrics, step = tables.box_metrics(box["rows"])
        if metrics:
            self._emit(metrics, self._step(step), box["ts"], rank, box["line"], out)

    # ---- progress bars ----------------------------------------------------------------------
    def _bar(self, msg: str, ts, rank, lineno: int, out: list[Record]) -> bool:
        text = msg.rstrip()
        nested = text[-1:] == _NESTED
        if nested:
            text = text[:-1].rstrip()
        parsed = None
        kind = "tqdm"
        if "|" in text:
            bm = P.TQDM.match(text)
            if bm is not None:
                parsed = bm.group("desc", "n", "total", "inner", "rest")
        if parsed is None:
            bm = None
            if text[:1].isdigit():
                kind = "keras"
                bm = P.KERAS.match(text)
            elif "it [" in text:
                bm = P.TQDM_NOTOTAL.match(text)
            if bm is None and ("━" in text or "─" in text):
                kind = "rich"
                bm = P.RICH.match(text)
            if bm is None:
                return False
            gd = bm.groupdict()
            parsed = (gd.get("desc") or "", gd["n"], gd.get("total"), gd.get("inner") or gd.get("rest"), gd.get("rest"))
            if kind != "tqdm":
                parsed = parsed[:4] + (None,)
        desc, n_s, total_s, source, rest = parsed
        self._hold = False  # a message glued after the bar (read from two pipes) is at this bar
        n = int(n_s)
        total = int(total_s) if total_s and total_s != "?" else None
        desc = desc.strip()
        is_eval = nested or (bool(desc) and P.BAR_EVAL_WORDS.search(desc) is not None)
        epoch_m = P.BAR_EPOCH.search(desc) if desc and not is_eval else None
        if not is_eval and epoch_m is None and not self._expect_train_bar and self._bar_total is not None \
                and total != self._bar_total and self._bar_done:
            is_eval = True  # a bar after training finished, with another length: an evaluation
        metrics = bar_metrics(kind, source) if source else None
        if is_eval:
            section = eval_word(desc)
            if metrics and section:  # a named evaluation bar: its values, with no training step
                self._emit({f"{section}_{k}" if not k.startswith(P.SECTION_PREFIXES) else k: v
                            for k, v in metrics.items()}, None, ts, rank, lineno, out, reprint=True)
        else:
            epoch = None
            if epoch_m is not None:
                e = int(epoch_m.group("epoch"))
                if epoch_m.group("epochs") is not None:
                    if e == 0:
                        self._kk_base = 0
                    epoch = e - self._kk_base
                else:
                    epoch = e
            elif self._header_epoch is not None:
                epoch = self._header_epoch
            elif n < self._bar_n and total == self._bar_total:
                self._bar_epoch += 1  # the bar restarted without printing an epoch
            self._expect_train_bar = False
            self._bar_total, self._bar_n = total, n
            self._bar_done = total is not None and n >= total
            if epoch is None:
                epoch = self._bar_epoch
            step = epoch * total + n if total is not None else n
            self._has_steps = True
            self._attach = step
            if metrics:
                if epoch_m is not None:
                    metrics["epoch"] = float(epoch_m.group("epoch"))
                self._emit(metrics, step, ts, rank, lineno, out, reprint=True)
        if rest and not rest.isspace():
            self._line(rest, lineno, out)  # text glued after the bar (Lightning's checkpoint message)
        return True

    # ---- dicts and JSON objects ---------------------------------------------------------------
    def _dict(self, msg: str, ts, rank, lineno: int, out: list[Record]) -> bool:
        start = msg.find("{")
        text = msg[start:].rstrip()
        pairs = dict_pairs(text)
        if not pairs:
            return False
        metrics, step = {}, None
        names = GENERIC.name_map(None)
        for key, value in pairs:
            name = names.get(key, MISS)
            if name is MISS:
                name = GENERIC.resolve(names, key, None)
            if name is STEP:
                step = as_step(value)
            elif name is not None:
                metrics[name] = value
        if not metrics or not metric_words(" ".join(metrics)):
            return False
        if step is None and start:
            sm = P.GENERIC_STEP.search(msg, 0, start)
            if sm:
                step = int(sm.group("step"))
        self._emit(metrics, self._step(step), ts, rank, lineno, out)
        return True

    # ---- anything else: `key: value`, `key=value`, `key value |`, when a label names a metric ----
    def _generic(self, msg: str, ts, rank, lineno: int, out: list[Record]) -> bool:
        if _DIGIT.search(msg) is None and "nan" not in msg and "inf" not in msg:
            if ("loss" in msg or "Loss" in msg) and _FAIL_HINT.search(msg):
                self._failed(lineno, msg, "looked like metrics but did not parse")
            return False  # no number, no report (most text lines stop here)
        low = msg.lower()
        if P.METRIC_WORDS.search(low) is None or P.NEVER_LINES.search(low) is not None:
            return False
        sec = P.GENERIC_SECTION.match(msg)
        section = sec.group("section").lower() if sec else None
        metrics, step = generic_pairs(msg, section)
        if not metrics or not metric_words(" ".join(metrics)):
            if _FAIL_HINT.search(msg):
                self._failed(lineno, msg, "looked like metrics but did not parse")
            return False
        epoch_pos = None
        em = P.GENERIC_EPOCH.search(msg)
        if em is not None:
            metrics.setdefault("epoch", float(em.group("epoch")))
            if em.group("pos") is not None:
                base = self._kk_base if em.group("epochs") is not None else 0
                epoch_pos = (int(em.group("epoch")) - base) * int(em.group("total")) + int(em.group("pos"))
        if step is None:
            sm = P.GENERIC_STEP.search(msg)
            if sm is not None:
                step = int(sm.group("step"))
        if step is None:
            step = epoch_pos
        emitted = self._emit(metrics, self._step(step), ts, rank, lineno, out)
        if step is not None:
            self._attach = None
        return emitted

    # ---- user patterns ------------------------------------------------------------------------
    def _user_line(self, line: str, lineno: int, out: list[Record]) -> bool:
        for up in self._user:
            um = up.compiled.search(line)
            if um is None:
                continue
            metrics: dict[str, float] = {}
            step = None
            gd = um.groupdict()
            if gd.get("step"):
                v = field_value(gd["step"])
                if v is not None:
                    step = as_step(v)
            if gd.get("epoch"):
                v = field_value(gd["epoch"])
                if v is not None:
                    metrics["epoch"] = v
            for g in up.metric_groups:
                if gd.get(g) is not None:
                    v = field_value(gd[g])
                    if v is not None:
                        metrics[canonical_type(g)] = v
            if up.pairs:
                for pm in up.compiled.finditer(line):
                    for name_g, value_g in up.pairs:
                        n, v = pm.group(name_g), pm.group(value_g)
                        if n and v is not None:
                            value = field_value(v)
                            if value is not None:
                                metrics[canonical_type(n)] = value
            if not metrics and up.name is not None:
                raw = gd.get("value") if "value" in gd else (um.group(1) if um.re.groups >= 1 else None)
                value = field_value(raw) if raw is not None else None
                if value is not None:
                    metrics[canonical_type(up.name)] = value
            if metrics:
                self._emit(metrics, self._step(step), None, None, lineno, out)
                return True
        return False


def _section(cf: Fmt, printed: str | None, logger: str | None) -> str | None:
    """The evaluation section a format line reports under; None for training lines."""
    fmt = cf.fmt
    section = fmt.section or printed or (logger if fmt.section_from_logger else None)
    if section is not None:
        section = section.lower()
        if section not in P.EVAL_SECTIONS and not (section == "train" and fmt.section_from_logger):
            section = None  # `Epoch(train)`: training lines keep bare names
    return section


_MAX_FAST = 4


class FastLine:
    """A learned whole line: rank prefix, logging prefix, a format's head and a learned body shape
    (`bodies.Shape`) composed into one regex. A line it matches is read as `_line` would read it
    (the same prefix, format and shape would be picked; the checks in `read` make sure), for one
    match and a float() per value. Anything unusual goes back to the full path."""

    __slots__ = ("rx", "cf", "shape", "section_raw", "has", "base", "ranked", "check_prefix", "earlier",
                 "has_section", "has_step", "has_epoch", "has_pos", "has_total", "has_ts")

    @classmethod
    def build(cls, cf: Fmt, shape, ranked: bool, lead: bool, prefix, section_raw: str | None) -> FastLine | None:
        parts = []
        if ranked:
            parts.append(f"(?:{P.RANK_PREFIX.pattern})")
        elif lead:
            parts.append(" ")
        if prefix is not None:
            parts.append(f"(?:{prefix[0].pattern})")
        else:
            parts.append("(?P<fast_msg>)")  # where the full path would look for a logging prefix
        parts.append(f"(?:[ \\t]\\s*)?(?P<fast_head>{cf.rx.pattern})")
        try:
            offset = re.compile("".join(parts)).groups
            rx = re.compile("".join(parts) + shape.rx.pattern)
        except re.error:
            return None
        self = cls()
        self.rx = rx
        self.cf = cf
        self.shape = shape.shifted(offset)
        self.section_raw = section_raw
        self.has = has = frozenset(rx.groupindex)
        # which groups the regex has, looked up once here rather than per line
        self.has_section, self.has_step, self.has_epoch = "section" in has, "step" in has, "epoch" in has
        self.has_pos, self.has_total, self.has_ts = "pos" in has, "total" in has, "ts" in has
        self.base = cf.fmt.epoch_base
        self.ranked = ranked
        self.check_prefix = prefix is None
        # the formats the full path tries before this one, by the 4 characters that pick them
        self.earlier: dict[str, tuple[Fmt, ...] | None] = {}
        return self

    def _earlier(self, start: str) -> tuple[Fmt, ...] | None:
        """The formats `_line` tries before this one on a message starting with `start`; None
        when `_line` would not try this one at all."""
        cands = BY_START.get(start)
        if cands is None or self.cf not in cands:
            got = None
        else:
            got = cands[:cands.index(self.cf)]
        if len(self.earlier) < 64:
            self.earlier[start] = got
        return got

    def read(self, parser: StreamParser, m: re.Match, line: str, lineno: int, out: list[Record]) -> bool:
        """Emit the line's record; False (nothing done) when the full path must read it."""
        if self.check_prefix:
            at = m.start("fast_msg")
            prefixes = parser._prefixes.get(line[at:at + 1])
            if prefixes is not None:
                for entry in prefixes:
                    if entry[0].match(line, at) is not None:
                        return False  # the full path would take a logging prefix off here
        hs = m.start("fast_head")
        start = line[hs:hs + 4]
        earlier = self.earlier.get(start, MISS)
        if earlier is MISS:
            earlier = self._earlier(start)
        if earlier is None:
            return False
        for other in earlier:
            if (not other.lead or line.startswith(other.lead, hs)) and other.rx.match(line, hs) is not None:
                return False  # the full path would pick another format
        cf = self.cf
        if self.has_section and m.group("section") != self.section_raw:
            return False
        got = self.shape.read(cf, m)
        if got is None:
            return False
        metrics, step = got
        if self.has_step:
            own = m.group("step")
            if own is not None:
                step = int(own)
        epoch = m.group("epoch") if self.has_epoch else None
        if epoch is not None:
            metrics["epoch"] = float(epoch)
        if step is None and self.has_pos:
            pos = m.group("pos")
            if pos is not None:
                step = _position_step(epoch, pos, m.group("total") if self.has_total else None, self.base)
        if not metrics or (len(metrics) == 1 and "epoch" in metrics):
            return False
        ts = m.group("ts") if self.has_ts else None
        rank = (m.group(1) or m.group(2)) if self.ranked else None
        parser._emit_format(metrics, step, False, ts, rank, lineno, out)
        return True


def redraw_position(line: str) -> tuple[int, int] | None:
    """(position, total) of a plain tqdm bar (no epoch, not an evaluation) at the start of `line`."""
    text = line.lstrip()
    bm = P.TQDM.match(text) if "|" in text else None
    if bm is None or bm.group("total") == "?":
        return None
    desc = bm.group("desc").strip()
    if desc and (P.BAR_EVAL_WORDS.search(desc) or P.BAR_EPOCH.search(desc)):
        return None
    return int(bm.group("n")), int(bm.group("total"))


def _position_step(epoch: str | None, pos: str, total: str | None, base: int) -> int:
    """The global step of a position in an epoch (`[2][50/7330]`), else the position itself."""
    if epoch is not None and total is not None:
        return (int(epoch) - base) * int(total) + int(pos)
    return int(pos)


_HINTS = tuple((cf.fmt.hint, cf) for cf in HINTED)
_KINDS = {
    "line": StreamParser._format_line,
    "epoch_header": StreamParser._epoch_header,
    "table_title": StreamParser._table_title_line,
    "block_header": StreamParser._block_header,
    "block_row": StreamParser._block_row_line,
    "copypaste": StreamParser._copypaste,
}

def fastpath_clone(parser: StreamParser) -> StreamParser:
    from parsing.fastpath import clone
    return clone(parser)


def _first_line_end(text: str) -> int:
    cuts = [i for i in (text.find("\n"), text.find("\r")) if i >= 0]
    return min(cuts) if cuts else -1


def parse_text(text: str, patterns: list[UserPattern] | None = None, *, pure: bool = False) -> list[Record]:
    """Every record of a whole text."""
    parser = StreamParser(patterns, pure=pure)
    return parser.feed(text) + parser.finish()


def parse_file(path: str | Path, patterns: list[UserPattern] | None = None, *, pure: bool = False,
               templates: TemplateStore | None = None) -> Iterator[Record]:
    """Records of a file, read in large blocks (bytes that are not UTF-8 are replaced); line
    templates from and to `templates`, by default the process's (shared_templates())."""
    if templates is None and not pure and not patterns:  # (user patterns are read in Python)
        from parsing.templates import shared_templates
        templates = shared_templates()
    parser = StreamParser(patterns, pure=pure, templates=templates)
    with open(path, "rb") as f:
        while data := f.read(READ_BLOCK):
            yield from parser.feed_bytes(data)
    yield from parser.finish()

"""Streaming parser: text chunks in (split anywhere), Records out, in order.

A chunk is cut at its last line end; the rest waits for the next chunk. Complete lines are cleaned
per block (universal newlines, ANSI codes, backspaces) and then read one at a time: a line either
matches a format of `patterns.FORMATS` (one combined, prefix-aware regex decides), is a progress
bar, a dict / JSON object, or goes to the generic key/value fallback, which only speaks when a
label names a training quantity. The little context a log needs (the training bar's position,
the epoch, an open block, which rank is primary) lives on the parser.
"""
from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from parsing import patterns as P
from parsing.names import canonical_type, normalize_name
from parsing.records import ParseStats, Record
from parsing.timestamps import parse_timestamp
from parsing.user_patterns import UserPattern
from parsing.values import NUM, parse_value, to_float

try:  # JSON lines are parsed by orjson when it is there; the stdlib otherwise
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover
    from json import loads as _json_loads

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20  # a pending (or complete) line beyond this is cut; the rest is counted, not kept
READ_BLOCK = 1 << 20

_ANSI = re.compile(r"\x1b(?:\[[0-?]{0,32}[ -/]{0,8}[@-~]|\][^\x07\x1b\n]{0,4096}(?:\x07|\x1b\\)?|[@-Z\\-_])")
_NESTED = "\ue000"  # stands in for tqdm's cursor-up (`\x1b[A`): a bar drawn at position >= 1
_NUM_RX = re.compile(NUM)
_TABLE_SEP = re.compile(r"\s*\|(?:\s*:?-{1,200}:?\s*\|){1,64}\s*$")
_COPY_TASK = re.compile(r"Task: (?P<task>\w{1,64})\s*$")
_COPY_NAMES = re.compile(r"[A-Za-z][\w\-]{0,63}(?:,[A-Za-z][\w\-]{0,63}){0,63}\s*$")
_COPY_VALUES = re.compile(rf"{NUM}(?:,{NUM}){{0,63}}\s*$")
_FAIL_HINT = re.compile(r"(?i)(?:loss|lr|learning[ _]rate|acc\w{0,8}|norm)['\"]?\s{0,4}[:=]\s{0,4}\S")
_TEMPLATE_CLEAN = re.compile(r"[^a-z0-9]+")
_STEP = object()  # a label that carries the step, not a metric


class _Fmt:
    """One row of the format table, compiled into the combined line regex."""

    __slots__ = ("fmt", "group", "g", "metric_groups", "template_groups", "names")

    def __init__(self, fmt: P.Format, group: str) -> None:
        self.fmt = fmt
        self.group = group
        own = re.compile(fmt.head).groupindex
        self.g = {name: f"{group}_{name}" for name in own}
        self.metric_groups = tuple((name[2:], f"{group}_{name}") for name in own if name.startswith("m_"))
        self.template_groups = tuple((name, f"{group}_{name}") for name in own if name in fmt.templates)
        self.names: dict[tuple[str, str | None], object] = {}

    def get(self, m: re.Match, role: str) -> str | None:
        name = self.g.get(role)
        return m.group(name) if name is not None else None

    def name(self, raw: str, section: str | None) -> object:
        """Final metric name for a printed label: _STEP, None (never a metric) or the name."""
        key = (raw, section)
        cached = self.names.get(key, key)
        if cached is not key:
            return cached
        result = _final_name(self.fmt.renames.get(raw, raw), section)
        if len(self.names) < 10_000:
            self.names[key] = result
        return result


def _final_name(raw: str, section: str | None) -> object:
    base = normalize_name(raw)
    if base in P.NEVER_METRICS or not base:
        return None
    if base in P.STEP_KEYS:
        return _STEP
    if section:
        return base if base.startswith(P.SECTION_PREFIXES) else f"{section}_{base}"
    return canonical_type(raw)


_GENERIC = _Fmt(P.Format("generic", ""), "_generic")


def _compile_table() -> tuple[re.Pattern, dict[str, _Fmt]]:
    alternatives = []
    by_group: dict[str, _Fmt] = {}
    for i, fmt in enumerate(P.FORMATS):
        group = f"_f{i}"
        head = re.sub(r"\(\?P<(\w+)>", lambda mm: f"(?P<{group}_{mm.group(1)}>", fmt.head)
        head = re.sub(r"\(\?P=(\w+)\)", lambda mm: f"(?P={group}_{mm.group(1)})", head)
        alternatives.append(f"(?P<{group}>{head})")
        by_group[group] = _Fmt(fmt, group)
    return re.compile(P.PREFIX + "(?:" + "|".join(alternatives) + ")?"), by_group


_LINE, _FORMATS = _compile_table()
_GI = _LINE.groupindex
_TS_IDX = tuple(_GI[g] - 1 for g in P.TS_GROUPS)
_LOGGER_IDX = tuple(_GI[g] - 1 for g in P.LOGGER_GROUPS)
_RANK_IDX = tuple(_GI[g] - 1 for g in ("rank", "rank_mpi", "rank_ds"))
_LABEL_IDX = _GI["rank_label"]


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


class StreamParser:
    """Feed text (or bytes) as it arrives; get Records back as lines complete."""

    def __init__(self, patterns: list[UserPattern] | None = None) -> None:
        self._user = list(patterns or ())
        self._pending = ""
        self._overflow = False
        self._decoder = None
        self._lineno = 0
        self._stats = ParseStats()
        self._shapes: dict[tuple[str, ...], int] = {}
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
        self._last: dict[str, float] = {}  # last value emitted per metric (reprints are not new)
        self._evalish: dict[str, bool] = {}
        self._primary: dict[str, int] = {}  # metric -> lowest rank that printed it
        self._labels: dict[str, int] = {}  # `N: ` prefixes seen, to tell ranks from other numbers
        self._block: dict | None = None
        self._table: dict | None = None
        self._table_title: str | None = None
        self._copy_task: str | None = None
        self._copy_names: list[str] | None = None

    # ---- input ------------------------------------------------------------------------------
    def feed(self, text: str) -> list[Record]:
        if not text:
            return []
        if self._overflow:
            cut = _first_line_end(text)
            if cut < 0:
                return []
            text = text[cut:]
            self._overflow = False
        data = self._pending + text if self._pending else text
        end = max(data.rfind("\n"), data.rfind("\r"))
        if end == len(data) - 1 and data[end] == "\r":
            # `\r` may be the first half of `\r\n`: keep the line it ends until more arrives
            end = max(data.rfind("\n", 0, end), data.rfind("\r", 0, end))
        if end < 0:
            self._pending = self._cap(data)
            return []
        self._pending = self._cap(data[end + 1:])
        out: list[Record] = []
        self._block_text(data[: end + 1], out)
        return out

    def feed_bytes(self, data: bytes) -> list[Record]:
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return self.feed(self._decoder.decode(data))

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
        self._overflow = False
        self._flush_block(out)
        self._flush_table(out)
        return out

    @property
    def stats(self) -> ParseStats:
        s = self._stats
        s.lines = self._lineno
        counts: dict[str, int] = {}
        for names, n in self._shapes.items():
            for name in names:
                counts[name] = counts.get(name, 0) + n
        s.metric_counts = counts
        return s

    def _cap(self, partial: str) -> str:
        if len(partial) > MAX_LINE:
            self._stats.truncated_lines += 1
            self._overflow = True
            return partial[:MAX_LINE]
        return partial

    # ---- lines ------------------------------------------------------------------------------
    def _block_text(self, block: str, out: list[Record]) -> None:
        if "\r" in block:
            block = block.replace("\r\n", "\n").replace("\r", "\n")
        if "\x1b" in block:
            block = _ANSI.sub("", block.replace("\x1b[A", _NESTED))
        if "\x08" in block:
            block = block.replace("\x08", "")
        lines = block.split("\n")
        lines.pop()
        lineno = self._lineno
        line_fn = self._line
        for line in lines:
            lineno += 1
            if len(line) > MAX_LINE:
                line = line[:MAX_LINE]
                self._stats.truncated_lines += 1
            try:
                line_fn(line, lineno, out)
            except Exception:  # the parser never raises on input; a bug here costs one line
                log.debug("line %d: parser error", lineno, exc_info=True)
                self._stats.failures += 1
        self._lineno = lineno

    def _line(self, line: str, lineno: int, out: list[Record]) -> None:
        if self._user and self._user_line(line, lineno, out):
            return
        m = _LINE.match(line)
        if m.start(_LABEL_IDX) >= 0:
            label = m.group(_LABEL_IDX)
            self._labels[label] = self._labels.get(label, 0) + 1
        cf = _FORMATS.get(m.lastgroup)
        if self._block is not None and not (cf is not None and cf is self._block["fmt"]):
            if self._block["fmt"].fmt.kind == "block_header" and _block_row(self._block, line):
                return
            self._flush_block(out)
        if cf is not None:
            _KINDS[cf.fmt.kind](self, cf, m, line, lineno, out)
            return
        body = line[m.end():]
        if not body or body.isspace() or body.strip() == _NESTED:
            return  # a blank line (or a cleared bar) keeps the bar context
        if self._table is not None or body.lstrip()[:1] == "|":
            if self._table_line(body, m, lineno, out):
                return
        if "/" in body and self._bar(body, m, lineno, out):
            return
        if "{" in body and self._dict(body, m, lineno, out):
            return
        if not self._generic(body, m, lineno, out):
            self._attach = None

    # ---- records ----------------------------------------------------------------------------
    def _step(self, step: int | None, eval_counter: bool = False) -> int | None:
        if step is not None:
            self._has_steps = True
            return step
        if eval_counter:
            return None
        if self._attach is not None:
            return self._attach
        if not self._has_steps:
            step = self._counter
            self._counter += 1
            return step
        return None

    def _emit(self, metrics: dict[str, float], step: int | None, m: re.Match | None, lineno: int,
              out: list[Record], reprint: bool = False) -> bool:
        """Append a record; `reprint` marks a source (a progress bar) that reprints old values."""
        groups = m.groups() if m is not None else None
        if groups is not None:
            rank = groups[_RANK_IDX[0]] or groups[_RANK_IDX[1]] or groups[_RANK_IDX[2]]
            if rank is None:
                label = groups[_LABEL_IDX - 1]
                if label is not None and self._labels.get(label, 0) >= 2:
                    rank = label
            if rank is not None:
                metrics = self._primary_rank(metrics, int(rank))
        last = self._last
        if reprint:
            # the epoch is the bar's context, not a reprinted value: it goes with whatever is new
            metrics = {k: v for k, v in metrics.items() if k == "epoch" or k not in last or not _same(last[k], v)}
            if list(metrics) == ["epoch"] and "epoch" in last and _same(last["epoch"], metrics["epoch"]):
                metrics = {}
        else:
            evalish = self._evalish
            stale = [k for k in metrics if (evalish.get(k) if k in evalish else self._is_evalish(k))
                     and k in last and _same(last[k], metrics[k])]
            if stale:
                metrics = {k: v for k, v in metrics.items() if k not in stale}
                if list(metrics) == ["epoch"]:
                    metrics = {}
        if not metrics:
            return False
        last.update(metrics)
        ts = None
        if groups is not None:
            for i in _TS_IDX:
                if groups[i] is not None:
                    ts = parse_timestamp(groups[i])
                    break
        out.append(Record(step, metrics, ts, lineno))
        self._stats.records += 1
        shape = tuple(metrics)
        self._shapes[shape] = self._shapes.get(shape, 0) + 1
        return True

    def _is_evalish(self, name: str) -> bool:
        flag = name.startswith(P.SECTION_PREFIXES) or name.startswith("best_")
        if len(self._evalish) < 10_000:
            self._evalish[name] = flag
        return flag

    def _primary_rank(self, metrics: dict[str, float], rank: int) -> dict[str, float]:
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

    # ---- formats of the table ----------------------------------------------------------------
    def _format_line(self, cf: _Fmt, m: re.Match, line: str, lineno: int, out: list[Record]) -> None:
        fmt = cf.fmt
        section = fmt.section or cf.get(m, "section")
        if fmt.section_from_logger and section is None:
            groups = m.groups()
            for i in _LOGGER_IDX:
                if groups[i] is not None:
                    section = groups[i]
                    break
        if section is not None:
            section = section.lower()
            if section not in P.EVAL_SECTIONS and not (section == "train" and fmt.section_from_logger):
                section = None  # `Epoch(train)`: training lines keep bare names
        is_eval = section in P.EVAL_SECTIONS
        body = line[m.end():]
        if fmt.body == "none":
            metrics, step = _head_metrics(cf, m), None
        elif fmt.body == "positional":
            task = cf.get(m, "task")
            values = [to_float(v) for v in _NUM_RX.findall(body)]
            names = [normalize_name(f"{task}_{n}" if task else n) for n in fmt.names]
            metrics, step = dict(zip(names, values)), None
        else:
            metrics, step = _collect(cf, fmt.body, body, section)
        own = cf.get(m, "step")
        if own is not None:
            step = int(own)
        epoch = cf.get(m, "epoch")
        eval_counter = False
        if epoch is not None and not is_eval:
            metrics["epoch"] = float(epoch)
        pos = cf.get(m, "pos")
        if step is None and pos is not None:
            total = cf.get(m, "total")
            if is_eval:
                eval_counter = True
            elif epoch is not None and total is not None:
                step = (int(epoch) - fmt.epoch_base) * int(total) + int(pos)
            else:
                step = int(pos)
        if not metrics or list(metrics) == ["epoch"]:
            self._failed(lineno, line, f"{fmt.name}: no metrics")
            return
        if self._emit(metrics, self._step(step, eval_counter), m, lineno, out) and step is not None:
            self._attach = None

    def _epoch_header(self, cf: _Fmt, m: re.Match, line: str, lineno: int, out: list[Record]) -> None:
        epoch = int(cf.get(m, "epoch"))
        if epoch == 0:
            self._kk_base = 0
        self._header_epoch = epoch - self._kk_base
        self._expect_train_bar = True
        self._attach = None

    def _table_title_line(self, cf: _Fmt, m: re.Match, line: str, lineno: int, out: list[Record]) -> None:
        self._table_title = cf.get(m, "task")
        self._attach = None

    def _block_header(self, cf: _Fmt, m: re.Match, line: str, lineno: int, out: list[Record]) -> None:
        self._flush_block(out)
        self._block = {"fmt": cf, "m": m, "line": lineno, "metrics": {}}

    def _block_row_line(self, cf: _Fmt, m: re.Match, line: str, lineno: int, out: list[Record]) -> None:
        block = self._block
        if block is None or block["fmt"] is not cf:
            self._flush_block(out)
            block = self._block = {"fmt": cf, "m": m, "line": lineno, "metrics": {}}
        parts = {g: _TEMPLATE_CLEAN.sub("_", (cf.get(m, g) or "").lower().replace(".", "")).strip("_")
                 for g in cf.g if g != "value"}
        name = cf.fmt.name_template.format(**parts)
        block["metrics"][name] = to_float(cf.get(m, "value"))

    def _flush_block(self, out: list[Record]) -> None:
        block, self._block = self._block, None
        if block and block["metrics"]:
            self._emit(block["metrics"], self._step(None), block["m"], block["line"], out)
            self._attach = None

    def _copypaste(self, cf: _Fmt, m: re.Match, line: str, lineno: int, out: list[Record]) -> None:
        rest = line[m.end():].strip()
        task = _COPY_TASK.match(rest)
        if task:
            self._copy_task, self._copy_names = task.group("task"), None
        elif _COPY_NAMES.match(rest):
            self._copy_names = [n.strip() for n in rest.split(",")]
        elif _COPY_VALUES.match(rest) and self._copy_names:
            values = [to_float(v) for v in rest.split(",")]
            prefix = f"{self._copy_task}_" if self._copy_task else ""
            metrics = {normalize_name(prefix + n): v for n, v in zip(self._copy_names, values)}
            self._emit(metrics, self._step(None), m, lineno, out)
            self._copy_names = None
        self._attach = None

    # ---- markdown tables: a header row of names, a `|---|` row, rows of numbers ---------------
    def _table_line(self, body: str, m: re.Match, lineno: int, out: list[Record]) -> bool:
        table = self._table
        if _TABLE_SEP.match(body):
            if table is not None and table["stage"] == "header":
                table["stage"] = "rows"
                return True
            return False
        cells = [c.strip() for c in body.strip().strip("|").split("|")]
        if body.lstrip()[:1] != "|":
            self._flush_table(out)
            return False
        values = [parse_value(c) for c in cells]
        if table is not None and table["stage"] == "rows" and len(cells) == len(table["names"]) \
                and all(v is not None for v in values):
            prefix = f"{table['title']}_" if table["title"] else ""
            metrics, step = {}, None
            for name, v in zip(table["names"], values):
                final = _final_name(prefix + name, None)
                if final is _STEP:
                    step = int(v)
                elif final is not None:
                    metrics[final] = v
            self._emit(metrics, self._step(step), m, lineno, out)
            return True
        if all(v is None and c for c, v in zip(cells, values)) and len(cells) >= 2:
            self._table = {"names": cells, "stage": "header", "title": self._table_title}
            self._table_title = None
            return True
        self._flush_table(out)
        return False

    def _flush_table(self, out: list[Record]) -> None:
        self._table = None

    # ---- progress bars ----------------------------------------------------------------------
    def _bar(self, body: str, m: re.Match, lineno: int, out: list[Record]) -> bool:
        text = body.rstrip()
        nested = text.endswith(_NESTED)
        if nested:
            text = text.rstrip(_NESTED + " ")
        kind = "tqdm"
        bm = None
        if "|" in text and "[" in text:
            bm = P.TQDM.match(text)
        elif "it [" in text:
            bm = P.TQDM_NOTOTAL.match(text)
        if bm is None:
            kind = "keras"
            bm = P.KERAS.match(text)
            if bm is None and ("━" in text or "─" in text):
                kind = "rich"
                bm = P.RICH.match(text)
            if bm is None:
                return False
        n = int(bm.group("n"))
        total_s = bm.groupdict().get("total")
        total = int(total_s) if total_s and total_s != "?" else None
        desc = "" if kind == "keras" else bm.group("desc").strip()
        source = bm.group("inner") if kind == "tqdm" else bm.group("rest")
        is_eval = nested or (desc and P.BAR_EVAL_WORDS.search(desc) is not None)
        epoch_m = P.BAR_EPOCH.search(desc) if desc and not is_eval else None
        if not is_eval and epoch_m is None and not self._expect_train_bar and self._bar_total is not None \
                and total != self._bar_total and self._bar_done:
            is_eval = True  # a bar after training finished, with another length: an evaluation
        pairs = _bar_pairs(kind, source)
        if is_eval:
            section = _eval_word(desc)
            if pairs and section:
                metrics = _named(pairs, section)
                if metrics:
                    self._emit(metrics, None, m, lineno, out, reprint=True)
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
            if epoch is None and n < self._bar_n and total == self._bar_total:
                self._bar_epoch += 1  # the bar restarted without printing an epoch
            self._expect_train_bar = False
            self._bar_total, self._bar_n = total, n
            self._bar_done = total is not None and n >= total
            if epoch is None:
                epoch = self._bar_epoch
            step = epoch * total + n if total is not None else n
            self._has_steps = True
            self._attach = step
            if pairs:
                metrics = _named(pairs, None)
                if metrics and epoch_m is not None:
                    metrics["epoch"] = float(epoch_m.group("epoch"))
                if metrics:
                    self._emit(metrics, step, m, lineno, out, reprint=True)
        if kind == "tqdm":
            rest = bm.group("rest")
            if rest and not rest.isspace():
                self._line(rest, lineno, out)
        return True

    # ---- dicts and JSON objects ---------------------------------------------------------------
    def _dict(self, body: str, m: re.Match, lineno: int, out: list[Record]) -> bool:
        start = body.find("{")
        text = body[start:].rstrip()
        pairs: list[tuple[str, float]] = []
        if text[1:2] == '"':
            try:
                obj = _json_loads(text)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                _flatten(obj, "", pairs)
        if not pairs:
            pairs = [(dm.group("key"), to_float(dm.group("num"))) for dm in P.DICT_PAIR.finditer(text)]
        if not pairs or not P.METRIC_WORDS.search(" ".join(k for k, _ in pairs)):
            return False
        metrics, step = {}, None
        for key, value in pairs:
            name = _GENERIC.name(key, None)
            if name is _STEP:
                if value == value and float(value).is_integer():
                    step = int(value)
            elif name is not None:
                metrics[name] = value
        head = body[:start]
        if step is None and head:
            sm = P.GENERIC_STEP.search(head)
            if sm:
                step = int(sm.group("step"))
        if not metrics:
            return False
        self._emit(metrics, self._step(step), m, lineno, out)
        return True

    # ---- anything else: `key: value`, `key=value`, `key value |`, when a label names a metric ----
    def _generic(self, body: str, m: re.Match, lineno: int, out: list[Record]) -> bool:
        if P.METRIC_WORDS.search(body) is None:
            return False
        if P.NEVER_LINES.search(body) is not None:
            return False
        sec = P.GENERIC_SECTION.match(body)
        section = sec.group("section").lower() if sec else None
        metrics, step = _generic_pairs(body, section)
        if not metrics or P.METRIC_WORDS.search(" ".join(metrics)) is None:
            if _FAIL_HINT.search(body):
                self._failed(lineno, body, "looked like metrics but did not parse")
            return False
        epoch_pos = None
        em = P.GENERIC_EPOCH.search(body)
        if em is not None:
            metrics.setdefault("epoch", float(em.group("epoch")))
            if em.group("pos") is not None:
                e = int(em.group("epoch"))
                base = self._kk_base if em.group("epochs") is not None else 0
                epoch_pos = (e - base) * int(em.group("total")) + int(em.group("pos"))
        if step is None:
            sm = P.GENERIC_STEP.search(body)
            if sm is not None:
                step = int(sm.group("step"))
        if step is None:
            step = epoch_pos
        emitted = self._emit(metrics, self._step(step), m, lineno, out)
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
                v = parse_value(gd["step"])
                if v is not None and v == v:
                    step = int(v)
            if gd.get("epoch"):
                v = parse_value(gd["epoch"])
                if v is not None:
                    metrics["epoch"] = v
            for g in up.metric_groups:
                if gd.get(g) is not None:
                    v = parse_value(gd[g])
                    if v is not None:
                        metrics[canonical_type(g)] = v
            if up.pairs:
                for pm in up.compiled.finditer(line):
                    for name_g, value_g in up.pairs:
                        n, v = pm.group(name_g), pm.group(value_g)
                        if n and v is not None:
                            value = parse_value(v)
                            if value is not None:
                                metrics[canonical_type(n)] = value
            if not metrics and up.name is not None:
                raw = gd.get("value") if "value" in gd else (um.group(1) if um.re.groups >= 1 else None)
                value = parse_value(raw) if raw is not None else None
                if value is not None:
                    metrics[canonical_type(up.name)] = value
            if metrics:
                self._emit(metrics, self._step(step), _LINE.match(line), lineno, out)
                return True
        return False


_KINDS = {
    "line": StreamParser._format_line,
    "epoch_header": StreamParser._epoch_header,
    "table_title": StreamParser._table_title_line,
    "block_header": StreamParser._block_header,
    "block_row": StreamParser._block_row_line,
    "copypaste": StreamParser._copypaste,
}


def _block_row(block: dict, line: str) -> bool:
    rm = P.BLOCK_ROW.match(line)
    if rm is None:
        return False
    value = parse_value(rm.group("value"))
    if value is not None:
        name = _final_name(rm.group("name"), None)
        if isinstance(name, str):
            block["metrics"][name] = value
    return True


def _first_line_end(text: str) -> int:
    cuts = [i for i in (text.find("\n"), text.find("\r")) if i >= 0]
    return min(cuts) if cuts else -1


# ---- bodies -------------------------------------------------------------------------------------
def _collect(cf: _Fmt, body_kind: str, body: str, section: str | None) -> tuple[dict[str, float], int | None]:
    metrics: dict[str, float] = {}
    step = None
    name_of = cf.name
    if body_kind == "colon":
        for pm in P.COLON_PAIR.finditer(body):
            name = name_of(pm.group("key"), section)
            if name is None:
                continue
            value = to_float(pm.group("num"))
            if name is _STEP:
                step = int(value) if value == value else None
                continue
            metrics[name] = value
            extra = pm.group("extra")
            if extra:
                _extras(cf, name, pm.group("unit"), extra, metrics)
    elif body_kind == "eq":
        for pm in P.EQ_PAIR.finditer(body):
            name = name_of(pm.group("key"), section)
            if name is None:
                continue
            value = to_float(pm.group("num"))
            if name is _STEP:
                step = int(value) if value == value else None
            else:
                metrics[name] = value
    elif body_kind in ("pipe", "comma"):
        for seg in body.split("|" if body_kind == "pipe" else ", "):
            if not seg or seg.isspace() or len(seg) > 300:
                continue
            sm = P.SEGMENT.match(seg)
            if sm is None:
                continue
            name = name_of(sm.group("key").strip(), section)
            if name is None:
                continue
            value = to_float(sm.group("num"))
            if name is _STEP:
                step = int(value) if value == value else None
            else:
                metrics[name] = value
    return metrics, step


def _head_metrics(cf: _Fmt, m: re.Match) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for metric, group in cf.metric_groups:
        raw = m.group(group)
        if raw is not None:
            value = parse_value(raw)
            if value is not None:
                metrics[canonical_type(metric)] = value
    name = cf.get(m, "name")
    if name is not None:
        value = parse_value(cf.get(m, "value"))
        if value is not None:
            final = canonical_type(name)
            metrics[final] = value
            for role, group in cf.template_groups:
                v = parse_value(m.group(group))
                if v is not None:
                    metrics[normalize_name(cf.fmt.templates[role].format(name=final))] = v
    return metrics


_EXTRA_VALUE = re.compile(rf"(?P<num>{NUM})(?P<unit>{P.UNIT})?")


def _extras(cf: _Fmt, name: str, unit: str | None, extra: str, metrics: dict[str, float]) -> None:
    """`Time: 0.280s,  912.88/s  (0.306s,  835.26/s)`: more values, then averages in parentheses."""
    head, _, paren = extra.partition("(")
    names = [name]
    for em in _EXTRA_VALUE.finditer(head):
        u = em.group("unit") or ""
        extra_name = cf.fmt.unit_names.get(u) or f"{name}_{normalize_name(u) or len(names)}"
        if name.startswith(P.SECTION_PREFIXES) and not extra_name.startswith(P.SECTION_PREFIXES):
            extra_name = f"{name.split('_', 1)[0]}_{extra_name}"
        names.append(extra_name)
        metrics[extra_name] = to_float(em.group("num"))
    if paren:
        for i, em in enumerate(_EXTRA_VALUE.finditer(paren)):
            if em.group("unit") == "%":
                metrics[f"{names[min(i, len(names) - 1)]}_pct"] = to_float(em.group("num"))
            elif i < len(names):
                metrics[f"{names[i]}_avg"] = to_float(em.group("num"))


def _bar_pairs(kind: str, source: str) -> list[tuple[str, str]]:
    if not source:
        return []
    if kind == "tqdm":
        pairs = [(pm.group("key"), pm.group("num")) for pm in P.EQ_PAIR.finditer(source)]
        if pairs:
            return pairs
    return [(pm.group("key"), pm.group("num")) for pm in P.COLON_PAIR.finditer(source)]


def _named(pairs: list[tuple[str, str]], section: str | None) -> dict[str, float]:
    metrics = {}
    for key, num in pairs:
        name = _GENERIC.name(key, section)
        if isinstance(name, str):
            metrics[name] = to_float(num)
    return metrics


def _eval_word(desc: str) -> str | None:
    sm = P.GENERIC_SECTION.match(desc + " ")
    return sm.group("section").lower() if sm else None


def _flatten(obj: dict, prefix: str, out: list[tuple[str, float]]) -> None:
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            out.append((key, float(v)))
        elif isinstance(v, str):
            value = parse_value(v)
            if value is not None:
                out.append((key, value))
        elif isinstance(v, list) and v and isinstance(v[0], (int, float)) and not isinstance(v[0], bool):
            out.append((key, float(v[0])))
        elif isinstance(v, dict):
            _flatten(v, f"{key}/", out)


def _generic_pairs(body: str, section: str | None) -> tuple[dict[str, float], int | None]:
    """The fallback: the first shape that yields pairs wins (pipe segments, key=value plus
    key: value, then `key value` separated by commas)."""
    metrics: dict[str, float] = {}
    step = None
    shapes = []
    if body.count("|") >= 2:
        shapes.append("pipe")
    shapes.append("eqcolon")
    shapes.append("comma")
    for shape in shapes:
        if shape == "eqcolon":
            found = []
            if "=" in body:
                found += [(pm.group("key"), pm.group("num")) for pm in P.EQ_PAIR.finditer(body)]
            if ":" in body:
                found += [(pm.group("key"), pm.group("num")) for pm in P.COLON_PAIR.finditer(body)]
            for key, num in found:
                name = _GENERIC.name(key, section)
                if name is _STEP:
                    v = to_float(num)
                    step = int(v) if v == v else None
                elif name is not None and name not in metrics:
                    metrics[name] = to_float(num)
        else:
            cf = _GENERIC
            got, s = _collect(cf, shape, body, section)
            for seg in (body.split("|") if shape == "pipe" else ()):
                um = P.UNIT_ONLY.match(seg) if len(seg) < 100 else None
                if um is not None:
                    unit = um.group("unit")
                    got.setdefault("time_ms" if unit == "ms" else normalize_name(unit.replace("/", " per ")),
                                   to_float(um.group("num")))
            metrics.update(got)
            step = s if s is not None else step
        if metrics:
            break
    return metrics, step


def parse_text(text: str, patterns: list[UserPattern] | None = None) -> list[Record]:
    """Every record of a whole text."""
    parser = StreamParser(patterns)
    return parser.feed(text) + parser.finish()


def parse_file(path: str | Path, patterns: list[UserPattern] | None = None) -> Iterator[Record]:
    """Records of a file, read in large blocks (bytes that are not UTF-8 are replaced)."""
    parser = StreamParser(patterns)
    with open(path, "rb") as f:
        while True:
            data = f.read(READ_BLOCK)
            if not data:
                break
            yield from parser.feed_bytes(data)
    yield from parser.finish()

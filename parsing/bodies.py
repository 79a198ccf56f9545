"""Reading the text after a format's head: `key: value` fields, `|` segments, `key=value`, dicts.

Bodies are split with `str` methods rather than scanned by regexes (a regex scan over a long line
costs several times more); a regex is used only for a value that is not a plain float.
"""
from __future__ import annotations

import re

from parsing import patterns as P
from parsing.formats import GENERIC, MISS, STEP, Fmt
from parsing.names import canonical_type, normalize_name
from parsing.values import DURATION, to_float

try:  # JSON lines go through orjson when it is there
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover
    from json import loads as _json_loads

# A unit glued to a plain number (`1184.05ms`, `14.22%`, `2364M`) is stripped before float(): an
# exception costs more than the strip.
UNIT_CHARS = "%/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
DURATION_RX = re.compile(r"\s{0,64}" + DURATION)


STEP_MAX = 2**63 - 1  # what a database BIGINT holds; beyond it a "step" is not a step


def as_step(value: float) -> int | None:
    """A printed step as an int; None for nan / inf / a fraction / beyond int64 (a step is a count)."""
    return int(value) if value.is_integer() and abs(value) <= STEP_MAX else None


# ---- values -------------------------------------------------------------------------------------
def field_value(text: str | None) -> float | None:
    """One printed value (units, quotes, list, thousands, duration); None if it is not a number."""
    if text is None:
        return None
    if text.isalpha() and "n" not in text and "N" not in text:
        # letters only and no `nan` / `inf`: neither float() nor a number pattern can read it (a
        # table's header cells; an exception and two regexes saved)
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


def glued_value(cf: Fmt, name: str, region: str, metrics: dict[str, float]) -> float | None:
    """The value of a field that is not a plain float, and what is glued to it:
    `71.24GiB(74.99%)` -> name_pct, `0.280s,  912.88/s  (0.306s,  835.26/s)` -> more values and
    their running averages (name_avg)."""
    if "(" in region:
        if "," not in region:  # `6.72 (6.81)` (timm), `71.24GiB(74.99%)` (torchtitan)
            head, _, tail = region.partition("(")
            tail, close, rest = tail.partition(")")
            if close and not rest.strip():
                try:
                    value = float(head.rstrip().rstrip(UNIT_CHARS))
                    metrics[name] = value
                    if tail.rstrip()[-1:] == "%":
                        metrics[f"{name}_pct"] = float(tail.rstrip()[:-1])
                    else:
                        metrics[f"{name}_avg"] = float(tail.rstrip(UNIT_CHARS + " "))
                    return value
                except ValueError:
                    pass
    elif "," in region and _THOUSANDS.match(region):
        return float(region.replace(",", ""))  # `5,417`
    vm = P.VALUE_GROUP.match(region)
    if vm is None:
        return field_value(region)
    value = to_float(vm.group("num"))
    more, paren = vm.group("more"), vm.group("paren")
    if not more and not paren:
        return value
    metrics[name] = value
    names = [name]
    if more:
        for em in P.EXTRA_VALUE.finditer(more):
            unit = em.group("unit") or ""
            extra = cf.fmt.unit_names.get(unit) or f"{name}_{normalize_name(unit.replace('/', ' per ')) or len(names)}"
            if name.startswith(P.SECTION_PREFIXES) and not extra.startswith(P.SECTION_PREFIXES):
                extra = f"{name.split('_', 1)[0]}_{extra}"
            names.append(extra)
            metrics[extra] = to_float(em.group("num"))
    if paren:
        for i, em in enumerate(P.EXTRA_VALUE.finditer(paren)):
            if em.group("unit") == "%":
                metrics[f"{names[min(i, len(names) - 1)]}_pct"] = to_float(em.group("num"))
            elif i < len(names):
                metrics[f"{names[i]}_avg"] = to_float(em.group("num"))
    return value


# ---- bodies: split with str methods, a regex only for a value that is not a plain float ----------
def colon_fields(body: str) -> list[tuple[str, int, int]]:
    """`key: value` fields separated by spaces (mmengine, detectron2, torchtitan, timm, Keras):
    (key, start, end) of each value region, padding included."""
    parts = body.split(": ")
    fields: list[tuple[str, int, int]] = []
    if len(parts) < 2:
        return fields
    key = parts[0]
    sp = key.rfind(" ")
    if sp >= 0:
        key = key[sp + 1:]
    off = len(parts[0]) + 2
    last = len(parts) - 1
    for i in range(1, last + 1):
        piece = parts[i]
        if i < last:
            sp = piece.rfind(" ")
            if sp < 0:
                key = piece
            else:
                fields.append((key, off, off + sp))
                key = piece[sp + 1:]
        else:
            fields.append((key, off, off + len(piece)))
        off += len(piece) + 2
    return fields


def _spaced_fields(body: str, sep: str, label_sep: str | None) -> list[tuple[str, int, int]]:
    """Segments split by `sep`, each `label<label_sep>value` or `label value` (value = last word)."""
    fields: list[tuple[str, int, int]] = []
    append = fields.append
    off = 0
    step = len(sep)
    n = len(label_sep) if label_sep else 0
    for seg in body.split(sep):
        i = seg.find(label_sep) if label_sep else -1
        if i > 0:
            # whether the label ends in a digit (`Step 3: loss 2.0`); the last character decides
            # unless it is a space (then seg[:i].rstrip() does, as it always did)
            c = seg[i - 1]
            label = not (c.isdigit() if not c.isspace() else seg[:i].rstrip()[-1:].isdigit())
        else:
            label = i == 0
        if label:
            append((seg[:i], off + i + n, off + len(seg)))
        else:
            # `label value`; also after a counter (`Step 3: loss 2.0`), which the step search reads
            start = i + n if i >= 0 else 0
            core = seg.rstrip()
            j = core.rfind(" ")
            if j > start:
                append((core[start:j].lstrip(), off + j + 1, off + len(core)))
        off += len(seg) + step
    return fields


def pipe_fields(body: str) -> list[tuple[str, int, int]]:
    """`label: value |` or `label value |` segments (Megatron, fairseq)."""
    return _spaced_fields(body, "|", ":")


def comma_fields(body: str) -> list[tuple[str, int, int]]:
    """`label value, label value` (nanoGPT); `label value | label value` when the body has pipes."""
    if "|" in body:
        return _spaced_fields(body, "|", ":")
    return _spaced_fields(body, ", ", None)


def eq_fields(body: str) -> list[tuple[str, int, int]]:
    """`key=value, key=value` or `key=value key=value` (fairseq, tqdm postfix)."""
    if ", " in body:
        return _spaced_fields(body, ", ", "=")
    fields: list[tuple[str, int, int]] = []
    off = 0
    for tok in body.split(" "):
        i = tok.find("=")
        if i >= 0:
            fields.append((tok[:i], off + i + 1, off + len(tok)))
        off += len(tok) + 1
    return fields


_INDEX_IN_PARENS = re.compile(r"\s{0,8}\(\d{1,12}\)$")
_TAB_FIELD = re.compile(r"\s{0,8}(?P<label>[A-Za-z_@][\w@%/.\- ]{0,63}?):?\s{1,16}(?=[-+.\d(]|nan|inf)")


def tab_fields(body: str) -> list[tuple[str, int, int]]:
    """`Label value (average)` or `label: value` fields separated by tabs (pytorch/examples'
    ProgressMeter: `Time  0.512 ( 0.600)\tLoss 6.9e+00 (6.9e+00)\tAcc@1   0.00 (  0.10)`; CatBoost)."""
    fields: list[tuple[str, int, int]] = []
    off = 0
    for seg in body.split("\t"):
        m = _TAB_FIELD.match(seg)
        if m is not None:
            value = _INDEX_IN_PARENS.sub("", seg.rstrip())  # CatBoost's `best: 0.66 (12)`: an iteration
            fields.append((m.group("label"), off + m.end(), off + len(value)))
        off += len(seg) + 1
    return fields


FIELDS = {"colon": colon_fields, "pipe": pipe_fields, "comma": comma_fields, "eq": eq_fields, "tab": tab_fields}
# Styles whose values may carry more after them (`6.89 (6.85)`, `71.2GiB(74.9%)`), read by glued_value.
GLUED_STYLES = ("colon", "tab")


def read_field(cf: Fmt, names: dict, section: str | None, key: str, region: str, glue: bool,
               metrics: dict[str, float]):
    """One field (`key`, its value's text) into `metrics`; for a step label, the step it carries
    (None when it is none), else MISS."""
    name = names.get(key, MISS)
    if name is MISS:
        name = cf.resolve(names, key, section)
    if name is None:
        return MISS
    try:
        value = float(region.rstrip(UNIT_CHARS))
    except ValueError:
        value = glued_value(cf, name, region, metrics) if glue and name is not STEP else field_value(region)
        if value is None:
            return MISS
    if name is STEP:
        return as_step(value)
    metrics[name] = value
    return MISS


def read_fields(cf: Fmt, section: str | None, body: str, fields, glue: bool,
                metrics: dict[str, float]) -> int | None:
    """Metrics of the fields; returns the step a step label carries."""
    names = cf.name_map(section)
    step = None
    for key, start, end in fields:
        got = read_field(cf, names, section, key, body[start:end], glue, metrics)
        if got is not MISS:
            step = got
    return step


def parse_fields(cf: Fmt, style: str, body: str, section: str | None, metrics: dict[str, float]) -> int | None:
    """Field by field, no learned shape (bars and generic lines vary too much to learn)."""
    # the styles split by _spaced_fields are read as they are split (read_spaced)
    if style == "pipe" or (style == "comma" and "|" in body):
        return read_spaced(cf, section, body, "|", ":", style in GLUED_STYLES, metrics)
    if style == "comma":
        return read_spaced(cf, section, body, ", ", None, style in GLUED_STYLES, metrics)
    if style == "eq" and ", " in body:
        return read_spaced(cf, section, body, ", ", "=", style in GLUED_STYLES, metrics)
    return read_fields(cf, section, body, FIELDS[style](body), style in GLUED_STYLES, metrics)


def read_spaced(cf: Fmt, section: str | None, body: str, sep: str, label_sep: str | None, glue: bool,
                metrics: dict[str, float]) -> int | None:
    """read_fields(cf, section, body, _spaced_fields(body, sep, label_sep), glue, metrics) in one
    pass: each segment is read as it is split, with no list of (key, start, end) in between nor a
    second slice of the body (a progress bar's postfix is read this way on every redraw)."""
    names = cf.name_map(section)
    step = None
    n = len(label_sep) if label_sep else 0
    for seg in body.split(sep):
        i = seg.find(label_sep) if label_sep else -1
        if i > 0:
            c = seg[i - 1]  # as in _spaced_fields
            label = not (c.isdigit() if not c.isspace() else seg[:i].rstrip()[-1:].isdigit())
        else:
            label = i == 0
        if label:
            key = seg[:i]
            region = seg[i + n:]
        else:
            start = i + n if i >= 0 else 0
            core = seg.rstrip()
            j = core.rfind(" ")
            if j <= start:
                continue
            key = core[start:j].lstrip()
            region = core[j + 1:]
        got = read_field(cf, names, section, key, region, glue, metrics)
        if got is not MISS:
            step = got
    return step


def read_body(cf: Fmt, style: str, body: str, section: str | None) -> tuple[dict[str, float], int | None]:
    """A body's metrics and step: by a learned template of its shape when one fits, else field by
    field (and then its shape is learned)."""
    shapes = cf.shapes.get(section)
    if shapes is None:
        shapes = cf.shapes[section] = [LEARN_BUDGET]  # [budget, shape, shape, ...]
    # (the formats' shapes are the process's: parsers in other threads reorder and add to these
    # lists meanwhile, each change one list operation, so the list is read as a copy)
    for i, shape in enumerate(shapes[1:], 1):
        sm = shape.rx.match(body)
        if sm is not None:
            got = shape.read(cf, sm)
            if got is not None:
                if i > 1:
                    _to_front(shapes, shape)
                if shapes[0] < LEARN_BUDGET:
                    shapes[0] += 1  # shapes that pay off earn the right to learn more
                return got
            break
    fields = FIELDS[style](body)
    metrics: dict[str, float] = {}
    step = read_fields(cf, section, body, fields, style in GLUED_STYLES, metrics)
    if metrics and shapes[0] > 0:
        shapes[0] -= 1  # a format whose lines never repeat a shape soon stops paying to learn
        shape = Shape.learn(cf, section, body, fields, style, metrics, step)
        if shape is not None:
            shapes.insert(1, shape)
            del shapes[MAX_SHAPES + 1:]
    return metrics, step


def _to_front(shapes: list, shape: Shape) -> None:
    """`shape` first of the learned shapes, unless another thread moved or dropped it meanwhile."""
    try:
        shapes.remove(shape)
    except ValueError:
        return
    shapes.insert(1, shape)


MAX_SHAPES = 8  # learned shapes kept per format and section, the last used first
LEARN_BUDGET = 32
_WS = re.compile(r"(\s+)")
# Text that holds no field of its own, where a label that is never a metric has its value (an
# ETA): by style, no `key: ` and none of the separators its style splits a body at, and a single
# word where the field reader takes a segment's last word for the value. What such text took in,
# the field reader reads otherwise, and what a line gave depended on the lines the process had read
# before: a shape learned from `loss 1, eta x` read `loss 0.25, eta x, lr 0.1` without its lr, and
# `loss 0.25, eta AP @[ IoU=0.50 | area= all ]`, which comma_fields splits at its `|` and finds
# nothing in, as loss 0.25.
_ANY_TEXT = {"colon": r"(?:(?!: ).)*?", "tab": r"(?:(?!: )[^\t])*?", "pipe": r"(?:(?!: )[^|])*?",
             "eq": r"(?:(?!: |, )[^=])*?"}
_ONE_WORD = {"comma": r"[^\s|]+", "pipe": r"[^\s|]+", "eq": r"[^\s=]+"}


def _no_field(style: str, body: str, lead: str) -> str:
    """The pattern of a value no field reads, after `lead` (its label), in a body of this style."""
    if style == "comma" and "|" in body:
        style = "pipe"  # comma_fields splits such a body as pipe_fields does
    if (style == "pipe" and lead.rstrip().endswith(":")) or (style == "eq" and ", " in body):
        return _ANY_TEXT[style]  # `label: value` (`label=value`): all the segment after the separator
    return _ONE_WORD.get(style) or _ANY_TEXT[style]


# A word that starts with a number (`486.82`, `12.5ms`): in a label's fixed text, a value it may be.
_LABEL_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)")
_THOUSANDS = re.compile(r"\s{0,64}[-+]?\d{1,3}(?:,\d{3})+(?:\.\d{1,40})?\s{0,64}$")
_UNIT_NUM = r"[-+]?(?:\d[\d.]*|\.\d+)(?:[eE][-+]?\d+)?"


class Shape:
    """A learned line shape: one regex for a body's fixed text, a group per value. Reading a line
    of a known shape is one match and a dict(zip(...)) instead of a split and a loop per field."""

    __slots__ = ("rx", "plain_idx", "plain_names", "step_idx", "glued", "glue", "fields")

    def __init__(self, rx, plain_idx, plain_names, step_idx, glued, glue, fields):
        # ((group, name, glued), ...) in the line's order: with glued values, a line is read in
        # that order, so that its metrics come in the order the field reader gives them
        self.fields = fields
        self.glue = glue  # read the other values as the field reader of this style does
        self.rx = rx
        self.plain_idx = plain_idx
        self.plain_names = plain_names
        self.step_idx = step_idx
        self.glued = glued  # ((group, name), ...) values read by glued_value

    def read(self, cf: Fmt, sm: re.Match) -> tuple[dict[str, float], int | None] | None:
        if self.glued:
            return self._read_in_order(cf, sm)
        try:
            values = sm.group(*self.plain_idx) if len(self.plain_idx) > 1 else (sm.group(self.plain_idx[0]),)
            metrics = dict(zip(self.plain_names, map(float, values)))
            step = None
            if self.step_idx:
                step = as_step(float(sm.group(self.step_idx)))
        except (ValueError, IndexError, OverflowError):
            return None  # this line's value is not plain (`1,000`, `nan%`): read it field by field
        return metrics, step

    def _read_in_order(self, cf: Fmt, sm: re.Match) -> tuple[dict[str, float], int | None] | None:
        metrics: dict[str, float] = {}
        try:
            step = as_step(float(sm.group(self.step_idx))) if self.step_idx else None
            for group, name, glued in self.fields:
                raw = sm.group(group)
                if glued:
                    value = glued_value(cf, name, raw, metrics) if self.glue else field_value(raw)
                    if value is None:
                        return None
                else:
                    value = float(raw)
                metrics[name] = value
        except (ValueError, IndexError, OverflowError):
            return None  # this line's value is not plain (`1,000`, `nan%`): read it field by field
        return metrics, step

    def shifted(self, offset: int) -> Shape:
        """This shape's reader for a regex that has `offset` groups before the body's."""
        return Shape(None, tuple(i + offset for i in self.plain_idx), self.plain_names,
                     self.step_idx + offset if self.step_idx else 0,
                     tuple((g + offset, name) for g, name in self.glued), self.glue,
                     tuple((g + offset, name, glued) for g, name, glued in self.fields))

    @classmethod
    def learn(cls, cf: Fmt, section: str | None, body: str, fields, style: str, metrics: dict[str, float],
              step: int | None) -> Shape | None:
        names = cf.name_map(section)
        glue = style in GLUED_STYLES
        parts = ["\\s*"]  # the head's own pattern took what padding it wanted
        prev = 0
        group = 0
        plain_idx, plain_names, glued, in_order = [], [], [], []
        step_idx = 0
        for key, start, end in fields:
            name = names.get(key)
            region = body[start:end]
            vs = start + len(region) - len(region.lstrip())
            ve = start + len(region.rstrip())
            if vs >= ve or vs < prev:
                return None
            parts.append(_literal(body[prev:vs]))
            value = body[vs:ve]
            if name is None or name is MISS:
                if _LABEL_NUMBER.search(body[prev:vs]):
                    # a "label" holding a number of its own (`ppl 486.82 x`, `time 12.5ms x`, a line
                    # cut or glued): as fixed text it would swallow that number where it is a
                    # field's value (`time 12.5ms` is time = 12.5)
                    return None
                parts.append(_no_field(style, body, body[prev:vs]))  # a label that is never a metric
            else:
                group += 1
                bare = value.rstrip(UNIT_CHARS)
                unit = value[len(bare):]
                try:
                    float(bare)
                    plain = True
                except ValueError:
                    plain = False
                # a unit is fixed text after a number (`nanms` is no number: the field reader says so)
                value_rx = f"({_UNIT_NUM}){re.escape(unit)}" if unit else "(\\S+)"
                if name is STEP:
                    step_idx = group
                    parts.append(value_rx)
                elif plain:
                    plain_idx.append(group)
                    plain_names.append(name)
                    in_order.append((group, name, False))
                    parts.append(value_rx)
                elif glue:
                    spread = _glued_groups(cf, name, value)
                    if spread is None:
                        glued.append((group, name))
                        in_order.append((group, name, True))
                        parts.append(f"({_ANY_TEXT[style]})")
                    else:  # `6.89 (6.85)`, `71.24GiB(74.99%)`: a group per number, the text between fixed
                        rx_text, names_of = spread
                        parts.append(rx_text)
                        for i, extra in enumerate(names_of):
                            plain_idx.append(group + i)
                            plain_names.append(extra)
                            in_order.append((group + i, extra, False))
                        group += len(names_of) - 1
                else:
                    return None  # only `key: value` bodies read a glued value the way a shape can
            prev = ve
        if not plain_idx:
            return None
        parts.append(_literal(body[prev:]))
        parts.append("$")
        try:
            rx = re.compile("".join(parts))
        except re.error:  # pragma: no cover
            return None
        shape = cls(rx, tuple(plain_idx), tuple(plain_names), step_idx, tuple(glued), glue, tuple(in_order))
        sm = rx.match(body)
        got = shape.read(cf, sm) if sm is not None else None
        if got is None or got[1] != step or not _same_metrics(got[0], metrics):
            return None
        return shape


_PLAIN_NUM = re.compile(_UNIT_NUM)


def _glued_groups(cf: Fmt, name: str, value: str) -> tuple[str, list[str]] | None:
    """A glued value as fixed text around plain numbers, when each number is one metric in order:
    (regex with a group per number, the metric names). None when it is not that simple (`5,417`)."""
    got: dict[str, float] = {}
    first = glued_value(cf, name, value, got)
    if first is None:
        return None
    if not got:
        got[name] = first
    nums = list(_PLAIN_NUM.finditer(value))
    if len(nums) != len(got):
        return None
    parts, prev = [], 0
    for nm, v in zip(nums, got.values()):
        try:
            if float(nm.group()) != v:
                return None
        except ValueError:
            return None
        parts.append(_literal(value[prev:nm.start()]))
        parts.append(f"({_UNIT_NUM})")
        prev = nm.end()
    parts.append(_literal(value[prev:]))
    return "".join(parts), list(got)


def _literal(text: str) -> str:
    """Fixed text between values, a run of spaces standing for any (non-empty) padding: a line that
    is not exactly of the shape falls back to the field reader, never the other way round."""
    return "".join("\\s+" if chunk.isspace() else re.escape(chunk) for chunk in _WS.split(text) if chunk)


def _same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    """The same names in the same order (records keep the order a line prints), the same values."""
    if list(a) != list(b):
        return False
    return all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)


def head_metrics(cf: Fmt, hm: re.Match, g: dict) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for metric, group in cf.metric_groups:
        value = field_value(g[group])
        if value is not None:
            metrics[canonical_type(metric)] = value
    name = g.get("name")
    if name is not None:
        value = field_value(g.get("value"))
        if value is not None:
            final = canonical_type(name)
            metrics[final] = value
            for group in cf.template_groups:
                v = field_value(g[group])
                if v is not None:
                    metrics[normalize_name(cf.fmt.templates[group].format(name=final))] = v
    return metrics


def bar_metrics(kind: str, source: str) -> dict[str, float]:
    metrics: dict[str, float] = {}
    if kind == "tqdm":
        if "=" in source:
            parse_fields(GENERIC, "eq", source, None, metrics)
        elif ": " in source:
            parse_fields(GENERIC, "colon", source, None, metrics)
    else:
        parse_fields(GENERIC, "colon", source.replace(" - ", "  ") if " - " in source else source, None, metrics)
    return metrics


def eval_word(desc: str) -> str | None:
    sm = P.GENERIC_SECTION.match(desc + " ")
    return sm.group("section").lower() if sm else None


def metric_words(text: str) -> bool:
    return P.METRIC_WORDS.search(text) is not None


def dict_pairs(text: str) -> list[tuple[str, float]]:
    """(key, value) pairs of a dict or JSON object; nested objects give `outer/inner` keys."""
    pairs: list[tuple[str, float]] = []
    if text[1:2] == '"':
        try:
            obj = _json_loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            flatten(obj, "", pairs)
            return pairs
    if text[-1:] == "}" and "{" not in text[1:] and "[" not in text:
        # a flat repr: `{'loss': 3.85, 'lr': '4.4e-05'}` — split, no regex
        for item in text[1:-1].split(", "):
            key, sep, raw = item.partition(": ")
            if not sep:
                pairs = []
                break
            key = key.strip().strip("'\"")
            try:
                value = float(raw)
            except ValueError:
                value = field_value(raw)
                if value is None:
                    continue
            pairs.append((key, value))
        if pairs:
            return pairs
    return [(dm.group("key"), to_float(dm.group("num"))) for dm in P.DICT_PAIR.finditer(text)]


FLATTEN_DEPTH = 16  # nested metric dicts are a few levels deep; 1000 levels is an attack


def flatten(obj: dict, prefix: str, out: list[tuple[str, float]], depth: int = 0) -> None:
    if depth > FLATTEN_DEPTH:
        return
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            out.append((key, float(v)))
        elif isinstance(v, str):
            value = field_value(v)
            if value is not None:
                out.append((key, value))
        elif isinstance(v, list) and v and isinstance(v[0], (int, float)) and not isinstance(v[0], bool):
            out.append((key, float(v[0])))
        elif isinstance(v, dict):
            flatten(v, f"{key}/", out, depth + 1)


_SOURCE_FILES = (".py", ".c", ".cc", ".cpp", ".h", ".rs", ".go")


def _source_location(msg: str, pm: re.Match) -> bool:
    """Whether a `key: value` pair is where a logging call is, never a metric: `train.py:88`,
    ESPnet's `(trainer:732)`, `[main:12]` (a line number right after a file or module)."""
    num, key = pm.group("num"), pm.group("key")
    if not num.isdigit() or pm.group("unit") or msg[pm.start("num") - 1] != ":":
        return False
    word = key.rpartition(" ")[2]
    if word.endswith(_SOURCE_FILES):
        return True
    opened = word[:1] == "(" or (word == key and msg[pm.start("key") - 1:pm.start("key")] in ("(", "["))
    return opened and msg[pm.end("num"):pm.end("num") + 1] in (")", "]")


def _read_pairs(msg: str, found: list[tuple], names: dict, section: str | None, piped: bool, step: int | None,
                metrics: dict[str, float]) -> int | None:
    """Adds the metrics of (key, number text[, COLON_PAIR match]) pairs the generic reader found;
    returns the step (in a piped line, the first one a segment named)."""
    for item in found:
        key, num = item[0], item[1]
        if len(item) == 3 and _source_location(msg, item[2]):
            continue
        name = names.get(key, MISS)
        if name is MISS:
            name = GENERIC.resolve(names, key, section)
        if name is STEP:
            if step is None or not piped:
                step = as_step(to_float(num))
        elif name is not None and name not in metrics:
            metrics[name] = to_float(num)
            if len(item) == 3 and item[2].group("extra"):
                region = item[2].group("num") + (item[2].group("unit") or "") + item[2].group("extra")
                glued_value(GENERIC, name, region, metrics)
    return step


def generic_pairs(msg: str, section: str | None) -> tuple[dict[str, float], int | None]:
    """The fallback: pipe segments; else `key=value` and `key: value` (keys of up to four words);
    else `key value` separated by commas (after a step head: `Iter 10: ...`); else labels and
    numbers in turn, one space apart."""
    metrics: dict[str, float] = {}
    step = None
    names = GENERIC.name_map(section)
    if "'s " in msg:
        msg = msg.replace("'s ", "_")  # LightGBM's `training's l2: 0.23`, `valid_1's l2: 0.31`
    piped = " | " in msg or msg.count("|") >= 2
    if piped:
        step = parse_fields(GENERIC, "pipe", msg, section, metrics)
        for seg in msg.split("|"):
            um = P.UNIT_ONLY.match(seg) if len(seg) < 100 else None
            if um is not None:  # llm.c's unlabelled `(417.35 ms | 1234 tok/s)`
                unit = um.group("unit")
                metrics.setdefault("time_ms" if unit == "ms" else normalize_name(unit.replace("/", " per ")),
                                   to_float(um.group("num")))
    # `key=value` and `key: value` pairs; in a piped line, the ones a segment holds beyond its first
    # (torchtune's `Step 100 | loss:2.34 lr:0.0001 tokens_per_second_per_gpu:1234.5`)
    found = []
    if "=" in msg:
        found += [(pm.group("key"), pm.group("num")) for pm in P.EQ_PAIR.finditer(msg)]
    if ":" in msg:
        found += [(pm.group("key"), pm.group("num"), pm) for pm in P.COLON_PAIR.finditer(msg)]
    step = _read_pairs(msg, found, names, section, piped, step, metrics)
    if not metrics:
        head = P.STEP_HEAD.match(msg)  # (its number is the step: _generic finds it in the line)
        s = parse_fields(GENERIC, "comma", msg[head.end():] if head else msg, section, metrics)
        step = s if s is not None else step
    if not metrics and P.SPACED_LINE.match(msg) is not None:
        found = [(pm.group("key"), pm.group("num")) for pm in P.SPACED_PAIR.finditer(msg)]
        step = _read_pairs(msg, found, names, section, False, step, metrics)
    if step is None and msg[:1] in " \t[":
        bm = P.BRACKET_STEP.match(msg)
        if bm is not None:
            step = int(bm.group("step"))
    return metrics, step

"""The format table compiled: entries ready to match, names resolved and cached per format."""
from __future__ import annotations

import re

try:  # the stdlib's own regex parser (private): only for literal_lead, which can do without it
    from re import _constants, _parser
except ImportError:  # pragma: no cover
    _parser = None

from parsing import patterns as P
from parsing.names import canonical_type, normalize_name

# What a printed label looks like: up to six words, none of them a bare number.
LABEL = re.compile(r"[A-Za-z_(@][\w@%/.()\-]{0,63}(?: [A-Za-z_(@][\w@%/.()\-]{0,63}){0,5}")
STEP = object()  # a label that carries the step, not a metric
MISS = object()
_FAST_GROUPS = {"step", "section", "epoch", "pos", "total"}
# What final names that belong to an evaluation start with (`eval_loss`, `best_acc`): a line
# reprinting one unchanged is not a new point. A test of the name alone: what a parser reads never
# depends on the names the process met before (a set of the names final_name had made did; a
# template loaded from the cache reads its names without it). _fastcore applies the same prefixes.
EVALISH_PREFIXES: tuple[str, ...] = P.SECTION_PREFIXES + ("best_",)


def final_name(raw: str, section: str | None) -> object:
    """The metric name of a printed label: `STEP`, None (never a metric) or the name."""
    base = normalize_name(raw)
    if not base or base in P.NEVER_METRICS:
        return None
    if base in P.STEP_KEYS or base.endswith("global_step"):
        return STEP
    if section:
        name = base if base.startswith(P.SECTION_PREFIXES) else f"{section}_{base}"
    else:
        name = canonical_type(raw)
    return name


def literal_lead(pattern: str) -> str:
    """The text every match of `pattern` starts with: its leading literal characters (`Epoch(` of
    `Epoch\\((?P<section>...`); "" when the pattern has flags that make a literal match more."""
    if _parser is None:
        return ""
    parsed = _parser.parse(pattern)
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return ""
    chars = []
    for op, av in parsed.data:
        if op is not _constants.LITERAL:
            break
        chars.append(chr(av))
    return "".join(chars)


class Fmt:
    """One row of the format table, compiled."""

    __slots__ = ("fmt", "rx", "metric_groups", "template_groups", "names", "kind", "shapes", "sectioned", "fast_ok",
                 "row", "lead")

    def __init__(self, fmt: P.Format) -> None:
        self.fmt = fmt
        self.kind = fmt.kind
        self.rx = re.compile(fmt.head)
        # formats picked by the same 4 characters (`Epoc`: mmengine, Lightning, Keras, mmcv, ...) are
        # told apart by a startswith() before their regex is tried; "" when 4 characters say it all
        lead = literal_lead(fmt.head)
        self.lead = lead if len(lead) > 4 else ""
        self.row = re.compile(fmt.row) if fmt.row else None
        groups = self.rx.groupindex
        self.metric_groups = tuple((g[2:], g) for g in groups if g.startswith("m_"))
        self.template_groups = tuple(g for g in groups if g in fmt.templates)
        self.names: dict[str | None, dict[str, object]] = {}
        # learned body shapes per section: [learning budget, bodies.Shape, ...] (see bodies.read_body)
        self.shapes: dict[str | None, list] = {}
        self.sectioned = bool(fmt.section or fmt.section_from_logger or "section" in groups)
        # whether a line of this format may be learned whole (parser.FastLine): a body of fields,
        # a head that carries no more than a step, an epoch position or a section word
        self.fast_ok = (fmt.kind == "line" and fmt.body in ("colon", "pipe", "comma", "eq") and not fmt.section
                        and not fmt.section_from_logger and set(groups) <= _FAST_GROUPS)

    def name_map(self, section: str | None) -> dict[str, object]:
        d = self.names.get(section)
        if d is None:
            d = self.names[section] = {}
        return d

    def resolve(self, d: dict[str, object], raw: str, section: str | None) -> object:
        if not LABEL.fullmatch(raw.strip()):
            result = None  # `step 3 | loss`, `0.5, time`: not a label
        else:
            result = final_name(self.fmt.renames.get(raw.strip(), raw), section)
        if len(d) < 10_000:
            d[raw] = result
        return result


FMTS = tuple(Fmt(f) for f in P.FORMATS)
BY_START: dict[str, tuple[Fmt, ...]] = {}
for _cf in FMTS:
    for _s in _cf.fmt.starts:
        if _cf not in BY_START.get(_s[:4], ()):
            BY_START[_s[:4]] = BY_START.get(_s[:4], ()) + (_cf,)
HINTED = tuple(cf for cf in FMTS if cf.fmt.hint)
GENERIC = Fmt(P.Format("generic", ""))
PREFIXES = tuple((rx, p.first, "ts" in rx.groupindex, "logger" in rx.groupindex, p.weak)
                 for p in P.PREFIXES for rx in (re.compile(p.regex),))

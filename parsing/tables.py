"""Tables printed without pipes, read as pure functions of their lines (the parser keeps the state).

Two shapes that frameworks print a lot and the line-at-a-time readers cannot see:

* column tables: a header of labels separated by two or more spaces, then one row of numbers per
  report, aligned under it (fastai's `epoch  train_loss  valid_loss  accuracy  time`, spaCy's
  `E  #  LOSS TOK2VEC  LOSS NER  ENTS_F ...`, Ultralytics YOLO's `Epoch  GPU_mem  box_loss ...`
  whose rows carry a progress bar on their right);
* key/value boxes: a dashed rule, rows `| name | value |` (a row with a name ending in `/` and no
  value opens a section), a dashed rule (Stable-Baselines3's logger);
* drawn tables: rich's box-drawing borders around rows `│ name │ value │` (Lightning prints the
  results of `trainer.test()` / `validate()` in one: `┃ Test metric ┃ DataLoader 0 ┃`, then a
  row per metric, a column per dataloader).
"""
from __future__ import annotations

import re

from parsing import patterns as P
from parsing.bodies import as_step, field_value
from parsing.formats import LABEL, STEP, final_name

_COLUMN_GAP = re.compile(r"\s{2,}")
# A progress bar glued to the right of a row or header: `640: 100%|██████████| 100/100 [00:30<00:00]`
_BAR_TAIL = re.compile(r":?\s{0,8}\d{1,3}%\|[^|\n]{0,200}\|\s{0,8}(?P<n>\d{1,12})/(?P<total>\d{1,12})")
_RULE = re.compile(r"\s{0,8}-{8,400}\s{0,8}$")  # a dashed rule, alone on its line
_UNDERLINE = re.compile(r"[-=\s]{3,2000}$")  # the `---  ------` under a header
_BOX_ROW = re.compile(r"\|\s{0,64}(?P<name>[^|\s][^|\n]{0,127}?)\s{0,128}\|\s{0,128}(?P<value>[^|\s][^|\n]{0,63}?)?\s{0,128}\|\s{0,8}$")
_FRACTION = re.compile(r"(?P<a>\d{1,12})/(?P<b>\d{1,12})$")
_CLOCK = re.compile(r"(?:(?P<h>\d{1,6}):)?(?P<m>\d{1,2}):(?P<s>\d\d(?:\.\d{1,9})?)$")  # fastai's `00:12`
_STEP_HEADERS = frozenset({"#", "step", "steps", "iter", "iteration", "global_step"})
MAX_COLUMNS = 64


def column_header(msg: str) -> list[object] | None:
    """The column names (STEP, None for a column that is no metric, else a name) of a header
    line; None when the line is not the header of a column table."""
    bar = _BAR_TAIL.search(msg)
    text = (msg[:bar.start()] if bar else msg).strip()
    if "  " not in text or not text[:1].isalpha():
        return None
    cells = _COLUMN_GAP.split(text)
    if not 3 <= len(cells) <= MAX_COLUMNS or not all(len(c) <= 32 and LABEL.fullmatch(c) or c == "#" for c in cells):
        return None
    if P.METRIC_WORDS.search(text.lower()) is None:
        return None  # a table of something else (a model summary, a dataset listing)
    names = [STEP if c.lower() in _STEP_HEADERS else final_name(c, None) for c in cells]
    return names if any(isinstance(n, str) for n in names) else None


def is_underline(msg: str) -> bool:
    return ("-" in msg or "=" in msg) and _UNDERLINE.match(msg) is not None


def column_row(names: list[object], msg: str) -> tuple[dict[str, float], int | None, tuple[int, int, int] | None] | None:
    """(metrics, step, (epoch, position, per-epoch total) of a glued bar) of a row under `names`;
    None when the line is not such a row (other cell count, a cell that is not a number)."""
    bar = _BAR_TAIL.search(msg)
    cells = (msg[:bar.start()] if bar else msg).split()
    if len(cells) != len(names):
        return None
    metrics: dict[str, float] = {}
    step = epoch = None
    for name, cell in zip(names, cells):
        fraction = _FRACTION.match(cell)
        value = float(fraction.group("a")) if fraction else field_value(cell)
        if value is None:
            clock = _CLOCK.match(cell)
            if clock is None:
                return None
            value = int(clock.group("h") or 0) * 3600 + int(clock.group("m")) * 60 + float(clock.group("s"))
        if name is STEP:
            step = as_step(value)
        elif isinstance(name, str):
            metrics[name] = value
            if name == "epoch" and fraction:
                epoch = int(fraction.group("a"))  # `1/100`: counted from 1
    if not metrics:
        return None
    position = None
    if bar is not None and epoch is not None:
        position = (epoch, int(bar.group("n")), int(bar.group("total")))
    return metrics, step, position


def is_rule(msg: str) -> bool:
    return _RULE.match(msg) is not None


def box_row(msg: str) -> tuple[str, str | None] | None:
    """(name, value text or None) of a `| name | value |` row of a key/value box."""
    m = _BOX_ROW.match(msg)
    return None if m is None else (m.group("name").strip(), m.group("value"))


# a drawn table's border: box-drawing characters only (U+2500-U+257F); its first one tells which
_DRAWN_EDGE = re.compile(r"\s{0,8}[\u2500-\u257f]{3,2000}\s{0,8}$")
DRAWN_TOPS = frozenset("┏┌╭╔┍┎╒╓")  # the first character of a top border: it opens a drawn table
_DRAWN_BOTTOMS = frozenset("└┗╰╚┕┖╘╙")
_DRAWN_BARS = "│┃║"  # what a drawn table puts between cells
_DRAWN_CELLS = re.compile(f"[{_DRAWN_BARS}]")


def drawn_edge(msg: str) -> str | None:
    """"top", "bottom" or "inner" (a rule between rows) for a border of a drawn table, else None."""
    if _DRAWN_EDGE.match(msg) is None:
        return None
    first = msg.lstrip()[0]
    return "top" if first in DRAWN_TOPS else "bottom" if first in _DRAWN_BOTTOMS else "inner"


def drawn_row(msg: str) -> tuple[str, str | None] | None:
    """(name, value text or None) of a row `│ name │ value │` of a drawn table (None: the line is
    no row). The first cell names it; the value is the one other cell that holds anything, as in
    Lightning's column per dataloader; a row with more (a model summary's `│ 0 │ model │ ResNet │`)
    or none (a header) has no value."""
    text = msg.strip()
    if len(text) < 3 or text[0] not in _DRAWN_BARS or text[-1] not in _DRAWN_BARS:
        return None
    cells = [c.strip() for c in _DRAWN_CELLS.split(text)[1:-1]]
    if len(cells) < 2:
        return None
    values = [c for c in cells[1:] if c]
    return cells[0], values[0] if len(values) == 1 and cells[0] else None


def box_metrics(rows: list[tuple[str, str]]) -> tuple[dict[str, float], int | None]:
    """The metrics and step of a key/value box's rows (section, name, value text)."""
    metrics: dict[str, float] = {}
    step = None
    for section, name, text in rows:
        value = field_value(text)
        if value is None:
            continue
        final = final_name(name, None)
        if final is STEP:
            # SB3 prints `iterations` (rollouts) and `total_timesteps`: the timesteps are the x-axis
            if step is None or "timesteps" in name:
                step = as_step(value)
            continue
        final = final_name(f"{section}/{name}" if section else name, None)
        if isinstance(final, str):
            metrics[final] = value
    return metrics, step

"""Log text as a terminal shows it: ANSI SGR colours kept as styles, `\\r` redraws collapsed.

Pure: text in, styled lines out. No Dash, no HTML: the caller turns segments into text nodes,
so a log can never inject markup. Works incrementally: `render(text, state)` takes the state
left by the previous chunk (the open last line and the current colours) and returns the new one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# A styled piece of a line: (text, css classes, inline colour or "").
Segment = tuple[str, str, str]

# CSI (ESC [ … final), OSC (ESC ] … BEL/ST), other two-char escapes, and the controls we act on.
_TOKEN = re.compile(
    r"(\x1b\[[0-?]*[ -/]*[@-~])"          # CSI
    r"|(\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?)"  # OSC (window titles, hyperlinks)
    r"|(\x1b[@-Z\\-_]?)"                   # other escapes, or a lone ESC
    r"|(\r|\x08)"                          # carriage return, backspace
    r"|([\x00-\x07\x0b-\x0c\x0e-\x1a\x1c-\x1f\x7f])"  # other controls: dropped
)
_PLAIN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# An escape sequence cut by a chunk boundary: held back until the next chunk completes it (`\Z`,
# not `$`, which also matches before a final newline and would hold back the newline instead).
_INCOMPLETE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*)?\Z")
MAX_PENDING = 256

# Carried between chunks: keeps a pathological line (a progress bar with no newline for
# hours) from growing without bound.
MAX_LINE_CHARS = 4000


@dataclass
class Style:
    fg: str = ""        # css class (tb-fg-1) or "" for default
    bg: str = ""
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    color: str = ""     # inline colour for 256-colour / truecolour foregrounds

    def classes(self) -> str:
        parts = [self.fg, self.bg]
        parts += [name for name, on in (("tb-bold", self.bold), ("tb-dim", self.dim),
                                        ("tb-italic", self.italic), ("tb-underline", self.underline)) if on]
        return " ".join(p for p in parts if p)

    def key(self) -> tuple[str, str]:
        return self.classes(), self.color


@dataclass
class TermState:
    """What the next chunk needs: the unfinished last line (raw cells) and the colours."""
    open_line: list[tuple[str, tuple[str, str]]] = field(default_factory=list)  # (char, style key)
    col: int = 0
    style: Style = field(default_factory=Style)
    pending: str = ""  # the start of an escape sequence the chunk ended in

    def to_json(self) -> dict:
        return {"line": _segments(self.open_line), "col": self.col, "style": vars(self.style).copy(),
                "pending": self.pending}

    @classmethod
    def from_json(cls, data: dict | None) -> "TermState":
        if not data:
            return cls()
        cells = [(ch, (classes, color)) for text, classes, color in data.get("line", []) for ch in text]
        return cls(open_line=cells, col=int(data.get("col", len(cells))), style=Style(**data.get("style", {})),
                   pending=str(data.get("pending", ""))[:MAX_PENDING])


_XTERM_16 = [
    "#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
    "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
]


def _xterm_256(n: int) -> str:
    if n < 16:
        return _XTERM_16[n]
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        return "#{:02x}{:02x}{:02x}".format(levels[n // 36], levels[(n // 6) % 6], levels[n % 6])
    grey = 8 + (n - 232) * 10
    return f"#{grey:02x}{grey:02x}{grey:02x}"


def _num(param: str, default: int = 0) -> int:
    """A CSI parameter as a number; junk (`?25`, `1:2`) is the default and absurd lengths are
    clamped (int() refuses more than 4300 digits): a log line can never break the terminal."""
    if not param.isdigit():
        return default
    return int(param) if len(param) <= 6 else 999_999


def _apply_sgr(style: Style, params: str) -> Style:
    codes = [_num(p) for p in params.split(";")] if params else [0]
    s = Style(**vars(style))
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            s = Style()
        elif c == 1:
            s.bold = True
        elif c == 2:
            s.dim = True
        elif c == 3:
            s.italic = True
        elif c == 4:
            s.underline = True
        elif c == 22:
            s.bold = s.dim = False
        elif c == 23:
            s.italic = False
        elif c == 24:
            s.underline = False
        elif 30 <= c <= 37:
            s.fg, s.color = f"tb-fg-{c - 30}", ""
        elif 90 <= c <= 97:
            s.fg, s.color = f"tb-fg-{c - 90 + 8}", ""
        elif c == 39:
            s.fg, s.color = "", ""
        elif 40 <= c <= 47:
            s.bg = f"tb-bg-{c - 40}"
        elif 100 <= c <= 107:
            s.bg = f"tb-bg-{c - 100 + 8}"
        elif c == 49:
            s.bg = ""
        elif c in (38, 48):
            # extended colours: 38;5;n or 38;2;r;g;b — foreground kept inline, background dropped
            colour = ""
            if i + 2 < len(codes) and codes[i + 1] == 5:
                colour, i = _xterm_256(min(codes[i + 2], 255)), i + 2
            elif i + 1 < len(codes) and codes[i + 1] == 2 and i + 4 < len(codes):
                r, g, b = (min(v, 255) for v in codes[i + 2:i + 5])
                colour, i = f"#{r:02x}{g:02x}{b:02x}", i + 4
            if c == 38 and colour:
                s.fg, s.color = "", colour
        i += 1
    return s


def _segments(cells: list[tuple[str, tuple[str, str]]]) -> list[Segment]:
    """Runs of cells with the same style, merged into segments."""
    out: list[Segment] = []
    for ch, (classes, color) in cells:
        if out and out[-1][1] == classes and out[-1][2] == color:
            out[-1] = (out[-1][0] + ch, classes, color)
        else:
            out.append((ch, classes, color))
    return out


def _write(state: TermState, text: str) -> None:
    key = state.style.key()
    line, col = state.open_line, state.col
    if col == len(line):
        line.extend((ch, key) for ch in text)
    else:
        # overwrite in place, as a terminal does after \r
        for ch in text:
            if col < len(line):
                line[col] = (ch, key)
            else:
                line.append((ch, key))
            col += 1
        state.col = col
        return
    state.col = len(line)


def _feed_line(state: TermState, text: str) -> None:
    """Process one physical piece of text with no newline in it."""
    if not _PLAIN.search(text) and "\x1b" not in text and state.col == len(state.open_line):
        _write(state, text)  # the common case: plain text appended
        return
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            _write(state, text[pos:m.start()])
        pos = m.end()
        csi, _osc, _esc, ctl, _other = m.groups()
        if csi:
            final, params = csi[-1], csi[2:-1]
            if final == "m":
                state.style = _apply_sgr(state.style, params)
            elif final == "K":
                mode = params or "0"
                if mode == "0":
                    del state.open_line[state.col:]
                elif mode == "2":
                    state.open_line.clear()
                    state.col = 0
            elif final == "G":  # cursor to column (the first parameter; any other is ignored)
                state.col = min(max(_num(params.split(";")[0], 1) - 1, 0), len(state.open_line))
            # cursor movement across lines cannot be shown in a scrolling log: ignored
        elif ctl == "\r":
            state.col = 0
        elif ctl == "\x08":
            state.col = max(state.col - 1, 0)
    if pos < len(text):
        _write(state, text[pos:])


def render(text: str, state: TermState | None = None) -> tuple[list[list[Segment]], TermState]:
    """Complete lines produced by `text` (after what `state` left open), and the new state.

    The open last line (text after the final newline) stays in the state; `open_segments`
    shows it. `\\r\\n` ends a line normally; a bare `\\r` starts overwriting the same line.
    """
    state = state or TermState()
    text = state.pending + text
    state = TermState(list(state.open_line), state.col, Style(**vars(state.style)))
    cut = _INCOMPLETE.search(text[-MAX_PENDING:])
    if cut:
        state.pending = cut.group(0)
        text = text[:len(text) - len(state.pending)]
    lines: list[list[Segment]] = []
    pieces = text.split("\n")
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        if i < last and not state.open_line and "\x1b" not in piece and not _PLAIN.search(piece):
            # the common case, a plain whole line: one segment, no per-character work
            classes, color = state.style.key()
            lines.append([(piece, classes, color)] if piece else [])
            continue
        if piece:
            _feed_line(state, piece)
        if i < last:
            lines.append(_segments(state.open_line))
            state.open_line, state.col = [], 0
    if len(state.open_line) > MAX_LINE_CHARS:
        drop = len(state.open_line) - MAX_LINE_CHARS
        state.open_line = state.open_line[drop:]
        state.col = max(state.col - drop, 0)
    return lines, state


def open_segments(state: TermState) -> list[Segment]:
    return _segments(state.open_line)


def plain_text(lines: list[list[Segment]]) -> str:
    """The text of rendered lines with styles dropped (what a copy from the terminal gives)."""
    return "\n".join("".join(seg[0] for seg in line) for line in lines)

"""Learned line templates kept beyond the parser that learned them.

A template (parsing/fastpath.py) is learned from what the parser's code does with a line shape, and
checked there in many contexts; nothing in it belongs to one stream. So the parsers of a process can
share what any of them learned (`shared_templates()`: `parse_file`, `python -m parsing`, `trainboard
ingest` and `run` use it), and a later process can start from what an earlier one learned: the
shared store is also kept on disk, one file per version of the parser's code (its sources and the
compiled extension, hashed), so a template is only ever applied by the code it was checked against.

    TRAINBOARD_TEMPLATE_CACHE=DIR   where the files are (default: $XDG_CACHE_HOME/trainboard or
                                    ~/.cache/trainboard); `off` keeps templates in memory only

The file is JSON, read without evaluating anything; one that cannot be read is ignored (the parser
learns again), and one is written whole and renamed into place, so parsers that save at once only
lose each other's additions, never the file.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

from parsing import bodies as _bodies
from parsing import fastpath
from parsing import patterns as _patterns
from parsing.formats import MISS, STEP

log = logging.getLogger(__name__)

FORMAT = 1  # of the encoding below: part of the version
MAX_SAVED = 3000  # templates in a file (each parser's engine holds at most 4096; it takes a key's on its misses)
MAX_HELD = 20_000  # templates a store holds (a process reading endless new line shapes stops sharing more)
KEEP_FILES = 4  # files of other versions kept (another checkout or venv may still use its own)
_PARSING = Path(__file__).resolve().parent


class TemplateStore:
    """Templates by line key, in the order they were added; thread-safe. `path`: the file it was
    loaded from and saves to (None: memory only)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._by_key: dict[bytes, list[tuple]] = {}
        self._held: dict = {}  # the templates held, by encoding (an unencodable one by its id)
        self._new: list = []  # encodings added since loaded, in order: what save() writes
        self.loaded = 0
        if self.path is not None:
            for spec, code in _read(self.path):
                self._put(spec, code, new=False)
                self.loaded += 1

    def __len__(self) -> int:
        return len(self._held)

    def get(self, key: bytes) -> list[tuple]:
        """The templates of a key (a copy of the list)."""
        with self._lock:
            return list(self._by_key.get(key, ()))

    def put(self, spec: tuple) -> tuple:
        """Adds a template; returns the one held (an equal one already held, or this)."""
        return self._put(spec, _encoded(spec), new=True)

    def _put(self, spec: tuple, code, new: bool) -> tuple:
        with self._lock:
            held = self._held.get(code if code is not None else id(spec))
            if held is not None:
                return held
            if len(self._held) >= MAX_HELD:
                return spec
            self._held[code if code is not None else id(spec)] = spec
            self._by_key.setdefault(spec[0], []).append(spec)
            if new and code is not None:
                self._new.append(code)
            return spec

    def save(self) -> bool:
        """Writes what was learned since loading, merged with what the file holds now (another
        process may have saved since); True when written."""
        if self.path is None:
            return False
        with self._lock:
            new = list(self._new)
        if not new:
            return True
        try:
            on_disk = _read_codes(self.path)
            known = set(on_disk)
            codes = on_disk + [c for c in new if c not in known]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("[\n" + ",\n".join(codes[-MAX_SAVED:]) + "\n]\n")
            os.replace(tmp, self.path)
        except OSError as e:
            log.debug("templates not saved to %s: %s", self.path, e)
            return False
        with self._lock:
            del self._new[:len(new)]
        _tidy(self.path)
        return True


# ---- the process's store ---------------------------------------------------------------------------
_shared: TemplateStore | None = None
_shared_lock = threading.Lock()


def shared_templates() -> TemplateStore:
    """The process's store: loaded from the cache file of this version of the parser (if any), saved
    back at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            path = cache_path()
            _shared = TemplateStore(path)
            if path is not None:
                atexit.register(_shared.save)
        return _shared


def cache_dir() -> Path | None:
    """The directory of the cache files; None when TRAINBOARD_TEMPLATE_CACHE is `off`."""
    where = os.environ.get("TRAINBOARD_TEMPLATE_CACHE")
    if where is not None:
        return None if where.strip().lower() in ("", "off", "0", "no", "false") else Path(where).expanduser()
    try:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:  # no home directory to be found: memory only
        return None
    return Path(base) / "trainboard"


def cache_path() -> Path | None:
    """This version's cache file (None: no disk cache)."""
    where = cache_dir()
    return None if where is None or fastpath._fastcore is None else where / f"templates-{code_version()}.json"


def code_version() -> str:
    """A hash of what decides how a line reads: the parser's sources, the compiled extension, the
    Python that runs them, the JSON reader bodies.py found (orjson, or the stdlib's), this encoding."""
    json_reader = f"{_bodies._json_loads.__module__}:{getattr(sys.modules.get('orjson'), '__version__', '')}"
    h = hashlib.sha256(f"{FORMAT}|{sys.version}|{sys.platform}|{json_reader}".encode())
    files = sorted(_PARSING.glob("*.py")) + sorted(_PARSING.glob("*.c"))
    if fastpath._fastcore is not None and getattr(fastpath._fastcore, "__file__", None):
        files.append(Path(fastpath._fastcore.__file__))
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def _tidy(path: Path) -> None:
    """Removes the oldest files of other versions beyond KEEP_FILES."""
    try:
        others = sorted((p for p in path.parent.glob("templates-*.json") if p != path),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for old in others[KEEP_FILES:]:
            old.unlink()
    except OSError:
        pass


# ---- the encoding: JSON of tagged values ---------------------------------------------------------------
# A spec (fastpath: key, kind, slots, step, metrics, timestamp, kk_base, bar, extra, aside, table, aux)
# holds bytes, tuples, floats (NaN, -0.0), dicts of an open table, and objects C compares by identity: a
# format (`cf`), its block row regex, the STEP and MISS markers. Those are named by where they are.
def _objects() -> dict[str, object]:
    named = {"STEP": STEP, "MISS": MISS, "BLOCK_ROW": _patterns.BLOCK_ROW}
    for i, cf in enumerate(fastpath._FORMATS):
        named[f"cf{i}"] = cf
        if cf.row is not None:
            named[f"row{i}"] = cf.row
    return named


_NAMED = _objects()
_NAMES = {id(v): k for k, v in _NAMED.items()}


class _Unencodable(Exception):
    pass


def _enc(x):
    t = type(x)
    if x is None or t is bool or t is int or t is str:
        return x
    if t is float:
        return {"f": repr(x)}
    if t is bytes:
        return {"b": x.decode("latin-1")}
    if t is tuple:
        return {"t": [_enc(v) for v in x]}
    if t is list:
        return [_enc(v) for v in x]
    if t is dict:
        return {"d": [[_enc(k), _enc(v)] for k, v in x.items()]}
    if t is fastpath._Table:
        return {"T": _enc(x.d)}
    if t is fastpath._Aux:
        return {"A": [_enc(x.pre), _enc(x.post)]}
    name = _NAMES.get(id(x))
    if name is None:
        raise _Unencodable(t.__name__)
    return {"o": name}


def _dec(x):
    if type(x) is list:
        return [_dec(v) for v in x]
    if type(x) is not dict:
        return x
    (tag, v), = x.items()
    if tag == "f":
        return float(v)
    if tag == "b":
        return v.encode("latin-1")
    if tag == "t":
        return tuple(_dec(i) for i in v)
    if tag == "d":
        return {_dec(k): _dec(val) for k, val in v}
    if tag == "T":
        return fastpath._Table(_dec(v))
    if tag == "A":
        return fastpath._Aux(_dec(v[0]), _dec(v[1]))
    if tag == "o":
        return _NAMED[v]
    raise ValueError(f"unknown tag {tag!r}")


def _encoded(spec: tuple) -> str | None:
    """The spec as one line of JSON; None when it holds an object with no name here."""
    try:
        return json.dumps(_enc(spec), separators=(",", ":"))
    except _Unencodable as e:
        log.debug("template of %r not encodable: %s", spec[0], e)
        return None


def decoded(code: str) -> tuple:
    return _dec(json.loads(code))


def _read_codes(path: Path) -> list[str]:
    """The encoded templates of a file, each as one line of JSON ([] when none can be read)."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if type(items) is not list:
        return []
    return [json.dumps(item, separators=(",", ":")) for item in items]


def _read(path: Path) -> list[tuple[tuple, str]]:
    """The templates of a file that decode and that an engine takes (one that does not is
    skipped), each with its encoding (as _encoded gives it: a decoded spec encodes the same)."""
    out = []
    probe = fastpath.new_engine() if fastpath._fastcore is not None else None
    for code in _read_codes(path):
        try:
            spec = decoded(code)
            if type(spec) is not tuple or len(spec) < 10 or type(spec[0]) is not bytes:
                raise ValueError("not a template")
            if probe is not None and not fastpath.add(probe, spec):
                raise ValueError("refused by the engine")
        except Exception as e:  # a damaged file costs learning, never output
            log.debug("a cached template skipped: %s", e)
            continue
        out.append((spec, code))
    return out

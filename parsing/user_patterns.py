"""User-defined formats: a regex with named groups, from `--pattern` or a TOML file.

Groups: `step` (the global step), `epoch`, `name`/`value` pairs (also `name1`/`value1`, ...), and any
other named group is a metric of that name (`(?P<loss>...)`). A pattern with a `name` but no
metric group stores its one unnamed group (or `value`) under that name.

    # trainboard.toml
    [[parsing.patterns]]
    regex = 'it (?P<step>\\d+) \\| obj (?P<loss>[\\d.]+)'
    name = "my framework"
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

_STRUCTURAL = frozenset({"step", "epoch", "name", "value", "timestamp"})
_PAIR = re.compile(r"(name|value)(\d*)")


class PatternError(ValueError):
    """A user pattern that cannot be used; the message names the pattern."""


@dataclass(frozen=True)
class UserPattern:
    regex: str
    name: str | None = None
    compiled: re.Pattern = field(init=False, repr=False, compare=False)
    metric_groups: tuple[str, ...] = field(init=False, repr=False, compare=False)
    pairs: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        label = self.name or self.regex
        try:
            compiled = re.compile(self.regex)
        except re.error as e:
            raise PatternError(f"pattern '{label}' does not compile: {e}") from None
        groups = compiled.groupindex
        metric_groups = tuple(g for g in groups if g not in _STRUCTURAL and not _PAIR.fullmatch(g))
        suffixes = [pm.group(2) for g in groups if (pm := _PAIR.fullmatch(g)) and pm.group(1) == "name"]
        pairs = tuple((f"name{s}", f"value{s}") for s in suffixes if f"value{s}" in groups)
        lone_value = self.name is not None and (
            ("value" in groups and "name" not in groups) or (not groups and compiled.groups == 1)
        )
        if not metric_groups and not pairs and not lone_value:
            raise PatternError(
                f"pattern '{label}' has no metric group: use (?P<loss>...), (?P<name>...)/(?P<value>...), "
                "or one group with a name"
            )
        object.__setattr__(self, "compiled", compiled)
        object.__setattr__(self, "metric_groups", metric_groups)
        object.__setattr__(self, "pairs", pairs)


def load_patterns(regexes: list[str] | None = None, toml_path: str | None = None) -> list[UserPattern]:
    """Patterns given on the command line, then those of a TOML file (`[[parsing.patterns]]`).
    Raises PatternError naming the first pattern that cannot be used."""
    patterns = [UserPattern(r) for r in regexes or ()]
    if toml_path is not None:
        try:
            data = tomllib.loads(Path(toml_path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise PatternError(f"patterns file {toml_path!r} cannot be read: {e}") from None
        entries = data.get("parsing", {}).get("patterns", [])
        if not isinstance(entries, list):
            raise PatternError(f"patterns file {toml_path!r}: [[parsing.patterns]] must be an array of tables")
        for i, entry in enumerate(entries, 1):
            if not isinstance(entry, dict) or not isinstance(entry.get("regex"), str):
                raise PatternError(f"patterns file {toml_path!r}: entry {i} needs regex = \"...\"")
            name = entry.get("name")
            patterns.append(UserPattern(entry["regex"], name if isinstance(name, str) else None))
    return patterns

"""Timestamps from logging prefixes, as unix seconds (naive times are local time)."""
from __future__ import annotations

import calendar
import re
import time

_TS = re.compile(
    r"(?:(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)[T ]|(?P<mo2>\d\d)/(?P<d2>\d\d)(?:/(?P<y2>\d{4}))?,? )"
    r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d(?:[.,]\d{1,9})?)(?P<tz>Z|[+-]\d\d:?\d\d)?"
)
_MINUTES: dict[tuple, float] = {}


def parse_timestamp(text: str) -> float | None:
    """Unix seconds of `2024-05-02 09:14:03,118`, `2024-05-02T09:14:03.118Z`, `05/02/2024 09:13:41`,
    `03/25 09:12:03` (no year: this year), or None."""
    m = _TS.match(text)
    if m is None:
        return None
    g = m.group
    if g("y") is not None:
        y, mo, d = int(g("y")), int(g("mo")), int(g("d"))
    else:
        y = int(g("y2")) if g("y2") else time.localtime().tm_year
        mo, d = int(g("mo2")), int(g("d2"))
    tz = g("tz")
    key = (y, mo, d, g("h"), g("mi"), tz)
    base = _MINUTES.get(key)
    if base is None:
        fields = (y, mo, d, int(g("h")), int(g("mi")), 0, 0, 0, -1)
        try:
            if tz is None:
                base = time.mktime(fields)
            else:
                base = float(calendar.timegm(fields))
                if tz != "Z":
                    sign = -1 if tz[0] == "+" else 1
                    base += sign * (int(tz[1:3]) * 3600 + int(tz[-2:]) * 60)
        except (OverflowError, ValueError):
            return None
        if len(_MINUTES) > 50_000:
            _MINUTES.clear()
        _MINUTES[key] = base
    return base + float(g("s").replace(",", "."))

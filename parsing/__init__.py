"""Pure log parsing: training-log text in, metric records out (no database, no network)."""
from parsing.names import CANONICAL_TYPES, canonical_type, normalize_name
from parsing.parser import StreamParser, parse_file, parse_text
from parsing.records import ParseStats, Record
from parsing.templates import TemplateStore, shared_templates
from parsing.user_patterns import PatternError, UserPattern, load_patterns


def fastcore_available() -> bool:
    """Whether the compiled fast path (parsing._fastcore) was built; without it the parser is pure Python."""
    from parsing.fastpath import available
    return available()


__all__ = [
    "CANONICAL_TYPES",
    "ParseStats",
    "PatternError",
    "Record",
    "StreamParser",
    "TemplateStore",
    "UserPattern",
    "canonical_type",
    "fastcore_available",
    "load_patterns",
    "normalize_name",
    "parse_file",
    "parse_text",
    "shared_templates",
]

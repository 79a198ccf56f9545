"""Captured output as text: UTF-8 decoded per stream, a read that ends inside a character leaving
the rest of it to the next read. Light on purpose (the parser process imports it, and nothing of
the database): the importer and its parser process decode the same bytes into the same text."""
from __future__ import annotations

import codecs

# A stored chunk holds at most this much output (one pipe read is at most this much anyway).
CHUNK_BYTES = 64 * 1024


def clean_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; both databases store the replacement character instead."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class StreamDecoder:
    """`decode(data, stream)`: the text of a read, in pieces of at most CHUNK_BYTES characters;
    `tails()`: what the streams still held at the end, in the order they were first seen. The text
    is what `codecs`' incremental UTF-8 decoder gives with errors="replace", NUL replaced too."""

    def __init__(self) -> None:
        self._pending: dict[int, bytes] = {}  # per stream: the start of a character cut by a read

    def decode(self, data: bytes, stream: int = 0) -> list[str]:
        return [text for text, _ in self.decode_exact(data, stream)]

    def decode_exact(self, data: bytes, stream: int = 0) -> list[tuple[str, bytes | None]]:
        """(text, utf8) pieces of a read: `utf8` is the text's own UTF-8 when the bytes held it
        exactly (valid UTF-8 without NUL, the common case), so it need not be encoded again."""
        out = []
        for start in range(0, len(data), CHUNK_BYTES):
            piece = data[start:start + CHUNK_BYTES] if len(data) > CHUNK_BYTES else data
            pending = self._pending.get(stream, b"")
            whole = pending + piece if pending else piece
            try:
                text, used = codecs.utf_8_decode(whole, "strict", False)
                utf8, rest = (whole, b"") if used == len(whole) else (whole[:used], whole[used:])
            except UnicodeDecodeError:  # bytes that are not UTF-8: replaced, as the codec does
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                decoder.setstate((pending, 0))
                text, utf8, rest = decoder.decode(piece), None, decoder.getstate()[0]
            self._pending[stream] = rest
            if b"\x00" in piece:  # only a NUL byte decodes to NUL
                text, utf8 = clean_text(text), None
            if text:
                out.append((text, utf8))
        return out

    def tails(self) -> list[str]:
        tails = (clean_text(codecs.utf_8_decode(rest, "replace", True)[0]) for rest in self._pending.values())
        return [tail for tail in tails if tail]

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
    `tails()`: what the streams still held at the end, in the order they were first seen."""

    def __init__(self) -> None:
        self._decoders: dict[int, codecs.IncrementalDecoder] = {}

    def decode(self, data: bytes, stream: int = 0) -> list[str]:
        decoder = self._decoders.get(stream)
        if decoder is None:
            decoder = self._decoders[stream] = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces = [decoder.decode(data[start:start + CHUNK_BYTES]) for start in range(0, len(data), CHUNK_BYTES)]
        # Only a NUL byte decodes to NUL: bytes without one skip the (slower) scan of their text.
        return [clean_text(text) for text in pieces if text] if b"\x00" in data else [text for text in pieces if text]

    def tails(self) -> list[str]:
        tails = (clean_text(decoder.decode(b"", final=True)) for decoder in self._decoders.values())
        return [tail for tail in tails if tail]

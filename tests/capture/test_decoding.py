"""The stream decoder against the codec it stands in for: `codecs`' incremental UTF-8 decoder with
errors="replace" (NUL replaced too), whatever the bytes and however the reads cut them."""
import codecs

from hypothesis import given
from hypothesis import strategies as st

from dashboard.capture import decoding
from dashboard.capture.decoding import StreamDecoder, clean_text

# Mostly UTF-8 text (cut anywhere), with stray bytes, NUL and invalid sequences mixed in.
_TEXTY = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30).map(lambda t: t.encode()),
    st.binary(max_size=8),
    st.sampled_from([b"\x00", b"\xff", b"\xe2\x96", b"\x88", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\xc3"]),
)


def _reference(reads: list[tuple[int, bytes]]) -> tuple[list[str], list[str]]:
    decoders: dict[int, codecs.IncrementalDecoder] = {}
    pieces = []
    for stream, data in reads:
        decoder = decoders.setdefault(stream, codecs.getincrementaldecoder("utf-8")(errors="replace"))
        for start in range(0, len(data), decoding.CHUNK_BYTES):
            text = clean_text(decoder.decode(data[start:start + decoding.CHUNK_BYTES]))
            if text:
                pieces.append(text)
    tails = [clean_text(d.decode(b"", final=True)) for d in decoders.values()]
    return pieces, [t for t in tails if t]


@given(st.lists(st.tuples(st.integers(0, 2), st.lists(_TEXTY, max_size=6).map(b"".join)), max_size=12),
       st.sampled_from([4, 7, 64 * 1024]))
def test_decoded_text_is_the_incremental_codecs(reads, chunk_bytes):
    old = decoding.CHUNK_BYTES
    decoding.CHUNK_BYTES = chunk_bytes  # small pieces: reads cut into several
    try:
        decoder = StreamDecoder()
        pieces = [piece for stream, data in reads for piece in decoder.decode_exact(data, stream)]
        expected = _reference(reads)
    finally:
        decoding.CHUNK_BYTES = old
    assert [text for text, _ in pieces] == expected[0]
    assert decoder.tails() == expected[1]
    for text, utf8 in pieces:  # the bytes offered for packing are exactly the text's UTF-8
        assert utf8 is None or utf8 == text.encode("utf-8")


def test_valid_utf8_is_offered_as_read_and_a_cut_character_joins_the_next_read():
    decoder = StreamDecoder()
    assert decoder.decode_exact(b"loss \xe2\x96") == [("loss ", b"loss ")]
    assert decoder.decode_exact(b"\x88 ok\n") == [("█ ok\n", "█ ok\n".encode())]
    assert decoder.decode_exact(b"nul \x00 bad \xff\n") == [("nul \ufffd bad \ufffd\n", None)]
    assert decoder.decode_exact(b"end \xe2") == [("end ", b"end ")] and decoder.tails() == ["\ufffd"]

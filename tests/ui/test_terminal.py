"""The terminal renders logs as a terminal shows them: colours kept as classes, \\r redraws
collapsed, markup shown as text, and chunk boundaries make no difference."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.components import lines_block, segment_nodes
from dashboard.terminal import TermState, open_segments, plain_text, render


def test_sgr_colours_become_classes_and_reset():
    lines, _ = render("\x1b[1;31mERROR\x1b[0m plain \x1b[92mok\x1b[39m done\n")
    assert lines == [[("ERROR", "tb-fg-1 tb-bold", ""), (" plain ", "", ""), ("ok", "tb-fg-10", ""), (" done", "", "")]]


def test_256_and_truecolour_foregrounds_are_inline_colours():
    lines, _ = render("\x1b[38;5;196mred\x1b[38;2;0;128;255mblue\x1b[0m\n")
    assert lines == [[("red", "", "#ff0000"), ("blue", "", "#0080ff")]]


def test_carriage_return_redraws_collapse_to_the_final_state():
    bar = "".join(f"\r{p:3d}%|{'#' * (p // 10):<10}|" for p in range(0, 101, 10))
    lines, _ = render(bar + "\n" + "next line\n")
    assert plain_text(lines) == "100%|##########|\nnext line"


def test_shorter_redraw_overwrites_like_a_terminal_and_erase_line_clears():
    lines, _ = render("abcdef\rXY\n" + "abcdef\r\x1b[KXY\n" + "windows line\r\n")
    assert plain_text(lines) == "XYcdef\nXY\nwindows line"


def test_markup_is_text_never_html():
    lines, _ = render("<script>alert(1)</script> <b>bold?</b>\n")
    block = lines_block(lines)
    assert block.children == ["<script>alert(1)</script> <b>bold?</b>\n"]


def test_cursor_motion_and_osc_sequences_are_stripped():
    lines, _ = render("\x1b]0;title\x07a\x1b[2Ab\x1b[?25lc\x07\n")
    assert plain_text(lines) == "abc"


def test_open_line_carries_over_to_the_next_chunk_with_its_colour():
    lines1, state = render("done\n\x1b[33m 40%|####")
    assert plain_text(lines1) == "done" and open_segments(state) == [(" 40%|####", "tb-fg-3", "")]
    lines2, state = render("\r 90%|#########\n", TermState.from_json(state.to_json()))
    assert lines2 == [[(" 90%|#########", "tb-fg-3", "")]]
    assert open_segments(state) == []


def test_segment_nodes_merge_plain_text_and_wrap_styled_text():
    nodes = segment_nodes([("a", "", ""), ("b", "", ""), ("c", "tb-fg-1", "")])
    assert nodes[0] == "ab" and nodes[1].children == "c" and nodes[1].className == "tb-fg-1"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \r\n\x1b[31m0;K%|#\t<>")), max_size=120), st.data())
def test_chunking_does_not_change_the_result(text, data):
    whole, whole_state = render(text)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=5)))
    lines, state = [], TermState()
    for a, b in zip([0, *cuts], [*cuts, len(text)]):
        got, state = render(text[a:b], TermState.from_json(state.to_json()))
        lines += got
    assert lines == whole and open_segments(state) == open_segments(whole_state)


@pytest.mark.parametrize("junk", [b"\xff\xfe\x00garbage", bytes(range(256))])
def test_any_bytes_render_without_error(junk):
    lines, state = render(junk.decode("utf-8", "replace") + "\n")
    assert len(lines) >= 1


def test_a_lone_escape_before_a_chunk_final_newline_keeps_the_newline():
    """Found by hypothesis: `0\x1b\n` then `0` lost the line end (`$` matched before the `\n`)."""
    lines, state = render("0\x1b\n")
    assert lines == [[("0", "", "")]] and state.pending == ""
    assert render("0", TermState.from_json(state.to_json()))[0] == []


def test_escape_sequence_cut_by_a_chunk_boundary_waits_for_the_rest():
    lines, state = render("progress 10%\x1b[")
    assert lines == [] and state.pending == "\x1b["
    lines, state = render("31mred\x1b[0m\n", TermState.from_json(state.to_json()))
    assert lines == [[("progress 10%", "", ""), ("red", "tb-fg-1", "")]] and state.pending == ""

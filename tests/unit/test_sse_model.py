"""The SSE decoder against a model of the stream it is fed.

Streams are built from a list of events (fields, comments, data lines of arbitrary bytes,
invalid UTF-8 included), each line ended by LF, CR or CRLF, mixed freely, and fed in any
chunking through both paths: :meth:`SSEDecoder.feed` (events) and :meth:`feed_data`
(data only, the queue's fast path). The expected events come from the model, decoded with
Python's own ``bytes.decode(..., "replace")``; the decoder is never asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_spaces.sse import SSEDecoder, SSEEvent, _data_lines

EOLS = [b"\n", b"\r", b"\r\n"]
# Any byte but CR and LF, so invalid UTF-8 (lone continuation bytes, truncated sequences).
LINE_BYTES = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@dataclass(frozen=True)
class Block:
    lines: tuple[bytes, ...]   # raw lines, without line endings
    eols: tuple[bytes, ...]    # each line's ending, then the blank line's
    expected: SSEEvent | None  # what the block means, by the model

    @property
    def raw(self) -> bytes:
        ended = zip(self.lines, self.eols[:-1], strict=True)
        return b"".join(line + eol for line, eol in ended) + self.eols[-1]


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    lines: list[bytes] = []
    name = "message"
    data: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["data", "data", "data", "event", "comment", "other"]))
        if kind == "data":
            value = draw(LINE_BYTES)
            spaced = draw(st.booleans())
            lines.append(b"data: " + value if spaced else b"data:" + value)
            kept = value if spaced or not value.startswith(b" ") else value[1:]
            data.append(kept.decode("utf-8", "replace"))
        elif kind == "event":
            ev = draw(st.sampled_from(["generating", "complete", "heartbeat", "error"]))
            lines.append(b"event: " + ev.encode())
            name = ev
        elif kind == "comment":
            lines.append(b":" + draw(LINE_BYTES))
        else:
            lines.append(draw(st.sampled_from([b"id: 7", b"retry: 10", b"data", b"x:y"])))
            if lines[-1] == b"data":  # a field name with no colon: data with empty value
                data.append("")
    expected = None if not data and name == "message" else SSEEvent(name, "\n".join(data))
    eols = draw(st.lists(st.sampled_from(EOLS), min_size=len(lines), max_size=len(lines)))
    # The blank line's ending; after a CR, an LF would make one CRLF, not a blank line.
    eols.append(draw(st.sampled_from(EOLS[1:] if eols[-1] == b"\r" else EOLS)))
    return Block(tuple(lines), tuple(eols), expected)


def serialise(bs: list[Block]) -> bytes:
    return b"".join(b.raw for b in bs)


def chunks(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts} | {len(raw)})
    out, prev = [], 0
    for p in points:
        out.append(raw[prev:p])
        prev = p
    return out


def text(d: bytes | str) -> str:
    return d if isinstance(d, str) else d.decode("utf-8", "replace")


def decode_events(parts: list[bytes]) -> list[SSEEvent]:
    dec = SSEDecoder()
    out: list[SSEEvent] = []
    for p in parts:
        out += dec.feed(p)
    return out + dec.flush()


def decode_pairs(parts: list[bytes]) -> list[tuple[str, str]]:
    dec = SSEDecoder()
    out: list[tuple[str, bytes | str]] = []
    for p in parts:
        out += dec.feed_events(p)
    return [(name, text(d)) for name, d in out + dec.flush_events()]


def decode_data(parts: list[bytes]) -> list[str]:
    dec = SSEDecoder()
    out: list[bytes | str] = []
    for p in parts:
        out += dec.feed_data(p)
    return [text(d) for d in out + dec.flush_data()]


@given(st.lists(blocks(), max_size=6), st.lists(st.integers(0, 400), max_size=12),
       st.booleans())
def test_events_in_any_line_endings_and_any_chunking_decode_as_the_model_says(
        bs: list[Block], cuts: list[int], unterminated: bool) -> None:
    raw = serialise(bs)
    if unterminated and bs:
        raw = raw[:-len(bs[-1].eols[-1])]  # the last event lacks its blank line: flush has it
    want = [b.expected for b in bs if b.expected is not None]
    parts = chunks(raw, cuts)
    assert decode_events(parts) == want
    assert decode_data(parts) == [e.data for e in want]
    assert decode_pairs(parts) == [(e.event, e.data) for e in want]


@settings(max_examples=20)  # each example is 300 KB; the family is small
@given(st.lists(blocks(), max_size=4), st.sampled_from(EOLS), st.integers(1, 7))
def test_a_huge_frame_goes_through_the_incremental_path_intact(
        bs: list[Block], eol: bytes, pieces: int) -> None:
    """Frames over 256 KiB are found incrementally (never re-split); same events."""
    big = b"x" * 300_000 + "é".encode() + b"\xff"
    huge = Block((b"data: " + big,), (eol, eol),
                 SSEEvent("message", big.decode("utf-8", "replace")))
    seq = [*bs, huge, *bs]
    raw = serialise(seq)
    step = len(raw) // pieces + 1
    parts = [raw[i:i + step] for i in range(0, len(raw), step)]
    want = [b.expected for b in seq if b.expected is not None]
    assert decode_events(parts) == want
    assert decode_data(parts) == [e.data for e in want]
    assert decode_pairs(parts) == [(e.event, e.data) for e in want]


def test_a_frame_over_a_megabyte_comes_out_of_feed_data_decoded() -> None:
    payload = b'{"a": "' + b"y" * 1_100_000 + b'"}'
    dec = SSEDecoder()
    out = dec.feed_data(b"data: " + payload[:500_000])
    out += dec.feed_data(payload[500_000:] + b"\n\ndata: 1\n\n")
    assert out == [payload.decode(), b"1"]


def test_small_frames_then_a_huge_one_switch_paths_without_losing_anything() -> None:
    dec = SSEDecoder()
    assert dec.feed_data(b"data: 1\n\ndata: 2\n\ndata: ") == [b"1", b"2"]
    rest = b"z" * 300_000
    assert [text(d) for d in dec.feed_data(rest + b"\n\ndata: 3\n\n")] == ["z" * 300_000, "3"]
    assert dec.feed_data(b"data: 4\n\n") == [b"4"]


def test_a_decoder_can_be_reused_after_flush() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: tail") == []
    assert dec.flush() == [SSEEvent("message", "tail")]
    assert dec.feed(b"data: again\n\n") == [SSEEvent("message", "again")]
    assert dec.feed(b"data: x") == []
    assert dec.flush_data() == ["x"]
    assert dec.feed_data(b"data: y\n\n") == [b"y"]


def test_flush_of_a_tail_without_data_gives_nothing() -> None:
    dec = SSEDecoder()
    assert dec.feed(b": just a comment") == []
    assert dec.flush() == []
    dec.feed(b"   \n ")
    assert dec.flush() == []


def test_a_comment_line_inside_a_block_does_not_end_it() -> None:
    assert SSEDecoder().feed(b"data: a\n: note\ndata: b\n\n") == [SSEEvent("message", "a\nb")]


def test_a_chunk_that_starts_with_a_blank_frame_still_gives_the_events_after_it() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"\n\ndata: a\n\n") == [SSEEvent("message", "a")]
    assert dec.feed_data(b"\n\ndata: b\n\n") == [b"b"]


def test_feed_data_decodes_multiline_and_named_events_like_feed() -> None:
    dec = SSEDecoder()
    assert [text(d) for d in dec.feed_data(b"data: a\ndata: b\n\nevent: x\n\nid: 3\n\n")] == \
        ["a\nb", ""]


def test_a_lf_line_then_a_crlf_or_cr_blank_line_ends_the_event() -> None:
    for raw in [b"data: a\n\r\ndata: b\n\n", b"data: a\n\rdata: b\n\n",
                b"data: a\r\n\ndata: b\r\r", b"data: a\r\r\ndata: b\r\n\r\n"]:
        assert SSEDecoder().feed(raw) == [SSEEvent("message", "a"), SSEEvent("message", "b")]


def test_lf_events_after_a_cr_one_are_still_split_one_by_one() -> None:
    raw = b"data: a\r\rdata: b\n\ndata: c\n\ndata: d\n\n"
    want = [SSEEvent("message", x) for x in "abcd"]
    assert SSEDecoder().feed(raw) == want
    assert [text(d) for d in SSEDecoder().feed_data(raw)] == list("abcd")


def test_invalid_utf8_in_a_frame_over_a_megabyte_is_replaced_not_raised() -> None:
    payload = b"x" * 1_100_000 + b"\xff\xfe"
    dec = SSEDecoder()
    assert dec.feed_data(b"data: " + payload + b"\n\n") == ["x" * 1_100_000 + "\ufffd\ufffd"]


def test_gradios_call_blocks_come_out_of_feed_events_as_name_and_raw_bytes() -> None:
    """``event: <name>`` then one ``data:`` line: the data is not decoded (bytes, for the
    JSON parser and the byte comparison of the ``/call`` fast path); a str over 1 MB."""
    dec = SSEDecoder()
    raw = b'event: generating\ndata: ["\xc3\xa9"]\n\nevent: heartbeat\ndata: null\n\n'
    assert dec.feed_events(raw) == [("generating", b'["\xc3\xa9"]'), ("heartbeat", b"null")]
    assert dec.feed_events(b"event: complete\ndata: \n\nevent: x\n\nevent: y\ndata:z\n\n") \
        == [("complete", b""), ("x", ""), ("y", "z")]
    huge = b"q" * 1_000_000
    assert dec.feed_events(b"event: complete\ndata: " + huge + b"\n\n") \
        == [("complete", huge.decode())]
    assert dec.feed_events(b"event: error\ndata: " + huge[:999_990] + b"\n\n") \
        == [("error", huge[:999_990])]


def test_blocks_that_only_look_like_call_blocks_are_parsed_as_sse() -> None:
    dec = SSEDecoder()
    for raw, want in [
        (b"event: a\ndata: 1\ndata: 2\n\n", ("a", "1\n2")),   # two data lines
        (b"event: a\r\ndata: 1\r\n\r\n", ("a", "1")),          # CRLF line ends
        (b"event: a\n: note\ndata: 1\n\n", ("a", "1")),         # a comment in between
        (b"event: a\ndata:1\n\n", ("a", "1")),                  # no space after the colon
        (b"event: a\nid: 1\n\n", ("a", "")),                    # no data line
        (b"event: a\rdata: 1\n\n", ("a", "1")),                 # a lone CR ends the line
        (b"data: 1\nevent: a\n\n", ("a", "1")),                 # data first
    ]:
        assert [(n, text(d)) for n, d in dec.feed_events(raw) + dec.flush_events()] == [want]


def test_an_event_block_then_other_blocks_in_one_buffer_are_each_read_as_themselves() -> None:
    raw = (b"event: a\ndata: 1\n\ndata: x\ndata: y\n\nevent: \xff\ndata: 2\n\n"
           b"event: b\n\n")
    got = SSEDecoder().feed_events(raw)
    assert [(n, text(d)) for n, d in got] == [("a", "1"), ("message", "x\ny"), ("\ufffd", "2"),
                                            ("b", "")]


def test_a_lone_line_end_first_is_an_empty_line_not_a_blank_one() -> None:
    for raw in (b"\ndata: x\n\n", b"\nevent: e\ndata: x\n\n"):
        assert [text(d) for _, d in SSEDecoder().feed_events(raw)] == ["x"]
        assert [e.data for e in SSEDecoder().feed(raw)] == ["x"]
        assert [text(d) for d in SSEDecoder().feed_data(raw)] == ["x"]


def test_data_lines_take_only_streams_of_data_lines() -> None:
    assert _data_lines(b"data: 1\n\ndata: 2\n\n") == ([b"1", b"2"], b"")
    assert _data_lines(b"data: 1\n\ndata: 2\n\ndata: 3") == ([b"1", b"2"], b"data: 3")
    assert _data_lines(b"data: 1\n\ndata: ") == ([b"1"], b"data: ")
    assert _data_lines(b"data: 1") == ([], b"data: 1")
    assert _data_lines(b"data: 1\n\n") == ([b"1"], b"")
    for other in (b"data: 1\n", b"data: 1\n\ndata: 2\n", b"data: 1\ndata: 2\n\n",
                  b"data: 1\n\n: c\n\n", b"data:1\n\n", b"event: e\ndata: 1\n\n",
                  b"data: 1\n\n\n\n", b"data: 1\n\ndata:2\n\n"):
        assert _data_lines(other) is None, other


def test_a_block_is_found_after_many_single_line_ends() -> None:
    """The blank line is found line end by line end (one-byte searches): lines of any
    length, and line ends at the chunk's edge, are found as by a two-byte search."""
    lines = b"".join(b"data: " + b"x" * n + b"\n" for n in (0, 1, 2, 300, 5))
    raw = lines + b"\n" + b"event: e\n" + lines + b"\n"
    want = [("message", "\n".join("x" * n for n in (0, 1, 2, 300, 5))),
            ("e", "\n".join("x" * n for n in (0, 1, 2, 300, 5)))]
    for cut in range(len(raw) + 1):
        dec = SSEDecoder()
        got = dec.feed_events(raw[:cut]) + dec.feed_events(raw[cut:]) + dec.flush_events()
        assert [(n, text(d)) for n, d in got] == want


def test_data_lines_cut_anywhere_give_the_payloads_of_the_whole_frames_only() -> None:
    """Gradio's queue stream (data lines only) is split on the whole ``\\n\\ndata: ``: cut at
    every byte, into two and three chunks, it gives each payload once, as soon as its blank
    line has come; a comment or a named event among the frames changes nothing."""
    lines = b'data: {"a":1}\n\ndata: \n\ndata: [2]\n\ndata: x\n\n'
    mixed = b"data: 1\n\n: ping\n\ndata: 2\n\nevent: e\ndata: 3\n\ndata: 4\n\n"
    for raw, want in [(lines, [b'{"a":1}', b"", b"[2]", b"x"]), (mixed, [b"1", b"2", b"3", b"4"])]:
        for cut in range(len(raw) + 1):
            for cut2 in (cut, (cut + len(raw)) // 2):
                dec = SSEDecoder()
                got: list[bytes | str] = []
                for end, part in ((cut, raw[:cut]), (cut2, raw[cut:cut2]), (len(raw), raw[cut2:])):
                    got += dec.feed_data(part)
                    if raw is lines:  # each blank line ends a frame, at once
                        assert len(got) == raw[:end].count(b"\n\n")
                assert [text(d) for d in got] == [w.decode() for w in want]
                assert dec.flush_data() == []


def test_a_frame_is_bytes_under_a_megabyte_and_str_over_it_in_one_read_or_many() -> None:
    """Whichever path a read takes (split at once up to the split limit, scanned above it
    or while a frame keeps growing), a frame under 1 MB comes out as bytes and a larger one
    decoded: the split limit may not be raised past what keeps that true."""
    for size, kind in ((999_000, bytes), (1_000_100, str)):
        raw = b"data: " + b"y" * size + b"\n\ndata: 1\n\n"
        for step in (len(raw), 300_000, 65_536):
            dec = SSEDecoder()
            out: list[bytes | str] = []
            for i in range(0, len(raw), step):
                out += dec.feed_data(raw[i:i + step])
            assert [type(d) for d in out] == [kind, bytes], (size, step)
            assert len(out[0]) == size

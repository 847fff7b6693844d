"""The SSE decoder: any chunking gives the same events; no line-length limit."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_spaces.sse import SSEDecoder, SSEEvent
from tests import captures

STREAMS = [("6.31.0", "data_stream.txt"), ("4.44.1", "data_stream.txt"),
           ("5.49.1", "data_stream.txt"), ("6.31.0", "progress_stream.txt"),
           ("6.31.0", "call_stream.txt"), ("4.44.1", "call_err_failing_chat.txt"),
           ("6.31.0", "err_stream.txt")]


def feed_all(data: bytes, cuts: list[int]) -> list[SSEEvent]:
    dec, out, prev = SSEDecoder(), [], 0
    for cut in [*sorted(set(cuts)), len(data)]:
        out += dec.feed(data[prev:cut])
        prev = cut
    return out + dec.flush()


@pytest.mark.parametrize(("version", "name"), STREAMS)
def test_capture_frames_decode_to_the_json_sent(version: str, name: str) -> None:
    raw = captures.sse_bytes(version, name)
    events = SSEDecoder().feed(raw)
    data_lines = [ln[6:] for ln in raw.decode().splitlines() if ln.startswith("data: ")]
    assert [e.data for e in events] == data_lines
    for e in events:
        json.loads(e.data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(STREAMS), st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
def test_any_chunk_boundaries_give_identical_events(stream: tuple[str, str],
                                                    cuts: list[int]) -> None:
    raw = captures.sse_bytes(*stream)
    cuts = [c % (len(raw) + 1) for c in cuts]
    events = SSEDecoder().feed(raw)
    assert feed_all(raw, cuts) == events
    # The data-only fast path gives the same data, as bytes.
    dec, data, prev = SSEDecoder(), [], 0
    for cut in [*sorted(set(cuts)), len(raw)]:
        data += dec.feed_data(raw[prev:cut])
        prev = cut
    assert [d if isinstance(d, str) else d.decode() for d in data + dec.flush_data()] == \
        [e.data for e in events]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["message", "generating", "complete"]),
                          st.text(alphabet=st.characters(blacklist_characters="\r\n",
                                                        blacklist_categories=("Cs",)),
                                  max_size=50)), max_size=10),
       st.sampled_from(["\n", "\r\n"]), st.lists(st.integers(0, 2000), max_size=20))
def test_round_trip_with_lf_or_crlf(frames: list[tuple[str, str]], eol: str,
                                    cuts: list[int]) -> None:
    raw = "".join(f"event: {ev}{eol}data: {d}{eol}{eol}" for ev, d in frames).encode()
    cuts = [c % (len(raw) + 1) for c in cuts]
    assert feed_all(raw, cuts) == [SSEEvent(ev, d) for ev, d in frames]


def test_four_megabyte_frame_in_small_chunks() -> None:
    text = "x" * (4 * 1024 * 1024)
    frame = json.dumps({"msg": "process_completed", "output": {"data": [text]}})
    raw = f"data: {frame}\n\n".encode()
    dec, events = SSEDecoder(), []
    for i in range(0, len(raw), 8191):
        events += dec.feed(raw[i:i + 8191])
    assert len(events) == 1
    assert json.loads(events[0].data)["output"]["data"][0] == text


def test_comments_multiline_data_and_unterminated_tail() -> None:
    dec = SSEDecoder()
    events = dec.feed(b": keepalive\n\ndata: a\ndata: b\n\ndata: tail")
    assert events == [SSEEvent("message", "a\nb")]
    assert dec.flush() == [SSEEvent("message", "tail")]
    assert dec.flush() == []

"""A job's steady frames, recognised by their bytes, so that the hot path skips the JSON parse.

Nearly every frame of a stream adds one token to the answer, and those frames differ from
each other only in that token (and in a few numbers Gradio adds). Once such a frame has gone
through the full parse and proved to be the steady append, its bytes become a *shape*; the
frames after it are compared with the shape byte by byte, and only the token's JSON string is
decoded. A frame that differs anywhere else goes to the full parse. So a shape can only skip
work, never change an answer: each class says why a frame that matches it parses, in full, to
what the shape says.

* :class:`AppendShape`, queue protocol: one ``process_generating`` diff frame whose only edit
  of the answer output is one append at the answer's leaf.
* :class:`CallShape`, ``/call``: each frame is the whole output value; a steady one is the
  previous frame with more characters at the end of the answer's string.

Both decode the token with :func:`string`, which accepts no more than the full parse does
and decodes what it accepts the same way.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["AppendShape", "CallShape", "fast_loads", "json_string", "string"]


def json_string(literal: bytes) -> str:
    """The str of a JSON string literal, quotes included (every caller's literal starts
    with a quote, so it is a str or a ``ValueError``). Strict UTF-8 where the full parse may
    be more lenient (surrogatepass; "replace" on ``/call``): a literal this refuses sends
    its frame to the full parse, which decides."""
    value: str = json.loads(literal.decode())
    return value


fast_loads: Callable[[str | bytes], Any]
#: :func:`json_string`, by orjson when it is there: orjson accepts a subset of what json
#: accepts (no lone surrogates) and decodes that subset alike, so it agrees with either full
#: parse; and a string literal is a str or an error.
string: Callable[[bytes], str]
try:  # orjson (it ships with Gradio) parses the small per-token frames faster
    from orjson import loads as fast_loads

    string = fast_loads
except ImportError:  # pragma: no cover - depends on the environment
    fast_loads = json.loads
    string = json_string

#: Keys that, repeated in a frame's tail, would replace what the full parse reads at the front.
_KEYS = (b'"msg"', b'"event_id"', b'"output"', b'"data"')
#: A number token in a tail (valid JSON there, so it starts with "-" or a digit).
_NUMBER = re.compile(rb"-?[0-9][0-9.eE+-]*")
#: What a number of the learned tail may become: JSON's number grammar, its integer part and
#: exponent bounded so that every match is a finite double (orjson refuses 1e400, and the full
#: parse must see such a frame). The fraction is free: Gradio writes durations in full.
_SLOT = rb"-?(?:0|[1-9][0-9]{0,19})(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,2})?"
#: A ``\u`` escape of a low surrogate: decoded apart from the text before it, it would not
#: pair with a high surrogate there as the full parse pairs them.
_LOW_SURROGATE = re.compile(rb"\\u[dD][c-fC-F]")


def _compact(value: Any) -> bytes:
    """``value`` as Gradio writes it (orjson: no spaces, no ASCII escaping). A lone surrogate
    (json can decode one) gives bytes no valid frame holds, so nothing matches them."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) \
        .encode("utf-8", "surrogatepass")


def _token(frame: bytes, start: int) -> tuple[str, int] | None:
    """The string whose opening quote is at ``start - 1``, if its closing quote is the first
    ``"]]`` after it, and that quote's index. When the first ``"]]`` is an escaped quote
    inside the string, the literal up to it is unterminated, so this is None (rare: the
    full parse takes such a frame). No ``"]]`` at all: the literal is ``frame[start - 1:0]``,
    empty, no string either."""
    end = frame.find(b'"]]', start)
    try:
        return string(frame[start - 1:end + 1]), end
    except ValueError:
        return None


def _template(tail: bytes) -> re.Pattern[bytes]:
    """A pattern matching ``tail`` with each number free to change. ``tail`` has no
    backslash, so its quotes alternate between opening and closing a string: numbers are
    looked for between strings only."""
    pieces = []
    for i, part in enumerate(tail.split(b'"')):
        if i % 2:  # inside a string
            pieces.append(re.escape(part))
        else:
            literal = _NUMBER.split(part)
            pieces.append(_SLOT.join(re.escape(piece) for piece in literal))
    return re.compile(b'"'.join(pieces))


class AppendShape:
    """The steady append frame of one job on the queue protocol.

    A frame matches when it is, byte for byte, ``{"msg":"process_generating","event_id":
    <id>,"output":{"data":[`` then ``[],`` for each output before the answer's, then
    ``[["append",<leaf>,`` then one JSON string, then ``]]`` and a tail equal to the learned
    frame's but for its numbers (each a finite JSON number). The learned tail holds no
    backslash and none of the keys ``msg``, ``event_id``, ``output`` and ``data`` (a
    repeated key would override the front), so such a frame parses to this job's
    ``process_generating`` whose answer edits are exactly ``[["append", leaf, <string>]]``,
    which :meth:`ReplyTracker.append_only` (or, at the reasoning's leaf,
    :meth:`ReplyTracker.reasoning_only`) takes as it is: the same text, the same state.
    """

    __slots__ = ("_head", "_pattern", "_tail", "event_id", "leaf")

    def __init__(self, head: bytes, tail: bytes, event_id: str, leaf: list[Any]) -> None:
        self._head = head
        self._tail = tail  # the last tail seen (Gradio's numbers change each frame or never)
        self._pattern = _template(tail)
        #: What the shape was learned for: it holds while the job's leaf is this very object.
        self.event_id = event_id
        self.leaf = leaf

    @classmethod
    def learn(cls, frame: bytes, *, event_id: str, output: int, leaf: list[Any],
              text: str) -> AppendShape | None:
        """The shape of ``frame``, which the full parse found to be the steady append of
        ``text``; None if its bytes are not in the form above."""
        head = (b'{"msg":"process_generating","event_id":' + _compact(event_id)
                + b',"output":{"data":[' + b"[]," * output + b'[["append",'
                + _compact(leaf) + b',"')
        if not frame.startswith(head):
            return None
        found = _token(frame, len(head))
        if found is None or found[0] != text:
            return None
        tail = frame[found[1] + 1:]
        if b"\\" in tail or any(key in tail for key in _KEYS):
            return None
        return cls(head, tail, event_id, leaf)

    def take(self, frames: Sequence[bytes | str], start: int) -> tuple[list[str], int]:
        """The tokens of the frames from ``start`` on that match, and the index of the
        first that does not (``len(frames)`` if all do). The per-token loop, so written
        out: a frame that ends with the last tail seen needs no search for its token's end
        (the decode proves the string runs up to that tail); another one is searched as
        :func:`_token` does, and its tail must fit the pattern."""
        head, size, tail, decode = self._head, len(self._head), self._tail, string
        tokens: list[str] = []
        i = start
        for frame in itertools.islice(frames, start, None):
            if type(frame) is not bytes or not frame.startswith(head):
                break
            if frame.endswith(tail):
                end = len(frame) - len(tail) - 1
            else:  # (no '"]]': -1, and the pattern, which starts with "]]", fails at 0)
                end = frame.find(b'"]]', size)
                if self._pattern.fullmatch(frame, end + 1) is None:
                    break
                tail = self._tail = frame[end + 1:]
            try:
                tokens.append(decode(frame[size - 1:end + 1]))
            except ValueError:
                break
            i += 1
        return tokens, i


class CallShape:
    """The steady frame of one job on ``/call``: the whole output value, grown at the answer.

    Learned from a frame whose answer leaf holds ``s``: the one place where ``s``'s literal
    stands in the bytes, confirmed by parsing the frame with one more character in that
    literal and finding it at the leaf (so that literal is the leaf's token, not a lookalike
    inside another string). A later frame matches when it is the previous frame up to that
    literal's closing quote, then JSON string content, then the same tail. Such a frame is
    the same sequence of JSON tokens with a longer string at the leaf, so it parses to the
    same value with the leaf grown by the decoded content, and the answer grows by it.
    """

    __slots__ = ("_end", "_frame", "_tail", "leaf")

    def __init__(self, frame: bytes, end: int, leaf: list[Any]) -> None:
        self._frame = frame  # the last frame taken: no copy of it is ever made
        self._end = end      # index of its answer literal's closing quote
        self._tail = frame[end:]
        #: What the shape was learned for: it holds while the job's leaf is this very object.
        self.leaf = leaf

    @classmethod
    def learn(cls, frame: bytes, text: str, leaf: list[Any],
              reread: Callable[[bytes], Any]) -> CallShape | None:
        """The shape of ``frame``, whose answer leaf (path ``leaf``) the full parse found to
        hold ``text``. ``reread`` parses a frame and returns the string at ``leaf`` (or
        anything else if there is none). The literal is looked for as Gradio writes it
        (``json.dumps``, ASCII escapes), then as orjson does."""
        for literal in (json.dumps(text).encode(), _compact(text)):
            if frame.count(literal) == 1:
                end = frame.find(literal) + len(literal) - 1
                if reread(frame[:end] + b"x" + frame[end:]) == text + "x":
                    return cls(frame, end, leaf)
                return None
        return None

    def take(self, frame: bytes) -> str | None:
        """The characters ``frame`` adds to the answer, or None if it does not match."""
        end, tail = self._end, self._tail
        grown = len(frame) - len(tail)
        if grown < end or not frame.endswith(tail) \
                or not frame.startswith(memoryview(self._frame)[:end]):
            return None
        added = frame[end:grown]
        if added[:1] == b"\\" and _LOW_SURROGATE.match(added):
            return None
        try:
            text = string(b'"' + added + b'"')
        except ValueError:
            return None
        self._frame, self._end = frame, grown
        return text

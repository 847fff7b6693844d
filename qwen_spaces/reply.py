"""Turning a Space's output value (and its diffs) into exact answer-text deltas.

Only the output that holds the answer is tracked. The answer is the text of the reply
at the end of the chatbot (the assistant messages after the last user message, joined by a
blank line; or the last pair's bot side; or a plain text output).

Cost stays linear in the reply: an ``append`` edit on the leaf the answer grows at is the
delta itself, so it is queued as a piece instead of rebuilding the string; the tree is only
brought up to date when some other edit touches it (rare: a new message, a replace).

A ``pro_chatbot`` (Qwen3-Demo) has a second channel: its ``"tool"`` entries are the
thinking, emitted as :class:`ReasoningDelta` with the same leaf bookkeeping.

Exactness: with append-only streams (all chat Spaces) the deltas concatenate to the final
text. Texts listed as placeholders in the catalog ("Thinking...") are never emitted. If the
Space rewrites text already sent, the delta says how many characters it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .diff import DiffError, apply_edit
from .events import ReasoningDelta, StreamEvent, TextDelta

__all__ = ["ReplyTracker", "extract_pro", "extract_reply", "unwrap_update"]

SEPARATOR = "\n\n"
Path = list[Any]


def extract_reply(value: Any, kind: str) -> tuple[str, Path | None]:
    """Return (answer text, path of the leaf where appends extend it, or None)."""
    leaves: list[tuple[str, Path | None]] = []
    if kind == "text":
        _leaves(value, [], leaves)
    elif isinstance(value, list) and value:
        last = value[-1]
        if isinstance(last, (list, tuple)):  # tuples chatbot: [user, bot] pairs
            start = len(value) - 1
            while start > 0 and _is_pair(value[start]) and value[start][0] is None \
                    and _is_pair(value[start - 1]):
                start -= 1
            for i in range(start, len(value)):
                if _is_pair(value[i]) and len(value[i]) > 1:
                    _leaves(value[i][1], [i, 1], leaves)
        else:  # messages chatbot: trailing assistant messages
            start = len(value)
            while start > 0 and isinstance(value[start - 1], dict) \
                    and value[start - 1].get("role") == "assistant":
                start -= 1
            for i in range(start, len(value)):
                _leaves(value[i].get("content"), [i, "content"], leaves)
    return _joined(leaves)


def unwrap_update(value: Any) -> tuple[Any, Path]:
    """A Space may return its output as ``gr.update(value=…)`` (Qwen3-Demo does): the wire
    value is then ``{"__type__": "update", "value": …, …}`` and diffs reach the answer under
    ``"value"``. Returns the value to read and the path prefix to it; an update without a
    value (nothing changes) gives ``_UNCHANGED``."""
    if type(value) is dict and value.get("__type__") == "update":
        return value.get("value", _UNCHANGED), ["value"]
    return value, []


#: ``gr.update()`` without a value: Gradio's "leave this output as it is".
_UNCHANGED = object()


def extract_pro(value: Any) -> tuple[tuple[str, Path | None], tuple[str, Path | None]]:
    """modelscope_studio's pro chatbot: ((answer, leaf), (reasoning, leaf)).

    The reply is the assistant messages after the last user message. A message's
    ``content`` is a string (answer) or a list of entries: ``{"type": "text", "content": …}``
    is answer, ``{"type": "tool", "content": …}`` is the thinking panel (reasoning); other
    entry types (files, suggestions) are neither.
    """
    answer: list[tuple[str, Path | None]] = []
    thought: list[tuple[str, Path | None]] = []
    if isinstance(value, list):
        start = len(value)
        while start > 0 and isinstance(value[start - 1], dict) \
                and value[start - 1].get("role") == "assistant":
            start -= 1
        for i in range(start, len(value)):
            content = value[i].get("content")
            if isinstance(content, str):
                answer.append((content, [i, "content"]))
            elif isinstance(content, dict):  # one entry, not in a list (allowed too)
                _pro_entry(content, [i, "content", "content"], answer, thought)
            elif isinstance(content, list):
                for j, entry in enumerate(content):
                    _pro_entry(entry, [i, "content", j, "content"], answer, thought)
    return _joined(answer), _joined(thought)


def _pro_entry(entry: Any, path: Path, answer: list[tuple[str, Path | None]],
               thought: list[tuple[str, Path | None]]) -> None:
    """A ``"tool"`` entry is reasoning, a ``"text"`` one (the default type) answer."""
    if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
        return
    kind = entry.get("type", "text")
    target = thought if kind == "tool" else answer if kind == "text" else None
    if target is not None:
        target.append((entry["content"], path))


def _joined(leaves: list[tuple[str, Path | None]]) -> tuple[str, Path | None]:
    """The texts joined by a blank line, and the leaf appends extend (the last one, when it
    has text or nothing has)."""
    texts = [t for t, _ in leaves if t]
    leaf = None
    if leaves:
        last_text, last_path = leaves[-1]
        if last_text or not texts:
            leaf = last_path
    return SEPARATOR.join(texts), leaf


def _is_pair(x: Any) -> bool:
    return isinstance(x, (list, tuple))


def _leaves(item: Any, path: Path, out: list[tuple[str, Path | None]]) -> None:
    if isinstance(item, str):
        out.append((item, path))
    elif isinstance(item, dict):
        if isinstance(item.get("text"), str):
            out.append((item["text"], [*path, "text"]))
        elif "content" in item:
            _leaves(item["content"], [*path, "content"], out)
    elif isinstance(item, list):
        for i, part in enumerate(item):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append((part["text"], [*path, i, "text"]))


class ReplyTracker:
    """State of one job's answer output; feed it frames, get :class:`TextDelta` lists
    (and :class:`ReasoningDelta` for a ``pro_chatbot``, whose thinking is apart)."""

    __slots__ = ("_emitted", "_kind", "_leaf", "_pending", "_placeholders", "_remitted",
                 "_rleaf", "_rpending", "_value", "has_value")

    def __init__(self, kind: str, placeholders: Sequence[str] = ()) -> None:
        self._kind = kind
        self._placeholders = frozenset(p.strip() for p in placeholders)
        self._value: Any = None
        self._leaf: Path | None = None
        self._pending: list[str] = []
        self._emitted: list[str] = []
        # The reasoning channel, the same three things (only a pro chatbot has one).
        self._rleaf: Path | None = None
        self._rpending: list[str] = []
        self._remitted: list[str] = []
        self.has_value = False

    @property
    def text(self) -> str:
        """Everything emitted so far (the answer as the consumer has it)."""
        if len(self._emitted) > 1:
            self._emitted[:] = ["".join(self._emitted)]
        return self._emitted[0] if self._emitted else ""

    @property
    def reasoning(self) -> str:
        """The reasoning emitted so far."""
        return "".join(self._remitted)

    @property
    def leaf(self) -> Path | None:
        """Where appends extend the answer (None: nowhere, they must be re-read). A new
        list whenever the answer is re-read, so a caller can tell by identity that nothing
        moved since it last looked."""
        return self._leaf

    def full(self, value: Any) -> list[StreamEvent]:
        """A full output value (first frame, non-diff protocols, or the final frame)."""
        self._value = value
        self._pending.clear()
        self._rpending.clear()
        self.has_value = True
        return self._resync()

    def edits(self, edits: Sequence[Any]) -> list[StreamEvent]:
        """Diff edits for the answer output. Raises :class:`DiffError` if they do not fit."""
        fast: list[str] = []
        rfast: list[str] = []
        touched = False
        for edit in edits:
            if not touched:
                if self._grows_leaf(edit):
                    fast.append(edit[2])
                    continue
                if self._rleaf is not None and self._grows(edit, self._rleaf):
                    rfast.append(edit[2])
                    continue
                self._pending.extend(fast)
                self._rpending.extend(rfast)
                self._materialise()
                touched = True
            self._value = apply_edit(self._value, edit)
        if touched:
            return self._resync()
        out: list[StreamEvent] = []
        if rfast:
            piece = "".join(rfast)
            self.grow_reasoning(piece)
            out.append(ReasoningDelta(piece))
        self._pending.extend(fast)
        delta = "".join(fast)
        if delta:
            out.append(self._emit(delta))
        return out

    def append_only(self, edits: Any) -> str | None:
        """The hot path: if ``edits`` is exactly one append at the answer's growing leaf,
        record it and return the appended text; otherwise None (use :meth:`edits`)."""
        if type(edits) is list and len(edits) == 1 and self._grows_leaf(edits[0]):
            text: str = edits[0][2]
            self.grow(text)
            return text
        return None

    def grow(self, text: str) -> None:
        """Record ``text`` appended at :attr:`leaf`, which the caller has made sure of (the
        byte-level shapes of :mod:`qwen_spaces.frames` do)."""
        self._pending.append(text)
        self._emitted.append(text)

    @property
    def rleaf(self) -> Path | None:
        """Where appends extend the reasoning; like :attr:`leaf`, a new list when re-read."""
        return self._rleaf

    def reasoning_only(self, edits: Any) -> str | None:
        """:meth:`append_only` for the reasoning: if ``edits`` is exactly one append at the
        reasoning's growing leaf, record it and return the appended text; otherwise None."""
        if type(edits) is list and len(edits) == 1 and self._rleaf is not None \
                and self._grows(edits[0], self._rleaf):
            text: str = edits[0][2]
            self.grow_reasoning(text)
            return text
        return None

    def grow_reasoning(self, text: str) -> None:
        """:meth:`grow` for the reasoning, at :attr:`rleaf`."""
        self._rpending.append(text)
        self._remitted.append(text)

    def _grows_leaf(self, edit: Any) -> bool:
        """``edit`` appends text at the leaf the answer grows at: the delta is its value."""
        return (type(edit) is list and len(edit) == 3 and edit[0] == "append"
                and self._leaf is not None and edit[1] == self._leaf
                and type(edit[2]) is str)

    @staticmethod
    def _grows(edit: Any, leaf: Path) -> bool:
        return (type(edit) is list and len(edit) == 3 and edit[0] == "append"
                and edit[1] == leaf and type(edit[2]) is str)

    def _materialise(self) -> None:
        for leaf, pending in ((self._leaf, self._pending), (self._rleaf, self._rpending)):
            if pending:
                assert leaf is not None  # appends are queued only at a known leaf
                extra = "".join(pending)
                if not leaf:
                    self._value = self._value + extra
                else:
                    parent = self._value
                    for key in leaf[:-1]:
                        parent = parent[key]
                    parent[leaf[-1]] = parent[leaf[-1]] + extra
                pending.clear()

    def _resync(self) -> list[StreamEvent]:
        value, prefix = unwrap_update(self._value)
        if value is _UNCHANGED:  # an update that leaves the value as it was
            self._leaf = self._rleaf = None  # appends must be re-read, not streamed
            return []
        try:
            if self._kind == "pro_chatbot":
                (text, leaf), (thought, rleaf) = extract_pro(value)
                self._rleaf = None if rleaf is None else [*prefix, *rleaf]
            else:
                text, leaf = extract_reply(value, self._kind)
                thought = ""
            self._leaf = None if leaf is None else [*prefix, *leaf]
        except (TypeError, KeyError, IndexError, AttributeError) as exc:
            raise DiffError(f"answer output has an unexpected shape: {exc}") from exc
        if text.strip() in self._placeholders:
            text = ""
            self._leaf = None  # appends to a placeholder must be re-read, not streamed
        out: list[StreamEvent] = []
        if thought or self._remitted:
            change = _advance(self._remitted, thought)
            if change is not None:
                out.append(ReasoningDelta(*change))
        change = _advance(self._emitted, text)
        if change is not None:
            out.append(TextDelta(*change))
        return out

    def _emit(self, delta: str) -> TextDelta:
        self._emitted.append(delta)
        return TextDelta(delta)


def _advance(emitted: list[str], text: str) -> tuple[str, int] | None:
    """Bring ``emitted`` (pieces sent so far) to ``text``: the ``(delta, replaced)`` to send,
    or None when nothing changed. Appending is the usual case; a rewrite replaces the
    characters after the common prefix."""
    pos = 0
    for piece in emitted:
        if not text.startswith(piece, pos):
            break
        pos += len(piece)
    else:
        emitted[:] = [text[:pos]]
        if pos < len(text):
            emitted.append(text[pos:])
            return text[pos:], 0
        return None
    old = "".join(emitted)
    common = _common_prefix(old, text)
    emitted[:] = [text]
    return text[common:], len(old) - common


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n
    while lo < hi:  # binary search on slices: C-speed compares, O(n log n) worst case
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo

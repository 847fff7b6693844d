"""Tool calling in Qwen's own text format, for Spaces that have no tools API.

The Qwen2.5 / Qwen2.5-Max / Qwen3 models were trained on one format (their chat template's
"Hermes" style): the tools are listed in the system text, the model answers with
``<tool_call>{"name": …, "arguments": {…}}</tool_call>`` blocks, and results go back as a
user turn of ``<tool_response>`` blocks. Rendering exactly that text through the Space's
system and history inputs gets the model's trained behaviour; this module holds it, once,
for every adapter:

* :class:`ToolSpec` and :func:`render_tools` - the tools block appended to the system text,
  plus a line emulating ``tool_choice`` (the Spaces cannot constrain decoding);
* :func:`render_tool_calls` / :func:`render_tool_results` - earlier calls and results as the
  template renders them into history;
* :class:`ToolCallParser` - a pure, incremental parser that splits the answer's text deltas
  into answer text and calls. It holds back any suffix that could start a tag, accepts a
  final block with no closing tag and Qwen2's ``✿FUNCTION✿:`` / ``✿ARGS✿:`` lines, and turns
  broken JSON or an unknown name into an :class:`InvalidToolCall` that keeps the raw text.
  Its output does not depend on how the text was chunked.
* :func:`render_response_format` / :func:`extract_json` - JSON output by prompt, and a
  forgiving reader for it (code fences, prose around the object).

Sources: the ``chat_template`` of the Qwen2.5 / Qwen3 ``tokenizer_config.json``, QwenLM's
"Function Calling" docs, Qwen-Agent's ``nous_fncall_prompt.py`` and ``qwen_fncall_prompt.py``,
and vLLM's ``hermes_tool_parser.py``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from .errors import SpaceProtocolError
from .events import InvalidToolCall, TextDelta, ToolCall, ToolCallDelta

__all__ = [
    "ToolCallParser",
    "ToolChoice",
    "ToolSpec",
    "extract_json",
    "new_call_id",
    "normalize_tool_choice",
    "reask_message",
    "render_response_format",
    "render_tool_calls",
    "render_tool_results",
    "render_tools",
    "tool_call_from",
    "tool_specs",
]

#: ``"auto"``, ``"none"``, ``"required"`` or the name of the one tool that must be called.
ToolChoice = Union[Literal["auto", "none", "required"], "NamedChoice"]

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
FN_OPEN, FN_ARGS = "✿FUNCTION✿:", "✿ARGS✿:"
_FN_ENDS = ("✿RESULT✿", "✿RETURN✿")
_OPENERS = (CALL_OPEN, FN_OPEN)

_TOOLS_HEAD = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
_TOOLS_TAIL = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)
_REQUIRED_LINE = "You must call at least one of the functions above in this reply."
_NAMED_LINE = 'You must call the function "{name}" in this reply.'
_JSON_HEAD = "# Response format\n\n"
_JSON_PLAIN = "Reply with one JSON object and nothing else: no prose, no code fences."
_JSON_SCHEMA = (
    "Reply with one JSON object that conforms to the JSON schema within <schema></schema> "
    "XML tags, and nothing else: no prose, no code fences.\n<schema>\n{schema}\n</schema>"
)


def _dumps(value: Any) -> str:
    # The template's ``tojson``: unicode kept as is, default separators.
    return json.dumps(value, ensure_ascii=False)


def new_call_id() -> str:
    """A fresh, unique call id in OpenAI's shape (``call_`` + 24 hex digits)."""
    return "call_" + secrets.token_hex(12)


@dataclass(frozen=True)
class NamedChoice:
    """``tool_choice`` naming the one tool the reply must call."""

    name: str


@dataclass(frozen=True)
class ToolSpec:
    """One function the model may call: a name, a description and a JSON schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}})

    @classmethod
    def from_any(cls, tool: ToolSpec | Mapping[str, Any]) -> ToolSpec:
        """Accept a spec, an OpenAI tool (``{"type": "function", "function": {…}}``) or a
        bare function dict (``{"name", "description", "parameters"}``)."""
        if isinstance(tool, ToolSpec):
            return tool
        if not isinstance(tool, Mapping):
            raise ValueError(f"a tool must be a ToolSpec or a JSON-schema function dict, "
                             f"not {type(tool).__name__}")
        fn = tool.get("function", tool) if tool.get("type", "function") == "function" else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) \
                or not fn["name"].strip():
            raise ValueError(f"tool {str(tool)[:80]} has no function name; tools look like "
                             '{"type": "function", "function": {"name": …, "parameters": …}}')
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, Mapping):
            raise ValueError(f"tool {fn['name']!r}: parameters must be a JSON schema object")
        return cls(fn["name"], str(fn.get("description") or ""), dict(params))

    def as_openai(self) -> dict[str, Any]:
        fn: dict[str, Any] = {"name": self.name}
        if self.description:
            fn["description"] = self.description
        fn["parameters"] = dict(self.parameters)
        return {"type": "function", "function": fn}


def tool_specs(tools: Iterable[ToolSpec | Mapping[str, Any]] | None) -> tuple[ToolSpec, ...]:
    """Validate tools; names must be unique. Raises ``ValueError``."""
    specs = tuple(ToolSpec.from_any(t) for t in tools or ())
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"tool names must be unique; repeated: {', '.join(dup)}")
    return specs


def tool_call_from(call: object, index: int = 0) -> ToolCall:
    """A call in an input message, from any common shape: a :class:`ToolCall`, a mapping
    with ``name`` and ``args`` / ``arguments`` (a dict or its JSON text), OpenAI's
    ``{"id", "function": {"name", "arguments"}}``, or an object with ``.id`` and
    ``.function`` (the OpenAI SDK's). ``index`` is the call's position, for messages.
    Raises ``ValueError`` for a call without a name or with arguments that are not a JSON
    object."""
    if isinstance(call, ToolCall):
        return call
    if isinstance(call, Mapping):
        inner = call.get("function")
        fn: Any = inner if isinstance(inner, Mapping) else call
        call_id, name = call.get("id"), fn.get("name")
        args = fn.get("arguments", fn.get("args", {}))
    else:
        fn = getattr(call, "function", None)
        call_id, name = getattr(call, "id", None), getattr(fn, "name", None)
        args = getattr(fn, "arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            raise ValueError(f"tool call {name!r} has arguments that are not valid "
                             "JSON") from None
    if not isinstance(name, str) or not name or not isinstance(args, dict):
        raise ValueError(f"a tool call needs a name and an arguments object, got "
                         f"{str(call)[:80]}")
    return ToolCall(str(call_id or ""), name, args, index)


def normalize_tool_choice(choice: object, tools: Sequence[ToolSpec]) -> ToolChoice:
    """``None``/``"auto"``, ``"none"``, ``"any"``/``"required"``/``True``, a tool's name,
    or ``{"type": "function", "function": {"name": …}}``. Raises ``ValueError``."""
    if choice is None or choice == "auto":
        return "auto"
    if choice == "none":
        return "none"
    if choice in ("any", "required") or choice is True:
        if not tools:
            raise ValueError("tool_choice requires a tool call, but no tools are bound")
        return "required"
    name: object = choice
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
    if isinstance(name, str):
        if name not in {t.name for t in tools}:
            known = ", ".join(t.name for t in tools) or "none"
            raise ValueError(f"tool_choice names {name!r}, which is not a bound tool "
                             f"(bound: {known})")
        return NamedChoice(name)
    raise ValueError(f"tool_choice must be 'auto', 'none', 'required'/'any', a tool name or "
                     f"{{'type': 'function', 'function': {{'name': …}}}}, not {choice!r}")


def render_tools(tools: Sequence[ToolSpec], choice: ToolChoice = "auto") -> str:
    """The tools block the chat template appends to the system text (empty for ``none``)."""
    if not tools or choice == "none":
        return ""
    lines = [_TOOLS_HEAD, *("\n" + _dumps(t.as_openai()) for t in tools), _TOOLS_TAIL]
    if choice == "required":
        lines.append("\n\n" + _REQUIRED_LINE)
    elif isinstance(choice, NamedChoice):
        lines.append("\n\n" + _NAMED_LINE.format(name=choice.name))
    return "".join(lines)


def render_tool_calls(text: str, calls: Sequence[tuple[str, Any]]) -> str:
    """An assistant turn with calls, as the template renders it: its text, then one
    ``<tool_call>`` block per call (arguments as JSON)."""
    blocks = [f'{CALL_OPEN}\n{{"name": {_dumps(name)}, "arguments": {_dumps(args)}}}\n'
              f"{CALL_CLOSE}" for name, args in calls]
    return "\n".join([text, *blocks] if text else blocks)


def render_tool_results(results: Sequence[str]) -> str:
    """Consecutive tool results as one user turn of ``<tool_response>`` blocks, in order."""
    return "\n".join(f"<tool_response>\n{r}\n</tool_response>" for r in results)


def render_response_format(schema: Mapping[str, Any] | None) -> str:
    """The system-text block asking for JSON (``json_object`` / ``json_schema`` by prompt)."""
    if schema is None:
        return _JSON_HEAD + _JSON_PLAIN
    return _JSON_HEAD + _JSON_SCHEMA.format(schema=_dumps(dict(schema)))


def reask_message(choice: ToolChoice, problem: str) -> str:
    """The user turn that shows the model what was wrong when a required call is missing."""
    want = (f'a call to the function "{choice.name}"' if isinstance(choice, NamedChoice)
            else "at least one function call")
    return (f"Your last reply needed {want}, but {problem}. Reply again with only the "
            f"function call(s), each as a json object within {CALL_OPEN}{CALL_CLOSE} XML "
            "tags as described in the system prompt.")


# -- parsing ---------------------------------------------------------------------------
_TEXT, _CALL, _FN, _SKIP = 0, 1, 2, 3


def _held_prefix(text: str, markers: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of a marker."""
    best = 0
    for marker in markers:
        for n in range(min(len(marker) - 1, len(text)), best, -1):
            if text.endswith(marker[:n]):
                best = n
                break
    return best


class ToolCallParser:
    """Answer text in, answer text and tool calls out; a small pure state machine.

    Feed it each :class:`TextDelta` of the answer with :meth:`feed` and call :meth:`finish`
    at the end. Each returns events: :class:`TextDelta` (answer text outside calls),
    :class:`ToolCallDelta` (a call's id and name once, then its arguments as JSON) and
    :class:`InvalidToolCall`. Whitespace around calls is not answer text; any other text
    after a call is kept. ``tool_names`` (when given) marks calls to other names invalid.
    """

    def __init__(self, tool_names: Iterable[str] | None = None) -> None:
        self.tool_names = frozenset(tool_names) if tool_names is not None else None
        self.raw = ""            # everything fed, rewrites applied
        self.content = ""        # answer text passed on so far
        self.calls: list[ToolCall] = []
        self.invalid: list[InvalidToolCall] = []
        self._state = _TEXT
        self._buf = ""           # text not yet decided (held suffix, or a call's body)
        self._space = ""         # trailing whitespace held in text state
        self._frozen = False     # a call was seen: rewrites can no longer be replayed

    @property
    def index(self) -> int:
        return len(self.calls) + len(self.invalid)

    def feed(self, delta: TextDelta) -> list[TextDelta | ToolCallDelta | InvalidToolCall]:
        if delta.replaced:
            return self._rewrite(delta)
        self.raw += delta.text
        return self._scan(delta.text)

    def finish(self) -> list[TextDelta | ToolCallDelta | InvalidToolCall]:
        """The answer ended: close an unclosed call, release held text."""
        out: list[TextDelta | ToolCallDelta | InvalidToolCall] = []
        if self._state == _CALL:
            self._close(self._buf, out, unclosed=True)
        elif self._state == _FN:
            self._close_fn(self._buf, out)
        elif self._state == _TEXT:
            self._text(self._buf, out)
        self._buf, self._state = "", _TEXT
        if not (self.calls or self.invalid) and self._space:
            self._emit(self._space, out)  # plain text keeps its exact ending
        self._space = ""
        return out

    # -- internals --------------------------------------------------------------------------
    def _scan(self, text: str) -> list[TextDelta | ToolCallDelta | InvalidToolCall]:
        out: list[TextDelta | ToolCallDelta | InvalidToolCall] = []
        buf = self._buf + text
        while buf:
            if self._state == _TEXT:
                starts = [(i, m) for m in _OPENERS if (i := buf.find(m)) >= 0]
                if not starts:
                    hold = _held_prefix(buf, _OPENERS)
                    self._text(buf[:len(buf) - hold], out)
                    buf = buf[len(buf) - hold:]
                    break
                i, marker = min(starts)
                self._text(buf[:i], out)
                self._space = ""  # whitespace before a call is not answer text
                self._frozen = True
                self._state = _CALL if marker == CALL_OPEN else _FN
                buf = buf[i + len(marker):]
            elif self._state == _CALL:
                end = buf.find(CALL_CLOSE)
                if end < 0:
                    break
                self._close(buf[:end], out)
                self._state, buf = _TEXT, buf[end + len(CALL_CLOSE):]
            elif self._state == _FN:  # Qwen2's ✿FUNCTION✿ block ends at the next marker
                ends = [i for m in (FN_OPEN, CALL_OPEN, *_FN_ENDS) if (i := buf.find(m)) >= 0]
                if not ends:
                    break
                end = min(ends)
                self._close_fn(buf[:end], out)
                buf = buf[end:]
                # A ✿RESULT✿ / ✿RETURN✿ line is the caller's to write: the model's is dropped.
                self._state = _TEXT if buf.startswith(_OPENERS) else _SKIP
            else:  # _SKIP
                nl = buf.find("\n")
                if nl < 0:
                    buf = ""
                    break
                self._state, buf = _TEXT, buf[nl + 1:]
        self._buf = buf
        return out

    def _text(self, text: str, out: list[Any]) -> None:
        """Answer text. Trailing whitespace waits until it is known not to precede a call
        (then it is dropped) or the reply ends without a call (then :meth:`finish` keeps it)."""
        body = text.rstrip()
        if body:
            self._emit(self._space + body, out)
            self._space = text[len(body):]
        else:
            self._space += text

    def _emit(self, text: str, out: list[Any]) -> None:
        if text:
            self.content += text
            out.append(TextDelta(text))

    def _close(self, body: str, out: list[Any], unclosed: bool = False) -> None:
        raw = CALL_OPEN + body + ("" if unclosed else CALL_CLOSE)
        try:
            obj = json.loads(body)
        except ValueError as exc:
            self._invalid(None, body.strip(), raw, f"the call is not valid JSON ({exc})", out)
            return
        if not isinstance(obj, dict):
            self._invalid(None, body.strip(), raw, "the call is not a JSON object", out)
            return
        args = obj.get("arguments", obj.get("parameters", {}))
        self._call(obj.get("name"), args, raw, out)

    def _close_fn(self, body: str, out: list[Any]) -> None:
        name, _, rest = body.partition("\n")
        _, _, args_text = rest.partition(FN_ARGS)
        args_text = args_text.strip()
        raw = FN_OPEN + body
        try:
            args = json.loads(args_text) if args_text else {}
        except ValueError as exc:
            self._invalid(name.strip() or None, args_text, raw,
                          f"the arguments are not valid JSON ({exc})", out)
            return
        self._call(name.strip(), args, raw, out)

    def _call(self, name: object, args: object, raw: str, out: list[Any]) -> None:
        if isinstance(args, str):  # some models send the arguments as a JSON string
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                pass
        args_text = args if isinstance(args, str) else _dumps(args)
        if not isinstance(name, str) or not name:
            self._invalid(None, args_text, raw, "the call has no function name", out)
        elif self.tool_names is not None and name not in self.tool_names:
            known = ", ".join(sorted(self.tool_names))
            self._invalid(name, args_text, raw,
                          f"{name!r} is not one of the offered functions ({known})", out)
        elif not isinstance(args, dict):
            self._invalid(name, args_text, raw, "the arguments are not a JSON object", out)
        else:
            call = ToolCall(new_call_id(), name, args, self.index)
            self.calls.append(call)
            out.append(ToolCallDelta(call.index, "", call.id, name))
            out.append(ToolCallDelta(call.index, args_text))

    def _invalid(self, name: str | None, args: str | None, raw: str, error: str,
                 out: list[Any]) -> None:
        bad = InvalidToolCall(self.index, new_call_id(), name, args, error, raw)
        self.invalid.append(bad)
        out.append(bad)

    def _rewrite(self, delta: TextDelta) -> list[TextDelta | ToolCallDelta | InvalidToolCall]:
        """The Space rewrote sent text. Before any call, replay it as a rewrite of the answer
        text; after one, only the tail that was not yet parsed can change."""
        keep = len(self.raw) - delta.replaced
        new_raw = self.raw[:keep] + delta.text
        if self._frozen:
            undecided = len(self._buf) + len(self._space)
            if delta.replaced > undecided:
                raise SpaceProtocolError("the Space rewrote a tool call it had already sent; "
                                         "try again")
            self._buf = (self._space + self._buf)[:undecided - delta.replaced]
            self._space, self.raw = "", new_raw
            return self._scan(delta.text)
        fresh = ToolCallParser(self.tool_names)
        fresh.raw = new_raw
        out = fresh._scan(new_raw)
        common = 0
        old, new = self.content, fresh.content
        while common < min(len(old), len(new)) and old[common] == new[common]:
            common += 1
        self.__dict__.update(fresh.__dict__)
        if common == len(old) and common == len(new):
            return [o for o in out if not isinstance(o, TextDelta)]
        rest = [o for o in out if not isinstance(o, TextDelta)]
        return [TextDelta(new[common:], replaced=len(old) - common), *rest]

    def problem(self, choice: ToolChoice) -> str | None:
        """Why the reply does not satisfy a required ``choice`` (None if it does)."""
        if isinstance(choice, NamedChoice):
            if any(c.name == choice.name for c in self.calls):
                return None
        elif self.calls:
            return None
        if self.invalid:
            return self.invalid[0].error
        if self.calls:
            return f"it called {', '.join(c.name for c in self.calls)} instead"
        return f"it contained no {CALL_OPEN} block"


# -- JSON output -----------------------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


def extract_json(text: str) -> Any:
    """The JSON value a reply holds: the whole text, a fenced block, or the first balanced
    ``{…}`` / ``[…]`` span that parses. Raises ``ValueError`` naming what was found."""
    stripped = text.strip()
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            return value
    raise ValueError(f"the reply holds no JSON value: {stripped[:120]!r}")

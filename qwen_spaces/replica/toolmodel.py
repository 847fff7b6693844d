"""The replica model's tool-calling and JSON rules: pure text in, text out, no Gradio.

The rules read only what a real Qwen model would see: the Space's system text (where a client
renders the Qwen2.5/Qwen3 chat template's ``# Tools`` block and, for JSON output, a
``# Response format`` block) and the query. They are general, so one rule serves every test;
``docs/replica.md`` states them with examples; the summary here is the reference.

**Modes.** :func:`parse_system` finds the blocks. A system text with neither block is not
tool/JSON mode: :func:`tool_reply` returns ``None`` and the responder gives its usual header
reply (rule 1).

**Tools offered** (a ``<tools>`` … ``</tools>`` block, one JSON object per line; a line that is
not JSON is skipped). Tool choice is the line ``You must call at least one of the functions
above in this reply.`` (required) or ``You must call the function "NAME" in this reply.``
(named) after the block; without one it is auto. In this order:

a. *Directives* (lines of the query, anywhere, one per line; lines inside ``<tool_response>``
   blocks never count): ``/tool NAME {json}`` calls NAME with that JSON value as arguments
   (``{}`` when omitted; text that is not JSON is put into the block as it is);
   ``/tool-raw TEXT`` emits ``<tool_call>\\nTEXT\\n</tool_call>``; ``/tool-unclosed NAME {json}``
   a block without its closing tag (meant to be the last one); ``/fncall NAME {json}`` Qwen2's
   ``✿FUNCTION✿: NAME\\n✿ARGS✿: {json}``. Calls come in directive order, whether or not NAME
   is offered. ``/say TEXT`` replaces the preface line of any call reply.
b. *Tool results*: a query that is nothing but ``<tool_response>`` blocks (after the
   directives are removed) is answered in plain text, ``[replica] tool results received: R1;
   R2`` (each block's content verbatim). This wins over a forced choice, so an agent that
   forces a tool still ends its loop.
c. *Deciding*: a tool is mentioned where the query contains its full name (as a word,
   case-insensitive) or a word of its name (split on ``_``, ``-``, camelCase and digits) of 4+
   letters, not in :data:`GENERIC_WORDS`, at the start of a query word. Named choice: call
   that tool. Required: every mentioned tool in order of first mention, else the first
   offered tool. Auto: every mentioned tool in order of first mention, else no call.
d. *Arguments* come from the schema (``parameters``) with :func:`fill_schema` (rule below).
e. *A call reply* is ``[replica] calling NAME[, NAME2…]`` (or the ``/say`` text), ``\\n``, then
   the blocks ``<tool_call>\\n{"name": …, "arguments": {…}}\\n</tool_call>`` joined by ``\\n``,
   JSON by ``json.dumps(..., ensure_ascii=False)``.

**Response format** (a ``# Response format`` line; optionally ``<schema>`` … ``</schema>``
after it): when no call is made the reply is exactly one JSON object: the schema filled by
:func:`fill_schema`, or ``{"answer": <query text>}`` without a schema. The directive line
``/json-prose`` wraps it in prose and a ```json fence. Tools decide first when both are there.

**Plain answers in tool mode** (auto, nothing mentioned; or tool results without a response
format) never echo the system text, which holds ``<tool_call>`` tags a client parser would
see: the responder summarises it as :func:`system_summary` (``<N> chars, tools: a, b``).

**Arguments from a schema** (:func:`fill_schema`). Literals are taken from the query text
(directive lines and ``<tool_response>`` blocks removed, trimmed), each used at most once, in
the order they appear: quoted strings ('…', "…" and the curly pairs U+201C/D and U+2018/9;
a quote next to a letter is an apostrophe, not a quote), then, outside the quotes, numbers
(``-?\\d+`` or ``-?\\d+.\\d+`` not part of a word or of a longer number) and the words
true/false/yes/no. Properties are filled in declaration order:

* ``integer`` ← next integer literal; ``number`` ← next number (integer or decimal);
* ``string`` ← next quoted literal, else the query text;
* ``boolean`` ← next true/false/yes/no word, else the default, else false;
* ``enum`` ← the value found earliest in the query (case-insensitive, as a word), else the
  first value; ``const`` ← itself; ``null`` ← null;
* ``array`` ← every remaining literal of the item type (maybe none);
* ``object`` ← its properties, recursively.

``anyOf``/``oneOf``/type lists take their first non-null branch; ``$ref`` into
``$defs``/``definitions`` is followed. A schema ``default`` is used when no literal fits. A
required property with neither gets the type's empty value (0, false, [], {}, the first enum
value, the query text). A property not in ``required`` is filled only when a literal of its
type is available (strings: a quoted one; enums: a value in the query) or it has a
``default``; otherwise it is left out. A tool without properties gets ``{}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GENERIC_WORDS",
    "TOOL_DIRECTIVES",
    "Offer",
    "fill_schema",
    "mentioned",
    "name_words",
    "parse_system",
    "system_summary",
    "tool_reply",
]

#: Words of a tool's name too generic to count as mentioning it (only 4+ letter words count
#: at all; the short ones are listed for completeness).
GENERIC_WORDS: frozenset[str] = frozenset({
    "get", "set", "put", "add", "make", "create", "call", "run", "use", "do", "tool", "tools",
    "function", "functions", "func", "method", "action", "fetch", "retrieve", "compute",
    "calculate", "execute", "invoke", "perform", "process", "handle", "generate", "return",
    "value", "values", "data", "info", "result", "results", "input", "output", "query",
    "list", "update", "delete", "remove", "check", "with", "from", "into", "this", "that",
})

#: Query directive lines understood in tool/JSON mode (for CLI help and the docs).
TOOL_DIRECTIVES: dict[str, str] = {
    "/tool NAME {json}": "tools offered: call NAME with exactly that JSON (one call per line)",
    "/tool-raw TEXT": "tools offered: emit <tool_call>\\nTEXT\\n</tool_call> verbatim",
    "/tool-unclosed NAME {json}": "tools offered: a final call block without </tool_call>",
    "/fncall NAME {json}": "tools offered: Qwen2's ✿FUNCTION✿: NAME / ✿ARGS✿: {json} lines",
    "/say TEXT": "with calls: TEXT as the preface line instead of '[replica] calling ...'",
    "/json-prose": "response format: wrap the JSON in prose and a ```json fence",
}

_CHOICE_ANY = "You must call at least one of the functions above in this reply."
_CHOICE_NAMED = re.compile(r'^You must call the function "(.+)" in this reply\.$', re.M)
_TOOLS_BLOCK = re.compile(r"^<tools>$\n(.*?)^</tools>$", re.M | re.S)
_FORMAT_HEAD = re.compile(r"^# Response format$", re.M)
_SCHEMA_BLOCK = re.compile(r"^<schema>$\n(.*?)\n^</schema>$", re.M | re.S)
_RESPONSE = re.compile(r"<tool_response>\n?(.*?)\n?</tool_response>", re.S)
_QUOTED = re.compile(r"""(?<!\w)(?:"([^"\n]*)"|'([^'\n]*)'|\u201c([^\u201d\n]*)\u201d"""
                     r"""|\u2018([^\u2019\n]*)\u2019)(?!\w)""")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w]|\.\d)")
_BOOL = re.compile(r"\b(true|false|yes|no)\b", re.I)
_NAME_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
_DIRECTIVE_NAMES = ("/tool", "/tool-raw", "/tool-unclosed", "/fncall", "/say", "/json-prose")
_EMPTY = {"integer": 0, "number": 0, "boolean": False, "array": [], "null": None}


@dataclass(frozen=True)
class Offer:
    """What the system text offers: tools (``None`` = no tools block), the tool choice
    (``"auto"``, ``"required"`` or a tool name), the response format (``None`` = none; a
    schema dict, or ``{}`` for "any JSON object")."""

    tools: tuple[Mapping[str, Any], ...] | None = None
    choice: str = "auto"
    response_format: Mapping[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.tools is not None or self.response_format is not None

    @property
    def names(self) -> list[str]:
        return [str(t.get("name", "")) for t in self.tools or ()]

    def tool(self, name: str) -> Mapping[str, Any] | None:
        return next((t for t in self.tools or () if t.get("name") == name), None)


def parse_system(system: str | None) -> Offer:
    """Read the tools block, the tool-choice line and the response-format block."""
    if not system:
        return Offer()
    tools: tuple[Mapping[str, Any], ...] | None = None
    choice = "auto"
    block = _TOOLS_BLOCK.search(system)
    if block is not None:
        found = []
        for line in block.group(1).splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                fn = obj.get("function", obj)
                if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                    found.append(fn)
        tools = tuple(found)
        after = system[block.end():]
        named = _CHOICE_NAMED.search(after)
        if named is not None:
            choice = named.group(1)
        elif re.search(rf"^{re.escape(_CHOICE_ANY)}$", after, re.M):
            choice = "required"
    response_format: Mapping[str, Any] | None = None
    head = _FORMAT_HEAD.search(system)
    if head is not None:
        response_format = {}
        schema = _SCHEMA_BLOCK.search(system, head.end())
        if schema is not None:
            try:
                loaded = json.loads(schema.group(1))
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                response_format = loaded
    return Offer(tools, choice, response_format)


def system_summary(system: str | None) -> str | None:
    """``"<N> chars, tools: a, b"`` in tool/JSON mode (instead of the verbatim system text),
    ``None`` otherwise."""
    offer = parse_system(system)
    if system is None or not offer.active:
        return None
    parts = [f"{len(system)} chars"]
    if offer.tools is not None:
        parts.append("tools: " + ", ".join(offer.names))
    if offer.response_format is not None:
        parts.append("response format" + (": schema" if offer.response_format else ""))
    return ", ".join(parts)


# -- the query ----------------------------------------------------------------------------

@dataclass
class _Query:
    directives: list[tuple[str, str]]
    text: str  # directives and tool responses removed, trimmed
    responses: list[str]
    only_responses: bool


def _read_query(query: str) -> _Query:
    responses = _RESPONSE.findall(query)
    outside = _RESPONSE.sub("\n", query)
    directives: list[tuple[str, str]] = []
    kept: list[str] = []
    for line in outside.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word in _DIRECTIVE_NAMES:
            directives.append((word, rest.strip()))
        else:
            kept.append(line)
    text = "\n".join(kept).strip()
    return _Query(directives, text, responses, bool(responses) and not text)


def name_words(name: str) -> list[str]:
    """The words of a tool name that count as mentioning it: split on ``_``, ``-``, digits
    and camelCase; 4+ letters; not generic; lower-cased."""
    words = _NAME_WORD.findall(name)
    return [w.lower() for w in words if len(w) >= 4 and w.lower() not in GENERIC_WORDS]


def mentioned(name: str, text: str) -> int | None:
    """Where ``text`` first mentions the tool ``name``, or ``None``."""
    spots = [m.start() for m in re.finditer(
        rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text, re.I)]
    for word in name_words(name):
        spots += [m.start() for m in re.finditer(rf"(?<![A-Za-z]){re.escape(word)}", text, re.I)]
    return min(spots) if spots else None


# -- arguments from a schema --------------------------------------------------------------

@dataclass
class _Literals:
    """The query's literals, each taken at most once."""

    text: str
    quoted: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    bools: list[bool] = field(default_factory=list)

    @classmethod
    def of(cls, text: str) -> _Literals:
        quoted = [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(text)]
        rest = _QUOTED.sub(" ", text)
        return cls(text, quoted, _NUMBER.findall(rest),
                   [w.lower() in ("true", "yes") for w in _BOOL.findall(rest)])

    def take_number(self, integer: bool) -> int | float | None:
        for i, lit in enumerate(self.numbers):
            if not integer or "." not in lit:
                del self.numbers[i]
                return int(lit) if "." not in lit else float(lit)
        return None

    def has(self, kind: str) -> bool:
        if kind == "integer":
            return any("." not in n for n in self.numbers)
        return bool({"number": self.numbers, "string": self.quoted,
                     "boolean": self.bools}.get(kind))


def _resolve(schema: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and take the first non-null branch of ``anyOf``/``oneOf``/type lists,
    keeping the outer ``default``."""
    if not isinstance(schema, Mapping):
        return {}
    out = dict(schema)
    for _ in range(32):  # bounded: a self-referencing schema must not loop forever
        ref = out.get("$ref")
        branches = out.get("anyOf") or out.get("oneOf")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            out = {**{k: v for k, v in out.items() if k != "$ref"}, **target}
        elif isinstance(branches, list) and branches:
            first = next((b for b in branches if isinstance(b, Mapping)
                          and b.get("type") != "null"), branches[0])
            rest = {k: v for k, v in out.items() if k not in ("anyOf", "oneOf")}
            out = {**first, **rest} if isinstance(first, Mapping) else rest
        else:
            break
    kind = out.get("type")
    if isinstance(kind, list):
        out["type"] = next((k for k in kind if k != "null"), "null")
    elif kind is None:
        if "properties" in out:
            out["type"] = "object"
        elif "items" in out:
            out["type"] = "array"
    return out


def _enum_pick(values: Sequence[Any], text: str) -> tuple[Any, bool]:
    """The enum value found earliest in ``text`` (and True), else the first value (False)."""
    best: tuple[int, Any] | None = None
    for value in values:
        m = re.search(rf"(?<!\w){re.escape(str(value))}(?!\w)", text, re.I)
        if m is not None and (best is None or m.start() < best[0]):
            best = (m.start(), value)
    return (best[1], True) if best is not None else (values[0], False)


def _fill(schema: Mapping[str, Any], lits: _Literals, root: Mapping[str, Any],
          required: bool) -> tuple[Any, bool]:
    """(value, filled): ``filled`` is False when an optional property should be left out."""
    s = _resolve(schema, root)
    has_default = "default" in s
    if "const" in s:
        return s["const"], True
    enum = s.get("enum")
    if isinstance(enum, list) and enum:
        value, found = _enum_pick(enum, lits.text)
        if found:
            if value in lits.quoted:
                lits.quoted.remove(value)
            return value, True
        if has_default:
            return s["default"], True
        return value, required
    kind = s.get("type", "string")
    if kind == "object":
        if not required and has_default:
            return s["default"], True
        props = s.get("properties")
        if not isinstance(props, Mapping):
            return (s["default"] if has_default else {}), required or has_default
        need = set(s.get("required") or ())
        obj: dict[str, Any] = {}
        for key, sub in props.items():
            value, filled = _fill(sub, lits, root, key in need)
            if filled:
                obj[key] = value
        return obj, True
    if kind == "array":
        item = _resolve(s.get("items", {}), root)
        item_kind = item.get("type", "string")
        values: list[Any] = []
        if item_kind in ("integer", "number", "string", "boolean") and not item.get("enum"):
            while lits.has(str(item_kind)):
                values.append(_fill(item, lits, root, True)[0])
        if values or not has_default:
            return values, required or bool(values)
        return s["default"], True
    if lits.has(str(kind)):
        if kind in ("integer", "number"):
            return lits.take_number(kind == "integer"), True
        if kind == "boolean":
            return lits.bools.pop(0), True
        return lits.quoted.pop(0), True
    if has_default:
        return s["default"], True
    if kind == "string":
        return lits.text, required
    return _EMPTY.get(str(kind)), required


def fill_schema(schema: Mapping[str, Any] | None, text: str) -> dict[str, Any]:
    """An arguments object for ``schema`` (a JSON schema of type object) from ``text``'s
    literals; ``{}`` for a schema without properties."""
    if not isinstance(schema, Mapping):
        return {}
    value, _ = _fill(schema, _Literals.of(text.strip()), schema, True)
    return value if isinstance(value, dict) else {}


# -- replies ------------------------------------------------------------------------------

def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _block(name: str, args: Any, raw_args: str | None = None) -> str:
    if raw_args is not None:
        return f'{{"name": {_dumps(name)}, "arguments": {raw_args}}}'
    return _dumps({"name": name, "arguments": args})


def _directive_calls(directives: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(names, rendered blocks) for the call directives, in order."""
    names: list[str] = []
    blocks: list[str] = []
    for word, rest in directives:
        if word == "/tool-raw":
            blocks.append(f"<tool_call>\n{rest}\n</tool_call>")
            continue
        if word not in ("/tool", "/tool-unclosed", "/fncall"):
            continue
        name, _, arg_text = rest.partition(" ")
        arg_text = arg_text.strip() or "{}"
        try:
            args, raw = json.loads(arg_text), None
        except ValueError:
            args, raw = None, arg_text
        names.append(name)
        if word == "/fncall":
            blocks.append(f"✿FUNCTION✿: {name}\n✿ARGS✿: {raw if raw is not None else _dumps(args)}")
        elif word == "/tool-unclosed":
            blocks.append(f"<tool_call>\n{_block(name, args, raw)}")
        else:
            blocks.append(f"<tool_call>\n{_block(name, args, raw)}\n</tool_call>")
    return names, blocks


def _decide(offer: Offer, text: str) -> list[str]:
    if offer.choice not in ("auto", "required"):
        return [offer.choice]
    spots = [(pos, i, name) for i, name in enumerate(offer.names)
             if (pos := mentioned(name, text)) is not None]
    chosen = [name for _, _, name in sorted(spots)]
    if not chosen and offer.choice == "required" and offer.names:
        chosen = offer.names[:1]
    return chosen


def _json_reply(offer: Offer, q: _Query, text: str) -> str:
    schema = offer.response_format
    obj = fill_schema(schema, text) if schema else {"answer": text}
    body = _dumps(obj)
    if any(word == "/json-prose" for word, _ in q.directives):
        return f"Sure! Here is the JSON you asked for:\n```json\n{body}\n```\nHope this helps."
    return body


def _say(q: _Query) -> str | None:
    return next((rest for word, rest in q.directives if word == "/say"), None)


def _calls(offer: Offer, q: _Query) -> Iterator[str]:
    names, blocks = _directive_calls(q.directives)
    if not blocks and not q.only_responses:
        names = _decide(offer, q.text)
        for name in names:
            tool = offer.tool(name) or {}
            args = fill_schema(tool.get("parameters"), q.text)
            blocks.append(f"<tool_call>\n{_block(name, args)}\n</tool_call>")
    if blocks:
        preface = _say(q)
        if preface is None:
            preface = "[replica] calling" + (" " + ", ".join(names) if names else "")
        yield preface + "\n" + "\n".join(blocks)


def tool_reply(system: str | None, query: str) -> str | None:
    """The reply in tool/JSON mode; ``None`` when the system text offers neither (rule 1) or
    when the model answers in plain text with the responder's usual header (auto choice and
    no tool mentioned): the responder then shows :func:`system_summary` instead of the
    system text."""
    offer = parse_system(system)
    if not offer.active:
        return None
    q = _read_query(query)
    if offer.tools is not None:
        for reply in _calls(offer, q):
            return reply
    results = "tool results received: " + "; ".join(q.responses)
    if offer.response_format is not None:
        return _json_reply(offer, q, results if q.only_responses else q.text)
    if q.only_responses:
        return "[replica] " + results
    return None

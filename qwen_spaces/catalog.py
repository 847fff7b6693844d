"""The Qwen Spaces this package knows, as data.

One entry per Space. The pinned values (prefix, fn_index, trigger_id, history format) are
only a fallback: the transport reads the live ``/config`` and uses what it finds, and
checks it against the input layout below.

Input roles (``inputs``): ``query`` (the user's text), ``history`` (the chatbot value),
``system`` (system prompt textbox), ``variant`` (model-size radio), ``image`` (an image
file or null), ``message`` (a multimodal input's ``{"files": [], "text": …}``), ``settings``
(Qwen3-Demo's settings form: ``{"model", "sys_prompt", "thinking_budget"}``). The state roles
``thinking``, ``session`` and ``state`` name ``gr.State`` slots: a client sends null there and
the Space uses what it stores for the session. ``reply_output`` says which output holds the
answer and ``reply_kind`` how to read it (``chatbot``, ``text``, or ``pro_chatbot``: the
modelscope_studio "pro" chatbot, whose ``"tool"`` entries are reasoning).

``turn`` says how one chat turn reaches the Space:

* ``single``: one listener takes the query and the whole history as data (most Spaces);
* ``two_step``: a non-queued ``prelude`` listener first takes the message box (it adds the
  user turn on the page), then the queued listener takes the history with the new user turn
  as its last, unanswered pair (Qwen2.5-1M);
* ``session``: the conversation lives in server-side ``gr.State``; earlier turns cannot be
  sent as data, so the client keeps one Space session per conversation (see
  :mod:`qwen_spaces.sessions`) and flattens the history into the query when it has none.

``layout`` records how an entry's ids and inputs are known: ``confirmed`` (the Space's own
app source, rebuilt under its Gradio, gives the recorded ids), ``recorded`` (real requests
that clients recorded; the source was not found) or ``inferred`` (guessed from a sibling
Space). ``docs/spaces.md`` has the details per Space.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CATALOG", "STATE_ROLES", "ModelChoice", "SpaceSpec", "StepSpec", "list_models",
           "resolve_model"]

InputRole = Literal["query", "history", "system", "variant", "image", "message", "settings",
                    "thinking", "session", "state"]
HistoryFormat = Literal["tuples", "messages", "parts"]
#: Roles that name ``gr.State`` slots (sent as null; the Space keeps their value per session).
STATE_ROLES: frozenset[str] = frozenset({"thinking", "session", "state"})


@dataclass(frozen=True)
class StepSpec:
    """A listener called before the answer's own, on the same session: Qwen2.5-1M's
    non-queued ``add_text``. Pinned like the main endpoint; the live ``/config`` wins."""

    api_name: str
    fn_index: int
    trigger_id: int | None
    inputs: tuple[InputRole, ...]


@dataclass(frozen=True)
class SpaceSpec:
    name: str
    space_id: str
    url: str
    api_name: str
    fn_index: int
    trigger_id: int | None
    api_prefix: str
    inputs: tuple[InputRole, ...]
    outputs: tuple[str, ...]
    reply_output: int
    reply_kind: Literal["chatbot", "text", "pro_chatbot"]
    history_format: HistoryFormat | None = None
    #: ``ms_legacy``: modelscope_studio's legacy chatbot items, full dicts (``text``,
    #: ``files``, ``flushing``, ``avatar``, …) in both directions.
    history_item: Literal["str", "ms_legacy"] = "str"
    turn: Literal["single", "two_step", "session"] = "single"
    prelude: StepSpec | None = None
    default_system: str | None = None
    api_open: bool = True
    vision: bool = False
    #: Takes tools in Qwen's text format (needs a system input to offer them in).
    tool_calling: bool = False
    max_images: int = 0
    max_image_bytes: int = 10 * 1024 * 1024
    variants: tuple[str, ...] = ()
    default_variant: str | None = None
    #: Dropped from a variant in model names: ``qwen3-32b`` is the model ``qwen-3-32b``.
    variant_stem: str = ""
    #: Has a thinking switch (``thinking=True/False``) and a budget control, in tokens.
    thinking: bool = False
    thinking_budget_range: tuple[int, int] | None = None
    #: The budget control's unit in tokens (Qwen3-Demo's slider counts thousands).
    thinking_budget_unit: int = 1
    default_thinking_budget: int | None = None
    #: ``<think>…</think>`` at the start of the answer text is reasoning, not answer.
    think_tags: bool = False
    aliases: tuple[str, ...] = ()
    context_window: int = 8192
    num_output: int = 2048
    #: Texts a Space shows while it works and then replaces; never streamed as answer text.
    placeholders: tuple[str, ...] = ()
    #: The answer ends where this appears (a footer the Space adds, e.g. a ``<summary>``).
    answer_end: str | None = None
    layout: Literal["confirmed", "recorded", "inferred"] = "confirmed"
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def supports_system(self) -> bool:
        return "system" in self.inputs or "settings" in self.inputs

    @property
    def supports_history(self) -> bool:
        return "history" in self.inputs


_QWEN25: dict[str, Any] = {
    "name": "qwen-2.5",
    "space_id": "Qwen/Qwen2.5",
    "url": "https://qwen-qwen2-5.hf.space",
    "api_name": "model_chat",
    "fn_index": 3,
    "trigger_id": 25,
    "api_prefix": "",
    "inputs": ("query", "history", "system", "variant"),
    "outputs": ("textbox", "chatbot", "system"),
    "reply_output": 1,
    "reply_kind": "chatbot",
    "history_format": "tuples",
    "history_item": "ms_legacy",
    "tool_calling": True,
    "default_system": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "api_open": False,
    "variants": ("72B", "32B", "14B", "7B", "3B", "1.5B", "0.5B"),
    "default_variant": "72B",
    "aliases": ("qwen-qwen2-5", "qwen2.5", "qwen/qwen2.5"),
    "context_window": 32768,
    "num_output": 2048,
    "description": "Qwen2.5 instruct family, size chosen by a radio (Gradio 4).",
}

_ENTRIES: tuple[dict[str, Any], ...] = (
    {
        "name": "qwen-2-72b",
        "space_id": "Qwen/Qwen2-72B-Instruct",
        "url": "https://qwen-qwen2-72b-instruct.hf.space",
        "api_name": "model_chat",
        "fn_index": 0,
        "trigger_id": 11,
        "api_prefix": "",
        "inputs": ("query", "history", "system"),
        "outputs": ("textbox", "chatbot", "system"),
        "reply_output": 1,
        "reply_kind": "chatbot",
        "history_format": "tuples",
        "tool_calling": True,
        "default_system": "You are a helpful assistant.",
        "aliases": ("qwen-qwen2-72b-instruct", "qwen2-72b-instruct", "qwen/qwen2-72b-instruct"),
        "context_window": 32768,
        "num_output": 2048,
        "description": "Qwen2-72B-Instruct chat demo (Gradio 4).",
    },
    _QWEN25,
    {
        # Inferred: clients call it like Qwen2.5 (same inputs, answer at data[1][0][1]) with
        # a Coder size radio; so it is the Qwen2.5 entry with these differences (its ids
        # are Qwen2.5's, not seen on the Space).
        **_QWEN25,
        "name": "qwen-2.5-coder",
        "space_id": "Qwen/Qwen2.5-Coder-demo",
        "url": "https://qwen-qwen2-5-coder-demo.hf.space",
        "variants": ("32B", "14B", "7B", "3B", "1.5B", "0.5B"),
        "default_variant": "32B",
        "aliases": ("qwen-qwen2-5-coder-demo", "qwen2.5-coder", "qwen/qwen2.5-coder-demo",
                    "qwen-2.5-coder-demo"),
        "layout": "inferred",
        "description": "Qwen2.5-Coder instruct family, size chosen by a radio (Gradio 4).",
    },
    {
        # Recorded: two requests per turn. The api names are Gradio 4's defaults (the
        # function names), guessed; fn 1/2 and trigger 5 are from recorded requests.
        "name": "qwen-2.5-1m",
        "space_id": "Qwen/Qwen2.5-1M-Demo",
        "url": "https://qwen-qwen2-5-1m-demo.hf.space",
        "api_name": "bot",
        "fn_index": 2,
        "trigger_id": 5,
        "api_prefix": "",
        "inputs": ("history", "state", "state"),
        "outputs": ("chatbot",),
        "reply_output": 0,
        "reply_kind": "chatbot",
        "history_format": "tuples",
        "history_item": "ms_legacy",
        "turn": "two_step",
        "prelude": StepSpec("add_text", 1, 5, ("message", "history", "state")),
        "placeholders": ("Qwen is thinking...",),
        "answer_end": "\n<summary>",
        "aliases": ("qwen-qwen2-5-1m-demo", "qwen2.5-1m", "qwen/qwen2.5-1m-demo",
                    "qwen-2.5-1m-demo"),
        "context_window": 1_000_000,
        "num_output": 8192,
        "layout": "recorded",
        "description": "Qwen2.5-7B/14B-Instruct-1M long-context demo (Gradio 4, two-step turn).",
    },
    {
        "name": "qwen-2.5-max",
        "space_id": "Qwen/Qwen2.5-Max-Demo",
        "url": "https://qwen-qwen2-5-max-demo.hf.space",
        "api_name": "model_chat",
        "fn_index": 0,
        "trigger_id": 11,
        "api_prefix": "/gradio_api",
        "inputs": ("query", "history", "system"),
        "outputs": ("textbox", "chatbot", "system"),
        "reply_output": 1,
        "reply_kind": "chatbot",
        "tool_calling": True,
        "default_system": "You are a helpful assistant.",
        "aliases": ("qwen-2-5-max", "qwen-qwen2-5-max", "qwen2.5-max", "qwen/qwen2.5-max-demo"),
        "context_window": 32768,
        "num_output": 8192,
        "layout": "recorded",
        "description": "Qwen2.5-Max (API model) demo (Gradio 5).",
    },
    {
        "name": "qvq-72b",
        "space_id": "Qwen/QVQ-72B-preview",
        "url": "https://qwen-qvq-72b-preview.hf.space",
        "api_name": "generate",
        "fn_index": 0,
        "trigger_id": None,
        "api_prefix": "/gradio_api",
        "inputs": ("image", "query"),
        "outputs": ("text",),
        "reply_output": 0,
        "reply_kind": "text",
        "vision": True,
        "max_images": 1,
        "aliases": ("qwen-qvq-72b-preview", "qvq-72b-preview", "qwen/qvq-72b-preview", "qvq"),
        "context_window": 32768,
        "num_output": 8192,
        "layout": "recorded",
        "description": "QVQ-72B-preview visual reasoning: one image (or none) plus a question.",
    },
    {
        # The conversation and the thinking switch live in gr.State (see ``turn``); the
        # settings form is data. Recorded: fn 13, trigger 31, answer at output 5.
        "name": "qwen-3",
        "space_id": "Qwen/Qwen3-Demo",
        "url": "https://qwen-qwen3-demo.hf.space",
        "api_name": "add_message",
        "fn_index": 13,
        "trigger_id": 31,
        "api_prefix": "/gradio_api",
        "inputs": ("query", "settings", "thinking", "session"),
        "outputs": ("input", "clear_btn", "delete_menu_item", "add_conversation_btn",
                    "conversations", "chatbot", "state"),
        "reply_output": 5,
        "reply_kind": "pro_chatbot",
        "turn": "session",
        "tool_calling": True,
        "default_system": "You are a helpful and harmless assistant.",
        "variants": ("qwen3-235b-a22b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-14b", "qwen3-8b",
                     "qwen3-4b", "qwen3-1.7b", "qwen3-0.6b"),
        "default_variant": "qwen3-235b-a22b",
        "variant_stem": "qwen3-",
        "thinking": True,
        "thinking_budget_range": (1_000, 38_000),
        "thinking_budget_unit": 1_000,
        "default_thinking_budget": 38_000,
        "think_tags": True,
        "aliases": ("qwen3", "qwen-qwen3-demo", "qwen/qwen3-demo", "qwen3-demo"),
        "context_window": 32768,
        "num_output": 16384,
        "layout": "recorded",
        "description": "Qwen3 family with thinking (Gradio 5, modelscope_studio pro chatbot).",
    },
)

CATALOG: Mapping[str, SpaceSpec] = {e["name"]: SpaceSpec(**e) for e in _ENTRIES}


@dataclass(frozen=True)
class ModelChoice:
    """A resolved model name: the Space, and the size variant where the Space has several."""

    spec: SpaceSpec
    variant: str | None = None

    @property
    def model_name(self) -> str:
        if self.variant and self.variant != self.spec.default_variant:
            return f"{self.spec.name}-{_short(self.spec, self.variant)}"
        return self.spec.name


def _short(spec: SpaceSpec, variant: str) -> str:
    stem = spec.variant_stem
    short = variant[len(stem):] if stem and variant.startswith(stem) else variant
    return short.lower()


def _index() -> dict[str, ModelChoice]:
    index: dict[str, ModelChoice] = {}
    for spec in CATALOG.values():
        for key in (spec.name, spec.space_id, *spec.aliases):
            index[key.lower()] = ModelChoice(spec, spec.default_variant)
        for variant in spec.variants:
            for base in (spec.name, *spec.aliases):
                index[f"{base}-{_short(spec, variant)}".lower()] = ModelChoice(spec, variant)
            if spec.variant_stem:  # the Space's own model ids: "qwen3-32b"
                index[variant.lower()] = ModelChoice(spec, variant)
    return index


_INDEX = _index()


def resolve_model(name: str, variant: str | None = None) -> ModelChoice:
    """Map a catalog name, alias, Space id or ``name-<size>`` to a :class:`ModelChoice`.

    Raises ``ValueError`` (before any network call) for unknown names or variants.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("model must be a non-empty string, e.g. 'qwen-2.5-max'")
    choice = _INDEX.get(name.strip().lower())
    if choice is None:
        known = ", ".join(sorted(CATALOG))
        raise ValueError(f"Unknown Qwen Space model {name!r}. Known models: {known} "
                         "(run `qwen-spaces models` for aliases).")
    if variant is not None:
        spec = choice.spec
        names = {v.lower(): v for v in spec.variants}
        names.update({_short(spec, v): v for v in spec.variants})
        match = names.get(variant.strip().lower())
        if match is None:
            raise ValueError(
                f"{spec.name} has no variant {variant!r}"
                + (f"; choose one of {', '.join(spec.variants)}" if spec.variants else "")
            )
        choice = ModelChoice(spec, match)
    return choice


def list_models() -> list[SpaceSpec]:
    return list(CATALOG.values())

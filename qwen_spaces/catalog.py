"""The Qwen Spaces this package knows, as data.

One entry per Space. The pinned values (prefix, fn_index, trigger_id, history format) are
only a fallback: the transport reads the live ``/config`` and uses what it finds, and
checks it against the input layout below.

Input roles (``inputs``): ``query`` (the user's text), ``history`` (the chatbot value),
``system`` (system prompt textbox), ``variant`` (model-size radio), ``image`` (an image
file or null). ``reply`` says which output holds the answer and what kind it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CATALOG", "ModelChoice", "SpaceSpec", "list_models", "resolve_model"]

InputRole = Literal["query", "history", "system", "variant", "image"]
HistoryFormat = Literal["tuples", "messages", "parts"]


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
    reply_kind: Literal["chatbot", "text"]
    history_format: HistoryFormat | None = None
    history_item: Literal["str", "text_dict"] = "str"
    default_system: str | None = None
    api_open: bool = True
    vision: bool = False
    #: Takes tools in Qwen's text format (needs a system input to offer them in).
    tool_calling: bool = False
    max_images: int = 0
    max_image_bytes: int = 10 * 1024 * 1024
    variants: tuple[str, ...] = ()
    default_variant: str | None = None
    aliases: tuple[str, ...] = ()
    context_window: int = 8192
    num_output: int = 2048
    #: Texts a Space shows while it works and then replaces; never streamed as answer text.
    placeholders: tuple[str, ...] = ()
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def supports_system(self) -> bool:
        return "system" in self.inputs

    @property
    def supports_history(self) -> bool:
        return "history" in self.inputs


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
    {
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
        "history_item": "text_dict",
        "tool_calling": True,
        "default_system": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
        "api_open": False,
        "variants": ("72B", "32B", "14B", "7B", "3B", "1.5B", "0.5B"),
        "default_variant": "72B",
        "aliases": ("qwen-qwen2-5", "qwen2.5", "qwen/qwen2.5"),
        "context_window": 32768,
        "num_output": 2048,
        "description": "Qwen2.5 instruct family, size chosen by a radio (Gradio 4).",
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
        "description": "QVQ-72B-preview visual reasoning: one image (or none) plus a question.",
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
            return f"{self.spec.name}-{self.variant.lower()}"
        return self.spec.name


def _index() -> dict[str, ModelChoice]:
    index: dict[str, ModelChoice] = {}
    for spec in CATALOG.values():
        for key in (spec.name, spec.space_id, *spec.aliases):
            index[key.lower()] = ModelChoice(spec, spec.default_variant)
        for variant in spec.variants:
            for base in (spec.name, *spec.aliases):
                index[f"{base}-{variant}".lower()] = ModelChoice(spec, variant)
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
        match = {v.lower(): v for v in spec.variants}.get(variant.strip().lower())
        if match is None:
            raise ValueError(
                f"{spec.name} has no variant {variant!r}"
                + (f"; choose one of {', '.join(spec.variants)}" if spec.variants else "")
            )
        choice = ModelChoice(spec, match)
    return choice


def list_models() -> list[SpaceSpec]:
    return list(CATALOG.values())

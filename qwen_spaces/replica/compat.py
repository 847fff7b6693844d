"""The few places where Gradio 4.44.1 and Gradio 6 need different spellings.

Everything version-specific in the replicas goes through here so the app builder stays one
piece of code for both generations.
"""

import functools
from abc import ABCMeta
from typing import Any

import gradio as gr
from gradio.component_meta import ComponentMeta
from gradio.data_classes import GradioModel, GradioRootModel
from pydantic import Field

__all__ = [
    "MAJOR",
    "TextDictChatbot",
    "api_prefix",
    "chatbot_class",
    "chatbot_kwargs",
    "hidden_listener_kwargs",
    "make_error",
    "supports_ssr",
]

MAJOR = int(gr.__version__.split(".")[0])


def chatbot_kwargs(history_format: str | None) -> dict[str, Any]:
    """Gradio 4/5 take the Space's format (tuples unless it says messages); 6 has only messages."""
    if MAJOR >= 6:
        return {}
    return {"type": "messages" if history_format == "messages" else "tuples"}


class TextItem(GradioModel):
    """One chatbot item as the Qwen2.5 Space carries it: ``{"text": "...", "files": []}``."""

    text: str
    files: list[Any] = Field(default_factory=list)


class TextDictPairs(GradioRootModel):
    root: list[tuple[str | TextItem | None, str | TextItem | None]]


class _NoStubMeta(ComponentMeta):
    """Plain class creation: ``ComponentMeta`` would write a ``.pyi`` beside the defining
    module. Its other work (wrapping ``__init__``, binding ``EVENTS``) concerns only classes
    that define those, which :class:`TextDictChatbot` does not."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> Any:
        return ABCMeta.__new__(mcs, name, bases, attrs)


def _text(item: str | TextItem | None) -> str | None:
    return item.text if isinstance(item, TextItem) else item


class TextDictChatbot(gr.Chatbot, metaclass=_NoStubMeta):
    """Gradio 4 tuples chatbot whose items travel as ``{"text": …, "files": []}`` (Qwen2.5).

    It takes history items as such dicts, plain strings or null, hands the handler plain
    strings, and sends every non-null item back as a dict. To clients it is still the stock
    chatbot: config ``type`` ``"chatbot"``, ``props.type`` ``"tuples"``.
    """

    # ``wraps`` keeps the signature Gradio reads for ``props``; mypy sees Gradio 6's types.
    @functools.wraps(gr.Chatbot.__init__)  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_model = TextDictPairs  # type: ignore[assignment]

    def get_block_name(self) -> str:
        return "chatbot"

    def preprocess(  # type: ignore[override]
        self, payload: TextDictPairs | None,
    ) -> list[list[str | None]] | None:
        return None if payload is None else [[_text(u), _text(a)] for u, a in payload.root]

    def postprocess(  # type: ignore[override]
        self, value: list[list[str | None]] | None,
    ) -> TextDictPairs:
        return TextDictPairs(root=[
            (None if u is None else TextItem(text=u), None if a is None else TextItem(text=a))
            for u, a in value or []])


def chatbot_class(history_item: str) -> type[gr.Chatbot]:
    """The Space's chatbot: text-dict items need :class:`TextDictChatbot` on Gradio 4 only
    (Gradio 6's message parts are text dicts already)."""
    return TextDictChatbot if MAJOR == 4 and history_item == "ms_legacy" else gr.Chatbot


def hidden_listener_kwargs() -> dict[str, Any]:
    """Keep helper listeners out of the documented API (``show_api`` became ``api_visibility``)."""
    if MAJOR >= 6:
        return {"api_visibility": "private", "api_name": None}
    return {"show_api": False, "api_name": False}


def make_error(message: str, title: str | None = None) -> gr.Error:
    """``gr.Error`` with a title where the installed Gradio supports one (5.x+)."""
    if title is not None and MAJOR >= 5:
        return gr.Error(message, title=title)
    return gr.Error(message)


def supports_ssr() -> bool:
    return MAJOR >= 5


def api_prefix() -> str:
    """Where Gradio mounts its API routes: ``/gradio_api`` from 5.0, the root before."""
    return "/gradio_api" if MAJOR >= 5 else ""

"""The few places where Gradio 4.44.1 and Gradio 6 need different spellings.

Everything version-specific in the replicas goes through here so the app builder stays one
piece of code for both generations.
"""

import importlib
from typing import Any

import gradio as gr

__all__ = [
    "MAJOR",
    "api_prefix",
    "chatbot_kwargs",
    "hidden_listener_kwargs",
    "make_error",
    "modelscope_legacy",
    "supports_ssr",
]

MAJOR = int(gr.__version__.split(".")[0])


def chatbot_kwargs(history_format: str | None) -> dict[str, Any]:
    """Gradio 4/5 take the Space's format (tuples unless it says messages); 6 has only messages."""
    if MAJOR >= 6:
        return {}
    return {"type": "messages" if history_format == "messages" else "tuples"}


def modelscope_legacy() -> Any | None:
    """modelscope_studio's legacy components (``mgr.Chatbot``, ``mgr.MultimodalInput``) as
    the Qwen2.5-family Spaces import them: ``import modelscope_studio as mgr``. They exist only
    in modelscope_studio 0.5.x (Gradio 4/5); on Gradio 6 this is None (2.x has none), and the
    layouts use the nearest stock components instead. Imported by name so type checking does
    not read whichever modelscope_studio the checking interpreter has."""
    if MAJOR >= 6:
        return None
    return importlib.import_module("modelscope_studio")


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

"""The Qwen2.5-1M Space's two-step turn (layout *recorded*: only its requests were seen).

A turn is two requests on one ``session_hash``, both triggered by the message box's
``submit`` (component 5):

* listener 1 ``add_text`` (not queued: ``POST /run/predict`` with ``fn_index: 1``) takes
  ``[input, chatbot, state]``, clears the input and appends ``[user_item, None]``;
* listener 2 ``bot`` (queued, generator) takes ``[chatbot, state, state]`` and streams the
  reply into that last pair: first the placeholder ``Qwen is thinking...``, then the
  responder's reply, and a last frame that adds the ``\\n<summary>`` footer the real Space
  ends its text with (the catalog's ``answer_end`` tells clients to cut there).

Listener 0 is a helper (the real one is unknown; a clear button's click holds the slot).
On the real page ``bot`` runs in a ``.then()`` after ``add_text``; Gradio records a
``.then()`` listener with no trigger id, where the recorded requests carry 5, so here both
are registered on ``input.submit``. ``state`` is passed through and not read (the real one
presumably holds uploaded documents); the second state holds ``0``, the value recorded.

Gradio 4.44.1 runs modelscope_studio's legacy ``mgr.MultimodalInput`` (value
``{"files": [], "text": …}``) and ``mgr.Chatbot`` (full ``MultimodalMessage`` dict items),
as the Space does. Gradio 6 has no legacy components (modelscope_studio 2.x dropped them), so
there the layout is an *approximation* with the same ids and listener order: the stock
``gr.MultimodalTextbox`` (the same ``{"text", "files"}`` value) and ``gr.Chatbot``, whose
only format is messages: ``add_text`` appends a user message and ``bot`` streams an
assistant message after it.
"""

from collections.abc import AsyncIterator
from typing import Any, cast

import gradio as gr

from qwen_spaces.catalog import SpaceSpec

from .app import LaunchOptions, expect_id, expect_listener, raw_history
from .compat import hidden_listener_kwargs, modelscope_legacy
from .responder import Received, reply_stream
from .stats import ReplicaStats, header_summary

__all__ = ["build_qwen25_1m", "footer"]

EMPTY_INPUT: dict[str, Any] = {"text": "", "files": []}


def footer(pieces: int) -> str:
    """What the last frame appends to the answer (the real Space's ``\\n<summary>`` suffix)."""
    return f"\n<summary>replica: {pieces} pieces</summary>"


def _text(item: Any) -> str:
    """The text of a message: a ``MultimodalMessage``/``MultimodalInputData`` model, a dict
    (``{"text": …}``, or Gradio 6's ``{"content": [parts]}``) or a plain string."""
    if item is None:
        return ""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        if "content" in item:
            content = item["content"]
            return content if isinstance(content, str) else "".join(
                p.get("text", "") for p in content if isinstance(p, dict))
        return str(item.get("text") or "")
    return str(getattr(item, "text", "") or "")


def _parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text}]


class _Pairs:
    """Gradio 4 (``mgr.Chatbot``): ``[[user, bot], …]``; the new turn is ``[user, None]``."""

    @staticmethod
    def add_user(history: list[Any], message: Any) -> list[Any]:
        item = {"text": _text(message), "files": list(getattr(message, "files", None) or [])}
        return [*history, [item, None]]

    @staticmethod
    def split(history: list[Any]) -> tuple[list[Any], Any] | None:
        """Earlier pairs and the new user item, or None when the last pair is answered."""
        if not history or history[-1][1] is not None:
            return None
        return history[:-1], history[-1][0]

    @staticmethod
    def turns(earlier: list[Any]) -> int:
        return len(earlier)

    @staticmethod
    def value(earlier: list[Any], user: Any, text: str) -> list[Any]:
        return [*earlier, [user, text]]


class _Messages:
    """Gradio 6 (stock ``gr.Chatbot``, messages): the new turn is a trailing user message."""

    @staticmethod
    def add_user(history: list[Any], message: Any) -> list[Any]:
        return [*_Messages._plain(history), {"role": "user", "content": _parts(_text(message))}]

    @staticmethod
    def split(history: list[Any]) -> tuple[list[Any], Any] | None:
        if not history or history[-1].get("role") != "user":
            return None
        return history[:-1], history[-1]

    @staticmethod
    def turns(earlier: list[Any]) -> int:
        return sum(1 for m in earlier if m.get("role") == "user")

    @staticmethod
    def value(earlier: list[Any], user: Any, text: str) -> list[Any]:
        return [*_Messages._plain([*earlier, user]),
                {"role": "assistant", "content": _parts(text)}]

    @staticmethod
    def _plain(history: list[Any]) -> list[dict[str, Any]]:
        return [{"role": m["role"], "content": m["content"]} for m in history]


def build_qwen25_1m(spec: SpaceSpec, options: LaunchOptions, stats: ReplicaStats,
                    ) -> gr.Blocks:
    """The Blocks of Qwen2.5-1M; ids in comments are the ones the recorded requests name."""
    if spec.prelude is None:
        raise ValueError(f"{spec.name} has no prelude step; it is not a two-step Space")
    mgr = modelscope_legacy()
    chat = _Pairs if mgr is not None else _Messages
    placeholder = spec.placeholders[0] if spec.placeholders else "..."
    prelude = spec.prelude

    def add_text(message: Any, history: list[Any] | None, state: Any) -> tuple[Any, Any]:
        return dict(EMPTY_INPUT), chat.add_user(list(history or []), message)

    async def bot(history: list[Any] | None, state: Any, count: Any, request: gr.Request,
                  progress: Any = gr.Progress()) -> AsyncIterator[Any]:  # noqa: B008
        split = chat.split(list(history or []))
        if split is None:
            raise gr.Error("replica: the chat has no new user message to answer "
                           f"(call {prelude.api_name} first)")
        earlier, user = split
        received = Received(space_id=spec.space_id, name=spec.name, query=_text(user),
                            history_turns=chat.turns(earlier))
        headers = header_summary(dict(request.headers)) if request is not None else None
        stats.start({**received.__dict__, "history_len": len(history or []),
                     "history": raw_history(history)}, headers)
        outcome = "stopped_early"
        try:
            yield chat.value(earlier, user, placeholder)
            pieces, text = 0, ""
            async for text in reply_stream(received, options.token_delay, progress,
                                           options.quota_window):
                pieces += 1
                yield chat.value(earlier, user, text)
            yield chat.value(earlier, user, text + footer(pieces))
            outcome = "completed"
        except Exception:
            outcome = "failed"
            raise
        finally:
            stats.finish(outcome)

    bot.__name__ = spec.api_name
    add_text.__name__ = prelude.api_name
    with gr.Blocks(title=f"{spec.space_id} (local replica)") as demo:
        gr.Markdown(f"## {spec.space_id} - local replica, not a real model")  # 1
        gr.Markdown("A deterministic fake model answers; no Qwen runs here.")  # 2
        if mgr is not None:
            chatbot = mgr.Chatbot(label=spec.space_id)  # 3
        else:
            chatbot = gr.Chatbot(label=spec.space_id)  # 3
        with gr.Row():  # 4
            if mgr is not None:
                message = mgr.MultimodalInput(label="Input")  # 5
            else:
                message = gr.MultimodalTextbox(label="Input")  # 5
            clear = gr.Button("Clear history", scale=0)  # 6, form 7
        state = gr.State(None)  # 8
        count = gr.State(0)  # 9, the second state: the recorded requests send 0
        expect_id(message, spec.trigger_id)

        clear.click(lambda: ([], dict(EMPTY_INPUT)), None, [chatbot, message], queue=False,
                    **hidden_listener_kwargs())  # listener 0
        expect_listener(demo, prelude.fn_index)
        message.submit(add_text, [message, chatbot, state], [message, chatbot],
                       api_name=prelude.api_name, queue=False)  # listener 1
        expect_listener(demo, spec.fn_index)
        message.submit(bot, [chatbot, state, count], [chatbot], api_name=spec.api_name,
                       concurrency_limit=options.concurrency_limit)  # listener 2
    return cast(gr.Blocks, demo)

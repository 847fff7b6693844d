"""Turn a catalog :class:`SpaceSpec` into a real Gradio Blocks app.

The app reproduces the Space's public API, not its looks: the endpoint name, the dependency
id (``fn_index``), the trigger component id, the inputs in the spec's order and the outputs.
Gradio numbers components (layout blocks included) in creation order and dependencies in
registration order. :func:`build_app` picks the builder in one place (:func:`_layout`):
Spaces whose own layout is known get a module that rebuilds it block by block
(:mod:`.qwen25`: Qwen2.5 and Coder; :mod:`.qwen25_1m`: Qwen2.5-1M's two-step turn); the
rest get the generic builder here, which pads with hidden components and helper listeners
until the ids land where the spec says, on Gradio 4.44.1 and 6 alike.
"""

import hashlib
import inspect
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

import gradio as gr
from gradio.context import Context

from qwen_spaces.catalog import SpaceSpec

from .compat import MAJOR, chatbot_kwargs, hidden_listener_kwargs
from .responder import QuotaWindow, Received, reply_stream
from .stats import ReplicaStats, header_summary

__all__ = ["LaunchOptions", "build_app", "describe_image", "expect_id", "expect_listener",
           "history_turns", "raw_history"]


@dataclass(frozen=True)
class LaunchOptions:
    """Knobs a test can turn without touching server code."""

    token_delay: float = 0.01
    max_size: int | None = None
    concurrency_limit: int | None = 8
    #: Seconds after a ``gr.State`` was last written that Gradio deletes it (session Spaces;
    #: None: kept while the server runs).
    state_ttl: float | None = None
    #: While it runs, every answer fails with the ZeroGPU quota error (``--quota-for``).
    quota_window: QuotaWindow | None = None


def describe_image(path: str | None) -> str:
    """``"PNG 4x3 sha256:abcdef012345"`` for the file Gradio handed over, or ``"no image"``."""
    if not path:
        return "no image"
    from PIL import Image

    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:12]
    with Image.open(path) as img:
        return f"{img.format} {img.width}x{img.height} sha256:{digest}"


def history_turns(history: list[Any] | None) -> int:
    """User/assistant pairs: one per tuple, or one per user message in messages format."""
    if not history:
        return 0
    if all(isinstance(item, dict) for item in history):
        return sum(1 for m in history if m.get("role") == "user")
    return len(history)


def raw_history(history: Any) -> Any:
    """The history value as the handler got it, made JSON-safe for ``/replica/stats``:
    tuples (Gradio 4; ``mgr.Chatbot`` items arrive as ``MultimodalMessage`` models and are
    recorded as their full dicts) or messages with text parts (Gradio 6). Pydantic models
    become their dicts."""

    def plain(value: Any) -> Any:
        dump = getattr(value, "model_dump", None)
        return dump() if callable(dump) else str(value)

    return json.loads(json.dumps(history, default=plain, ensure_ascii=False))


def _chat_value(history: list[Any] | None, query: str, reply: str) -> list[Any]:
    """The chatbot output: earlier turns plus this one, in the installed Gradio's format.

    Gradio 6 gets explicit text parts (``{"type": "text", "text": …}``); plain strings would
    be passed through ``inspect.cleandoc`` there and lose leading/trailing whitespace.
    """
    history = list(history or [])
    if MAJOR < 6:
        return [list(pair) for pair in history] + [[query, reply]]
    earlier = [{"role": m["role"], "content": m["content"]} for m in history]

    def parts(text: str) -> list[dict[str, str]]:
        return [{"type": "text", "text": text}]

    return [*earlier, {"role": "user", "content": parts(query)},
            {"role": "assistant", "content": parts(reply)}]


def _pad_to(next_id: int) -> None:
    """Create hidden components until the next one created gets ``next_id``."""
    while Context.id < next_id:
        gr.Markdown(visible=False)
    if Context.id != next_id:
        raise RuntimeError(f"component ids already past {next_id} (at {Context.id})")


def expect_id(block: Any, wanted: int | None) -> None:
    """Fail the build when Gradio gave ``block`` another id than the real Space's."""
    if block._id != wanted:
        raise RuntimeError(f"{type(block).__name__} got id {block._id}, the Space has {wanted}")


def expect_listener(demo: gr.Blocks, wanted: int) -> None:
    """Fail the build when the next listener would not get dependency id ``wanted``."""
    if len(demo.fns) != wanted:
        raise RuntimeError(f"the next listener gets id {len(demo.fns)}, the Space has {wanted}")


def _make_handler(spec: SpaceSpec, options: LaunchOptions, stats: ReplicaStats,
                  ) -> Callable[..., AsyncIterator[Any]]:
    """An async generator taking the spec's inputs positionally, then request and progress.

    Its signature is set explicitly so Gradio sees exactly one parameter per input (Gradio
    injects ``gr.Request`` and ``gr.Progress`` by position right after them).
    """
    n_inputs = len(spec.inputs)

    async def handler(*args: Any) -> AsyncIterator[Any]:
        values = dict(zip(spec.inputs, args[:n_inputs], strict=True))
        request: gr.Request | None = args[n_inputs]
        progress = args[n_inputs + 1]
        history = values.get("history")
        received = Received(
            space_id=spec.space_id,
            name=spec.name,
            query=values.get("query") or "",
            system=values.get("system") if "system" in values else None,
            history_turns=history_turns(history) if "history" in values else None,
            variant=values.get("variant") if "variant" in values else None,
            image=describe_image(values.get("image")) if "image" in values else None,
        )
        headers = header_summary(dict(request.headers)) if request is not None else None
        stats.start({**received.__dict__, "history_len": len(history or []),
                     "history": raw_history(history)}, headers)
        outcome = "stopped_early"  # unless we get to the end or raise ourselves
        try:
            async for text in reply_stream(received, options.token_delay, progress,
                                           options.quota_window):
                yield _outputs(spec, values, received.query, text)
            outcome = "completed"
        except Exception:
            outcome = "failed"
            raise
        finally:
            stats.finish(outcome)

    params = [inspect.Parameter(f"in_{i}_{role}", inspect.Parameter.POSITIONAL_OR_KEYWORD)
              for i, role in enumerate(spec.inputs)]
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=gr.Request))
    params.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    default=gr.Progress()))
    handler.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    handler.__annotations__ = {"request": gr.Request}
    handler.__name__ = spec.api_name
    return handler


def _outputs(spec: SpaceSpec, values: dict[str, Any], query: str, text: str) -> Any:
    """One value per output role: query box cleared, chat so far, system echoed, answer."""

    def value(role: str) -> Any:
        if role == "chatbot":
            return _chat_value(values.get("history"), query, text)
        return {"textbox": "", "system": values.get("system"), "text": text}.get(role)

    out = tuple(value(role) for role in spec.outputs)
    return out[0] if len(out) == 1 else out


def _keep(*values: Any) -> Any:
    """Helper-listener body: change nothing (it only holds a dependency slot)."""
    return gr.update()


Builder = Callable[[SpaceSpec, LaunchOptions, ReplicaStats], gr.Blocks]


def _layout(spec: SpaceSpec) -> Builder:
    """The one place that picks a Space's builder (layout modules import this module)."""
    if spec.turn == "two_step":
        from .qwen25_1m import build_qwen25_1m

        return build_qwen25_1m
    if spec.history_item == "ms_legacy":
        from .qwen25 import build_qwen25

        return build_qwen25
    return _build_generic


def build_app(spec: SpaceSpec, options: LaunchOptions | None = None,
              stats: ReplicaStats | None = None) -> gr.Blocks:
    """Build the replica of ``spec``. Resets Gradio's id counter: ids start at 0 per app."""
    if spec.turn == "session":  # Qwen3-Demo: its own queue settings; Gradio 5 and 6 only
        from .qwen3 import build_qwen3_app

        return build_qwen3_app(spec, options, stats)
    options = options or LaunchOptions()
    stats = stats or ReplicaStats()
    Context.id = 0
    demo: Any = _layout(spec)(spec, options, stats)
    demo.queue(max_size=options.max_size, api_open=spec.api_open)
    demo.replica_stats = stats
    return cast(gr.Blocks, demo)


def _build_generic(spec: SpaceSpec, options: LaunchOptions, stats: ReplicaStats) -> gr.Blocks:
    """Any single-listener Space: the endpoint padded to the spec's ids."""
    comp: dict[str, Any] = {}
    with gr.Blocks(title=f"{spec.space_id} (local replica)") as demo:
        gr.Markdown(f"## {spec.space_id} - local replica, not a real model")
        if "system" in spec.inputs:
            with gr.Row():
                comp["system_editor"] = gr.Textbox(
                    value=spec.default_system, label="System", scale=3)
                gr.Button("Set system prompt and clear history")
            comp["system"] = gr.Textbox(value=spec.default_system, visible=False)
        if spec.variants:
            with gr.Row():
                comp["variant"] = gr.Radio(choices=list(spec.variants),
                                           value=spec.default_variant, label="Model size")
        if "history" in spec.inputs:
            comp["history"] = gr.Chatbot(label=spec.space_id,
                                         **chatbot_kwargs(spec.history_format))
        if "image" in spec.inputs:
            comp["image"] = gr.Image(type="filepath", label="Image")
        comp["query"] = gr.Textbox(label="Input")
        with gr.Row():
            clear = gr.Button("Clear history") if "history" in spec.inputs else None
            if spec.trigger_id is not None:
                _pad_to(spec.trigger_id)
            submit = gr.Button("Send", variant="primary")
        if spec.reply_kind == "text":
            comp["text"] = gr.Textbox(label="Answer")
        if "state" in spec.outputs:
            comp["state"] = gr.State()

        # Listeners registered before the endpoint push it to dependency id ``fn_index``.
        variant = comp.get("variant")
        helper_event = variant.change if variant is not None else submit.click
        for _ in range(spec.fn_index):
            helper_event(_keep, [variant] if variant is not None else None,
                         [comp["history"]] if "history" in comp else None,
                         queue=False, **hidden_listener_kwargs())

        output_map = {"textbox": comp["query"], "chatbot": comp.get("history"),
                      "system": comp.get("system_editor"), "state": comp.get("state"),
                      "text": comp.get("text")}
        submit.click(
            _make_handler(spec, options, stats),
            inputs=[comp[role] for role in spec.inputs],
            outputs=[output_map[role] for role in spec.outputs],
            api_name=spec.api_name,
            concurrency_limit=options.concurrency_limit,
        )
        if clear is not None:
            clear.click(lambda: ([], ""), None, [comp["history"], comp["query"]],
                        queue=False, **hidden_listener_kwargs())
    return cast(gr.Blocks, demo)

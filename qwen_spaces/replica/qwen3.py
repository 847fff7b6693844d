"""The Qwen/Qwen3-Demo replica, on modelscope_studio's real "pro" chatbot (1.x on Gradio 5,
2.x on Gradio 6).

The layout and the listeners follow the Space's ``app.py`` (see
``/work/shared/docs/qwen-space-layouts.md``): the conversation lives in a ``gr.State``
(``{"conversation_contexts", "conversations", "conversation_id"}``), the thinking switch in
another (``{"enable_thinking": True}``) toggled by the thinking button's click (fn 3), and
``input.submit(add_message, …)`` is fn 13 with the Sender at component id 31. A client sends
null for both states; Gradio substitutes what it stores for the ``session_hash``.

The fake model thinks first (when thinking is on), then answers with the responder's normal
reply (:func:`~qwen_spaces.replica.responder.reply_stream`), so every directive works here.
Its reasoning is deterministic and names what it got::

    [replica thinking] query: <query>; model: <model>; budget: <N>; turns: <K>

cut at ``thinking_budget * 1000`` characters (one character stands for one token of the
Space's budget, which its slider counts in thousands). It streams in
``REASONING_PIECE``-character pieces. An error the answer raises before its first piece
(``/quota``, ``/crash``) comes before any reasoning, as a refused API call would.

Chatbot value: the whole conversation, as the Space yields it (``gr.update(value=history)``):
user ``{"role": "user", "content": text, "key": …}``; assistant ``{"role": "assistant",
"content": [...], "key": uuid, "header": label, "loading": True, "status": "pending"}``, later
``"status": "done"`` and a ``"footer"``. With thinking on, ``content`` starts with ``{"type":
"tool", "content": reasoning, "options": {"title": "Thinking...", "status": "pending"}}``,
retitled ``"End of Thought (N.NNs)"`` with status ``"done"`` when the answer starts, followed by
``{"type": "text", "content": answer}``. The pro chatbot's data model adds its other fields
(null or defaults) on the wire.
"""

import asyncio
import contextlib
import copy
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import gradio as gr
import modelscope_studio.components.antd as antd
import modelscope_studio.components.antdx as antdx
import modelscope_studio.components.base as ms
import modelscope_studio.components.pro as pro
from gradio.context import Context
from modelscope_studio.components.pro.chatbot import (
    ChatbotActionConfig,
    ChatbotBotConfig,
    ChatbotDataMessages,
    ChatbotUserConfig,
    ChatbotWelcomeConfig,
)
from pydantic import BaseModel

from qwen_spaces.catalog import SpaceSpec

from .app import LaunchOptions
from .responder import Received, reply_stream
from .stats import ReplicaStats, header_summary

__all__ = ["REASONING_PIECE", "build_qwen3_app", "model_label",
           "reasoning_text"]

#: Characters per streamed piece of reasoning.
REASONING_PIECE = 8
_ERROR_SPAN = '<span style="color: var(--color-red-500)">{}</span>'


def model_label(model: Any) -> str | None:
    """The chatbot header for a model id, like the Space's ``MODEL_OPTIONS_MAP`` labels:
    ``qwen3-235b-a22b`` → ``Qwen3-235B-A22B``; None for anything that is not ``qwen3-…``."""
    if not isinstance(model, str) or not model.startswith("qwen3-"):
        return None
    return "Qwen3-" + model[len("qwen3-"):].upper()


def reasoning_text(received: Received, budget_chars: int) -> str:
    """The fake model's reasoning for one turn, cut at ``budget_chars`` characters."""
    text = (f"[replica thinking] query: {received.query}; model: {received.variant}; "
            f"budget: {received.thinking_budget}; turns: {received.history_turns}")
    return text[:budget_chars]


def format_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the model sees of the conversation: user texts, and of each assistant turn only
    its ``type == "text"`` parts (the Space drops the reasoning)."""
    messages: list[dict[str, Any]] = []
    for item in history:
        if item["role"] == "user":
            messages.append({"role": "user", "content": item["content"]})
        elif item["role"] == "assistant":
            texts = [c["content"] for c in item["content"] if c.get("type") == "text"]
            messages.append({"role": "assistant", "content": texts[0] if texts else ""})
    return messages


def _budget_chars(spec: SpaceSpec, budget: Any) -> int:
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0:
        raise gr.Error(f"thinking_budget must be a positive number, got {budget!r}")
    return int(budget * spec.thinking_budget_unit)


async def _model_stream(spec: SpaceSpec, received: Received, enable_thinking: bool,
                        options: LaunchOptions, progress: Any,
                        ) -> AsyncIterator[tuple[str, str]]:
    """``("reasoning", text so far)`` pieces, then ``("answer", text so far)`` pieces."""
    budget = _budget_chars(spec, received.thinking_budget)
    stream = cast(AsyncGenerator[str, None],
                  reply_stream(received, options.token_delay, progress,
                               options.quota_window))
    async with contextlib.aclosing(stream) as answer:
        iterator = aiter(answer)
        try:
            first: str | None = await anext(iterator)
        except StopAsyncIteration:
            first = None
        if enable_thinking:
            text = reasoning_text(received, budget)
            for end in range(REASONING_PIECE, len(text) + REASONING_PIECE, REASONING_PIECE):
                yield "reasoning", text[:end]
                await asyncio.sleep(options.token_delay)
        if first is not None:
            yield "answer", first
            async for acc in iterator:
                yield "answer", acc


def _user_config(disabled_actions: list[str] | None = None) -> ChatbotUserConfig:
    return ChatbotUserConfig(actions=["copy", "edit", ChatbotActionConfig(
        action="delete", popconfirm={"title": "Delete the message",
                                     "okButtonProps": {"danger": True}})],
        disabled_actions=disabled_actions)


def _bot_config(disabled_actions: list[str] | None = None) -> ChatbotBotConfig:
    return ChatbotBotConfig(actions=["copy", "edit", ChatbotActionConfig(
        action="retry", popconfirm={"title": "Regenerate the message",
                                    "okButtonProps": {"danger": True}}), ChatbotActionConfig(
        action="delete", popconfirm={"title": "Delete the message",
                                     "okButtonProps": {"danger": True}})],
        disabled_actions=disabled_actions)


def _memoise_schema(model: type[BaseModel]) -> None:
    """Compute ``model``'s JSON schema once per process and hand out copies.

    Gradio 6 builds a new output component for every ``gr.update(...)`` a handler yields (the
    Space yields one per streamed piece) and asks it for its schema: about 25 ms for the pro
    chatbot's data model, more than a piece's delay, on every frame. The schema depends on the
    class only; copies, because Gradio edits the dict it gets. Nothing on the wire changes.
    """
    if getattr(model, "_replica_memoised", False):
        return
    original = model.model_json_schema
    cache: dict[Any, dict[str, Any]] = {}

    def model_json_schema(cls: type[BaseModel], *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = original(*args, **kwargs)
        return copy.deepcopy(cache[key])

    model.model_json_schema = classmethod(model_json_schema)  # type: ignore[assignment,method-assign]
    model._replica_memoised = True  # type: ignore[attr-defined]


def _pad_before_data_layout(target: int) -> None:
    """Consume ids (unrendered blocks) so that the next data-layout component gets ``target``.

    modelscope_studio 1.x's data-layout components (Sender, Chatbot) take two ids under
    Gradio 5 (their ``Component`` and ``BlockContext`` initialisers each take one, and the
    second sticks); under Gradio 6 one. The throwaway Sender measures which.
    """
    before = Context.id
    antdx.Sender(render=False)
    extra = Context.id - before - 1
    while Context.id < target - extra:
        ms.Text(render=False)
    if Context.id != target - extra:
        raise RuntimeError(f"component ids already past {target} (at {Context.id})")


def build_qwen3_app(spec: SpaceSpec, options: LaunchOptions | None = None,
                    stats: ReplicaStats | None = None) -> gr.Blocks:
    """Build the Qwen3-Demo replica. Resets Gradio's id counter: ids start at 0 per app."""
    options = options or LaunchOptions()
    stats = stats or ReplicaStats()
    _memoise_schema(ChatbotDataMessages)
    ttl = options.state_ttl
    unit = spec.thinking_budget_unit
    low, high = spec.thinking_budget_range or (unit, unit)
    default_settings = {"model": spec.default_variant, "sys_prompt": spec.default_system,
                        "thinking_budget": (spec.default_thinking_budget or high) // unit}
    model_options = [{"label": model_label(v), "value": v} for v in spec.variants]
    Context.id = 0

    with gr.Blocks(title=f"{spec.space_id} (local replica)", fill_width=True) as demo:
        state = gr.State({"conversation_contexts": {}, "conversations": [],
                          "conversation_id": ""}, time_to_live=ttl)
        with ms.Application(), antdx.XProvider(), ms.AutoLoading(), \
                antd.Row(gutter=[20, 20], wrap=False, elem_id="chatbot"):
            with antd.Col(md={"flex": "0 0 260px", "span": 24, "order": 0}, span=0, order=1), \
                    ms.Div(elem_classes="chatbot-conversations"), \
                    antd.Flex(vertical=True, gap="small"):
                with antd.Flex(align="center", gap="small"):  # the Space's logo
                    antd.Typography.Title(f"{spec.space_id} - local replica, not a real model",
                                          level=5)
                with antd.Button(value=None, color="primary", variant="filled",
                                 block=True) as add_conversation_btn:
                    ms.Text("New Conversation")
                    with ms.Slot("icon"):
                        antd.Icon("PlusOutlined")
                with antdx.Conversations(elem_classes="chatbot-conversations-list",
                                         ) as conversations, ms.Slot("menu.items"), \
                        antd.Menu.Item(label="Delete", key="delete", danger=True,
                                       ) as delete_menu_item, ms.Slot("icon"):
                    antd.Icon("DeleteOutlined")
            with antd.Col(flex=1), antd.Flex(vertical=True, gap="small"):
                chatbot = pro.Chatbot(height=0, welcome_config=ChatbotWelcomeConfig(
                    title=f"{spec.space_id} (local replica)"),
                    user_config=_user_config(), bot_config=_bot_config())
                with antdx.Suggestion(items=[]) as suggestion, ms.Slot("children"):
                    if spec.trigger_id is not None:
                        _pad_before_data_layout(spec.trigger_id)
                    with antdx.Sender(placeholder='Enter "/" to get suggestions') as input_box:
                        with ms.Slot("header"):
                            settings_header_state, settings_form = _settings_header(
                                default_settings, model_options, (low // unit, high // unit),
                                ttl)
                        with ms.Slot("prefix"), antd.Flex(gap=4, wrap=True):
                            with antd.Button(value=None, type="text") as setting_btn, \
                                    ms.Slot("icon"):
                                antd.Icon("SettingOutlined")
                            with antd.Button(value=None, type="text") as clear_btn, \
                                    ms.Slot("icon"):
                                antd.Icon("ClearOutlined")
                            thinking_state = _thinking_button(ttl)
        if spec.trigger_id is not None and input_box._id != spec.trigger_id:
            raise RuntimeError(f"input got id {input_box._id}, not {spec.trigger_id}")

        outputs_7 = [input_box, clear_btn, delete_menu_item, add_conversation_btn,
                     conversations, chatbot, state]

        def history_of(state_value: dict[str, Any]) -> list[dict[str, Any]]:
            history: list[dict[str, Any]] = state_value["conversation_contexts"][
                state_value["conversation_id"]]["history"]
            return history

        def preprocess_submit(state_value: dict[str, Any], clear_input: bool = True,
                              ) -> dict[Any, Any]:
            current = state_value["conversation_id"]
            return {
                **({input_box: gr.update(value=None, loading=True)} if clear_input else {}),
                conversations: gr.update(active_key=current, items=[
                    {**item, "disabled": item["key"] != current}
                    for item in state_value["conversations"]]),
                add_conversation_btn: gr.update(disabled=True),
                clear_btn: gr.update(disabled=True),
                delete_menu_item: gr.update(disabled=True),
                chatbot: gr.update(value=history_of(state_value),
                                   bot_config=_bot_config(["edit", "retry", "delete"]),
                                   user_config=_user_config(["edit", "delete"])),
                state: gr.update(value=state_value),
            }

        def postprocess_submit(state_value: dict[str, Any]) -> dict[Any, Any]:
            return {
                input_box: gr.update(loading=False),
                delete_menu_item: gr.update(disabled=False),
                clear_btn: gr.update(disabled=False),
                conversations: gr.update(items=state_value["conversations"]),
                add_conversation_btn: gr.update(disabled=False),
                chatbot: gr.update(value=history_of(state_value), bot_config=_bot_config(),
                                   user_config=_user_config()),
                state: gr.update(value=state_value),
            }

        async def submit(state_value: dict[str, Any], request: gr.Request | None,
                         progress: Any) -> AsyncIterator[dict[Any, Any]]:
            context = state_value["conversation_contexts"][state_value["conversation_id"]]
            history, settings = context["history"], context["settings"]
            model = settings.get("model")
            seen = format_history(history)
            received = Received(
                space_id=spec.space_id, name=spec.name, query=history[-1]["content"] or "",
                system=settings.get("sys_prompt", ""),
                history_turns=sum(1 for m in seen[:-1] if m["role"] == "user"),
                variant=model, thinking=bool(context["enable_thinking"]),
                thinking_budget=settings.get("thinking_budget", 1))
            history.append({"role": "assistant", "content": [], "key": str(uuid.uuid4()),
                            "header": model_label(model), "loading": True,
                            "status": "pending"})
            yield {chatbot: gr.update(value=history), state: gr.update(value=state_value)}
            headers = header_summary(dict(request.headers)) if request is not None else None
            stats.start({**received.__dict__, "history_len": len(seen) - 1,
                         "history": seen[:-1], "settings": settings}, headers)
            outcome = "stopped_early"  # unless we get to the end or raise ourselves
            try:
                start = time.monotonic()
                contents: list[dict[str, Any] | None] = [None, None]
                async for kind, text in _model_stream(spec, received, received.thinking or False,
                                                      options, progress):
                    if kind == "reasoning" and contents[0] is None:
                        contents[0] = {"type": "tool", "content": "", "copyable": False,
                                       "editable": False, "options": {
                                           "title": "Thinking...", "status": "pending"}}
                    if kind == "answer" and contents[1] is None:
                        if contents[0] is not None:
                            contents[0]["options"].update(
                                title=f"End of Thought ({time.monotonic() - start:.2f}s)",
                                status="done")
                        contents[1] = {"type": "text", "content": ""}
                    part = contents[0] if kind == "reasoning" else contents[1]
                    assert part is not None
                    part["content"] = text
                    history[-1]["content"] = [c for c in contents if c is not None]
                    history[-1]["loading"] = False
                    yield {chatbot: gr.update(value=history), state: gr.update(value=state_value)}
                history[-1]["status"] = "done"
                history[-1]["footer"] = f"{time.monotonic() - start:.2f}s"
                yield {chatbot: gr.update(value=history), state: gr.update(value=state_value)}
                outcome = "completed"
            except Exception as error:
                outcome = "failed"
                history[-1]["loading"] = False
                history[-1]["status"] = "done"
                history[-1]["content"] += [{"type": "text",
                                            "content": _ERROR_SPAN.format(error)}]
                yield {chatbot: gr.update(value=history), state: gr.update(value=state_value)}
                raise
            finally:
                stats.finish(outcome)

        async def add_message(input_value: str | None, settings_form_value: dict[str, Any],
                              thinking_btn_state_value: dict[str, Any],
                              state_value: dict[str, Any], request: gr.Request,
                              progress: gr.Progress = gr.Progress(),  # noqa: B008
                              ) -> AsyncIterator[dict[Any, Any]]:
            if not state_value["conversation_id"]:
                conversation_id = str(uuid.uuid4())
                state_value["conversation_id"] = conversation_id
                state_value["conversation_contexts"][conversation_id] = {"history": []}
                state_value["conversations"].append({"label": input_value,
                                                     "key": conversation_id})
            history = history_of(state_value)
            state_value["conversation_contexts"][state_value["conversation_id"]] = {
                "history": history, "settings": settings_form_value,
                "enable_thinking": thinking_btn_state_value["enable_thinking"]}
            history.append({"role": "user", "content": input_value, "key": str(uuid.uuid4())})
            yield preprocess_submit(state_value)
            async for chunk in _then_postprocess(submit(state_value, request, progress),
                                                 state_value):
                yield chunk

        async def _then_postprocess(chunks: AsyncIterator[dict[Any, Any]],
                                    state_value: dict[str, Any],
                                    ) -> AsyncIterator[dict[Any, Any]]:
            """The Space's ``finally: yield postprocess_submit(...)``, except when the client
            left (an async generator cannot yield while it is being closed)."""
            try:
                async for chunk in chunks:
                    yield chunk
            except Exception:
                yield postprocess_submit(state_value)
                raise
            yield postprocess_submit(state_value)

        async def regenerate_message(settings_form_value: dict[str, Any],
                                     thinking_btn_state_value: dict[str, Any],
                                     state_value: dict[str, Any], e: gr.EventData,
                                     request: gr.Request,
                                     progress: gr.Progress = gr.Progress(),  # noqa: B008
                                     ) -> AsyncIterator[dict[Any, Any]]:
            index = e._data["payload"][0]["index"]
            history = history_of(state_value)[:index]
            state_value["conversation_contexts"][state_value["conversation_id"]] = {
                "history": history, "settings": settings_form_value,
                "enable_thinking": thinking_btn_state_value["enable_thinking"]}
            yield preprocess_submit(state_value, clear_input=False)
            async for chunk in _then_postprocess(submit(state_value, request, progress),
                                                 state_value):
                yield chunk

        def cancel(state_value: dict[str, Any]) -> dict[Any, Any]:
            history = history_of(state_value)
            history[-1].update(loading=False, status="done", footer="Chat completion paused")
            return postprocess_submit(state_value)

        def delete_message(state_value: dict[str, Any], e: gr.EventData) -> Any:
            index = e._data["payload"][0]["index"]
            history = history_of(state_value)
            state_value["conversation_contexts"][state_value["conversation_id"]]["history"] = (
                history[:index] + history[index + 1:])
            return gr.update(value=state_value)

        def edit_message(state_value: dict[str, Any], chatbot_value: list[dict[str, Any]],
                         e: gr.EventData) -> Any:
            index = e._data["payload"][0]["index"]
            history_of(state_value)[index]["content"] = chatbot_value[index]["content"]
            return gr.update(value=state_value)

        def select_suggestion(input_value: str, e: gr.EventData) -> Any:
            return gr.update(value=input_value[:-1] + e._data["payload"][0])

        def apply_prompt(e: gr.EventData) -> Any:
            return gr.update(value=e._data["payload"][0]["value"]["description"])

        def new_chat(thinking_btn_state: dict[str, Any], state_value: dict[str, Any]) -> Any:
            if not state_value["conversation_id"]:
                return gr.skip()
            state_value["conversation_id"] = ""
            thinking_btn_state["enable_thinking"] = True
            return (gr.update(active_key=""), gr.update(value=None),
                    gr.update(value=default_settings), gr.update(value=thinking_btn_state),
                    gr.update(value=state_value))

        def select_conversation(thinking_btn_state_value: dict[str, Any],
                                state_value: dict[str, Any], e: gr.EventData) -> Any:
            active_key = e._data["payload"][0]
            contexts = state_value["conversation_contexts"]
            if state_value["conversation_id"] == active_key or active_key not in contexts:
                return gr.skip()
            state_value["conversation_id"] = active_key
            thinking_btn_state_value["enable_thinking"] = contexts[active_key]["enable_thinking"]
            return (gr.update(active_key=active_key),
                    gr.update(value=contexts[active_key]["history"]),
                    gr.update(value=contexts[active_key]["settings"]),
                    gr.update(value=thinking_btn_state_value), gr.update(value=state_value))

        def click_conversation_menu(state_value: dict[str, Any], e: gr.EventData) -> Any:
            conversation_id = e._data["payload"][0]["key"]
            if e._data["payload"][1]["key"] != "delete":
                return gr.skip()
            del state_value["conversation_contexts"][conversation_id]
            state_value["conversations"] = [c for c in state_value["conversations"]
                                            if c["key"] != conversation_id]
            if state_value["conversation_id"] != conversation_id:
                return (gr.update(items=state_value["conversations"]), gr.skip(),
                        gr.update(value=state_value))
            state_value["conversation_id"] = ""
            return (gr.update(items=state_value["conversations"], active_key=""),
                    gr.update(value=None), gr.update(value=state_value))

        def toggle_settings_header(header_state_value: dict[str, Any]) -> Any:
            header_state_value["open"] = not header_state_value["open"]
            return gr.update(value=header_state_value)

        def clear_conversation_history(state_value: dict[str, Any]) -> Any:
            if not state_value["conversation_id"]:
                return gr.skip()
            history_of(state_value).clear()
            return gr.update(value=None), gr.update(value=state_value)

        def update_browser_state(state_value: dict[str, Any]) -> Any:
            return gr.update(value={"conversations": state_value["conversations"],
                                    "conversation_contexts": state_value["conversation_contexts"]})

        def apply_browser_state(browser_state_value: dict[str, Any],
                                state_value: dict[str, Any]) -> Any:
            state_value["conversations"] = browser_state_value["conversations"]
            state_value["conversation_contexts"] = browser_state_value["conversation_contexts"]
            return (gr.update(items=browser_state_value["conversations"]),
                    gr.update(value=state_value))

        # Listeners 0-3 were registered inside the settings header and the thinking button.
        browser_state = gr.BrowserState({"conversation_contexts": {}, "conversations": []},
                                        storage_key="qwen3_demo_replica_storage")
        state.change(update_browser_state, [state], [browser_state])  # 4
        demo.load(apply_browser_state, [browser_state, state], [conversations, state])  # 5
        session_outputs = [conversations, chatbot, settings_form, thinking_state, state]
        add_conversation_btn.click(new_chat, [thinking_state, state], session_outputs)  # 6
        conversations.active_change(select_conversation, [thinking_state, state],
                                    session_outputs)  # 7
        conversations.menu_click(click_conversation_menu, [state],
                                 [conversations, chatbot, state])  # 8
        chatbot.welcome_prompt_select(apply_prompt, outputs=[input_box])  # 9
        chatbot.delete(delete_message, [state], [state])  # 10
        chatbot.edit(edit_message, [state, chatbot], [state])  # 11
        regenerating = chatbot.retry(regenerate_message, [settings_form, thinking_state, state],
                                     outputs_7)  # 12
        submitting = input_box.submit(add_message,  # 13
                                      [input_box, settings_form, thinking_state, state],
                                      outputs_7, api_name=spec.api_name)
        input_box.cancel(cancel, [state],  # 14, and its cancel dependency 15
                         [input_box, delete_menu_item, clear_btn, conversations,
                          add_conversation_btn, chatbot, state],
                         cancels=[submitting, regenerating], queue=False)
        setting_btn.click(toggle_settings_header, [settings_header_state],
                          [settings_header_state])  # 16
        clear_btn.click(clear_conversation_history, [state], [chatbot, state])  # 17
        suggestion.select(select_suggestion, [input_box], [input_box])  # 18

    demo.queue(default_concurrency_limit=options.concurrency_limit, max_size=options.max_size)
    demo.replica_stats = stats
    return cast(gr.Blocks, demo)


def _settings_header(default_settings: dict[str, Any], model_options: list[dict[str, Any]],
                     budget_range: tuple[int, int], ttl: float | None) -> tuple[Any, Any]:
    """The Sender's header: the settings form (listeners 0 and 1)."""
    header_state = gr.State({"open": True}, time_to_live=ttl)
    with antdx.Sender.Header(title="Settings", open=True) as settings_header, \
            antd.Form(value=default_settings) as settings_form:
        with antd.Form.Item(form_name="model", label="Chat Model"):
            antd.Select(options=model_options)
        with antd.Form.Item(form_name="thinking_budget", label="Thinking Budget"):
            antd.Slider(min=budget_range[0], max=budget_range[1])
            antd.InputNumber(min=budget_range[0], max=budget_range[1], addon_after="k")
        with antd.Form.Item(form_name="sys_prompt", label="System Prompt"):
            antd.Input.Textarea(auto_size={"minRows": 3, "maxRows": 6})

    def close_header(state_value: dict[str, Any]) -> Any:
        state_value["open"] = False
        return gr.update(value=state_value)

    header_state.change(lambda value: gr.update(open=value["open"]), [header_state],
                        [settings_header])  # 0
    settings_header.open_change(close_header, [header_state], [header_state])  # 1
    return header_state, settings_form


def _thinking_button(ttl: float | None) -> Any:
    """The thinking switch: a state and the button whose click toggles it (listeners 2, 3).

    The click is not queued, so a client reaches it with ``POST {api_prefix}/run/predict``
    ``{"fn_index": 3, "data": [null], "session_hash": …}``.
    """
    thinking_state = gr.State({"enable_thinking": True}, time_to_live=ttl)
    with antd.Button("Thinking", shape="round", color="primary",
                     variant="solid") as thinking_btn, ms.Slot("icon"):
        antd.Icon("SunOutlined")

    def toggle_thinking(state_value: dict[str, Any]) -> Any:
        state_value["enable_thinking"] = not state_value["enable_thinking"]
        return gr.update(value=state_value)

    def apply_state_change(state_value: dict[str, Any]) -> Any:
        return gr.update(variant="solid" if state_value["enable_thinking"] else "")

    thinking_state.change(apply_state_change, [thinking_state], [thinking_btn])  # 2
    thinking_btn.click(toggle_thinking, [thinking_state], [thinking_state], queue=False)  # 3
    return thinking_state


"""The Qwen2.5 Space's layout (and Qwen2.5-Coder's, inferred to be the same).

Rebuilt from ``/work/shared/docs/qwen-space-layouts.md`` ("Qwen/Qwen2.5"): the same blocks
in the same order, so Gradio hands out the real ids (textbox 25, chatbot 24) and the real
listener order (0-2 the size radios' ``change``, 3 ``textbox.submit`` = ``model_chat``,
4 Send = ``model_chat_1``, 5 clear, 6 modify system, 7 the hidden radio's ``change``).

The chatbot is modelscope_studio's legacy ``mgr.Chatbot`` itself on Gradio 4 (0.5.x), so
items travel as its full ``MultimodalMessage`` dicts both ways and the handler gets what
its ``preprocess`` hands over (``MultimodalMessage`` models or None). Gradio 6 has no
legacy component (modelscope_studio 2.x dropped them): there the stock ``gr.Chatbot``
stands in, with Gradio 6's messages.

Qwen2.5-Coder-demo: clients call it exactly like Qwen2.5 (``model_chat``, same inputs,
answer at ``data[1][0][1]``), so its ids are *inferred* to be Qwen2.5's: this same layout
with the Coder sizes in the size radio. Its other two radios hold their ids, hidden.
"""

from typing import Any, cast

import gradio as gr

from qwen_spaces.catalog import SpaceSpec

from .app import LaunchOptions, _keep, _make_handler, expect_id, expect_listener
from .compat import chatbot_kwargs, hidden_listener_kwargs, modelscope_legacy
from .stats import ReplicaStats

__all__ = ["build_qwen25"]

#: The radios beside the size radio (Qwen2.5's Math and Coder models). A Space without
#: them (Coder, inferred) gets hidden, empty radios in their place to keep the ids.
_SIDE_RADIOS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "qwen-2.5": (("Math-72B", "Math-7B", "Math-1.5B"), ("Coder-7B", "Coder-1.5B")),
}


def _chatbot(spec: SpaceSpec) -> Any:
    mgr = modelscope_legacy()
    if mgr is not None:
        return mgr.Chatbot(label=spec.space_id)
    return gr.Chatbot(label=spec.space_id, **chatbot_kwargs(spec.history_format))


def build_qwen25(spec: SpaceSpec, options: LaunchOptions, stats: ReplicaStats) -> gr.Blocks:
    """The Blocks of Qwen2.5 / Qwen2.5-Coder; ids in comments are the real Space's."""
    side = _SIDE_RADIOS.get(spec.name)
    with gr.Blocks(title=f"{spec.space_id} (local replica)") as demo:
        gr.Markdown(f"## {spec.space_id} - local replica, not a real model")  # 1
        with gr.Row():  # 2
            with gr.Row():  # 3
                radio1 = gr.Radio(choices=list(spec.variants), value=spec.default_variant,
                                  label=spec.space_id)  # 4, form 5
            with gr.Row():  # 6
                radio2 = gr.Radio(choices=list(side[0]) if side else [], value=None,
                                  label="Math", visible=side is not None)  # 7, form 8
            with gr.Row():  # 9
                radio3 = gr.Radio(choices=list(side[1]) if side else [], value=None,
                                  label="Coder", visible=side is not None)  # 10, form 11
        # The chosen size, the endpoint's ``variant`` input.
        radio = gr.Radio(choices=list(spec.variants), value=spec.default_variant,
                         visible=False)  # 12
        with gr.Row(), gr.Accordion("About", open=False):  # 13, 14
            gr.Markdown("A local replica: a deterministic fake model, no Qwen.")  # 15
        with gr.Row():  # 16
            with gr.Column(scale=3):  # 17
                system_input = gr.Textbox(value=spec.default_system, label="System",
                                          visible=False)  # 18, form 19
            with gr.Column(scale=1):  # 20
                modify_system = gr.Button("Set system prompt and clear history",
                                          visible=False)  # 21
            system_state = gr.Textbox(value=spec.default_system, visible=False)  # 22, form 23
        chatbot = _chatbot(spec)  # 24
        textbox = gr.Textbox(lines=1, label="Input")  # 25
        with gr.Row():  # 26
            clear = gr.Button("Clear history")  # 27
            send = gr.Button("Send", variant="primary")  # 28
        for block, wanted in ((radio, 12), (system_state, 22), (chatbot, 24),
                              (textbox, spec.trigger_id), (send, 28)):
            expect_id(block, wanted)

        helper = {"queue": False, **hidden_listener_kwargs()}
        for size_radio in (radio1, radio2, radio3):  # listeners 0-2
            size_radio.change(_keep, [size_radio], [radio], **helper)
        handler = _make_handler(spec, options, stats)
        inputs = [textbox, chatbot, system_state, radio]
        outputs = [textbox, chatbot, system_input]
        expect_listener(demo, spec.fn_index)
        textbox.submit(handler, inputs, outputs, api_name=spec.api_name,  # listener 3
                       concurrency_limit=options.concurrency_limit)
        send.click(handler, inputs, outputs, api_name=f"{spec.api_name}_1",  # listener 4
                   concurrency_limit=options.concurrency_limit)
        clear.click(lambda: ("", []), None, [textbox, chatbot], **helper)  # 5
        modify_system.click(lambda s: (s, s, []), [system_input],  # 6
                            [system_state, system_input, chatbot], **helper)
        radio.change(_keep, [radio], [chatbot], **helper)  # 7
    return cast(gr.Blocks, demo)

"""The scenario switches a query can start with (no Gradio import, for CLI help).

The first group switches scenario when the query starts with it; the tool/JSON ones
(:data:`~qwen_spaces.replica.toolmodel.TOOL_DIRECTIVES`) are whole query lines, anywhere,
and act only when the system text offers tools or a response format.
"""

from .toolmodel import TOOL_DIRECTIVES

__all__ = ["DIRECTIVES"]

DIRECTIVES: dict[str, str] = {
    "/quota": "gr.Error with the ZeroGPU quota text before anything streams",
    "/error-mid": "stream a few tokens, then gr.Error('replica: simulated failure mid-stream')",
    "/crash": "a plain exception (arrives as error null: show_error=False)",
    "/slow N [D]": "the normal reply, then N lines 'tick i', D seconds apart (default 0.5)",
    "/long N": "a reply of exactly N bytes, streamed in 16 KiB chunks",
    "/echo <text>": "stream exactly <text> back in pieces of a few characters",
    "/rewrite": "show 'Thinking...' first, then replace it with the streamed reply",
    "/log": "gr.Info, gr.Warning and gr.Progress before the normal reply",
    **TOOL_DIRECTIVES,
}

"""LlamaIndex integration: the Qwen chat Spaces as ``QwenSpacesLLM``.

``from llama_index_qwen_spaces import QwenSpacesLLM``; Space status (queue, progress, logs)
reaches LlamaIndex instrumentation handlers as ``QwenSpacesStatusEvent``.
"""

from .base import QwenSpacesLLM
from .events import QwenSpacesStatusEvent, StatusDisplay

__all__ = ["QwenSpacesLLM", "QwenSpacesStatusEvent", "StatusDisplay"]

"""Which catalog Spaces a replica serves on which Gradio generation.

A replica runs the component code the real Space runs where that code exists for the
generation: modelscope_studio's legacy chatbot only exists for Gradio 4/5 (0.5.x), its "pro"
chatbot from 1.x (Gradio 4.43-5) and 2.x (Gradio 6). ``"6"`` runs under this interpreter;
the others in side environments (``scripts/legacy_env.py``). ``"5"`` (Gradio 5.29 with
modelscope_studio 1.2.2) is there for Qwen3-Demo, which ran Gradio 5; it serves only that
Space, to keep the suite fast.
"""

from __future__ import annotations

from qwen_spaces.catalog import CATALOG

__all__ = ["GENERATIONS", "served_on"]

#: Every generation the replicas run on, newest first.
GENERATIONS: tuple[str, ...] = ("6", "5", "4.44.1")

_NOT_ON: dict[str, frozenset[str]] = {
    # Qwen3-Demo ran Gradio 5; this env's modelscope_studio 0.5.2 has no "pro" chatbot.
    "4.44.1": frozenset({"qwen-3"}),
}
#: Generations that serve only these Spaces.
_ONLY: dict[str, frozenset[str]] = {
    "5": frozenset({"qwen-3"}),
}


def served_on(generation: str) -> list[str]:
    """The catalog names a replica set of ``generation`` serves, in catalog order."""
    if generation not in GENERATIONS:
        raise ValueError(f"no replicas for Gradio {generation!r}; known: {GENERATIONS}")
    skip = _NOT_ON.get(generation, frozenset())
    only = _ONLY.get(generation)
    return [name for name in CATALOG
            if name not in skip and (only is None or name in only)]

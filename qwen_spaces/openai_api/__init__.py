"""An OpenAI-compatible endpoint over the core: every Qwen Space for any OpenAI client.

The third adapter, beside LangChain's and LlamaIndex's: ``POST /v1/chat/completions``
(streamed or not, tools, images, Qwen3 reasoning, cancellation), ``GET /v1/models`` and
``GET /health``, on aiohttp's server. :func:`create_app` returns the
``aiohttp.web.Application`` (mountable in another app); ``qwen-spaces api`` serves it.

Modules: :mod:`.requests` (an OpenAI body -> the core's turns and settings),
:mod:`.encoding` (events -> ``chat.completion`` / chunk bytes), :mod:`.errors` (every failure
as OpenAI's error shape and status), :mod:`.images` (image URLs, fetched from public https
hosts only), :mod:`.jobs` (a request's Space job: slots, the client watched),
:mod:`.completions` (the handler), :mod:`.app` (routes, key, CORS, log, models, health),
:mod:`.runner` (the command).
"""

from .app import ApiSettings, create_app, model_ids
from .errors import ApiError

__all__ = ["ApiError", "ApiSettings", "create_app", "model_ids"]

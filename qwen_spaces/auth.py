"""Where the HF token comes from, where it may go, and how secrets are shown.

The token is found as Hugging Face's own tools find it (``huggingface_hub.get_token``),
without depending on them:

1. ``$HF_TOKEN`` (then the legacy ``$HUGGING_FACE_HUB_TOKEN``, which ``huggingface_hub``
   still reads, so a machine set up years ago keeps working);
2. the file ``hf auth login`` saves: ``$HF_TOKEN_PATH``, else ``$HF_HOME/token``, else
   ``$XDG_CACHE_HOME/huggingface/token``, by default ``~/.cache/huggingface/token``.

The token's scope is an *origin*: scheme, host and port. It goes to the Space's own origin
only, never to another port, never over plain http after https, never to image hosts.

Secrets are masked wherever this package prints something: URLs lose their userinfo
(``https://***@proxy:3128``) and every extra header value is shown as ``***`` (headers are
where people put cookies, ``Authorization`` and API keys; the names are kept, so a repr
still says *which* headers are set).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["TOKEN_HELP", "find_token", "image_url_only", "locate_token", "mask_headers",
           "mask_url", "masked_settings", "origin_of", "token_path"]

#: Where a token comes from, for error messages and ``--help``.
TOKEN_HELP = ("set HF_TOKEN, log in once with `hf auth login` (the token is then read from "
              "$HF_TOKEN_PATH or $HF_HOME/token, by default ~/.cache/huggingface/token), "
              "or pass hf_token=")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def token_path(environ: Mapping[str, str] | None = None) -> Path:
    """The file ``hf auth login`` writes the token to, as ``huggingface_hub`` computes it."""
    env = os.environ if environ is None else environ
    if env.get("HF_TOKEN_PATH"):
        return Path(env["HF_TOKEN_PATH"]).expanduser()
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache",
                                              "huggingface")
    return Path(home).expanduser() / "token"


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\r", "").replace("\n", "").strip()
    return value or None


def locate_token(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(token, where it came from)``, or ``None`` when no token is configured.

    ``where`` is ``"$HF_TOKEN"``, ``"$HUGGING_FACE_HUB_TOKEN"`` or the token file's path;
    it is safe to print (it never contains the token).
    """
    env = os.environ if environ is None else environ
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        token = _clean(env.get(name))
        if token is not None:
            return token, f"${name}"
    path = token_path(env)
    try:
        token = _clean(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None  # no file (not logged in) or unreadable: run without a token
    return (token, str(path)) if token is not None else None


def find_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The HF token from the environment or the saved login, or ``None``."""
    found = locate_token(environ)
    return found[0] if found else None


def origin_of(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL (default ports filled in), else ``None``."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def mask_url(url: str) -> str:
    """The URL with any ``user:password@`` replaced by ``***@`` (the rest unchanged)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def mask_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Header names with every value replaced by ``***``."""
    return {name: "***" for name in (headers or {})}


def masked_settings(proxy: str | None,
                    headers: Mapping[str, str] | None) -> list[tuple[str, object]]:
    """The ``proxy`` and ``headers`` settings as an adapter's repr shows them: credentials
    and header values masked, absent settings left out."""
    items: list[tuple[str, object]] = []
    if proxy:
        items.append(("proxy", mask_url(proxy)))
    if headers:
        items.append(("headers", mask_headers(headers)))
    return items


def image_url_only(url: str, what: str) -> str:
    """An adapter's image ``url`` must be http(s) or ``data:``: a local path given there would
    otherwise be read from disk and uploaded to the Space. Nothing is looked up on disk, so
    the error says nothing about which files exist. (Local files go through explicit APIs:
    bytes, LlamaIndex ``ImageBlock(path=)``, the core's ``Path`` inputs.)"""
    text = url.strip()
    scheme = text.partition(":")[0].lower() if ":" in text else ""
    if scheme in ("http", "https", "data"):
        return text
    raise ValueError(
        f"{what} must be an http(s) URL or a data: URI, not {mask_url(text)[:60]!r}; to send "
        "a local file, pass its bytes (or, in LlamaIndex, ImageBlock(path=...))")

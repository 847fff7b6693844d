"""Catalog resolution and the neutral chat mapping (all offline, all before any request)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from qwen_spaces import CATALOG, SpaceClient, Turn, resolve_model
from qwen_spaces.chat import encode_history, prepare_chat
from qwen_spaces.images import ImageData, RemoteImage, image_from, inspect_image
from tests import captures

TINY_PNG = captures.path("6.31.0", "tiny.png").read_bytes()

ALIASES = {
    "qwen-2-72b": ["qwen-qwen2-72b-instruct", "Qwen/Qwen2-72B-Instruct"],
    "qwen-2.5": ["qwen-qwen2-5", "QWEN-2.5"],
    "qwen-2.5-max": ["qwen-2-5-max", "qwen-qwen2-5-max"],
    "qvq-72b": ["qwen-qvq-72b-preview"],
    "qwen-3": ["qwen3", "Qwen/Qwen3-Demo", "qwen-qwen3-demo"],
    "qwen-2.5-1m": ["qwen2.5-1m", "Qwen/Qwen2.5-1M-Demo"],
    "qwen-2.5-coder": ["qwen2.5-coder", "Qwen/Qwen2.5-Coder-demo"],
}


@pytest.mark.parametrize(("name", "aliases"), ALIASES.items())
def test_names_and_aliases_resolve(name: str, aliases: list[str]) -> None:
    for alias in [name, *aliases]:
        assert resolve_model(alias).spec is CATALOG[name]


def test_seed_spaces_pinned_values() -> None:
    rows = {n: (s.space_id, s.url, s.api_prefix, s.api_name, s.fn_index, s.trigger_id, s.inputs)
            for n, s in CATALOG.items()}
    assert rows == {
        "qwen-2-72b": ("Qwen/Qwen2-72B-Instruct", "https://qwen-qwen2-72b-instruct.hf.space",
                       "", "model_chat", 0, 11, ("query", "history", "system")),
        "qwen-2.5": ("Qwen/Qwen2.5", "https://qwen-qwen2-5.hf.space", "", "model_chat", 3, 25,
                     ("query", "history", "system", "variant")),
        "qwen-2.5-max": ("Qwen/Qwen2.5-Max-Demo", "https://qwen-qwen2-5-max-demo.hf.space",
                         "/gradio_api", "model_chat", 0, 11, ("query", "history", "system")),
        "qvq-72b": ("Qwen/QVQ-72B-preview", "https://qwen-qvq-72b-preview.hf.space",
                    "/gradio_api", "generate", 0, None, ("image", "query")),
        # The recorded requests (../shared/docs/qwen-space-layouts.md):
        "qwen-3": ("Qwen/Qwen3-Demo", "https://qwen-qwen3-demo.hf.space", "/gradio_api",
                   "add_message", 13, 31, ("query", "settings", "thinking", "session")),
        "qwen-2.5-1m": ("Qwen/Qwen2.5-1M-Demo", "https://qwen-qwen2-5-1m-demo.hf.space", "",
                        "bot", 2, 5, ("history", "state", "state")),
        "qwen-2.5-coder": ("Qwen/Qwen2.5-Coder-demo", "https://qwen-qwen2-5-coder-demo.hf.space",
                           "", "model_chat", 3, 25, ("query", "history", "system", "variant")),
    }
    prelude = CATALOG["qwen-2.5-1m"].prelude
    assert prelude is not None
    assert (prelude.fn_index, prelude.trigger_id, prelude.inputs) == (
        1, 5, ("message", "history", "state"))
    assert CATALOG["qwen-3"].reply_output == 5
    assert CATALOG["qwen-2.5"].api_open is False
    assert CATALOG["qwen-2.5-max"].default_system == "You are a helpful assistant."


def test_variants() -> None:
    assert CATALOG["qwen-2.5"].variants == ("72B", "32B", "14B", "7B", "3B", "1.5B", "0.5B")
    assert resolve_model("qwen-2.5-7b").variant == "7B"
    assert resolve_model("qwen-2.5", variant="1.5b").variant == "1.5B"
    assert resolve_model("qwen-2.5").variant == "72B"
    # Qwen3's variants are the Space's model ids; names drop the "qwen3-" stem.
    assert resolve_model("qwen-3-32b").variant == "qwen3-32b"
    assert resolve_model("qwen3-30b-a3b").model_name == "qwen-3-30b-a3b"
    assert resolve_model("qwen-3", variant="0.6b").variant == "qwen3-0.6b"
    assert resolve_model("qwen-3", variant="Qwen3-14B").model_name == "qwen-3-14b"
    assert resolve_model("qwen-3").model_name == "qwen-3"
    with pytest.raises(ValueError, match="no variant"):
        resolve_model("qwen-2.5", variant="9000B")
    with pytest.raises(ValueError, match="Unknown Qwen Space model 'gpt-4'"):
        resolve_model("gpt-4")


def chat(model: str, msgs: list[dict[str, object]], **kw: object):  # type: ignore[no-untyped-def]
    return prepare_chat(resolve_model(model), msgs, **kw)  # type: ignore[arg-type]


def test_mapping_system_history_query() -> None:
    p = chat("qwen-2.5-max", [
        {"role": "system", "content": "A"}, {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"}, {"role": "system", "content": "B"},
        {"role": "user", "content": "q2"}, {"role": "user", "content": "q2b"}])
    assert p.system == "A\n\nB"
    assert p.history == (("user", "q1"), ("assistant", "a1"))
    assert p.query == "q2\n\nq2b"
    assert chat("qwen-2.5-max", [{"role": "user", "content": "x"}]).system == \
        "You are a helpful assistant."
    assert chat("qwen-2.5-max", [{"role": "user", "content": "x"}],
                system_prompt="S").system == "S"


def test_history_wire_formats() -> None:
    hist = (("user", "q1"), ("assistant", "a1"), ("assistant", "a2"), ("user", "q3"))
    assert encode_history(hist[:2], "tuples") == [["q1", "a1"]]
    assert encode_history((("assistant", "hello"), ("user", "q")), "tuples") == \
        [[None, "hello"], ["q", None]]
    # modelscope_studio's legacy chatbot: every field of its item, as its own page sends.
    legacy = {"id": None, "elem_id": None, "elem_classes": None, "name": None,
              "flushing": None, "avatar": "", "files": []}
    assert encode_history(hist[:2], "tuples", "ms_legacy") == \
        [[{**legacy, "text": "q1"}, {**legacy, "text": "a1"}]]
    assert encode_history(hist[:2], "messages") == [{"role": "user", "content": "q1"},
                                                    {"role": "assistant", "content": "a1"}]
    assert encode_history(hist[:1], "parts") == [
        {"role": "user", "content": [{"type": "text", "text": "q1"}]}]


def test_space_without_history_gets_a_flattened_transcript() -> None:
    p = chat("qvq-72b", [{"role": "system", "content": "Be terse."},
                         {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
                         {"role": "user", "content": "q2"}])
    assert p.query == "System: Be terse.\n\nUser: q1\n\nAssistant: a1\n\nUser: q2"
    assert p.history == () and p.system is None
    assert chat("qvq-72b", [{"role": "user", "content": "only"}]).query == "only"


@pytest.mark.parametrize(("msgs", "match"), [
    ([], "empty"),
    ([{"role": "system", "content": "s"}], "only system"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "end with a user"),
    ([{"role": "function", "content": "42"}, {"role": "user", "content": "q"}], "role 'function'"),
    ([{"role": "user", "content": "   "}], "empty"),
    ([{"role": "user", "content": ["block"]}], "must be text"),
])
def test_bad_conversations_are_rejected(msgs: list[dict[str, object]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        chat("qwen-2-72b", msgs)


def test_image_rules() -> None:
    with pytest.raises(ValueError, match=r"text-only model.*qvq-72b"):
        chat("qwen-2.5", [{"role": "user", "content": "what?", "images": [TINY_PNG]}])
    with pytest.raises(ValueError, match="at most 1 image"):
        chat("qvq-72b", [{"role": "user", "content": "what?", "images": [TINY_PNG, TINY_PNG]}])
    p = chat("qvq-72b", [Turn("user", "", (TINY_PNG,))])
    assert isinstance(p.images[0], ImageData) and p.images[0].mime_type == "image/png"


def test_image_inputs(tmp_path: Path) -> None:
    mime, w, h = inspect_image(TINY_PNG)
    assert mime == "image/png" and w > 0 and h > 0
    f = tmp_path / "pic.png"
    f.write_bytes(TINY_PNG)
    uri = "data:image/png;base64," + base64.b64encode(TINY_PNG).decode()
    for src in (TINY_PNG, f, str(f), uri):
        img = image_from(src, max_bytes=10**6)
        assert isinstance(img, ImageData) and img.data == TINY_PNG
    assert image_from("https://example.org/a.png", max_bytes=1) == \
        RemoteImage("https://example.org/a.png")
    for bad, match in [("file:///etc/passwd", "scheme 'file'"), ("ftp://x/y.png", "scheme 'ftp'"),
                       (b"GIF89a", "truncated|corrupt"), (b"hello world", "unsupported image"),
                       (TINY_PNG[:40], "corrupt"), (b"", "empty"),
                       ("data:image/png,notbase64", "base64"), (str(tmp_path / "no.png"),
                                                                "does not exist")]:
        with pytest.raises(ValueError, match=match):
            image_from(bad, max_bytes=10**6)
    with pytest.raises(ValueError, match="limit"):
        image_from(TINY_PNG, max_bytes=10)


def test_client_rejects_bad_input_before_any_request() -> None:
    # Port 9 (discard) on loopback: any request would fail with a connection error instead.
    client = SpaceClient(base_urls={"qwen-2-72b": "http://127.0.0.1:9"})
    for kwargs, match in [
        ({"model": "nope", "messages": [{"role": "user", "content": "x"}]}, "Unknown"),
        ({"model": "qwen-2-72b", "messages": []}, "empty"),
        ({"model": "qwen-2-72b", "messages": [{"role": "user", "content": "x"}],
          "base_url": "127.0.0.1:7860"}, "scheme"),
    ]:
        with pytest.raises(ValueError, match=match):
            client.astream(**kwargs)
        with pytest.raises(ValueError, match=match):
            client.stream(**kwargs)
    with pytest.raises(ValueError, match="scheme"):
        SpaceClient(base_urls={"qwen-2.5": "localhost:7860"})


def test_token_never_in_repr() -> None:
    client = SpaceClient(hf_token="hf_supersecret123")
    assert "hf_supersecret123" not in repr(client)
    assert "hf_supersecret123" not in repr(client.transport.token)
    # The scope is the Space's origin (its base URL); a bare host name matches nothing.
    assert client.transport.headers("https://x.hf.space/config", "https://x.hf.space")[
        "X-HF-Authorization"] == "Bearer hf_supersecret123"
    for url, scope in [("https://evil.example/x", "https://x.hf.space"),
                       ("http://x.hf.space/config", "https://x.hf.space"),
                       ("https://x.hf.space:8443/config", "https://x.hf.space"),
                       ("https://x.hf.space/config", "x.hf.space")]:
        assert "X-HF-Authorization" not in client.transport.headers(url, scope)

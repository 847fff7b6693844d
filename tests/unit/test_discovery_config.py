"""Discovery from synthetic ``/config`` documents: every field of the SpaceAPI it builds,
and the drift checks that stop a call when the live Space no longer fits the catalog.

The drift errors are what a user sees when a Space changes under them: they name the
Space (in the text and ``.space``), the endpoint, and what to do.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from qwen_spaces import SpaceProtocolError
from qwen_spaces.catalog import SpaceSpec
from qwen_spaces.discovery import SpaceAPI, parse_config, pinned_api

SPEC = SpaceSpec(name="m", space_id="Org/Chat", url="https://org-chat.hf.space",
                 api_name="chat", fn_index=3, trigger_id=9, api_prefix="/gradio_api",
                 inputs=("query", "history", "system"), outputs=("textbox", "chatbot"),
                 reply_output=1, reply_kind="chatbot", history_item="ms_legacy",
                 api_open=True)
BASE = "https://org-chat.hf.space"


def config(inputs: list[str], outputs: list[str], *, version: Any = "5.9.1",
           dep: dict[str, Any] | None = None, props: dict[str, Any] | None = None,
           **top: Any) -> dict[str, Any]:
    comps = [{"id": 100 + i, "type": t, "props": dict(props or {})} for i, t in
             enumerate(inputs)]
    comps += [{"id": 200 + i, "type": t} for i, t in enumerate(outputs)]
    deps: list[Any] = [
        "junk",
        {"id": 4, "api_name": "other", "inputs": [], "outputs": []},
        {"id": 7, "api_name": "/chat", "targets": [[12, "submit"], [13, "click"]],
         "inputs": [100 + i for i in range(len(inputs))],
         "outputs": [200 + i for i in range(len(outputs))], **(dep or {})},
    ]
    return {"version": version, "protocol": "sse_v3", "dependencies": deps,
            "components": [*comps, "not a component"], **top}


CHAT = ["textbox", "chatbot", "textbox"]


def mismatch(cfg: dict[str, Any], spec: SpaceSpec = SPEC) -> str:
    with pytest.raises(SpaceProtocolError) as exc:
        parse_config(spec, BASE, cfg)
    assert exc.value.space == "Org/Chat"
    text = str(exc.value)
    assert text.startswith("Org/Chat")
    assert "The Space changed its API; update qwen-spaces or report it." in text
    assert text.endswith("update qwen-spaces or report it.")
    return text


def test_every_field_comes_from_the_live_config() -> None:
    cfg = config(CHAT, ["textbox", "chatbot"], max_file_size=5_000_000,
                 root=BASE + "/--replicas/ab1/", api_prefix="/gradio_api/")
    api = parse_config(SPEC, BASE, cfg)
    assert api == SpaceAPI(
        space="Org/Chat", root=BASE + "/--replicas/ab1", api_prefix="/gradio_api",
        protocol="sse_v3", version="5.9.1", api_name="chat", fn_index=7, trigger_id=12,
        input_roles=("query", "history", "system"), history_format="tuples",
        history_item="ms_legacy", reply_output=1, reply_kind="chatbot", diffs=True,
        use_queue=True, call_allowed=True, max_file_size=5_000_000, source="config")
    assert api.url("/queue/join") == BASE + "/--replicas/ab1/gradio_api/queue/join"
    assert api.url("queue/data") == BASE + "/--replicas/ab1/gradio_api/queue/data"


def test_describe_reports_what_a_user_needs_to_debug_a_space() -> None:
    api = dataclasses.replace(parse_config(SPEC, BASE, config(CHAT, ["textbox", "chatbot"])),
                              input_roles=("query", None))
    assert api.describe() == {
        "space": "Org/Chat", "root": BASE, "gradio_version": "5.9.1", "protocol": "sse_v3",
        "api_prefix": "(none)", "endpoint": "/chat", "fn_index": 7, "trigger_id": 12,
        "inputs": ["query", "state"], "history_format": "tuples", "source": "config"}
    assert dataclasses.replace(api, api_prefix="/p").describe()["api_prefix"] == "/p"


def test_the_pinned_api_is_the_catalog_entry_as_is() -> None:
    assert pinned_api(SPEC, BASE) == SpaceAPI(
        space="Org/Chat", root=BASE, api_prefix="/gradio_api", protocol="sse_v3",
        version=None, api_name="chat", fn_index=3, trigger_id=9,
        input_roles=("query", "history", "system"), history_format="tuples",
        history_item="ms_legacy", reply_output=1, reply_kind="chatbot", diffs=True,
        use_queue=True, call_allowed=True, max_file_size=None, source="pinned")
    no_history = dataclasses.replace(SPEC, inputs=("query",), api_open=False)
    api = pinned_api(no_history, BASE)
    assert api.history_format is None and not api.call_allowed
    msgs = dataclasses.replace(SPEC, history_format="messages")
    assert pinned_api(msgs, BASE).history_format == "messages"


@pytest.mark.parametrize(("version", "props", "fmt"), [
    ("6.0.0", {"type": "messages"}, "parts"),
    ("5.9.1", {"type": "messages"}, "messages"),
    ("4.44.1", {"type": "messages"}, "messages"),
    ("4.44.1", {"type": "tuples"}, "tuples"),
    ("4.44.1", {}, "tuples"),
    (None, {"type": "messages"}, "messages"),
    ("garbage", {}, "tuples"),
])
def test_the_history_format_follows_the_gradio_version_and_chatbot_type(
        version: Any, props: dict[str, Any], fmt: str) -> None:
    cfg = config(CHAT, ["textbox", "chatbot"], version=version, props=props)
    assert parse_config(SPEC, BASE, cfg).history_format == fmt


def test_a_chatbot_with_null_props_is_a_tuples_chatbot() -> None:
    cfg = config(CHAT, ["textbox", "chatbot"])
    for c in cfg["components"]:
        if isinstance(c, dict) and c["type"] == "chatbot":
            c["props"] = None
    assert parse_config(SPEC, BASE, cfg).history_format == "tuples"


def test_a_config_without_a_version_keeps_none() -> None:
    assert parse_config(SPEC, BASE, config(CHAT, ["t", "chatbot"], version=None)).version is None
    assert parse_config(SPEC, BASE, config(CHAT, ["t", "chatbot"], version=5)).version == "5"


def test_state_inputs_are_kept_in_place_and_count_for_nothing() -> None:
    cfg = config(["state", "textbox", "state", "chatbot", "textbox", "state"],
                 ["textbox", "chatbot"])
    api = parse_config(SPEC, BASE, cfg)
    assert api.input_roles == (None, "query", None, "history", "system", None)


def test_a_spec_without_history_has_no_history_format() -> None:
    spec = dataclasses.replace(SPEC, inputs=("query",), reply_output=0, reply_kind="text")
    api = parse_config(spec, BASE, config(["textbox"], ["textbox"]))
    assert api.history_format is None and api.input_roles == ("query",)


@pytest.mark.parametrize(("dep", "top", "diffs", "queue"), [
    ({}, {}, True, True),
    ({"connection": "stream"}, {}, False, True),
    ({"queue": False}, {}, True, False),
    ({"queue": None}, {}, True, True),
    ({}, {"enable_queue": False}, True, False),
    ({}, {"enable_queue": None}, True, True),
    ({}, {"protocol": "sse_v1"}, False, True),
])
def test_diffs_and_queue_follow_the_endpoint_and_the_app(
        dep: dict[str, Any], top: dict[str, Any], diffs: bool, queue: bool) -> None:
    api = parse_config(SPEC, BASE, config(CHAT, ["textbox", "chatbot"], dep=dep, **top))
    assert (api.diffs, api.use_queue) == (diffs, queue)


def test_call_is_allowed_only_for_an_open_spec_and_a_named_endpoint() -> None:
    cfg = config(CHAT, ["textbox", "chatbot"])
    assert parse_config(SPEC, BASE, cfg).call_allowed
    assert not parse_config(dataclasses.replace(SPEC, api_open=False), BASE, cfg).call_allowed


def test_the_fn_index_is_the_dependency_id_or_else_its_position() -> None:
    cfg = config(CHAT, ["textbox", "chatbot"])
    del cfg["dependencies"][2]["id"]
    assert parse_config(SPEC, BASE, cfg).fn_index == 2


@pytest.mark.parametrize(("targets", "trigger"), [([], None), (None, None), ([5], None),
                                                  ([[12, "submit"]], 12)])
def test_the_trigger_is_the_first_target(targets: Any, trigger: int | None) -> None:
    cfg = config(CHAT, ["textbox", "chatbot"], dep={"targets": targets})
    assert parse_config(SPEC, BASE, cfg).trigger_id == trigger


@pytest.mark.parametrize(("size", "kept"), [(10, 10), ("10", None), (None, None)])
def test_max_file_size_is_kept_only_when_it_is_a_number(size: Any, kept: int | None) -> None:
    cfg = config(CHAT, ["textbox", "chatbot"], max_file_size=size)
    assert parse_config(SPEC, BASE, cfg).max_file_size == kept


@pytest.mark.parametrize(("root", "used"), [
    ("", BASE), (None, BASE), (5, BASE), (BASE + "/x//", BASE + "/x"),
    ("http://org-chat.hf.space/x", BASE), ("https://org-chat.hf.space:8443/x", BASE),
])
def test_the_servers_root_is_used_only_on_the_same_origin(root: Any, used: str) -> None:
    assert parse_config(SPEC, BASE, config(CHAT, ["t", "chatbot"], root=root)).root == used


def test_a_missing_endpoint_lists_the_ones_there_are() -> None:
    cfg = config(CHAT, ["textbox", "chatbot"], dep={"api_name": "chat_v2"})
    text = mismatch(cfg)
    assert "no longer has the endpoint /chat (it has: /chat_v2, /other)" in text
    cfg["dependencies"] = [{"api_name": None}, "junk"]
    assert "(it has: none)" in mismatch(cfg)


def test_an_unsupported_protocol_says_which_gradio_is_needed() -> None:
    for cfg, needle in [(config(CHAT, ["t"], protocol="ws", version="3.50"), "Gradio 3.50"),
                        (config(CHAT, ["t"], protocol=None, version=None), "'ws' (Gradio 3.x)")]:
        with pytest.raises(SpaceProtocolError) as exc:
            parse_config(SPEC, BASE, cfg)
        assert exc.value.space == "Org/Chat" and needle in str(exc.value)
        assert str(exc.value).startswith("Org/Chat speaks Gradio protocol")
        assert str(exc.value).endswith(", which this client does not support (it needs "
                                       "Gradio >= 4.9)")


@pytest.mark.parametrize("key", ["dependencies", "components"])
def test_a_config_without_dependencies_or_components_is_a_protocol_error(key: str) -> None:
    cfg = config(CHAT, ["textbox", "chatbot"])
    cfg[key] = {}
    with pytest.raises(SpaceProtocolError) as exc:
        parse_config(SPEC, BASE, cfg)
    assert exc.value.space == "Org/Chat" and "/config has no dependencies" in str(exc.value)


def test_an_extra_input_is_a_mismatch_naming_the_live_inputs() -> None:
    text = mismatch(config([*CHAT, "slider"], ["textbox", "chatbot"]))
    assert "the live /chat endpoint no longer matches the catalog" in text
    assert "(the number of inputs changed; live inputs: ['textbox', 'chatbot', 'textbox', " \
        "'slider']" in text
    assert "catalog expects: ['query', 'history', 'system']" in text


def test_a_missing_input_is_a_mismatch() -> None:
    assert "the number of inputs changed" in mismatch(config(CHAT[:2], ["textbox", "chatbot"]))


def test_an_input_of_unknown_id_is_named_with_a_question_mark() -> None:
    cfg = config(CHAT, ["textbox", "chatbot"])
    cfg["dependencies"][2]["inputs"].append(999)
    assert "'textbox', '?']" in mismatch(cfg)


def test_history_in_a_non_chatbot_input_is_a_mismatch() -> None:
    text = mismatch(config(["textbox", "textbox", "textbox"], ["textbox", "chatbot"]))
    assert "input 1 is a 'textbox', expected the chatbot" in text


def test_a_chatbot_subclass_is_still_a_chatbot() -> None:
    api = parse_config(SPEC, BASE, config(["textbox", "multimodalchatbot", "textbox"],
                                          ["textbox", "mychatbot"]))
    assert api.input_roles == ("query", "history", "system")


def test_a_missing_answer_output_is_a_mismatch() -> None:
    assert "(the answer output is missing; live inputs" in mismatch(config(CHAT, ["textbox"]))


def test_an_answer_output_that_is_not_a_chatbot_is_a_mismatch() -> None:
    assert "output 1 is a 'textbox'" in mismatch(config(CHAT, ["textbox", "textbox"]))
    cfg = config(CHAT, ["textbox", "chatbot"])
    cfg["dependencies"][2]["outputs"][1] = 999
    assert "output 1 is a None" in mismatch(cfg)
    text_spec = dataclasses.replace(SPEC, reply_kind="text")
    assert parse_config(text_spec, BASE, config(CHAT, ["t", "textbox"])).reply_kind == "text"


def test_an_endpoint_without_inputs_or_outputs_lists_is_a_mismatch_not_a_crash() -> None:
    cfg = config(CHAT, ["textbox", "chatbot"])
    del cfg["dependencies"][2]["inputs"]
    assert "number of inputs changed" in mismatch(cfg)
    cfg = config(CHAT, ["textbox", "chatbot"])
    del cfg["dependencies"][2]["outputs"]
    assert "answer output is missing" in mismatch(cfg)


def test_only_slashes_are_trimmed_from_the_root_the_prefix_and_the_route() -> None:
    cfg = config(CHAT, ["textbox", "chatbot"], root=BASE + "/--replicas/abX/",
                 api_prefix="/gradio_apiX/")
    api = parse_config(SPEC, BASE, cfg)
    assert api.url("/Xq") == BASE + "/--replicas/abX/gradio_apiX/Xq"

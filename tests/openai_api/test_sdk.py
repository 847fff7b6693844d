"""The endpoint through the official openai SDK, validating every answer's shape strictly
(``_strict_response_validation=True``), against the real runner and the replica Spaces."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from qwen_spaces.openai_api import model_ids
from qwen_spaces.replica import ReplicaSet

from .conftest import IMAGES, ApiServer, fields, image_uri

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two integers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                    "b": {"type": "integer"}},
                   "required": ["a", "b"]}}}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# -- models -----------------------------------------------------------------------------------
def test_models_list_every_name_and_variant_and_aliases_resolve(api: ApiServer) -> None:
    client = api.sdk()
    listed = [m.id for m in client.models.list()]
    assert listed == model_ids()
    assert {"qwen-2.5", "qwen-2.5-7b", "qwen-2.5-max", "qvq-72b", "qwen-3",
            "qwen-3-32b"} <= set(listed)
    assert "qwen-2.5-72b" not in listed  # the default size is the plain name
    for alias in ("Qwen/Qwen2.5", "qwen2.5-max", "qwen-2.5-7b", "QVQ"):
        assert client.models.retrieve(alias).id == alias  # echoed as the caller wrote it
    # a literal slash, as curl sends it, reaches the model route too
    got = httpx.get(f"{api.base_url}/models/Qwen/Qwen2.5", headers=api.headers())
    assert got.status_code == 200 and got.json()["id"] == "Qwen/Qwen2.5"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-4o")
    assert info.value.body["code"] == "model_not_found"
    assert "qwen-2.5-max" in info.value.body["message"]


# -- chat -------------------------------------------------------------------------------------
def test_a_multi_turn_chat_with_a_system_prompt(api: ApiServer, replicas: ReplicaSet) -> None:
    client = api.sdk()
    reply = client.chat.completions.create(model="Qwen/Qwen2.5", messages=[
        {"role": "developer", "content": "Answer in one word."},
        user("Name a colour."), {"role": "assistant", "content": "Blue."},
        user("Another one?")], temperature=0.2, top_p=0.9, seed=7, n=1, user="u-1",
        metadata={"k": "v"}, store=False, logprobs=False, frequency_penalty=0.5)
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == "Qwen/Qwen2.5"
    assert reply.id.startswith("chatcmpl-") and reply.usage is None
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    got = fields(choice.message.content or "")
    assert (got["system"], got["history_turns"], got["query"]) == (
        "Answer in one word.", "1", "Another one?")
    sent = replicas.stats("qwen-2.5")["last_request"]
    assert sent["history_turns"] == 1 and sent["system"] == "Answer in one word."


def test_streamed_deltas_join_to_the_non_streamed_text(api: ApiServer) -> None:
    client = api.sdk()
    messages = [{"role": "system", "content": "Be brief."}, user("Hello there, stream me.")]
    plain = client.chat.completions.create(model="qwen-2.5-max", messages=messages)
    chunks = list(client.chat.completions.create(model="qwen-2.5-max", messages=messages,
                                                 stream=True))
    pieces = [c.choices[0].delta.content or "" for c in chunks]
    assert sum(1 for p in pieces if p) > 5  # it streamed, in pieces
    assert "".join(pieces) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:])
    assert len({c.id for c in chunks}) == 1


def test_the_sdks_own_message_objects_go_back_as_history(api: ApiServer,
                                                         replicas: ReplicaSet) -> None:
    client = api.sdk()
    history: list[Any] = [user("My name is Ada.")]
    first = client.chat.completions.create(model="qwen-2.5-max", messages=history)
    history += [first.choices[0].message, user("What is my name?")]
    # Everything the SDK keeps on its message object, nulls included, is sent back.
    echoed = first.choices[0].message.model_dump()
    assert {"refusal", "tool_calls", "annotations", "audio"} <= set(echoed)
    second = client.chat.completions.create(model="qwen-2.5-max", messages=history)
    assert fields(second.choices[0].message.content or "")["history_turns"] == "1"
    raw = replicas.stats("qwen-2.5-max")["last_request"]["history"]  # Gradio 6 messages
    assert [(m["role"], m["content"][0]["text"]) for m in raw] == [
        ("user", "My name is Ada."), ("assistant", first.choices[0].message.content)]
    # A message carrying reasoning (as qwen-3 answers arrive) is accepted and not sent on.
    third = client.chat.completions.create(model="qwen-2.5-max", messages=[
        user("hi"), {"role": "assistant", "content": "Hello!", "refusal": None,
                     "tool_calls": None, "reasoning_content": "they greet",
                     "reasoning": "they greet", "annotations": [], "audio": None},
        user("again")])
    assert "they greet" not in str(replicas.stats("qwen-2.5-max")["last_request"])
    assert third.choices[0].finish_reason == "stop"


# -- images ----------------------------------------------------------------------------------
def _digest(name: str) -> str:
    return hashlib.sha256((IMAGES / name).read_bytes()).hexdigest()[:12]


def test_images_go_to_qvq_latest_only_and_are_refused_elsewhere(api: ApiServer) -> None:
    client = api.sdk()

    def image_turn(text: str, name: str) -> dict[str, Any]:
        return {"role": "user", "content": [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": image_uri(name), "detail": "low"}}]}

    reply = client.chat.completions.create(model="qvq-72b", messages=[
        image_turn("What is this?", "gif87a_6x4.gif"), {"role": "assistant", "content": "A GIF."},
        image_turn("And this?", "png_3x2.png")])
    got = fields(reply.choices[0].message.content or "")
    assert got["image"] == f"PNG 3x2 sha256:{_digest('png_3x2.png')}"  # the latest only
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="qwen-2.5-max",
                                       messages=[image_turn("What is this?", "png_3x2.png")])
    assert "qwen-2.5-max" in info.value.body["message"]
    assert "cannot see images" in info.value.body["message"]


@pytest.mark.parametrize("url", ["https://127.0.0.1:9/cat.png", "https://localhost:9/cat.png",
                                 "https://[::1]:9/cat.png", "https://10.1.2.3/cat.png",
                                 "https://169.254.169.254/latest/meta-data"])
def test_an_image_on_a_private_address_is_refused(api: ApiServer, url: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        api.sdk().chat.completions.create(model="qvq-72b", messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}}]}])
    assert info.value.body["code"] == "image_url_refused"
    assert "private, loopback or link-local" in info.value.body["message"]


@pytest.mark.parametrize("url", ["http://example.com/cat.png", "file:///etc/passwd",
                                 "/etc/passwd"])
def test_image_urls_must_be_https_or_data(api: ApiServer, url: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        api.sdk().chat.completions.create(model="qvq-72b", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}]}])
    assert info.value.body["code"] == "invalid_image_url"
    assert "https: URLs or data: URIs" in info.value.body["message"]


# -- tools -------------------------------------------------------------------------------------
def test_a_tools_round_trip_auto_required_parallel_then_results(api: ApiServer) -> None:
    client = api.sdk()
    question = [user("What is the weather in 'Paris'?")]
    auto = client.chat.completions.create(model="qwen-2.5-max", messages=question,
                                          tools=[WEATHER, ADD], tool_choice="auto")
    choice = auto.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "[replica] calling get_weather"  # the text it wrote
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Paris"}'  # a JSON string, as OpenAI's

    required = client.chat.completions.create(model="qwen-2.5-max", messages=[user("Hi!")],
                                              tools=[ADD, WEATHER], tool_choice="required")
    assert [c.function.name for c in required.choices[0].message.tool_calls or []] == ["add"]
    named = client.chat.completions.create(
        model="qwen-2.5-max", messages=[user("Hi!")], tools=[ADD, WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert [c.function.name for c in named.choices[0].message.tool_calls or []] == [
        "get_weather"]

    both = [user("Add 40 and 2, then the weather in 'Zürich'.")]
    parallel = client.chat.completions.create(model="qwen-2.5-max", messages=both,
                                              tools=[ADD, WEATHER])
    calls = parallel.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("add", '{"a": 40, "b": 2}'), ("get_weather", '{"city": "Zürich"}')]
    one = client.chat.completions.create(model="qwen-2.5-max", messages=both,
                                         tools=[ADD, WEATHER], parallel_tool_calls=False)
    assert [c.function.name for c in one.choices[0].message.tool_calls or []] == ["add"]

    # The SDK's message with its calls goes back, then one tool message per call.
    history: list[Any] = [*both, parallel.choices[0].message,
                          {"role": "tool", "tool_call_id": calls[1].id, "content": "sunny"},
                          {"role": "tool", "tool_call_id": calls[0].id,
                           "content": [{"type": "text", "text": "42"}]}]
    answer = client.chat.completions.create(model="qwen-2.5-max", messages=history,
                                            tools=[ADD, WEATHER])
    assert answer.choices[0].finish_reason == "stop"
    # results go back in call order, whatever order they were appended in
    assert "tool results received: 42; sunny" in (answer.choices[0].message.content or "")


def test_streamed_tool_calls_accumulate_in_the_sdk(api: ApiServer) -> None:
    client = api.sdk()
    with client.chat.completions.stream(
            model="qwen-2.5-max", tools=[ADD, WEATHER],
            messages=[user("Add 40 and 2, then the weather in 'Zürich'.")]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.role == "assistant"
    assert [(c.id[:5], c.function.name, c.function.arguments)
            for c in choice.message.tool_calls or []] == [
        ("call_", "add", '{"a": 40, "b": 2}'), ("call_", "get_weather", '{"city": "Zürich"}')]


class Person(BaseModel):
    name: str
    age: int


def test_json_schema_is_parsed_by_the_sdks_parse_helper(api: ApiServer) -> None:
    client = api.sdk()
    done = client.chat.completions.parse(model="qwen-2.5-max", response_format=Person,
                                         messages=[user('"Ada Lovelace" was 36.')])
    assert done.choices[0].message.parsed == Person(name="Ada Lovelace", age=36)
    assert done.choices[0].finish_reason == "stop"
    assert done.choices[0].message.tool_calls is None
    # streamed: the content is the bare JSON, built from the schema call as it streams
    with client.chat.completions.stream(model="qwen-2.5-max", response_format=Person,
                                        messages=[user('"Grace Hopper" was 85.')]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Person(name="Grace Hopper", age=85)
    # with the caller's tools too, a call to one of them stays a tool call
    mixed = client.chat.completions.parse(
        model="qwen-2.5-max", response_format=Person, tools=[openai.pydantic_function_tool(
            Weather)], messages=[user("What is the weather in 'Rome'?")])
    (call,) = mixed.choices[0].message.tool_calls or []
    assert call.function.name == "Weather" and call.function.parsed_arguments == Weather(
        city="Rome")
    assert mixed.choices[0].message.content is None  # never prose under json_schema
    assert mixed.choices[0].finish_reason == "tool_calls"


class Weather(BaseModel):
    """The weather in a city."""

    city: str


def test_json_object_asks_for_json_in_the_prompt(api: ApiServer) -> None:
    reply = api.sdk().chat.completions.create(model="qwen-2.5-max", messages=[user("hi")],
                                              response_format={"type": "json_object"})
    assert reply.choices[0].message.content == '{"answer": "hi"}'


# -- reasoning (Qwen3) ------------------------------------------------------------------------
def test_qwen3_reasoning_streamed_and_not_and_switched_off(api: ApiServer) -> None:
    client = api.sdk()
    question = [user("Why is the sky blue?")]
    plain = client.chat.completions.create(model="qwen-3", messages=question)
    message = plain.choices[0].message
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == extra["reasoning"]
    assert "Why is the sky blue?" in extra["reasoning"]
    assert extra["reasoning"] not in (message.content or "")
    assert fields(message.content or "")["thinking"] == "on"

    chunks = list(client.chat.completions.create(model="qwen-3", messages=question,
                                                 stream=True))
    thought = [(c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
               for c in chunks if c.choices]
    assert sum(1 for t in thought if t) > 3  # streamed in pieces, before the answer
    assert "".join(thought) == "".join((c.choices[0].delta.model_extra or {}).get(
        "reasoning") or "" for c in chunks if c.choices)
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Why is the sky blue?" in "".join(thought) and "<think>" not in answer

    # The SDK's message, reasoning fields and all, goes back: the Space's session continues
    # and only the new message is sent (the thinking is not sent back).
    again = client.chat.completions.create(model="qwen-3", messages=[
        *question, message, user("And at sunset?")])
    got = fields(again.choices[0].message.content or "")
    assert (got["query"], got["history_turns"]) == ("And at sunset?", "1")

    for switch in ({"reasoning_effort": "none"},
                   {"extra_body": {"chat_template_kwargs": {"enable_thinking": False}}},
                   {"extra_body": {"enable_thinking": False, "thinking_budget": 2000}}):
        off = client.chat.completions.create(model="qwen-3", messages=question, **switch)
        assert "reasoning" not in (off.choices[0].message.model_extra or {})
        assert fields(off.choices[0].message.content or "")["thinking"] == "off"


def test_thinking_switches_are_ignored_on_models_without_thinking(api: ApiServer) -> None:
    reply = api.sdk().chat.completions.create(
        model="qwen-2.5-max", messages=[user("hi")], reasoning_effort="high",
        extra_body={"chat_template_kwargs": {"enable_thinking": True},
                    "thinking_budget": 999999})
    assert reply.choices[0].finish_reason == "stop"


# -- errors ------------------------------------------------------------------------------------
def test_a_missing_or_wrong_key_is_a_401_and_only_that(api: ApiServer) -> None:
    for key in ("wrong-key", "none"):
        with pytest.raises(openai.AuthenticationError) as info:
            api.sdk(api_key=key).models.list()
        assert info.value.body["type"] == "authentication_error"
    bare = httpx.get(f"{api.base_url}/models")
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "missing_api_key"
    assert httpx.get(f"{api.root}/health").status_code == 401  # health is behind the key too


def test_unknown_model_is_a_404_listing_the_known_ones(api: ApiServer) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        api.sdk().chat.completions.create(model="gpt-4o", messages=[user("hi")])
    body = info.value.body
    assert body["param"] == "model" and body["code"] == "model_not_found"
    assert "qwen-2.5-max" in body["message"] and "qvq-72b" in body["message"]


@pytest.mark.parametrize(("extra", "param"), [
    ({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"top_logprobs": 3}, "top_logprobs"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio")])
def test_what_cannot_be_honoured_is_a_400_naming_the_parameter(
        api: ApiServer, extra: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        api.sdk().chat.completions.create(model="qwen-2.5", messages=[user("hi")],
                                          **extra)
    assert info.value.body["param"] == param


def test_a_body_over_the_limit_is_a_json_413(api: ApiServer) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        api.sdk(max_retries=0).chat.completions.create(
            model="qwen-2.5", messages=[user("x" * (21 * 1024 * 1024))])
    assert info.value.status_code == 413
    assert info.value.body["code"] == "request_too_large"
    assert "--max-body" in info.value.body["message"]


def test_a_zerogpu_quota_is_a_429_with_retry_after(api: ApiServer) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        api.sdk().chat.completions.create(model="qwen-2.5", messages=[user("/quota")])
    assert info.value.response.headers["Retry-After"] == "600"  # "Try again in 0:10:00"
    assert info.value.body["code"] == "zerogpu_quota"
    assert "ZeroGPU quota" in info.value.body["message"]
    # an error before the first text gets its real status when streamed, too
    with pytest.raises(openai.RateLimitError):
        list(api.sdk().chat.completions.create(model="qwen-2.5", messages=[user("/quota")],
                                               stream=True))


def test_an_error_mid_stream_is_an_error_event(api: ApiServer) -> None:
    stream = api.sdk().chat.completions.create(model="qwen-2.5", stream=True,
                                               messages=[user("/error-mid")])
    got: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got).startswith("[local replica")  # text came first
    assert not isinstance(info.value, openai.APIStatusError)
    assert info.value.code == "space_app_error"
    assert "simulated failure mid-stream" in str(info.value)

"""The Qwen3 generation and the newer Qwen2.5 Spaces through the core, against replicas that
run the Spaces' own modelscope_studio components: Qwen3-Demo on Gradio 5 and 6 (thinking,
settings, the conversation in the Space's session), Qwen2.5-1M's two-step turn and
Qwen2.5-Coder on Gradio 4.44.1 and 6."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest

from qwen_spaces import Finished, ReasoningDelta, SpaceClient, StreamEvent, TextDelta
from qwen_spaces.replica import ReplicaSet


@pytest.fixture
def qwen3(qwen3_replicas: ReplicaSet) -> ReplicaSet:
    """Qwen3-Demo's replica on each Gradio generation its component exists for (6 and 5)."""
    return qwen3_replicas


def client_for(reps: ReplicaSet, **kw: Any) -> SpaceClient:
    return SpaceClient(base_urls={m: reps.url(m) for m in reps.models}, read_env_token=False,
                       **kw)


def fields(reply: str) -> dict[str, str]:
    """The fake model's ``key: value`` lines (see docs/replica.md)."""
    return dict(line.split(": ", 1) for line in reply.splitlines()[1:] if ": " in line)


async def run(client: SpaceClient, model: str, messages: list[dict[str, Any]],
              **kw: Any) -> tuple[list[StreamEvent], Finished]:
    async with aclosing(client.astream(model, messages, **kw)) as stream:
        events = [e async for e in stream]
    final = events[-1]
    assert isinstance(final, Finished)
    return events, final


def joined(events: list[StreamEvent], kind: type) -> str:
    return "".join(e.text for e in events if type(e) is kind)  # type: ignore[attr-defined]


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# -- Qwen3-Demo ------------------------------------------------------------------------------
async def test_qwen3_streams_thinking_as_reasoning_then_the_answer(qwen3: ReplicaSet) -> None:
    events, final = await run(client_for(qwen3), "qwen-3", [user("Why is the sky blue?")])
    kinds = [type(e) for e in events if type(e) in (TextDelta, ReasoningDelta)]
    first_text = kinds.index(TextDelta)
    assert first_text > 0 and ReasoningDelta not in kinds[first_text:]
    assert kinds.count(ReasoningDelta) > 3  # streamed in pieces, not in one frame
    assert joined(events, TextDelta) == final.text
    assert joined(events, ReasoningDelta) == final.reasoning
    assert "Why is the sky blue?" in final.reasoning
    assert final.text.startswith("[local replica of Qwen/Qwen3-Demo (qwen-3)")
    assert "<think>" not in final.text and final.reasoning not in final.text
    got = fields(final.text)
    assert (got["thinking"], got["thinking_budget"], got["variant"], got["system"]) == (
        "on", "38", "qwen3-235b-a22b", "You are a helpful and harmless assistant.")
    assert got["query"] == "Why is the sky blue?"
    assert final.extra["space_session"] == "new"


async def test_qwen3_settings_reach_the_space(qwen3: ReplicaSet) -> None:
    client = client_for(qwen3)
    events, final = await run(client, "qwen-3", [user("hi")], thinking=False,
                              variant="qwen3-32b", system_prompt="Answer in French.")
    assert not any(isinstance(e, ReasoningDelta) for e in events) and final.reasoning == ""
    got = fields(final.text)
    assert (got["thinking"], got["variant"], got["system"]) == (
        "off", "qwen3-32b", "Answer in French.")
    _, final = await run(client, "qwen-3-0.6b", [user("hi")], thinking_budget=2500)
    got = fields(final.text)
    assert (got["thinking"], got["thinking_budget"], got["variant"]) == ("on", "3", "qwen3-0.6b")
    assert final.reasoning


async def test_thinking_on_a_space_without_it_fails_before_any_request(
        replicas: ReplicaSet) -> None:
    client = client_for(replicas)
    before = replicas.stats("qwen-2.5")["started"]
    with pytest.raises(ValueError, match=r"qwen-2\.5 has no thinking switch"):
        client.astream("qwen-2.5", [user("hi")], thinking=False)
    assert replicas.stats("qwen-2.5")["started"] == before


async def test_a_conversation_continues_in_the_spaces_session(qwen3: ReplicaSet) -> None:
    client = client_for(qwen3)
    _, first = await run(client, "qwen-3", [user("My name is Ada.")], thinking=False)
    history = [user("My name is Ada."), assistant(first.text)]
    _, second = await run(client, "qwen-3", [*history, user("What is my name?")],
                          thinking=False)
    got = fields(second.text)
    # Only the new message went out; the Space's session held the first turn.
    assert (got["query"], got["history_turns"]) == ("What is my name?", "1")
    assert second.extra["space_session"] == "continued"
    # Another branch from the same first turn: that session moved on, so this one starts
    # afresh with the earlier turns flattened into its message.
    _, branch = await run(client, "qwen-3", [*history, user("Spell my name.")],
                          thinking=False)
    got = fields(branch.text)
    assert got["history_turns"] == "0" and branch.extra["space_session"] == "new"
    assert (f"query: User: My name is Ada.\n\nAssistant: {first.text}\n\n"
            "User: Spell my name.") in branch.text


async def test_two_calls_extending_one_transcript_at_once_split(qwen3: ReplicaSet) -> None:
    client = client_for(qwen3)
    _, first = await run(client, "qwen-3", [user("start")], thinking=False)
    history = [user("start"), assistant(first.text)]
    results = await asyncio.gather(*(
        run(client, "qwen-3", [*history, user(q)], thinking=False) for q in ("left", "right")))
    modes = sorted(final.extra["space_session"] for _, final in results)
    assert modes == ["continued", "new"]


async def test_thinking_is_switched_per_call_on_a_continued_session(qwen3: ReplicaSet) -> None:
    client = client_for(qwen3)
    _, first = await run(client, "qwen-3", [user("one")], thinking=False)
    assert fields(first.text)["thinking"] == "off"
    events, second = await run(client, "qwen-3", [user("one"), assistant(first.text),
                                                  user("two")])
    assert second.extra["space_session"] == "continued"
    assert fields(second.text)["thinking"] == "on" and second.reasoning
    assert any(isinstance(e, ReasoningDelta) for e in events)


async def test_a_session_the_space_lost_is_resent_flattened(qwen3: ReplicaSet) -> None:
    """The Space drops idle sessions. To the Space, a lost session is a session hash it does
    not know, so the remembered session's hash is swapped for a new one."""
    client = client_for(qwen3)
    _, first = await run(client, "qwen-3", [user("remember 42")], thinking=False)
    transcript = (("user", "remember 42"), ("assistant", first.text))
    session = client.sessions.take(("qwen-3", qwen3.url("qwen-3")), transcript)
    assert session is not None
    session.session_hash = "forgotten01"
    client.sessions.give_back(("qwen-3", qwen3.url("qwen-3")), session)
    events, second = await run(client, "qwen-3", [user("remember 42"), assistant(first.text),
                                                  user("what number?")], thinking=False)
    got = fields(second.text)
    assert got["history_turns"] == "0" and "User: remember 42" in second.text
    assert second.extra["space_session"] == "new"
    # Nothing of the abandoned attempt reached the caller.
    assert joined(events, TextDelta) == second.text


# -- Qwen2.5-1M and Qwen2.5-Coder ------------------------------------------------------------
CONVERSATION = [user("first question"), assistant("first answer"), user("second question")]


async def test_1m_two_step_turn_streams_exact_deltas_without_placeholder_or_footer(
        any_replicas: ReplicaSet) -> None:
    events, final = await run(client_for(any_replicas), "qwen-2.5-1m", CONVERSATION)
    assert joined(events, TextDelta) == final.text
    assert final.text.startswith("[local replica of Qwen/Qwen2.5-1M-Demo (qwen-2.5-1m)")
    assert "Qwen is thinking" not in final.text and "<summary>" not in final.text
    got = fields(final.text)
    assert (got["history_turns"], got["query"]) == ("1", "second question")
    stats = any_replicas.stats("qwen-2.5-1m")
    assert stats["last_request"]["query"] == "second question"


async def test_coder_takes_sizes_system_and_history(any_replicas: ReplicaSet) -> None:
    events, final = await run(client_for(any_replicas), "qwen-2.5-coder-7b",
                              [{"role": "system", "content": "You write Python."},
                               *CONVERSATION])
    assert joined(events, TextDelta) == final.text
    got = fields(final.text)
    assert (got["variant"], got["system"], got["history_turns"]) == (
        "7B", "You write Python.", "1")
    if any_replicas.generation == "4.44.1":  # modelscope_studio's legacy chatbot
        def item(text: str) -> dict[str, Any]:
            return {"id": None, "elem_id": None, "elem_classes": None, "name": None,
                    "text": text, "flushing": None, "avatar": "", "files": []}

        sent = any_replicas.stats("qwen-2.5-coder")["last_request"]["history"]
        assert sent == [[item("first question"), item("first answer")]]


async def test_a_session_that_really_expired_is_resent_flattened(replica_factory: Any) -> None:
    """Gradio 6 deletes a session's states ``time_to_live`` after their last write (Gradio
    5.29 never does: tests/replica/test_qwen3_replica.py), so there the Space really forgets."""
    reps = replica_factory(models=["qwen-3"], generation="6", state_ttl=1, token_delay=0.001)
    client = client_for(reps)
    _, first = await run(client, "qwen-3", [user("remember 7")], thinking=False)
    await asyncio.sleep(3)  # TTL 1 s; Gradio sweeps expired states once a second
    events, second = await run(client, "qwen-3", [user("remember 7"), assistant(first.text),
                                                  user("which number?")], thinking=False)
    assert fields(second.text)["history_turns"] == "0" and "User: remember 7" in second.text
    assert second.extra["space_session"] == "new"
    assert joined(events, TextDelta) == second.text
    # The re-sent call's session is remembered in turn and continues normally.
    _, third = await run(client, "qwen-3", [user("remember 7"), assistant(first.text),
                                            user("which number?"), assistant(second.text),
                                            user("again?")], thinking=False)
    assert third.extra["space_session"] == "continued"
    assert fields(third.text)["history_turns"] == "1"

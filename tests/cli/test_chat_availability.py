"""``qwen-spaces chat`` when a Space is asleep or down: it waits for a waking Space and shows
the Hub's stages on stderr; ``--fallback`` moves the question to the next model before the
first word and says so; when every model is down, one line lists each with its reason.
Against the replicas (real Gradio), a closed port, and the fake Hub with a Space's front
while it is not serving (``tests/fake_hub.py``, which says what they are based on)."""

from __future__ import annotations

from qwen_spaces.replica import ReplicaSet
from tests.cli.test_cli import cli
from tests.cli.test_status import CLOSED, _env
from tests.fake_hub import FakeHub, SleepingFront

#: How failover words a refused connection (Linux's text for it).
DEAD = f"unreachable: cannot connect to {CLOSED} ([Errno 111] Connect call failed ('127.0.0.1', 9))"

COPY = "someone/qwen-copy"


async def test_a_sleeping_space_is_woken_with_its_stages_shown(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    hub.set_stages(COPY, ["SLEEPING", "BUILDING", "APP_STARTING", "RUNNING"])
    async with SleepingFront(hub, COPY, replicas.url("qwen-2.5")) as front:
        code, out, err = await cli("chat", "hi", "-m", "qwen-2.5", "--base-url", front.url,
                                   "--space-id", COPY,
                                   env={**_env(hub=hub.url), "QWEN_SPACES_STATUS": "1"})
    assert code == 0, err
    assert out.startswith("[local replica of Qwen/Qwen2.5 (qwen-2.5)") and "query: hi" in out
    waking = [line for line in err.splitlines() if line.startswith("[⏰ waking")]
    assert [w.split(",")[0] for w in waking] == [f"[⏰ waking {COPY}: BUILDING",
                                                 f"[⏰ waking {COPY}: APP_STARTING"]
    assert waking[0].endswith("(waits up to 300 s)]")


async def test_a_paused_space_fails_at_once_or_falls_back(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    hub.set_stages(COPY, ["PAUSED"])
    async with SleepingFront(hub, COPY, replicas.url("qwen-2.5")) as front:
        args = ("chat", "hi", "-m", "qwen-2.5", "--base-url", front.url, "--space-id", COPY)
        code, out, err = await cli(*args, env=_env(hub=hub.url))
        assert code == 5 and out == "", err
        assert err == (f"error: {COPY} paused by its owner; it will not come back by waiting. "
                       "Use another model (--fallback) or duplicate the Space\n")
        code, out, err = await cli(*args, "--fallback", "qwen-2-72b",
                                   env=_env(replicas, hub=hub.url))
        assert code == 0 and "(qwen-2-72b)" in out, err
        assert err == "[answered by qwen-2-72b (Qwen/Qwen2-72B-Instruct); skipped qwen-2.5: " \
            "not serving (stage PAUSED)]\n"
        assert [path for path, _ in front.seen] == ["/config", "/config"]  # once per call


async def test_a_space_still_building_after_wake_timeout_fails(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    hub.set_stages(COPY, ["BUILDING"])
    async with SleepingFront(hub, COPY, replicas.url("qwen-2.5")) as front:
        code, out, err = await cli("chat", "hi", "-m", "qwen-2.5", "--base-url", front.url,
                                   "--space-id", COPY, "--wake-timeout", "1",
                                   env=_env(hub=hub.url))
    assert code == 5 and out == "", err
    assert err.startswith(f"error: {COPY} is still BUILDING after waiting 1 s") and \
        "(--wake-timeout=1); try again later, raise --wake-timeout, or use another model " \
        "(--fallback)" in err and err.count("\n") == 1


async def test_fallback_answers_and_says_which_model_did(replicas: ReplicaSet) -> None:
    env = {**_env(replicas, **{"qwen-2.5-max": CLOSED}), "QWEN_SPACES_STATUS": "1"}
    code, out, err = await cli("chat", "hi", "-m", "qwen-2.5-max", "--fallback", "qwen-2.5",
                               "--fallback", "qwen-2-72b", env=env)
    assert code == 0, err
    assert out.startswith("[local replica of Qwen/Qwen2.5 (qwen-2.5)") and "query: hi" in out
    lines = err.splitlines()
    assert f"[↷ qwen-2.5-max skipped ({DEAD}); trying qwen-2.5]" in lines
    # After the answer: which model answered, and why the one before it did not.
    assert lines[-1] == f"[answered by qwen-2.5 (Qwen/Qwen2.5); skipped qwen-2.5-max: {DEAD}]"


async def test_only_an_answer_from_a_fallback_is_labelled(replicas: ReplicaSet) -> None:
    # Status lines are for terminals (or QWEN_SPACES_STATUS); the answer's source is not.
    env = _env(replicas, **{"qwen-2.5-max": CLOSED})
    code, _, err = await cli("chat", "hi", "-m", "qwen-2.5-max", "--fallback", "qwen-2.5",
                             env=env)
    assert code == 0 and "trying" not in err and err.startswith("[answered by qwen-2.5 ")
    code, _, err = await cli("chat", "hi", "-m", "qwen-2.5", "--fallback", "qwen-2-72b",
                             env=env)
    assert code == 0 and err == ""  # the first model answered: nothing to say


async def test_every_model_down_is_one_line_listing_each(replicas: ReplicaSet) -> None:
    env = _env(replicas, **{"qwen-2.5-max": CLOSED, "qwen-2.5": CLOSED})
    code, out, err = await cli("chat", "hi", "-m", "qwen-2.5-max", "--fallback", "qwen-2.5",
                               env=env)
    assert code == 5 and out == "", err
    assert err == ("error: no Space in the chain could answer: qwen-2.5-max "
                   f"(Qwen/Qwen2.5-Max-Demo): {DEAD}; qwen-2.5 (Qwen/Qwen2.5): "
                   f"{DEAD}. Try again later, or add other models to --fallback\n")


async def test_bad_availability_flags_exit_2() -> None:
    for args, words in ((("--wake-timeout", "0"), "error: --wake-timeout must be > 0 seconds"),
                        (("--fallback", "gpt-9"), "error: Unknown Qwen Space model 'gpt-9'"),
                        (("--space-id", "nope"), "error: space_id must look like owner/name")):
        code, out, err = await cli("chat", "hi", *args, env=_env())
        assert code == 2 and out == "" and err.startswith(words), err
        assert err.count("\n") == 1

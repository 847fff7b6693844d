"""``qwen-spaces chat`` when a Space is down: ``--fallback`` moves the question to the next
model before the first word and says so on stderr; when every model is down, one line
lists each with its reason. Against the replicas (real Gradio) and a closed port."""

from __future__ import annotations

from qwen_spaces.replica import ReplicaSet
from tests.cli.test_cli import cli
from tests.cli.test_status import CLOSED, _env


async def test_fallback_answers_and_says_which_model_did(replicas: ReplicaSet) -> None:
    env = {**_env(replicas, **{"qwen-2.5-max": CLOSED}), "QWEN_SPACES_STATUS": "1"}
    code, out, err = await cli("chat", "hi", "-m", "qwen-2.5-max", "--fallback", "qwen-2.5",
                               "--fallback", "qwen-2-72b", env=env)
    assert code == 0, err
    assert out.startswith("[local replica of Qwen/Qwen2.5 (qwen-2.5)") and "query: hi" in out
    lines = err.splitlines()
    assert "[↷ qwen-2.5-max skipped (unreachable); trying qwen-2.5]" in lines
    # After the answer: which model answered, and why the one before it did not.
    assert lines[-1] == "[answered by qwen-2.5 (Qwen/Qwen2.5); skipped qwen-2.5-max: unreachable]"


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
                   "(Qwen/Qwen2.5-Max-Demo): unreachable; qwen-2.5 (Qwen/Qwen2.5): "
                   "unreachable. Try again later, or add other models to --fallback\n")


async def test_bad_availability_flags_exit_2() -> None:
    for args, words in ((("--wake-timeout", "0"), "error: --wake-timeout must be > 0 seconds"),
                        (("--fallback", "gpt-9"), "error: Unknown Qwen Space model 'gpt-9'"),
                        (("--space-id", "nope"), "error: space_id must look like owner/name")):
        code, out, err = await cli("chat", "hi", *args, env=_env())
        assert code == 2 and out == "" and err.startswith(words), err
        assert err.count("\n") == 1

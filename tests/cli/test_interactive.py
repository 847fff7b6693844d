"""``qwen-spaces chat`` without a question, driven through a real pseudo-terminal."""

from __future__ import annotations

import os
import time

from qwen_spaces.replica import ReplicaSet
from tests.cli.pty_session import PtySession, cli_argv
from tests.cli.test_cli import cli


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("QWEN_SPACES_BASE_URLS", "HF_TOKEN")} | {"TERM": "dumb"}


def test_interactive_chat_survives_errors_and_ctrl_c(replicas: ReplicaSet) -> None:
    url = replicas.url("qwen-2.5")
    before = replicas.stats("qwen-2.5")
    session = PtySession(cli_argv("chat", "-m", "qwen-2.5", "--base-url", url), _env())
    try:
        session.expect(rf"chat with qwen-2.5 \(Qwen/Qwen2.5\) at {url}\. /help for commands")
        session.expect("you> ")
        session.sendline("")  # an empty line does nothing: still here
        session.expect("you> ")
        session.sendline("/help")  # answered locally
        session.expect(r"/reset .*\n.*/system TEXT")
        session.expect("you> ")
        session.sendline("first")
        session.expect("history_turns: 0")
        session.expect("you> ")
        session.sendline("/quota")  # a Space error before any text
        session.expect(r"\nerror: [^\n]*ZeroGPU quota[^\n]*\n")
        session.expect("you> ")
        session.sendline("/error-mid")  # a Space error after some text
        session.expect(r"\nerror: [^\n]*simulated failure mid-stream[^\n]*\n")
        session.expect("you> ")
        session.sendline("/slow 20 0.2")  # about 4 s of ticks, stopped after the second
        session.expect("tick 1")
        session.interrupt()
        session.expect(r"\[stopped; this question and its partial answer are not kept\]")
        session.expect("you> ")
        session.sendline("second")  # only "first" and its answer were kept
        session.expect("history_turns: 1")
        session.expect("query: second")
        session.expect("you> ")
        session.interrupt()  # at the prompt: clears the line, does not quit
        session.expect(r"line cleared; /exit or Ctrl-D to quit")
        session.expect("you> ")
        session.eof()
        assert session.wait() == 0
    finally:
        session.close()
    assert "Traceback" not in session.buffer and "tick 19" not in session.buffer
    assert "RuntimeError" not in session.buffer
    deadline = time.monotonic() + 10
    while True:  # the stopped answer's job was cancelled on the Space
        after = replicas.stats("qwen-2.5")
        if after["stopped_early"] > before["stopped_early"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert after["stopped_early"] == before["stopped_early"] + 1
    # first, /quota, /error-mid, /slow, second: the empty line and /help never reached it
    assert after["started"] - before["started"] == 5


async def test_interactive_commands_are_local(replicas: ReplicaSet) -> None:
    lines = ["/system Be brief.", "first", "/reset", "second", "/system", "third",
             "//help me", "/exit", "never sent"]
    code, out, err = await cli("chat", "-m", "qwen-2-72b", "--base-url",
                               replicas.url("qwen-2-72b"), stdin="\n".join(lines) + "\n")
    assert code == 0, err
    first, second, third, fourth = out.split("[local replica of")[1:]
    assert "system: Be brief." in first and "history_turns: 0" in first
    assert "system: Be brief." in second and "history_turns: 0" in second  # /reset
    assert "system: You are a helpful assistant." in third and "history_turns: 1" in third
    assert "query: /help me" in fourth
    assert "never sent" not in out and "/help for commands" in err

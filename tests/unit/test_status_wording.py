"""What the status display (the adapters' display callbacks, the notebooks, the command line)
says for each status event."""

from __future__ import annotations

import pytest

from qwen_spaces import (
    ProcessStarted,
    ProgressUpdate,
    QueuePosition,
    SpaceLog,
    SpaceSkipped,
    SpaceWaking,
    StreamEvent,
    TextDelta,
)
from qwen_spaces.status import StatusLine, describe


@pytest.mark.parametrize(("event", "shown"), [
    (SpaceWaking("Qwen/Qwen2.5", "BUILDING", 40.4, 300.0),
     "⏰ waking Qwen/Qwen2.5: BUILDING, 40 s (waits up to 300 s)"),
    (SpaceSkipped("qwen-2.5-max", "Qwen/Qwen2.5-Max-Demo", "its queue is full", "qwen-2.5"),
     "↷ qwen-2.5-max skipped (its queue is full); trying qwen-2.5"),
    (QueuePosition(2, 5, 12.0), "⏳ position 2 of 5 in the queue, about 12 s"),
    (QueuePosition(None, None, None), "⏳ waiting in the queue"),
    (ProcessStarted(3.0), "▶ running (usually takes 3 s)"),
    (ProgressUpdate(({"desc": "loading", "index": 1, "length": 4},)), "… loading 1/4"),
    (SpaceLog("warning", "Waiting for a GPU"), "⚠ Waiting for a GPU"),
    (TextDelta("hi"), None),
])
def test_each_status_event_has_its_words(event: StreamEvent, shown: str | None) -> None:
    assert describe(event) == shown
    assert describe(event.as_dict()) == shown  # as LlamaIndex's events carry it


def test_the_line_writes_each_status_to_stderr_outside_jupyter(
        capsys: pytest.CaptureFixture[str]) -> None:
    line = StatusLine(prefix="[qwen-2.5] ")
    line.update(SpaceWaking("Qwen/Qwen2.5", "SLEEPING", 0.0, 300.0))
    line.update(TextDelta("not status"))
    assert line.shown == ["[qwen-2.5] ⏰ waking Qwen/Qwen2.5: SLEEPING, 0 s (waits up to 300 s)"]
    assert capsys.readouterr().err == line.shown[0] + "\n"

"""Driving a command through a real pseudo-terminal (stdlib ``pty``), as a user at a
terminal does: typed lines, Ctrl-C as the terminal's interrupt character, Ctrl-D as EOF."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from collections.abc import Sequence


class PtySession:
    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: its controlling terminal is the pty
            os.execvpe(argv[0], list(argv), env)
        self.pid, self.fd = pid, fd
        self.buffer = ""  # everything read so far
        self.pos = 0  # where the next expect() starts looking
        self.status: int | None = None

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def sendline(self, text: str) -> None:
        self.send(text + "\r")

    def interrupt(self) -> None:
        self.send("\x03")  # the terminal turns it into SIGINT for the foreground group

    def eof(self) -> None:
        self.send("\x04")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.buffer += data.decode(errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            found = regex.search(self.buffer, self.pos)
            if found:
                self.pos = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.2)):
                found = regex.search(self.buffer, self.pos)
                if found:
                    self.pos = found.end()
                    return found
                raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.buffer}")

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
        raise AssertionError(f"still running; output:\n{self.buffer}")

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "qwen_spaces.cli", *args]

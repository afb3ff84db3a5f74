"""Drive a real program on a pseudo-terminal, as a person at a keyboard would.

``PtySession`` starts the program as the session leader of a new pty (``pty.fork``), so the
terminal's line discipline turns ``\\x03`` into SIGINT and ``\\x04`` into end of input exactly
as in a shell; ``expect`` waits for text on the screen, ``wait`` for the exit status.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Sequence
from pathlib import Path

CTRL_C = b"\x03"
CTRL_D = b"\x04"
TAB = b"\t"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


class PtySession:
    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        cwd: Path,
        rows: int = 50,
        cols: int = 250,
    ) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: become the program
            try:
                os.chdir(cwd)
                os.execve(argv[0], list(argv), env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.raw = b""
        self.seen = 0  # where the next expect starts looking
        self.status: int | None = None

    @property
    def text(self) -> str:
        """Everything on the screen so far, without escape sequences and carriage returns."""
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError as exc:
            if exc.errno == errno.EIO:  # the program closed the terminal
                return False
            raise
        if not chunk:
            return False
        self.raw += chunk
        return True

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) shows after what earlier expects matched."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern, re.M).search(self.text, self.seen)
            if match:
                self.seen = match.end()
                return match
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.2)):
                match = re.compile(pattern, re.M).search(self.text, self.seen)
                if match:
                    self.seen = match.end()
                    return match
                raise AssertionError(f"{pattern!r} not seen; the screen so far:\n{self.text}")

    def send(self, data: bytes | str) -> None:
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code (128 + N for a signal), reading the screen until the program ends."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                self.close()
                raise AssertionError(f"still running after {timeout}s:\n{self.text}")
            self._read(0.1)
        while self._read(0.05):  # what is left in the terminal
            if not select.select([self.fd], [], [], 0)[0]:
                break
        code = self.status
        return 128 - code if code < 0 else code

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                self.status = os.waitstatus_to_exitcode(status)
            except ProcessLookupError:
                pass
        with contextlib.suppress(OSError):
            os.close(self.fd)

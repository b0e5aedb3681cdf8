"""The console's terminal: lines in from a person (or a pipe), lines out around the prompt."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TextIO


class Terminal:
    """Reads lines and writes them; output that arrives while a person types keeps the prompt.

    ``lock`` is held while writing: the console holds it too while it updates what it shows.
    """

    def __init__(self, stdin: TextIO, stdout: TextIO, lock: threading.RLock) -> None:
        self._in = stdin
        self._out = stdout
        self._lock = lock
        # Line editing and history when a person types; a plain transcript when piped.
        self.tty = (
            stdin is sys.stdin and stdout is sys.stdout and stdin.isatty() and stdout.isatty()
        )
        self._at_prompt = ""  # the prompt a person is typing after, if any

    def edit_lines(self) -> None:
        """Line editing and history, when a person types."""
        if self.tty:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401 - imported for its side effect: line editing

    def read(self, prompt: str) -> str | None:
        """One line, or None at the end of input."""
        if self.tty:
            self._at_prompt = prompt
            try:
                return input(prompt)
            except EOFError:
                self._at_prompt = ""
                self.say("")
                return None
            finally:
                self._at_prompt = ""
        line = self._in.readline()
        if not line:
            return None
        # Piped input is echoed after its prompt, so the output reads as a transcript.
        self.say(prompt + line.rstrip("\n"))
        return line.rstrip("\n")

    def say(self, text: str) -> None:
        with self._lock:
            if self._at_prompt:
                # Output arriving while a person types: clear the prompt line, print, and
                # put back the prompt with what was typed so far.
                self._out.write("\r\x1b[K" + text + "\n" + self._at_prompt + _line_buffer())
            else:
                self._out.write(text + "\n")
            self._out.flush()


def _line_buffer() -> str:
    try:
        import readline
    except ImportError:
        return ""
    return readline.get_line_buffer()

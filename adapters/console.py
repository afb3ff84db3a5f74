"""The console adapter: a prompt with history on a terminal, one command per line on a pipe.

Same shape as every adapter: ``to_request`` (a line of text → ``Request``), ``render_reply``
(``Reply`` → text or JSON) and ``post`` (for scheduled reports: prints to the console).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.app import App
from bot.chat import ChatUser, Dialog, DialogErrors, DialogSubmission, Reply, Request, render_marks

PLATFORM = "console"


def console_user(app: App) -> ChatUser:
    cfg = app.settings.console
    return ChatUser(PLATFORM, cfg.user_name, cfg.user_name, cfg.user_email)


def to_request(app: App, line: str) -> Request:
    text = line.strip()
    mention = False
    lowered = text.lower()
    for prefix in ("@callboard", "callboard:", "callboard,"):
        if lowered.startswith(prefix):
            text, mention = text[len(prefix) :].strip(" ,:"), True
            break
    if not text.startswith("/"):
        # A bare line is treated like a mention: phrases first ("docs for x" is not the command
        # /docs with the words "for x"), then a command typed without its slash.
        mention = True
    return Request(
        text=text,
        user=console_user(app),
        channel=app.settings.console.channel,
        platform=PLATFORM,
        mention=mention,
    )


def render_reply(reply: Reply, fmt: str = "text", terminal: bool | None = None) -> str:
    """Text (search matches in bold on a terminal, ``*word*`` elsewhere) or the Reply as JSON."""
    if fmt == "json":
        return json.dumps(reply.to_dict(), indent=2, default=str)
    if terminal is None:
        terminal = sys.stdout.isatty()
    open_, close = ("\033[1m", "\033[0m") if terminal else ("*", "*")
    return render_marks(reply.to_text(), open_, close)


class ConsolePoster:
    """Posts scheduled reports to standard output."""

    platform = PLATFORM

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    async def post(self, channel: str, reply: Reply) -> None:
        print(f"--- to {channel} ---\n{reply.to_text()}\n", file=self.out, flush=True)


class ConsoleProgress:
    """A long-running command's steps, one line each (a terminal has no message to edit)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    async def update(self, text: str) -> None:
        print(f"... {text}", file=self.out, flush=True)


Prompt = Callable[[str], Awaitable[str | None]]


async def run_dialog(app: App, dialog: Dialog, ask: Prompt, out: TextIO) -> Reply:
    """Fill a dialog at the prompt: one question per field, errors asked again."""
    values: dict[str, str] = {}
    fields = dialog.fields
    print(f"{dialog.title}", file=out)
    pending = list(fields)
    while True:
        for field in pending:
            hint = ""
            if field.choices:
                hint = " [" + "/".join(v for v, _ in field.choices) + "]"
            elif field.kind == "boolean":
                hint = " [y/n]"
            default = values.get(field.name, field.default)
            shown_default = f" ({default})" if default else ""
            answer = await ask(f"{field.label}{hint}{shown_default}: ")
            if answer is None:
                return Reply(text="Dialog cancelled.", error=True)
            answer = answer.strip()
            if not answer and default is not None:
                answer = default
            if field.kind == "boolean" and answer:
                answer = "true" if answer.lower() in ("y", "yes", "true", "1") else "false"
            values[field.name] = answer
        result = await app.dispatcher.submit(
            DialogSubmission(
                dialog.id,
                dict(values),
                console_user(app),
                None,
                PLATFORM,
                dialog.state,
                progress=ConsoleProgress(out),
            )
        )
        if isinstance(result, DialogErrors):
            for name, message in result.errors.items():
                print(f"  ! {name}: {message}", file=out)
            pending = [f for f in fields if f.name in result.errors]
            continue
        return result


class Console:
    """The interactive (or piped) console."""

    def __init__(self, app: App, inp: TextIO | None = None, out: TextIO | None = None) -> None:
        self.app = app
        self.inp = inp or sys.stdin
        self.out = out or sys.stdout
        self.interactive = self.inp.isatty() and self.out.isatty()

    async def _readline(self, prompt: str) -> str | None:
        if self.interactive:
            try:
                return await asyncio.to_thread(input, prompt)
            except EOFError:
                return None
        line: str = await asyncio.to_thread(self.inp.readline)
        if line == "":
            return None
        return line.rstrip("\n")

    async def answer(self, line: str, fmt: str = "text") -> str:
        reply = await self.app.dispatcher.dispatch(to_request(self.app, line))
        if reply.dialog is not None:
            reply = await run_dialog(self.app, reply.dialog, self._readline, self.out)
        return render_reply(reply, fmt, terminal=self.out.isatty())

    async def loop(self) -> None:
        if self.interactive:
            self._setup_history()
            print(
                f"Callboard: {self.app.catalog.count()} entities. Type /help, or ask "
                "“who owns payments-api?”. Ctrl-D quits.",
                file=self.out,
            )
        while True:
            line = await self._readline("callboard> " if self.interactive else "")
            if line is None:
                break
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.strip() in ("exit", "quit", "/quit", "/exit"):
                break
            print(await self.answer(line), file=self.out, flush=True)
            if not self.interactive:
                print(file=self.out, flush=True)

    def _setup_history(self) -> None:
        try:
            import readline
        except ImportError:  # not on every platform
            return
        history = Path(self.app.settings.data_dir) / "console_history"
        try:
            history.parent.mkdir(parents=True, exist_ok=True)
            if history.exists():
                readline.read_history_file(history)
            readline.set_history_length(1000)
            import atexit

            atexit.register(readline.write_history_file, history)
        except OSError:
            pass

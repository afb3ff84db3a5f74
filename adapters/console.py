"""The console adapter: a prompt with history on a terminal, one command per line on a pipe.

Same shape as every adapter: ``to_request`` (a line of text → ``Request``), ``render_reply``
(``Reply`` → text or JSON) and ``post`` (for scheduled reports: prints to the console).

Catalog text reaches a terminal only through ``terminal_text`` (``render_reply`` uses it):
control characters are stripped, so an ESC sequence in a description cannot spoof a
hyperlink, clear the screen or rewrite what was printed (``adapters.safe_text.clean``).

On a terminal the prompt is GNU readline's, read by ``Terminal`` in the main thread while the
event loop (the console's commands, Slack, Discord, schedules) runs in another: only the main
thread receives Ctrl-C, and only readline in the main thread can drop a half-typed line on it.
Keys: Ctrl-C clears the line (cancels a form, or a command still running), Ctrl-D quits, Tab
completes command names, options and entity names.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import contextlib
import getpass
import json
import logging
import queue
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from adapters.safe_text import clean
from bot.app import App
from bot.chat import ChatUser, Dialog, DialogErrors, DialogSubmission, Reply, Request, render_marks

log = logging.getLogger(__name__)

PLATFORM = "console"


def console_user(app: App) -> ChatUser:
    cfg = app.services.settings.console
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
        channel=app.services.settings.console.channel,
        platform=PLATFORM,
        mention=mention,
    )


def terminal_text(text: str) -> str:
    """Untrusted text as it may be printed: no control characters but newline and tab."""
    return clean(text)


def render_reply(reply: Reply, fmt: str = "text", terminal: bool | None = None) -> str:
    """Text (search matches in bold on a terminal, ``*word*`` elsewhere) or the Reply as JSON.

    JSON escapes control characters itself; text has them stripped before our own bold
    sequences are added.
    """
    if fmt == "json":
        return json.dumps(reply.to_dict(), indent=2, default=str)
    if terminal is None:
        terminal = sys.stdout.isatty()
    open_, close = ("\033[1m", "\033[0m") if terminal else ("*", "*")
    return render_marks(terminal_text(reply.to_text()), open_, close)


class ConsolePoster:
    """Posts scheduled reports to standard output."""

    platform = PLATFORM

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    async def post(self, channel: str, reply: Reply) -> None:
        text = terminal_text(reply.to_text())
        print(f"--- to {terminal_text(channel)} ---\n{text}\n", file=self.out, flush=True)


class ConsoleProgress:
    """A long-running command's steps, one line each (a terminal has no message to edit)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    async def update(self, text: str) -> None:
        print(f"... {terminal_text(text)}", file=self.out, flush=True)


Prompt = Callable[[str, bool], Awaitable[str | None]]
"""Ask one line: ``(prompt, secret)``; a secret answer is read without echo and kept out of
the history."""


class PromptInterrupted(Exception):
    """Ctrl-C at a prompt: the line typed so far is dropped."""


async def run_dialog(app: App, dialog: Dialog, ask: Prompt, out: TextIO) -> Reply:
    """Fill a dialog at the prompt: one question per field, errors asked again.

    Ctrl-D or Ctrl-C at any question cancels the dialog, and the reply says so.
    """
    try:
        return await _fill_dialog(app, dialog, ask, out)
    except PromptInterrupted:
        print(file=out)
        return Reply(text="Dialog cancelled (Ctrl-C); nothing was submitted.", error=True)


async def _fill_dialog(app: App, dialog: Dialog, ask: Prompt, out: TextIO) -> Reply:
    values: dict[str, str] = {}
    fields = dialog.fields
    print(terminal_text(dialog.title), file=out)
    for note in dialog.notes:
        print(terminal_text(f"  (note) {note}"), file=out)
    pending = list(fields)
    while True:
        for field in pending:
            hint = ""
            if field.choices:
                hint = " [" + "/".join(v for v, _ in field.choices) + "]"
            elif field.kind == "boolean":
                hint = " [y/n]"
            default = values.get(field.name, field.default)
            shown_default = f" ({'kept' if field.secret else default})" if default else ""
            answer = await ask(terminal_text(f"{field.label}{hint}{shown_default}: "), field.secret)
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
                print(terminal_text(f"  ! {name}: {message}"), file=out)
            pending = [f for f in fields if f.name in result.errors]
            continue
        return result


async def _read_line(inp: TextIO) -> str:
    """One line of ``inp``, read in a daemon thread: a read still blocked when Callboard
    stops (Ctrl-C, end of serving) must not keep the process waiting for input."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(line: str) -> None:
        if not future.done():
            future.set_result(line)

    def fail(exc: BaseException) -> None:
        if not future.done():
            future.set_exception(exc)

    def read() -> None:
        try:
            line = inp.readline()
        except BaseException as exc:  # handed to the waiting coroutine
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(fail, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, line)

    threading.Thread(target=read, name="console-read", daemon=True).start()
    return await future


class Console:
    """The interactive (or piped) console.

    With a ``terminal`` (interactive use), lines are read by it in the main thread; without,
    from ``inp`` one line at a time (a pipe, or tests).
    """

    def __init__(
        self,
        app: App,
        inp: TextIO | None = None,
        out: TextIO | None = None,
        terminal: Terminal | None = None,
    ) -> None:
        self.app = app
        self.inp = inp or sys.stdin
        self.out = out or sys.stdout
        self.terminal = terminal
        self.interactive = terminal is not None
        self._running: asyncio.Task[str] | None = None
        self._interrupted = False
        self._later: set[asyncio.Future[None]] = set()  # late parts of replies, to print
        self.finished = False

    async def _readline(self, prompt: str, secret: bool = False) -> str | None:
        if self.terminal is not None:
            return await self.terminal.ask(prompt, secret)
        line = await _read_line(self.inp)
        if line == "":
            return None
        return line.rstrip("\n")

    async def answer(self, line: str, fmt: str = "text") -> str:
        reply = await self.app.dispatcher.dispatch(to_request(self.app, line))
        if reply.dialog is not None:
            reply = await run_dialog(self.app, reply.dialog, self._readline, self.out)
        if reply.later is not None:  # printed when it comes (``_print_later``)
            task = asyncio.ensure_future(self._print_later(line, reply))
            self._later.add(task)
            task.add_done_callback(self._later.discard)
        return render_reply(reply, fmt, terminal=self.out.isatty())

    async def _print_later(self, line: str, reply: Reply) -> None:
        """A reply's late part: printed below it (a terminal cannot change what it printed)."""
        assert reply.later is not None
        try:
            update = await reply.later()
        except Exception:  # the reply is out; its addition must not take the console down
            log.exception("the late part of a reply failed")
            return
        if update is not None:
            text = f"(update to {line.strip()}) {update.added}"
            print(terminal_text(text), file=self.out, flush=True)

    def interrupt(self) -> bool:
        """Ctrl-C while a command runs: cancel it (call in the loop). False: none was running."""
        if self._running is None or self._running.done():
            return False
        self._interrupted = True
        self._running.cancel()
        return True

    async def loop(self) -> None:
        try:
            await self._loop()
            if self._later:  # input ended: the late parts still coming, then quit
                await asyncio.gather(*self._later)
        finally:
            self.finished = True

    async def _loop(self) -> None:
        if self.interactive:
            count = await self.app.services.offload(
                self.app.services.reader.count
            )  # may build the name index
            print(
                f"Callboard: {count} entities. Type /help, or ask "
                "“who owns payments-api?”. Tab completes, Ctrl-C clears the line, Ctrl-D quits.",
                file=self.out,
            )
        while True:
            try:
                line = await self._readline("callboard> " if self.interactive else "")
            except PromptInterrupted:
                print(file=self.out, flush=True)  # readline left the cursor on the dropped line
                continue
            if line is None:
                if self.interactive:
                    print(file=self.out, flush=True)  # Ctrl-D: leave the shell a clean line
                break
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.strip() in ("exit", "quit", "/quit", "/exit"):
                break
            self._running = asyncio.ensure_future(self.answer(line))
            try:
                text = await self._running
            except asyncio.CancelledError:
                if not self._interrupted:
                    raise
                self._interrupted = False
                text = "Cancelled (Ctrl-C)."
            finally:
                self._running = None
            print(text, file=self.out, flush=True)
            if not self.interactive:
                print(file=self.out, flush=True)


class Terminal:
    """Reads prompts with GNU readline in the main thread for a console running in another.

    ``ask`` (from the event loop's thread) hands a prompt to ``serve`` (the main thread),
    which reads the line with history and Tab completion. Ctrl-C at the prompt raises
    ``PromptInterrupted`` in ``ask``; Ctrl-C while no prompt is shown calls ``on_interrupt``.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self._prompts: queue.Queue[tuple[str, bool, concurrent.futures.Future[str | None]]] = (
            queue.Queue()
        )
        self._names: tuple[int, list[str], list[str]] | None = None  # index id, sorted, shown
        self._matches: list[str] = []

    async def ask(self, prompt: str, secret: bool = False) -> str | None:
        """The line typed at ``prompt``; a ``secret`` one is not echoed nor kept in history."""
        future: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        self._prompts.put((prompt, secret, future))
        return await asyncio.wrap_future(future)

    def serve(self, worker: threading.Thread, on_interrupt: Callable[[], None]) -> None:
        """Answer prompts until ``worker`` (the event loop's thread) ends. Main thread only."""
        self._setup_readline()
        while worker.is_alive():
            future: concurrent.futures.Future[str | None] | None = None
            try:
                prompt, secret, future = self._prompts.get(timeout=0.1)
                line: str | None = getpass.getpass(prompt) if secret else input(prompt)
            except queue.Empty:
                continue
            except EOFError:
                line = None
            except KeyboardInterrupt:
                if future is None:
                    on_interrupt()
                elif not future.done():
                    future.set_exception(PromptInterrupted())
                continue
            if future is not None and not future.done():
                future.set_result(line)

    # ------------------------------------------------------------ readline: history, Tab

    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # not on every platform
            return
        readline.set_completer(self.complete)
        readline.set_completer_delims(" \t\n\"'")
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        history = Path(self.app.services.settings.data_dir) / "console_history"
        try:
            history.parent.mkdir(parents=True, exist_ok=True)
            if history.exists():
                readline.read_history_file(history)
            readline.set_history_length(1000)
            import atexit

            atexit.register(readline.write_history_file, history)
        except OSError:
            pass

    def complete(self, text: str, state: int) -> str | None:
        """readline's completer: the ``state``-th completion of ``text``."""
        if state == 0:
            try:
                import readline

                line, start = readline.get_line_buffer(), readline.get_begidx()
            except ImportError:
                line, start = text, 0
            try:
                self._matches = self.completions(line[:start], text)
            except Exception:  # a completer that raises is silently dropped by readline
                self._matches = []
        return self._matches[state] if state < len(self._matches) else None

    def completions(self, before: str, text: str, limit: int = 200) -> list[str]:
        """What ``text`` may complete to, given the line ``before`` it."""
        dispatcher = self.app.dispatcher
        words = before.split()
        if not words:  # the command name
            slash = text.startswith("/")
            bare = text.lstrip("/").lower()
            names = sorted({n for spec in dispatcher.commands for n in (spec.name, *spec.aliases)})
            # With the space after it, as a shell completes a word (readline adds none here).
            lead = "/" if slash or not text else ""
            return [f"{lead}{n} " for n in names if n.startswith(bare)]
        spec = dispatcher.command(words[0])
        if text.startswith("--") and spec is not None:
            return [f"--{o.name}" for o in spec.options if f"--{o.name}".startswith(text)]
        if spec is not None and spec.args and spec.args[0].kind not in ("entity", "words"):
            if len(words) == 1 and spec.subcommands:  # /callboard st -> status
                subs = [usage.split()[0] for usage in spec.subcommands]
                return [f"{s} " for s in subs if s.startswith(text.lower())]
            return []
        return self._entity_names(text, limit)

    def _entity_names(self, text: str, limit: int) -> list[str]:
        index = self.app.services.reader.index()
        if self._names is None or self._names[0] != id(index):
            shown: dict[str, str] = {}
            for entry in index.entries():
                shown.setdefault(entry.name.lower(), entry.name)
            keys = sorted(shown)
            self._names = (id(index), keys, [shown[k] for k in keys])
        _, keys, names = self._names
        needle = text.lower()
        if ":" in needle:  # a ref: kind:namespace/name
            kind = needle.partition(":")[0]
            refs = sorted(
                ref for e in index.entries() if e.kind == kind and (ref := e.ref).startswith(needle)
            )
            return refs[:limit]
        start = bisect.bisect_left(keys, needle)
        out: list[str] = []
        for i in range(start, min(len(keys), start + limit)):
            if not keys[i].startswith(needle):
                break
            out.append(names[i])
        return out

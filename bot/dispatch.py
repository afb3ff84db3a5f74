"""The dispatcher: text in, ``Reply`` out; arguments, name resolution and errors in one place.

Commands are plain async functions ``(ctx, args) -> Reply`` described by a ``CommandSpec``. The
dispatcher parses ``--options`` and positional words, resolves entity arguments through the
catalog ("did you mean" included), runs the handler, and turns every exception into a reply:
``UserError`` text as is, anything else logged with an id the user can quote.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shlex
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from bot import logcontext
from bot.catalog.model import Entity
from bot.chat import (
    Button,
    ChatUser,
    DialogErrors,
    DialogSubmission,
    Progress,
    Reply,
    Request,
    Section,
)
from bot.errors import Ambiguous, BadArguments, NotFound, PermissionDenied, UserError
from bot.suggest import close_matches, did_you_mean
from bot.trust import catalog_notes

if TYPE_CHECKING:
    from bot.metrics import CommandOutcome, DialogOutcome
    from bot.ports import CatalogGraph, CatalogQueries, SearchQueries
    from bot.services import Services

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

ArgKind = Literal["entity", "text", "words"]

# Longer than any command or question a person types (Slack allows 40,000 characters).
MAX_REQUEST_CHARS = 2000
OptionKind = Literal["flag", "int", "text"]
UNKNOWN_COMMAND = "unknown"  # the command label of a request naming no command (metrics)


@dataclass(frozen=True)
class Arg:
    """A positional argument. ``entity`` and ``words`` take the rest of the line."""

    name: str
    kind: ArgKind = "entity"
    help: str = ""
    required: bool = True
    kinds: tuple[str, ...] = ()  # for entity args: the kinds it accepts (all when empty)


@dataclass(frozen=True)
class Option:
    """A ``--name`` option: a flag, or one that takes a value (``--depth 2``)."""

    name: str
    kind: OptionKind = "flag"
    help: str = ""
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass
class Args:
    """Parsed arguments handed to a handler."""

    values: dict[str, Any] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    raw: str = ""

    def entity(self, name: str) -> Entity:
        return self.entities[name]

    def text(self, name: str) -> str:
        value = self.values.get(name)
        return value if isinstance(value, str) else ""


Handler = Callable[["Context", Args], Awaitable[Reply]]
DialogHandler = Callable[["Context", DialogSubmission], Awaitable[Reply | DialogErrors]]


@dataclass(frozen=True)
class CommandSpec:
    """A chat command: its name, help, arguments, and handler. Help and manifests use it."""

    name: str
    summary: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    admin: bool = False
    dialog_prefix: str | None = None  # dialogs whose id starts with this come back here
    on_dialog: DialogHandler | None = None
    subcommands: tuple[str, ...] = ()  # for umbrella commands, shown in help
    # An umbrella's subcommands as commands of their own ("callboard sync"): the dispatcher
    # routes "/callboard sync …" to one, which parses its own arguments and options.
    children: tuple[CommandSpec, ...] = ()

    @property
    def word(self) -> str:
        """The word that names this command (a subcommand's last word)."""
        return self.name.rsplit(" ", 1)[-1]

    @property
    def usage(self) -> str:
        parts = [f"/{self.name}"]
        for arg in self.args:
            parts.append(f"<{arg.name}>" if arg.required else f"[{arg.name}]")
        for opt in self.options:
            parts.append(f"[--{opt.name}]" if opt.kind == "flag" else f"[--{opt.name} N]")
        return " ".join(parts)


@dataclass
class Context:
    """What a handler may use: the request, the services, and the command registry."""

    request: Request
    services: Services
    dispatcher: Dispatcher
    now: dt.datetime

    @property
    def user(self) -> ChatUser:
        return self.request.user

    @property
    def progress(self) -> Progress | None:
        """Where a long-running handler reports its steps (the adapter's), if anywhere."""
        return self.request.progress

    @property
    def catalog(self) -> CatalogQueries:
        """The catalog, to be awaited: its reads run off the event loop."""
        return self.services.catalog

    @property
    def graph(self) -> CatalogGraph:
        """Relation walks (ownership, dependency and group trees), to be awaited."""
        return self.services.graph

    @property
    def search(self) -> SearchQueries:
        """The entity search index, to be awaited: built and ranked off the event loop."""
        return self.services.search

    async def offload(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a handler's blocking part (database reads, index builds) in the app's worker
        threads, so the event loop (and every other chat request on it) never waits for it."""
        return await self.services.offload(fn, *args, **kwargs)

    async def found_nothing_async(self, reply: Reply) -> Reply:
        """``reply`` (an answer that found nothing) with a note per catalog source that never
        synced or whose last sync failed: "nothing" may then be wrong."""
        try:
            warnings = await catalog_notes(
                self.services.status, self.services.sync.source_names(), self.now
            )
        except Exception:  # a note must never cost the answer
            log.exception("reading the catalog sources' status failed")
            return reply
        if not warnings:
            return reply
        return dataclasses.replace(reply, notes=(*warnings, *reply.notes))  # first: it matters most


def log_error(what: str, exc: BaseException | None = None) -> str:
    """Log the exception being handled (or ``exc``) with a fresh error id, and return the id.

    The id is what the user is told, so the log line can be found from their report.
    """
    error_id = uuid.uuid4().hex[:8]
    log.error("error %s while running %s", error_id, what, exc_info=exc or True)
    return error_id


def apology(error_id: str) -> str:
    """What the user hears when something failed on the bot's side."""
    return (
        f"Sorry, something went wrong on my side (error id {error_id}). "
        "The details are in the bot's log."
    )


def crash(what: str, exc: BaseException | None = None) -> Reply:
    """The one reply to an unexpected failure: logged with an id, an apology naming it.

    Every part that turns an unexpected exception into something the user sees (the
    dispatcher, an adapter's background delivery, the scaffolder's undo) comes here.
    """
    return Reply(text=apology(log_error(what, exc)), error=True)


UMBRELLA = "callboard"


class Dispatcher:
    """Routes requests to commands and turns every outcome into a ``Reply``.

    ``/callboard <word> …`` (the umbrella: Slack apps often register only that one slash
    command) goes to the umbrella's subcommand named ``<word>``, else to the command named
    ``<word>``, else to the umbrella command itself; with no umbrella command registered,
    ``/callboard`` alone is ``/help``. ``route`` is that rule, for every platform.
    """

    def __init__(self, services: Services, commands: Sequence[CommandSpec]) -> None:
        self.services = services
        self.commands = tuple(commands)
        self._by_name: dict[str, CommandSpec] = {}
        self._parent: dict[str, CommandSpec] = {}
        for spec in self.commands:
            for name in (spec.name, *spec.aliases):
                if name in self._by_name:
                    raise ValueError(f"command name {name} registered twice")
                self._by_name[name] = spec
            for child in spec.children:
                self._by_name[child.name] = child
                self._parent[child.name] = spec
        self.interpreters: list[Callable[[str], str | None]] = []  # plain-language phrases

    def command(self, name: str) -> CommandSpec | None:
        return self._by_name.get(name.lower().lstrip("/"))

    def context(self, request: Request) -> Context:
        return Context(request, self.services, self, self.services.clock())

    def split(self, request: Request) -> tuple[str, str]:
        """The command name and the rest of the text."""
        if request.command:
            return request.command.lstrip("/").lower(), request.text.strip()
        text = request.text.strip()
        if request.mention:
            for interpret in self.interpreters:
                mapped = interpret(text)
                if mapped:
                    text = mapped
                    break
        name, _, rest = text.partition(" ")
        return name.lstrip("/").lower(), rest.strip()

    def route(self, request: Request) -> Request:
        """``request`` with the umbrella resolved: ``/callboard sync demo`` becomes the
        ``callboard sync`` command with ``demo``; ``/callboard whoowns x`` the ``whoowns``
        command with ``x``. Any other request is returned as it is."""
        name, rest = self.split(request)
        if name != UMBRELLA:
            # Any other command with subcommands (``/attest confirm …``) routes the same way.
            spec = self.command(name)
            if spec is None or not spec.children:
                return request
            first, tail = [*rest.split(maxsplit=1), "", ""][:2]
            child = next((c for c in spec.children if c.word == first.lower()), None)
            if child is None:
                return request
            return dataclasses.replace(request, command=child.name, text=tail.strip())
        first, tail = [*rest.split(maxsplit=1), "", ""][:2]  # any whitespace ends the word
        word = first.lower().lstrip("/")
        umbrella = self.command(UMBRELLA)
        child = next((c for c in umbrella.children if c.word == word), None) if umbrella else None
        other = self.command(word) if word else None
        if child is not None:
            name, rest = child.name, tail
        elif other is not None and other is not umbrella and other.name not in self._parent:
            name, rest = word, tail
        elif umbrella is None:
            name, rest = (word, tail) if word else ("help", "")
        return dataclasses.replace(request, command=name, text=rest.strip())

    async def dispatch(self, request: Request) -> Reply:
        """Answer one request. Never raises.

        A request longer than ``MAX_REQUEST_CHARS`` is refused before anything reads it, so
        the work a chat message can cause on the event loop is bounded. Every log record made
        while answering carries the request's id, platform, command and (hashed) user
        (``bot.logcontext``); the answer is counted in ``services.metrics`` by command,
        platform and outcome, with its latency.
        """
        started = time.perf_counter()
        outcome: list[tuple[str, CommandOutcome]] = []
        with logcontext.bound(
            request_id=uuid.uuid4().hex[:12], platform=request.platform, user_id=request.user.id
        ):
            reply = await self._dispatch(request, outcome)
        metrics = self.services.metrics
        if metrics is not None:
            # no command reached: the text was too long, or empty (the help hint)
            name, how = outcome[0] if outcome else (UNKNOWN_COMMAND, "user_error")
            metrics.command_answered(name, request.platform, how, time.perf_counter() - started)
        return reply

    async def _dispatch(self, request: Request, outcome: list[tuple[str, CommandOutcome]]) -> Reply:
        if len(request.text) > MAX_REQUEST_CHARS:
            return Reply(
                text=f"That message is too long for me ({len(request.text):,} characters; "
                f"at most {MAX_REQUEST_CHARS:,}). Ask with fewer words.",
                error=True,
            )
        request = self.route(request)
        name, rest = self.split(request)
        ctx = self.context(request)
        if not name:
            return self._help_hint()
        spec = self.command(name)
        if spec is None:
            outcome.append((UNKNOWN_COMMAND, "user_error"))
            return self._unknown_command(name, request)
        with logcontext.bound(command=spec.name):
            try:
                args = self.parse(spec, rest)
                await self.resolve_entities(spec, args, guess=not request.unattended)
                reply = await spec.handler(ctx, args)
                if args.values.get("__notes__"):
                    reply = reply.with_notes(*args.values["__notes__"])
                # a handler returning no Reply still fails in the adapter, as before
                failed = getattr(reply, "error", False)
                outcome.append((spec.name, "user_error" if failed else "ok"))
                return reply
            except UserError as exc:
                outcome.append((spec.name, _user_outcome(exc)))
                reply = self.user_error(exc, spec, rest)
                return await ctx.found_nothing_async(reply) if isinstance(exc, NotFound) else reply
            except Exception:
                outcome.append((spec.name, "error"))
                return self.crash(f"/{name} {rest}")

    async def submit(self, submission: DialogSubmission) -> Reply | DialogErrors:
        """Hand a dialog's values to the command that opened it. Never raises. Counted in
        ``services.metrics`` as a dialog submission (the command that opened it, or
        ``unknown``) with its outcome."""
        with logcontext.bound(
            request_id=uuid.uuid4().hex[:12],
            platform=submission.platform,
            user_id=submission.user.id,
        ):
            outcome: list[tuple[str, DialogOutcome]] = []
            answer = await self._submit(submission, outcome)
        metrics = self.services.metrics
        if metrics is not None:
            name, how = outcome[0] if outcome else (UNKNOWN_COMMAND, "user_error")
            metrics.dialog_submitted(name, submission.platform, how)
        return answer

    async def _submit(
        self, submission: DialogSubmission, outcome: list[tuple[str, DialogOutcome]]
    ) -> Reply | DialogErrors:
        for spec in self.commands:
            if spec.dialog_prefix and submission.dialog_id.startswith(spec.dialog_prefix):
                if spec.on_dialog is None:
                    break
                request = Request(
                    text=f"/{spec.name}",
                    user=submission.user,
                    channel=submission.channel,
                    platform=submission.platform,
                    progress=submission.progress,
                )
                try:
                    with logcontext.bound(command=spec.name):
                        answer = await spec.on_dialog(self.context(request), submission)
                except UserError as exc:
                    outcome.append((spec.name, "user_error"))
                    return self.user_error(exc, spec)
                except Exception:
                    outcome.append((spec.name, "error"))
                    return self.crash(f"dialog {submission.dialog_id}")
                invalid = isinstance(answer, DialogErrors)
                outcome.append((spec.name, "invalid" if invalid else "ok"))
                return answer
        return Reply(text=f"This dialog ({submission.dialog_id}) is no longer known.", error=True)

    def parse(self, spec: CommandSpec, text: str) -> Args:
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise BadArguments(f"Cannot read the arguments ({exc}). Usage: {spec.usage}") from None
        args = Args(raw=text)
        for opt in spec.options:
            args.options[opt.name] = opt.default if opt.kind != "flag" else bool(opt.default)
        positional = self._read_options(spec, words, args)
        for index, arg in enumerate(spec.args):
            if arg.kind in ("entity", "words"):
                value = " ".join(positional[index:])
            else:
                value = positional[index] if index < len(positional) else ""
            if not value and arg.required:
                raise BadArguments(f"/{spec.name} needs <{arg.name}>. Usage: {spec.usage}")
            args.values[arg.name] = value
        if len(positional) > len(spec.args) and spec.args and spec.args[-1].kind == "text":
            extra = " ".join(positional[len(spec.args) :])
            raise BadArguments(f"Unexpected “{extra}”. Usage: {spec.usage}")
        if positional and not spec.args:
            raise BadArguments(f"/{spec.name} takes no arguments. Usage: {spec.usage}")
        return args

    def _read_options(self, spec: CommandSpec, words: list[str], args: Args) -> list[str]:
        """Take ``--name[=value]`` options into ``args``; the other words, in order."""
        options = {o.name: o for o in spec.options}
        positional: list[str] = []
        i = 0
        while i < len(words):
            word = words[i]
            if word == "--":  # the usual end of options: what follows is taken as written
                positional.extend(words[i + 1 :])
                break
            if not (word.startswith("--") and len(word) > 2):
                positional.append(word)
                i += 1
                continue
            key, eq, value = word[2:].partition("=")
            opt = options.get(key)
            if opt is None:
                self._sibling_option(spec, key)
                known = ", ".join(f"--{o}" for o in options) or "none"
                raise BadArguments(
                    f"/{spec.name} has no option --{key} (options: {known}). Usage: {spec.usage}"
                )
            if opt.kind == "flag":
                if eq:
                    raise BadArguments(f"--{key} takes no value. Usage: {spec.usage}")
                args.options[key] = True
            else:
                if not eq:
                    i += 1
                    if i >= len(words):
                        raise BadArguments(f"--{key} needs a value. Usage: {spec.usage}")
                    value = words[i]
                args.options[key] = self._option_value(spec, opt, value)
            i += 1
        return positional

    def _sibling_option(self, spec: CommandSpec, key: str) -> None:
        """A subcommand given another subcommand's option: say whose it is."""
        parent = self._parent.get(spec.name)
        for sibling in parent.children if parent else ():
            if sibling is not spec and any(o.name == key for o in sibling.options):
                args = "".join(f" <{a.name}>" if a.required else f" [{a.name}]" for a in spec.args)
                raise BadArguments(f"--{key} is for /{sibling.name}. Usage: /{spec.name}{args}")

    @staticmethod
    def _option_value(spec: CommandSpec, opt: Option, value: str) -> Any:
        if opt.kind == "text":
            return value
        try:
            number = int(value)
        except ValueError:
            raise BadArguments(f"--{opt.name} takes a whole number, not “{value}”") from None
        if opt.minimum is not None and number < opt.minimum:
            raise BadArguments(f"--{opt.name} must be at least {opt.minimum}")
        if opt.maximum is not None and number > opt.maximum:
            raise BadArguments(f"--{opt.name} must be at most {opt.maximum}")
        return number

    async def resolve_entities(self, spec: CommandSpec, args: Args, guess: bool = True) -> None:
        """Resolve entity arguments; a fuzzy match is used with a note, or (``guess=False``)
        refused naming the closest."""
        notes: list[str] = []
        catalog = self.services.catalog
        for arg in spec.args:
            if arg.kind != "entity":
                continue
            text = args.values.get(arg.name) or ""
            if not text:
                continue
            found, entity = await catalog.resolve_entity(text, arg.kinds)  # one read
            if found.how == "fuzzy" and not guess:
                kinds = " or ".join(arg.kinds) or "entity"
                refused = NotFound(
                    f"{arg.name}: {text} names no {kinds} (the closest is {found.ref})",
                    (str(found.ref),),
                )
                refused.query = text
                raise refused
            if entity is None:  # removed by a sync between index and read
                raise NotFound(f"{found.ref} is no longer in the catalog.")
            args.entities[arg.name] = entity
            if found.how == "fuzzy":
                notes.append(f"nothing is named “{text}”; showing the closest match, {found.ref}")
        if notes:
            args.values["__notes__"] = notes

    def user_error(self, exc: UserError, spec: CommandSpec | None, rest: str = "") -> Reply:
        if isinstance(exc, Ambiguous | NotFound):
            options = exc.candidates if isinstance(exc, Ambiguous) else exc.suggestions
            if options:
                verb = spec.name if spec else "describe"

                def retry(option: str) -> str:
                    # The same command with the suggestion in place of the name that failed,
                    # so the words around it (`/report digest <team>`, options) are kept.
                    at = rest.rfind(exc.query) if exc.query else -1
                    if at < 0:
                        return f"/{verb} {option}"
                    assert exc.query is not None
                    return f"/{verb} {rest[:at]}{option}{rest[at + len(exc.query) :]}".rstrip()

                title = "Did you mean" if isinstance(exc, NotFound) else "Which one?"
                items = [_label(o) for o in options]
                hidden = exc.total - len(options) if isinstance(exc, Ambiguous) else 0
                more = None
                if hidden > 0 and exc.query:
                    more = "/search " + shlex.join(exc.query.split())
                    items.append(f"… and {hidden} more: {more}")
                return Reply(
                    text=str(exc),
                    sections=(Section(title=title, items=tuple(items)),),
                    buttons=tuple(
                        Button(_label(o, short=True), command=retry(o)) for o in options[:5]
                    ),
                    more=more,
                    error=True,
                )
        return Reply(text=str(exc), error=True)

    def crash(self, what: str) -> Reply:
        return crash(what)

    def _unknown_command(self, name: str, request: Request) -> Reply:
        # The first word of a sentence said to the bot ("how are you", "I like") is rarely a
        # typo of a command: only a close spelling counts there, not a partial match.
        close = close_matches(name, self._by_name, sentence=request.mention)
        if close:
            return Reply(
                text=f"There is no /{name} command.{did_you_mean(close, '/')}",
                buttons=tuple(Button(f"/{c}", command=f"/help {c}") for c in close),
                error=True,
            )
        if request.mention:
            return self._help_hint(f"I did not understand “{request.text.strip()}”.")
        return self._help_hint(f"There is no /{name} command.")

    def _help_hint(self, lead: str | None = None) -> Reply:
        listed = ", ".join(f"/{c.name}" for c in self.commands if not c.admin)
        text = f"Commands: {listed}. Try /help <command> for details."
        return Reply(text=f"{lead} {text}" if lead else text, error=lead is not None)


def _label(ref: str, short: bool = False) -> str:
    """``payments-api (component)`` for ``component:default/payments-api``."""
    kind, _, rest = ref.partition(":")
    namespace, _, name = rest.partition("/")
    shown = name if namespace == "default" else rest
    return shown if short else f"{shown} ({kind})"


def _user_outcome(exc: UserError) -> CommandOutcome:
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, PermissionDenied):
        return "denied"
    return "user_error"


def registry_by_name(commands: Sequence[CommandSpec]) -> Mapping[str, CommandSpec]:
    return {c.name: c for c in commands}

"""The slash-command tree, generated from the command registry.

One slash command per ``CommandSpec``: entity arguments become string options with
autocomplete from the catalog's fuzzy index, ``int`` options integer options with their
bounds, flags boolean options. Names follow Discord's rules (lower case, 1-32 letters, digits,
``-`` or ``_``), descriptions are one line of at most 100 characters. The callback turns the
typed options back into the one line of text the dispatcher parses, so the command logic
stays in the core.
"""

from __future__ import annotations

import inspect
import logging
import re
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Protocol, cast

import discord
from discord import app_commands

from adapters.discord.render import truncate
from bot.dispatch import Arg, CommandSpec, Option

log = logging.getLogger(__name__)

# Discord's rules (discord-api-docs, interactions/application-commands).
NAME_MAX = 32
NAME_RE = re.compile(r"^[-_\w]{1,32}$")  # \w: Unicode letters and digits (and _), as Discord
DESCRIPTION_MAX = 100
OPTIONS_MAX = 25
COMMANDS_MAX = 100  # chat-input commands per scope
CHOICES_MAX = 25


def discord_name(name: str) -> str:
    """``name`` as a valid Discord command or option name (lower case, ≤ 32 characters)."""
    text = name.strip().lstrip("/").lower()
    text = re.sub(r"[^-_\w]+", "-", text).strip("-")[:NAME_MAX]
    if not text:
        raise ValueError(f"cannot make a Discord command or option name from {name!r}")
    return text


def is_valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name)) and name == name.lower()


def one_line(text: str, fallback: str) -> str:
    """A description: one line, 1-100 characters."""
    line = " ".join((text or "").split()) or fallback
    return truncate(line, DESCRIPTION_MAX)


@dataclass(frozen=True)
class SlashParam:
    """One option of a slash command and the argument or option it stands for."""

    python: str  # the callback's parameter name (p0, p1...): always a valid identifier
    name: str  # the option name Discord shows
    source: Arg | Option

    @property
    def required(self) -> bool:
        return isinstance(self.source, Arg) and self.source.required


@dataclass(frozen=True)
class SlashCommand:
    """A registry command as Discord sees it."""

    spec: CommandSpec
    name: str
    params: tuple[SlashParam, ...]

    def text(self, values: Mapping[str, Any]) -> str:
        """The argument line the dispatcher parses, from the typed option values."""
        words: list[str] = []
        for param in self.params:
            value = values.get(param.python)
            if value is None or value == "":
                continue
            source = param.source
            if isinstance(source, Arg):
                words.append(shlex.quote(str(value)))
            elif source.kind == "flag":
                if value:
                    words.append(f"--{source.name}")
            else:
                words.extend([f"--{source.name}", shlex.quote(str(value))])
        return " ".join(words)


def slash_command(spec: CommandSpec) -> SlashCommand:
    """Names and parameters for ``spec`` (options past Discord's 25 are left out, logged)."""
    used: set[str] = set()
    params: list[SlashParam] = []
    sources: list[Arg | Option] = [*spec.args, *spec.options]
    if len(sources) > OPTIONS_MAX:
        log.warning(
            "/%s has %d arguments and options; Discord allows %d, the rest are left out",
            spec.name,
            len(sources),
            OPTIONS_MAX,
        )
    for index, source in enumerate(sources[:OPTIONS_MAX]):
        name = discord_name(source.name)
        base, n = name, 2
        while name in used:
            suffix = f"-{n}"
            name = base[: NAME_MAX - len(suffix)] + suffix
            n += 1
        used.add(name)
        params.append(SlashParam(f"p{index}", name, source))
    return SlashCommand(spec, discord_name(spec.name), tuple(params))


def _annotation(source: Arg | Option) -> Any:
    if isinstance(source, Arg):
        return str if source.required else Optional[str]  # noqa: UP045 (a runtime annotation)
    if source.kind == "flag":
        return Optional[bool]  # noqa: UP045
    if source.kind == "int":
        if source.minimum is not None or source.maximum is not None:
            return Optional[app_commands.Range[int, source.minimum, source.maximum]]  # noqa: UP045
        return Optional[int]  # noqa: UP045
    return Optional[str]  # noqa: UP045


def _description(source: Arg | Option) -> str:
    if source.help:
        return one_line(source.help, source.name)
    if isinstance(source, Arg):
        if source.kind == "entity":
            kinds = " or ".join(source.kinds) if source.kinds else "entity"
            return one_line(f"A {kinds}: name, title or ref (kind:namespace/name)", source.name)
        return one_line(source.name.replace("_", " ").capitalize(), source.name)
    return one_line(f"--{source.name}", source.name)


Choices = list[app_commands.Choice[str]]
Completer = Callable[[discord.Interaction, str], Awaitable[Choices]]
Runner = Callable[[discord.Interaction, SlashCommand, dict[str, Any]], Awaitable[None]]


class CompletionSource(Protocol):
    """Where autocomplete choices come from (the adapter)."""

    async def entity_choices(self, current: str, kinds: Sequence[str]) -> Choices: ...

    def word_choices(self, current: str, words: Sequence[tuple[str, str]]) -> Choices: ...


def build_command(
    slash: SlashCommand, run: Runner, choices: CompletionSource
) -> app_commands.Command[Any, ..., None]:
    """A discord.py command whose callback hands the option values to ``run``."""

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await run(interaction, slash, values)

    P = inspect.Parameter
    parameters = [P("interaction", P.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)]
    for param in slash.params:
        parameters.append(
            P(
                param.python,
                P.KEYWORD_ONLY,
                annotation=_annotation(param.source),
                default=P.empty if param.required else None,
            )
        )
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__qualname__ = callback.__name__ = f"slash_{slash.name.replace('-', '_')}"

    renames = {p.python: p.name for p in slash.params}
    descriptions = {p.python: _description(p.source) for p in slash.params}
    completers: dict[str, Completer] = {}
    subwords = tuple(
        (line.split()[0].lstrip("/"), line) for line in slash.spec.subcommands if line.split()
    )
    for param in slash.params:
        source = param.source
        if isinstance(source, Arg) and source.kind == "entity":
            completers[param.python] = _entity_completer(choices, source.kinds)
        elif isinstance(source, Arg) and subwords and param is slash.params[0]:
            completers[param.python] = _word_completer(choices, subwords)
    decorated: Any = callback
    if renames:
        decorated = app_commands.rename(**renames)(decorated)
        decorated = app_commands.describe(**descriptions)(decorated)
    if completers:
        decorated = app_commands.autocomplete(**cast(dict[str, Any], completers))(decorated)
    return app_commands.Command(
        name=slash.name,
        description=one_line(slash.spec.summary, f"/{slash.spec.name}"),
        callback=decorated,
    )


def _entity_completer(choices: CompletionSource, kinds: tuple[str, ...]) -> Completer:
    async def complete(interaction: discord.Interaction, current: str) -> Choices:
        return (await choices.entity_choices(current, kinds))[:CHOICES_MAX]

    return complete


def _word_completer(choices: CompletionSource, words: tuple[tuple[str, str], ...]) -> Completer:
    async def complete(interaction: discord.Interaction, current: str) -> Choices:
        return choices.word_choices(current, words)[:CHOICES_MAX]

    return complete


def slash_commands(specs: Sequence[CommandSpec]) -> list[SlashCommand]:
    """One slash command per spec; name clashes and those past Discord's 100 are logged."""
    out: list[SlashCommand] = []
    seen: set[str] = set()
    for spec in specs:
        slash = slash_command(spec)
        if slash.name in seen:
            log.warning("/%s clashes with another command on Discord; left out", spec.name)
            continue
        if len(out) >= COMMANDS_MAX:
            log.warning("Discord allows %d commands; /%s is left out", COMMANDS_MAX, spec.name)
            continue
        seen.add(slash.name)
        out.append(slash)
    return out

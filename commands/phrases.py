"""Plain language: map "@Callboard who owns payments-api?" to ``/whoowns payments-api``.

A small, documented set of phrase patterns, tried in order on a message that mentions the bot
(or a console line that is not a command). Matching is case-insensitive; a leading greeting or
"please", articles ("the", "our") and trailing punctuation are ignored. What no pattern maps
is left to the dispatcher, which answers with help: never silence.

=====================================================  ======================================
Phrase                                                 Command
=====================================================  ======================================
who owns X · who is the owner of X · owner of X        /whoowns X
who is responsible for X · who maintains X
what do I own · what's mine                            /owns me
what do we own · what does this team own               /owns (the channel's group)
what does X own · what is owned by X · what X owns     /owns X
what depends on X · what uses X · who uses X           /deps X
what breaks if X goes down · what does X depend on
dependencies of X · deps of X
who is on call for X · on-call for X                   /whoowns X --oncall
docs for X · documentation for X · runbook for X       /docs X (/describe X without /docs)
X docs · X documentation · X runbook
what is X · what's X · tell me about X · describe X    /describe X
info on X · details of X
search X · search for X · find X · look for X          /search X
where is X
help · hi · hello · what can you do · commands         /help
=====================================================  ======================================
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from bot.dispatch import CommandSpec

_X = "(?P<x>.+)"  # the subject; each use is numbered (x1, x2...) when the pattern compiles


@dataclass(frozen=True)
class Phrase:
    """A pattern (with a named group ``x`` for the subject, if any) and the command it means."""

    pattern: re.Pattern[str]
    command: str  # "whoowns": the subject follows; "owns me": fixed words
    example: str
    options: str = ""  # appended after the subject ("--oncall")


def _p(regex: str, command: str, example: str, options: str = "") -> Phrase:
    parts = regex.split(_X)
    numbered = parts[0] + "".join(
        f"(?P<x{i}>.+){part}" for i, part in enumerate(parts[1:], start=1)
    )
    return Phrase(re.compile(rf"^(?:{numbered})$", re.IGNORECASE), command, example, options)


# Order matters: "what is owned by X" before "what is X", "what does X own" before the rest.
PHRASES: tuple[Phrase, ...] = (
    _p(
        r"(?:help|hi|hello|hey|what can you do|commands|what are (?:the|your) commands)",
        "help",
        "help",
    ),
    _p(
        r"what do i own|what(?: is|'s) mine|what am i (?:the )?owner of", "owns me", "what do I own"
    ),
    _p(
        r"what do we own|what does (?:this|my|our) (?:team|group|channel) own",
        "owns",
        "what do we own",
    ),
    _p(
        rf"who(?: is|'s) (?:the )?owner of {_X}|who owns {_X}|owners? of {_X}"
        rf"|who(?: is|'s) responsible for {_X}|who maintains {_X}|whose is {_X}",
        "whoowns",
        "who owns payments-api",
    ),
    _p(
        rf"what does {_X} own|what is owned by {_X}|what(?: does)? {_X} owns?"
        rf"|what belongs to {_X}",
        "owns",
        "what does team-payments own",
    ),
    _p(
        rf"what (?:depends on|uses|calls|consumes) {_X}|who (?:depends on|uses|calls) {_X}"
        rf"|what (?:breaks|fails) if {_X} (?:goes down|fails|breaks|is down)"
        rf"|what does {_X} depend on|(?:dependencies|dependents|deps) (?:of|for) {_X}",
        "deps",
        "what depends on payments-api",
    ),
    _p(
        rf"who(?: is|'s| are)? (?:the )?on[- ]?call (?:for|on|of) {_X}"
        rf"|(?:the )?on[- ]?call (?:for|on|of) {_X}|who do i page (?:for|about) {_X}",
        "whoowns",
        "who is on call for payments-api",
        options="--oncall",
    ),
    _p(
        rf"(?:where are )?(?:the )?(?:docs|documentation|runbooks?|tech ?docs) (?:for|of|on) {_X}",
        "docs",
        "docs for checkout",
    ),
    _p(
        rf"what(?: is|'s| are) {_X}|tell me about {_X}|describe {_X}"
        rf"|(?:info|information|details) (?:on|about|for|of) {_X}",
        "describe",
        "what is payments-api",
    ),
    _p(rf"(?:search|find|look) (?:for )?{_X}|where(?: is|'s) {_X}", "search", "search ledger"),
    _p(rf"{_X}(?:'s)? (?:docs|documentation|runbooks?|tech ?docs)", "docs", "payments-api docs"),
)

_LEAD = re.compile(
    r"^(?:(?:<@[^>]+>|@?callboard\b|hey\b|hi\b|ok\b|so\b|please\b|pls\b)[\s,:]*)*",
    re.IGNORECASE,
)
_TRAIL = re.compile(r"(?:[\s,]+(?:please|pls|thanks|thank you))?[\s?!.]*$", re.IGNORECASE)
_ARTICLE = re.compile(r"^(?:the|our|my|a|an|this)\s+", re.IGNORECASE)


class PhraseInterpreter:
    """Maps a plain-language message to a command line, or None when it starts with one or no
    phrase matches. Knows the registered commands, so "docs for X" falls back to /describe when
    no /docs command is installed."""

    def __init__(self, commands: Sequence[CommandSpec]) -> None:
        self.names = {n for spec in commands for n in (spec.name, *spec.aliases)}

    def __call__(self, text: str) -> str | None:
        message = _TRAIL.sub("", _LEAD.sub("", text.strip())).strip()
        if not message:
            return "/help" if "help" in self.names else None
        if message.startswith("/"):
            return None  # an explicit command
        for phrase in PHRASES:
            match = phrase.pattern.match(message)
            if match is None:
                continue
            command, _, fixed = phrase.command.partition(" ")
            available = self._available(command)
            if available is None:
                continue
            subject = _subject(match)
            if phrase.pattern.groupindex and not subject:
                continue
            words = fixed.split() if fixed else [shlex.quote(w) for w in subject.split()]
            return " ".join([f"/{available}", *words, *phrase.options.split()])
        return None  # a command typed without "/", or nothing we know: the dispatcher decides

    def _available(self, command: str) -> str | None:
        if command in self.names:
            return command
        if command == "docs" and "describe" in self.names:
            return "describe"
        return None

    def examples(self) -> list[str]:
        return [p.example for p in PHRASES if self._available(p.command.split()[0])]


def _subject(match: re.Match[str]) -> str:
    """The subject the phrase names, without quotes and leading articles."""
    subject = next((g for g in match.groupdict().values() if g), "")
    subject = subject.strip().strip("“”\"'`")
    while True:
        trimmed = _ARTICLE.sub("", subject)
        if trimmed == subject:
            break
        subject = trimmed
    return subject.strip()

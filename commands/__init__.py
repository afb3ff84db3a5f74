"""The command registry: every chat command, listed explicitly (no scanning, no side effects)."""

from __future__ import annotations

from bot.dispatch import CommandSpec
from commands import (
    admin,
    attest,
    deps,
    describe,
    docs,
    help,
    here,
    oncall,
    owns,
    page,
    phrases,
    report,
    scaffold,
    search,
    subscribe,
    whoowns,
)

COMMANDS: tuple[CommandSpec, ...] = (
    whoowns.SPEC,
    describe.SPEC,
    owns.SPEC,
    deps.SPEC,
    search.SPEC,
    oncall.SPEC,
    page.SPEC,
    here.SPEC,
    docs.SPEC,
    scaffold.SPEC,
    report.SPEC,
    subscribe.SUBSCRIBE,
    subscribe.UNSUBSCRIBE,
    subscribe.SUBSCRIPTIONS,
    attest.SPEC,
    admin.SPEC,
    help.SPEC,
)

# Plain-language phrases for messages that mention the bot ("who owns payments-api?").
# build_app(settings, COMMANDS, interpreters=INTERPRETERS) installs them in the dispatcher.
INTERPRETERS = (phrases.PhraseInterpreter(COMMANDS),)

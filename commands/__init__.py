"""The command registry: every chat command, listed explicitly (no scanning, no side effects)."""

from __future__ import annotations

from bot.dispatch import CommandSpec
from commands import help, whoowns

COMMANDS: tuple[CommandSpec, ...] = (
    whoowns.SPEC,
    help.SPEC,
)

"""Every command in the registry, and each umbrella's subcommands, has a test in this tier."""

from __future__ import annotations

import importlib
import pkgutil

import tests.unit.commands as tier
from bot.dispatch import CommandSpec
from commands import COMMANDS
from tests.unit.commands.conftest import COVERED


def _names(specs: tuple[CommandSpec, ...]) -> list[str]:
    out: list[str] = []
    for spec in specs:
        out.append(spec.name)
        out += _names(spec.children)
    return out


def test_every_command_has_a_fast_test() -> None:
    for module in pkgutil.iter_modules(tier.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"{tier.__name__}.{module.name}")  # fills COVERED
    names = _names(COMMANDS)
    assert {"whoowns", "callboard sync", "callboard status", "callboard here"} <= set(names)
    missing = [n for n in names if n not in COVERED]
    assert not missing, f"commands without a test in tests/unit/commands: {missing}"
    unknown = sorted(COVERED - set(names))
    assert not unknown, f"tests cover commands the registry does not have: {unknown}"

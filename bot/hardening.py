"""Keeping the bot's secrets from its own children: non-dumpable, secrets out of the environment.

A child process of the same user can read ``/proc/<bot pid>/environ`` (the environment the bot
was started with) and ``/proc/<bot pid>/mem``, unless the bot is *non-dumpable*:
``prctl(PR_SET_DUMPABLE, 0)`` makes those files the kernel's, unreadable to anyone without
``CAP_SYS_PTRACE`` (Linux only; elsewhere this is a no-op). Secrets are also moved out of
``os.environ`` into this module's store the first time they are read (and the known ones at
start), so no child started later inherits them and nothing that dumps ``os.environ`` shows
them.

The store is process-wide on purpose: it stands for the process environment, which is
process-wide too. A variable set again in ``os.environ`` wins over the stored value.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterable, Iterator, Mapping

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4

# Read from the environment by the Slack and Discord adapters (bot.platforms names them) and
# by the on-call providers (bot.oncall.settings).
KNOWN_SECRETS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "DISCORD_TOKEN",
    "PAGERDUTY_TOKEN",
    "OPSGENIE_API_KEY",
)

_store: dict[str, str] = {}


def _prctl(option: int, arg: int = 0) -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    result = libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)
    return int(result)


def make_non_dumpable() -> bool:
    """Mark this process non-dumpable (Linux); True when it is now."""
    if _prctl(PR_SET_DUMPABLE, 0) is None:
        return False
    return is_dumpable() is False


def is_dumpable() -> bool | None:
    """Whether this process is dumpable; None where that cannot be asked (not Linux)."""
    found = _prctl(PR_GET_DUMPABLE)
    return None if found is None or found < 0 else bool(found)


def secret(name: str) -> str | None:
    """The environment variable ``name``, moved out of ``os.environ`` into the store."""
    if name in os.environ:
        _store[name] = os.environ.pop(name)
    return _store.get(name)


def seal(names: Iterable[str]) -> None:
    """Move every variable in ``names`` that is set out of ``os.environ`` now."""
    for name in names:
        secret(name)


def harden(extra: Iterable[str] = ()) -> None:
    """At start: non-dumpable, and the known secrets (and ``extra``) out of the environment."""
    make_non_dumpable()
    seal((*KNOWN_SECRETS, *extra))


def forget() -> None:
    """Drop every stored secret (tests, between cases, as they reset ``os.environ``)."""
    _store.clear()


class SecretEnviron(Mapping[str, str]):
    """``os.environ`` as a reader of secrets sees it: every variable read is moved to the
    store, so reading a secret also takes it out of the environment."""

    def __getitem__(self, key: str) -> str:
        value = secret(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter({*os.environ, *_store})

    def __len__(self) -> int:
        return len({*os.environ, *_store})


def secret_environ() -> Mapping[str, str]:
    return SecretEnviron()


def secret_values() -> tuple[str, ...]:
    """Every secret value this process holds: the ones read (stored) and the known ones still
    in ``os.environ`` (for the log redactor, ``bot.logsetup``)."""
    found = set(_store.values())
    found.update(os.environ[name] for name in KNOWN_SECRETS if os.environ.get(name))
    return tuple(v for v in found if v)

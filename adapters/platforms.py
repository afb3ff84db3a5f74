"""The chat platforms installed as extras, as typed ``Platform`` objects for ``build_app``.

Each platform package exposes ``PLATFORM`` (``bot.app.Platform``): how it starts for an app
(its runtime, poster and server) and its ``callboard`` subcommands. A platform whose package or
SDK is not installed is left out.
"""

from __future__ import annotations

import logging

from bot.app import Platform

log = logging.getLogger(__name__)


def installed() -> list[Platform]:
    """Slack and Discord, those whose package (and SDK) imports."""
    found: list[Platform] = []
    try:
        from adapters.slack import PLATFORM as slack
    except ImportError as exc:
        log.debug("the Slack adapter is unavailable: %s", exc)
    else:
        found.append(slack)
    try:
        from adapters.discord import PLATFORM as discord
    except ImportError as exc:
        log.debug("the Discord adapter is unavailable: %s", exc)
    else:
        found.append(discord)
    return found

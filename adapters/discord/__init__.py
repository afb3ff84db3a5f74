"""Callboard on Discord (discord.py 2.7): slash commands, autocomplete, embeds, modals, posts.

``PLATFORM`` is what ``bot.bootstrap.build_app`` wires: ``start`` (the adapter, which posts
scheduled reports into Discord channels, and the gateway connection) and ``add_cli``
(``callboard discord-sync``), active only when the config has a ``discord:`` section. The bot
token is read from the ``DISCORD_TOKEN`` environment variable, never from the config file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import discord

from adapters.discord.client import DiscordAdapter, DiscordError, channel_id_of
from adapters.discord.render import RenderedReply, render_reply
from bot.app import App, Platform, PlatformParts
from bot.errors import ConfigError
from bot.hardening import secret
from bot.platforms import DISCORD_TOKEN, DiscordSettings

__all__ = [
    "PLATFORM",
    "DiscordAdapter",
    "DiscordError",
    "RenderedReply",
    "add_cli",
    "channel_id_of",
    "render_reply",
    "start",
]


def discord_settings(app: App) -> DiscordSettings:
    return app.services.settings.optional_section("discord", DiscordSettings) or DiscordSettings()


def start(app: App) -> PlatformParts | None:
    """Discord's parts for ``app`` when a ``discord`` section is configured: the adapter (one
    per app), which posts scheduled reports, and the gateway connection, served until
    cancelled."""
    settings = discord_settings(app)
    if not settings.enabled:
        return None
    adapter = DiscordAdapter(app, settings)
    return PlatformParts(
        "discord",
        adapter,
        poster=adapter,
        serve=lambda: adapter.run(_token(app)),
        stop=adapter.stop,
        close=adapter.close,
        not_ready=adapter.not_ready,
    )


def _token(app: App) -> str:
    token = (secret(DISCORD_TOKEN) or "").strip()  # out of os.environ once read
    if not token:
        where = app.services.settings.path or "the config"
        raise ConfigError(
            f"{where}: discord is configured, but the {DISCORD_TOKEN} environment variable "
            "is not set (the bot token lives only in the environment)"
        )
    return token


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "discord-sync",
        help="register the slash commands with Discord now (to discord.guild_id, or globally)",
    )
    p.add_argument(
        "--print",
        action="store_true",
        dest="print_only",
        help="print the command tree as Discord would receive it; contact nobody",
    )
    p.add_argument(
        "--global",
        action="store_true",
        dest="global_scope",
        help="register globally even when discord.guild_id is set",
    )
    p.set_defaults(func=cmd_discord_sync)


def cmd_discord_sync(ns: argparse.Namespace) -> int:
    """``callboard discord-sync``: push the generated command tree (or print it)."""
    from bot.bootstrap import build_app, load_settings
    from commands import COMMANDS

    settings = load_settings(Path(ns.config) if ns.config else None)
    app = build_app(settings, COMMANDS)
    try:
        cfg = dataclasses.replace(discord_settings(app), enabled=True, sync_on_start="never")
        if ns.global_scope:
            cfg = dataclasses.replace(cfg, guild_id=None)
        adapter = DiscordAdapter(app, cfg)
        if ns.print_only:
            print(json.dumps(adapter.command_payloads(), indent=2))
            return 0
        token = _token(app)
        try:
            synced = asyncio.run(_sync(adapter, token))
        except DiscordError as exc:
            print(f"callboard: {exc}", file=sys.stderr)
            return 1
        names = ", ".join(f"/{c.name}" for c in synced)
        print(f"Registered {len(synced)} slash commands {adapter.scope}: {names}")
        if adapter.guild is None:
            print("Global commands can take up to an hour to appear in every server.")
        return 0
    finally:
        app.close()


async def _sync(adapter: DiscordAdapter, token: str) -> list[discord.app_commands.AppCommand]:
    """Log in over REST only (no gateway), sync, and close."""
    async with adapter.client:
        try:
            await adapter.client.login(token)
        except discord.LoginFailure as exc:
            raise DiscordError(
                f"Discord refused the token in {DISCORD_TOKEN} (check it in the Developer "
                "Portal, Bot page)"
            ) from exc
        except discord.HTTPException as exc:
            raise DiscordError(f"could not log in to Discord: {exc}") from exc
        return await adapter.sync_commands()


PLATFORM = Platform("discord", start=start, add_cli=add_cli)

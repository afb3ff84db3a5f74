"""The Slack app manifest, generated from the command registry (``callboard slack-manifest``).

Paste the output into api.slack.com → Your apps → Create New App → From a manifest. It lists a
slash command per registered command plus the umbrella ``/callboard``, the bot scopes and
events the adapter uses, interactivity (buttons, modals, the entity picker's options) and,
in HTTP mode, the request URLs; in Socket Mode no URL is needed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from bot.dispatch import UMBRELLA, CommandSpec
from bot.errors import ConfigError
from bot.platforms import SlackSettings

# What the adapter calls or receives, and why (README "Slack" lists the same).
BOT_SCOPES = (
    "commands",  # slash commands
    "chat:write",  # replies, digests
    "chat:write.public",  # digests into public channels the bot was not invited to
    "app_mentions:read",  # @Callboard questions
    "im:history",  # direct messages to the bot
    "users:read",  # users.info: names
    # users.info: emails, to find the catalog User ("me"); users.lookupByEmail: the person on
    # call as a mention
    "users:read.email",
)
BOT_EVENTS = ("app_mention", "message.im")

_COMMAND = re.compile(r"^/[a-z0-9][a-z0-9_-]*$")
MAX_COMMANDS = 50
COMMAND_LENGTH = 32
DESCRIPTION = 2000
USAGE_HINT = 1000


def slash_commands(commands: Sequence[CommandSpec]) -> list[tuple[str, str, str]]:
    """(command, description, usage hint) per registered command, and the umbrella."""
    out: list[tuple[str, str, str]] = []
    names = {c.name for c in commands}
    for spec in commands:
        usage = spec.usage.partition(" ")[2]
        out.append((f"/{spec.name}", spec.summary, usage))
    if UMBRELLA not in names:
        listed = ", ".join(c.name for c in commands if not c.admin)
        out.append(
            (
                f"/{UMBRELLA}",
                f"Callboard: any command as /callboard <command> ({listed}).",
                "<command> [arguments]",
            )
        )
    for command, _, _ in out:
        if not _COMMAND.match(command) or len(command) > COMMAND_LENGTH:
            raise ConfigError(
                f"command {command} cannot be a Slack slash command (lowercase letters, digits, "
                f"- and _, at most {COMMAND_LENGTH} characters with the /)"
            )
    if len(out) > MAX_COMMANDS:
        raise ConfigError(f"{len(out)} slash commands; a Slack app has at most {MAX_COMMANDS}")
    return out


def build_manifest(
    commands: Sequence[CommandSpec],
    settings: SlackSettings,
    *,
    socket: bool | None = None,
    public_url: str | None = None,
) -> dict[str, Any]:
    """The manifest as a dict. HTTP mode needs the public URL Slack posts to."""
    socket_mode = settings.mode == "socket" if socket is None else socket
    base = (public_url or settings.public_url or "").rstrip("/")
    if not socket_mode and not base:
        raise ConfigError(
            "an HTTP-mode manifest needs the URL Slack reaches Callboard at: set slack.public_url "
            "or pass --url https://callboard.example.com (or --socket for Socket Mode)"
        )
    if base and not base.startswith("https://") and not socket_mode:
        raise ConfigError(f"Slack only posts to https:// request URLs, not {base}")
    events_url = f"{base}/slack/events"
    slash: list[dict[str, Any]] = []
    for command, description, usage in slash_commands(commands):
        entry: dict[str, Any] = {
            "command": command,
            "description": description[:DESCRIPTION],
            "should_escape": False,
        }
        if usage:
            entry["usage_hint"] = usage[:USAGE_HINT]
        if not socket_mode:
            entry["url"] = events_url
        slash.append(entry)
    interactivity: dict[str, Any] = {"is_enabled": True}
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    if not socket_mode:
        interactivity["request_url"] = events_url
        interactivity["message_menu_options_url"] = events_url
        events["request_url"] = events_url
    oauth: dict[str, Any] = {"scopes": {"bot": list(BOT_SCOPES)}}
    if settings.oauth and base:
        oauth["redirect_urls"] = [f"{base}/slack/oauth_redirect"]
    name = settings.app_name
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Who owns what, docs and scaffolding from your service catalog.",
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": False,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": slash,
        },
        "oauth_config": oauth,
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(manifest: dict[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)

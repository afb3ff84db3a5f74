"""Chat platform settings: plain data parsed from the config, no platform SDK imported.

Each platform's adapter reads its section here (``settings.section("slack", SlackSettings)``).
Secrets never live in the config file: tokens and signing secrets come from the environment,
under the names below, and a config key that looks like a secret is an error saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.config import Section

SLACK_BOT_TOKEN = "SLACK_BOT_TOKEN"
SLACK_SIGNING_SECRET = "SLACK_SIGNING_SECRET"
SLACK_APP_TOKEN = "SLACK_APP_TOKEN"
SLACK_CLIENT_ID = "SLACK_CLIENT_ID"
SLACK_CLIENT_SECRET = "SLACK_CLIENT_SECRET"

_SLACK_SECRET_KEYS = {
    "token": SLACK_BOT_TOKEN,
    "bot_token": SLACK_BOT_TOKEN,
    "signing_secret": SLACK_SIGNING_SECRET,
    "app_token": SLACK_APP_TOKEN,
    "client_id": SLACK_CLIENT_ID,
    "client_secret": SLACK_CLIENT_SECRET,
}

SlackMode = Literal["http", "socket"]


@dataclass(frozen=True)
class SlackSettings:
    """The ``slack:`` section. ``enabled`` is False when the section is absent."""

    enabled: bool = False
    mode: SlackMode = "http"
    host: str = "127.0.0.1"
    port: int = 3000
    api_url: str = "https://slack.com/api/"
    public_url: str | None = None  # where Slack reaches us (HTTP mode): manifest and OAuth
    app_name: str = "Callboard"
    ack_ms: int = 2500  # answer in the ack when the reply is ready this soon
    user_cache_minutes: int = 60
    rate_limit_retries: int = 3
    oauth: bool = False  # several workspaces: OAuth install, tokens in our database

    @property
    def events_url(self) -> str | None:
        return f"{self.public_url}/slack/events" if self.public_url else None


def parse_slack(sec: Section) -> SlackSettings:
    """Read ``slack:``; secrets are refused with the environment variable to use instead."""
    for key, env in _SLACK_SECRET_KEYS.items():
        if key in sec.data:
            raise sec.error(
                key, f"is a secret: set the {env} environment variable instead of a config key"
            )
    if not sec.present:
        return SlackSettings()
    mode = (sec.str("mode", "http") or "http").lower()
    if mode not in ("http", "socket"):
        raise sec.error("mode", f"must be http or socket, found {mode!r}")
    api_url = sec.str("api_url", SlackSettings.api_url) or SlackSettings.api_url
    if not api_url.startswith(("http://", "https://")):
        raise sec.error("api_url", f"must be an http(s) URL, found {api_url!r}")
    public_url = sec.str("public_url")
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise sec.error("public_url", f"must be an http(s) URL, found {public_url!r}")
    port = sec.int("port", SlackSettings.port, minimum=0)
    if port > 65535:
        raise sec.error("port", f"must be at most 65535, found {port}")
    ack_ms = sec.int("ack_ms", SlackSettings.ack_ms, minimum=50)
    if ack_ms > 2900:
        raise sec.error("ack_ms", f"must be at most 2900 (Slack waits 3000 ms), found {ack_ms}")
    app_name = sec.str("app_name", SlackSettings.app_name) or SlackSettings.app_name
    if len(app_name) > 35:
        raise sec.error("app_name", f"must be at most 35 characters (Slack's limit): {app_name!r}")
    settings = SlackSettings(
        enabled=True,
        mode="socket" if mode == "socket" else "http",
        host=sec.str("host", SlackSettings.host) or SlackSettings.host,
        port=port,
        # slack_sdk joins method names with urljoin: a base URL with a path must end in "/".
        api_url=api_url if api_url.endswith("/") else api_url + "/",
        public_url=public_url.rstrip("/") if public_url else None,
        app_name=app_name,
        ack_ms=ack_ms,
        user_cache_minutes=sec.int(
            "user_cache_minutes", SlackSettings.user_cache_minutes, minimum=0
        ),
        rate_limit_retries=sec.int(
            "rate_limit_retries", SlackSettings.rate_limit_retries, minimum=0
        ),
        oauth=sec.bool("oauth", False),
    )
    if settings.oauth and settings.mode == "socket":
        raise sec.error("oauth", "needs mode: http (OAuth installs redirect to a public URL)")
    if settings.oauth and not settings.public_url:
        raise sec.error("oauth", "needs slack.public_url (the OAuth redirect goes there)")
    return settings


DISCORD_TOKEN = "DISCORD_TOKEN"

DiscordSync = Literal["changed", "always", "never"]


@dataclass(frozen=True)
class DiscordSettings:
    """The ``discord:`` section. ``enabled`` is False when the section is absent.

    The bot token comes only from the ``DISCORD_TOKEN`` environment variable.
    """

    enabled: bool = False
    guild_id: int | None = None  # sync commands to this server (instant); global otherwise
    message_content: bool = False  # privileged intent: answer "@Callboard who owns x"
    sharding: bool = False  # AutoShardedClient, for bots in many servers
    shard_count: int | None = None  # with sharding: None lets Discord recommend a count
    sync_on_start: DiscordSync = "changed"  # push the command tree at start-up when...
    defer_ms: int = 2000  # answer directly when the reply is ready this soon, else defer()


def parse_discord(sec: Section) -> DiscordSettings:
    """Read ``discord:``; a token in the file is refused with the variable to use instead."""
    for key in ("token", "bot_token"):
        if key in sec.data:
            raise sec.error(
                key,
                f"is a secret: set the {DISCORD_TOKEN} environment variable instead of a "
                "config key",
            )
    if not sec.present:
        return DiscordSettings()
    guild_id = _snowflake(sec, "guild_id")
    sharding = sec.bool("sharding", False)
    shard_count: int | None = None
    if sec.data.get("shard_count") is not None:
        shard_count = sec.int("shard_count", 1, minimum=1)
        if not sharding:
            raise sec.error("shard_count", "needs sharding: true")
    else:
        sec.raw("shard_count")
    sync = (sec.str("sync_on_start", "changed") or "changed").lower()
    if sync not in ("changed", "always", "never"):
        raise sec.error("sync_on_start", f"must be changed, always or never, found {sync!r}")
    defer_ms = sec.int("defer_ms", DiscordSettings.defer_ms, minimum=0)
    if defer_ms > 2900:
        raise sec.error(
            "defer_ms", f"must be at most 2900 (Discord waits 3000 ms), found {defer_ms}"
        )
    return DiscordSettings(
        enabled=sec.bool("enabled", True),
        guild_id=guild_id,
        message_content=sec.bool("message_content", False),
        sharding=sharding,
        shard_count=shard_count,
        sync_on_start="always" if sync == "always" else "never" if sync == "never" else "changed",
        defer_ms=defer_ms,
    )


def _snowflake(sec: Section, key: str) -> int | None:
    """A Discord id: digits only (quote it in YAML or not; both work)."""
    value = sec.str(key)
    if value is None or value == "":
        return None
    text = value.strip()
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
    if not re.fullmatch(r"[0-9]{15,21}", text):
        raise sec.error(key, f"must be a Discord id (a number of 15 to 21 digits), found {value!r}")
    return int(text)

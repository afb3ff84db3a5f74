"""The ``discord:`` config section: defaults, ids, sharding, and no secrets in the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import parse_settings
from bot.errors import ConfigError
from bot.platforms import DiscordSettings


def discord(section: Any) -> DiscordSettings:
    data = {} if section is None else {"discord": section}
    settings = parse_settings(data, "callboard.yaml", Path("/tmp"))
    return settings.section("discord", DiscordSettings)


def test_absent_means_disabled_and_present_means_enabled() -> None:
    assert discord(None) == DiscordSettings()
    assert not discord(None).enabled
    on = discord({})
    assert on.enabled and on.guild_id is None and not on.message_content
    assert on.sync_on_start == "changed" and on.defer_ms == 2000
    assert not discord({"enabled": False}).enabled


def test_a_full_section() -> None:
    got = discord(
        {
            "guild_id": 941059834533996378,
            "message_content": True,
            "sharding": True,
            "shard_count": 4,
            "sync_on_start": "never",
            "defer_ms": 0,
        }
    )
    assert got == DiscordSettings(
        enabled=True,
        guild_id=941059834533996378,
        message_content=True,
        sharding=True,
        shard_count=4,
        sync_on_start="never",
        defer_ms=0,
    )
    assert discord({"guild_id": "941059834533996378"}).guild_id == 941059834533996378


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"token": "x"}, "discord.token is a secret: set the DISCORD_TOKEN environment variable"),
        ({"bot_token": "x"}, "discord.bot_token is a secret"),
        ({"guild_id": "acme"}, "discord.guild_id must be a Discord id"),
        ({"guild_id": 12}, "discord.guild_id must be a Discord id"),
        ({"guild_id": "¹²³⁴⁵⁶⁷⁸⁹¹²³⁴⁵⁶⁷"}, "discord.guild_id must be a Discord id"),
        ({"shard_count": 2}, "discord.shard_count needs sharding: true"),
        ({"sharding": True, "shard_count": 0}, "discord.shard_count must be at least 1"),
        ({"defer_ms": 3000}, "discord.defer_ms must be at most 2900"),
        ({"sync_on_start": "sometimes"}, "discord.sync_on_start must be changed, always or never"),
        ({"message_content": "maybe"}, "discord.message_content must be true or false"),
        ({"guild": 1}, "unknown key discord.guild"),
    ],
)
def test_bad_values_name_the_key_and_the_file(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        discord(section)
    assert str(caught.value).startswith("callboard.yaml: ")

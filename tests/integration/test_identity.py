"""Chat user ↔ catalog User: one rule (email, then the platform's user-id annotation)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import App
from bot.chat import ChatUser
from bot.errors import Ambiguous, NotFound
from bot.identity import Identity
from tests.conftest import AppFactory, aask

V1 = "backstage.io/v1alpha1"


def _user(name: str, email: str | None = None, **annotations: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"memberOf": []}
    if email:
        spec["profile"] = {"email": email}
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": V1, "kind": "User", "metadata": meta, "spec": spec}


@pytest.fixture
def people(make_app: AppFactory, tmp_path: Path) -> App:
    docs = [
        _user("ana", "ana@example.com", **{"slack.com/user-id": "U0ANA"}),
        _user("bo", "bo@example.com", **{"slack.com/user-id": "U0BO", "discord.com/user-id": "42"}),
        _user("cy", None, **{"discord.com/user-id": "77"}),
        _user("twin1", "t1@example.com", **{"discord.com/user-id": "99"}),
        _user("twin2", "t2@example.com", **{"discord.com/user-id": "99"}),
    ]
    path = tmp_path / "people.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return make_app(sources=[{"type": "file", "name": "people", "target": str(path)}])


async def test_the_email_comes_first_and_a_disagreeing_annotation_is_named(people: App) -> None:
    identity = Identity(people.services.catalog)
    match = await identity.catalog_user(ChatUser("slack", "U0BO", "ana", "ana@example.com"))
    assert str(match.user.ref) == "user:default/ana"
    assert match.how == "email ana@example.com"
    assert match.conflict is not None
    assert "slack.com/user-id U0BO names user:default/bo" in match.conflict
    assert "email wins" in match.shown_how


async def test_without_an_email_the_platforms_annotation_finds_the_user(people: App) -> None:
    identity = Identity(people.services.catalog)
    slack = await identity.catalog_user(ChatUser("slack", "U0ANA", "ana"))
    discord = await identity.catalog_user(ChatUser("discord", "77", "cy"))
    assert (str(slack.user.ref), slack.how) == ("user:default/ana", "slack.com/user-id U0ANA")
    assert (str(discord.user.ref), discord.how) == ("user:default/cy", "discord.com/user-id 77")
    assert slack.conflict is None and discord.conflict is None


async def test_an_unknown_or_doubly_claimed_chat_id_says_how_to_fix_it(people: App) -> None:
    identity = Identity(people.services.catalog)
    with pytest.raises(NotFound, match=re.escape('discord.com/user-id: "5"')):
        await identity.catalog_user(ChatUser("discord", "5", "x"))
    with pytest.raises(Ambiguous, match="the annotation must be unique"):
        await identity.catalog_user(ChatUser("discord", "99", "twin"))


async def test_adapters_borrow_an_email_only_from_one_user(people: App) -> None:
    identity = Identity(people.services.catalog)
    assert await identity.email_for("slack", "U0BO") == "bo@example.com"
    assert await identity.email_for("discord", "42") == "bo@example.com"
    assert await identity.email_for("discord", "99") is None  # two Users claim it
    assert await identity.email_for("discord", "U0BO") is None  # another platform's id
    assert await identity.email_for("console", "U0BO") is None


async def test_a_catalog_user_gives_their_chat_id_per_platform(people: App) -> None:
    bo = await people.services.catalog.get("user:default/bo")
    assert bo is not None
    assert Identity.chat_id(bo, "slack") == "U0BO"
    assert Identity.chat_id(bo, "discord") == "42"
    assert Identity.chat_id(bo, "console") is None


async def test_here_says_which_user_the_annotation_named_when_the_email_won(people: App) -> None:
    reply = await aask(people, "/here", ChatUser("slack", "U0BO", "ana", "ana@example.com"))
    assert "matched by email ana@example.com" in reply.to_text()
    assert "slack.com/user-id U0BO names user:default/bo; the email wins" in reply.to_text()

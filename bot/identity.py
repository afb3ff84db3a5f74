"""Who a person is: chat user ↔ catalog User, and what names a person in text.

``Identity`` maps a chat user to a catalog User by ``spec.profile.email`` first, then by the
User's platform annotation holding the chat user id (``slack.com/user-id``,
``discord.com/user-id``). The same keys let a name typed in chat find the person it names:
``ana.silva@acme-rides.example``, ``<@U0ANASILVA>`` (Slack), ``<@!123…>`` (Discord) or the
bare id.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.annotations import USER_ID_ANNOTATIONS
from bot.chat import ChatUser
from bot.errors import Ambiguous, NotFound

if TYPE_CHECKING:
    from bot.catalog.model import Entity
    from bot.ports import CatalogQueries

log = logging.getLogger(__name__)

_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
# Slack: <@U0123ABCD> or <@U0123ABCD|ana>; Discord: <@123456789012345678> or <@!1234…>.
_MENTION = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>")


def as_email(text: str) -> str | None:
    """``text`` as an email address (lower-cased), when it is one; ``mailto:`` is dropped."""
    value = text.strip()
    if value.lower().startswith("mailto:"):
        value = value[len("mailto:") :]
    value = value.strip("<>")
    if "|" in value:  # Slack sends <mailto:a@b.example|a@b.example>
        value = value.split("|", 1)[1]
    return value.lower() if _EMAIL.fullmatch(value) else None


def mentioned_id(text: str) -> str | None:
    """The user id a chat mention holds (``<@U0123ABCD>``), else None."""
    match = _MENTION.fullmatch(text.strip())
    return match.group(1) if match else None


@dataclass(frozen=True)
class Match:
    """The catalog User behind a chat user, how they were matched, and any disagreement."""

    user: Entity
    how: str  # "email ana@…" or "slack.com/user-id U0…"
    conflict: str | None = None  # set when the email and the user-id annotation name two Users

    @property
    def shown_how(self) -> str:
        return f"{self.how} ({self.conflict})" if self.conflict else self.how


class Identity:
    """Chat user ↔ catalog User, for every platform, by one rule.

    A chat user is the catalog User whose ``spec.profile.email`` is their email; failing
    that, the User whose platform user-id annotation (``slack.com/user-id``,
    ``discord.com/user-id``) holds their chat id. When both name a User and they differ, the
    email wins and the match says so. A catalog User's chat id on a platform is that
    annotation.
    """

    def __init__(self, catalog: CatalogQueries) -> None:
        self.catalog = catalog

    async def catalog_user(self, user: ChatUser, config_path: object = None) -> Match:
        """The one User behind ``user``; ``NotFound`` says how to fix the mapping.

        ``Ambiguous`` when two Users claim the same email or chat id. ``config_path`` names
        the file where the console's ``console.user_email`` is set, for the message.
        """
        key = USER_ID_ANNOTATIONS.get(user.platform)
        by_id = await self._by_chat_id(user.platform, user.id)
        if user.email:
            found = await self.catalog.users_by_email(user.email)
            if len(found) > 1:
                raise Ambiguous(
                    f"Several catalog Users have the email {user.email}; it must be unique:",
                    tuple(str(u.ref) for u in found),
                )
            if found:
                match = found[0]
                conflict = None
                if by_id and key and any(u.ref != match.ref for u in by_id):
                    others = ", ".join(str(u.ref) for u in by_id if u.ref != match.ref)
                    conflict = f"{key} {user.id} names {others}; the email wins"
                    log.warning(
                        "chat user %s:%s: email %s is %s but %s; the email wins",
                        user.platform,
                        user.id,
                        user.email,
                        match.ref,
                        conflict,
                    )
                return Match(match, f"email {user.email}", conflict)
        if key and user.id:
            if len(by_id) == 1:
                return Match(by_id[0], f"{key} {user.id}")
            if len(by_id) > 1:
                raise Ambiguous(
                    f"Several catalog Users have {key}: {user.id}; the annotation must be unique:",
                    tuple(str(u.ref) for u in by_id),
                )
        raise NotFound(unknown_user_message(user, key, config_path))

    async def email_for(self, platform: str, chat_id: str) -> str | None:
        """The email of the one catalog User holding ``chat_id``, for a platform that shares
        none (Discord, or a Slack profile without one); None when no User or several do."""
        try:
            found = await self._by_chat_id(platform, chat_id)
        except Exception:
            log.exception("looking up the catalog user for %s user %s failed", platform, chat_id)
            return None
        if len(found) > 1:
            log.warning(
                "%s user %s is claimed by several catalog users (%s); not mapped",
                platform,
                chat_id,
                ", ".join(str(e.ref) for e in found),
            )
            return None
        return found[0].email if found else None

    @staticmethod
    def chat_id(user: Entity, platform: str) -> str | None:
        """The catalog User's user id on ``platform`` (its user-id annotation), if set."""
        key = USER_ID_ANNOTATIONS.get(platform)
        value = user.annotations.get(key, "").strip() if key else ""
        return value or None

    async def _by_chat_id(self, platform: str, chat_id: str) -> list[Entity]:
        key = USER_ID_ANNOTATIONS.get(platform)
        if not key or not chat_id:
            return []
        return list(await self.catalog.with_annotation("user", key, chat_id))


def unknown_user_message(user: ChatUser, key: str | None, config_path: object = None) -> str:
    """Why no catalog User matched ``user``, and the one change that fixes it."""
    config = config_path or "the config file"
    if user.platform == "console":
        if not user.email:
            return (
                "I don't know who you are in the catalog: the console has no user email. "
                f"Set console.user_email in {config} (CALLBOARD_USER_EMAIL for the default "
                "config) to the spec.profile.email of your User entity."
            )
        return (
            f"No User in the catalog has the email {user.email} (spec.profile.email). "
            f"Set console.user_email in {config} to your User's email, or add "
            f"spec.profile.email: {user.email} to your User entity."
        )
    tried = f"{key}: {user.id}" if key else "a chat user id"
    email = f" or the email {user.email}" if user.email else ""
    fix = (
        f'Add the annotation {key}: "{user.id}" to your User entity (metadata.annotations)'
        if key
        else "Add spec.profile.email to your User entity"
    )
    return f"I can't find you in the catalog: no User has {tried}{email}. {fix}."

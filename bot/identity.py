"""What names a person: an email, a chat mention, a platform user id (no I/O here).

Callboard maps a chat user to a catalog User by ``spec.profile.email`` first, then by the
User's platform annotation holding the chat user id (``slack.com/user-id``,
``discord.com/user-id``). The same keys let a name typed in chat find the person it names:
``ana.silva@acme-rides.example``, ``<@U0ANASILVA>`` (Slack), ``<@!123…>`` (Discord) or the
bare id.
"""

from __future__ import annotations

import re

from bot.annotations import USER_ID_ANNOTATIONS as USER_ID_ANNOTATIONS

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

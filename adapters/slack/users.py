"""Slack user → ``ChatUser`` with an email, so ``me`` and permissions find the catalog User;
and email → Slack user, so the person on call shows as a mention.

``users.info`` gives the profile email (with the ``users:read.email`` scope); answers are cached
for ``user_cache_minutes``. Without an email (scope missing, bots, guests hiding it), a catalog
User carrying ``slack.com/user-id: U…`` supplies it. A failing ``users.info`` never fails the
command: the user is then known by id only.

``users.lookupByEmail`` (the same scope) finds the Slack user behind an email, cached per team
and email for ``user_cache_minutes`` (a "users_not_found" too); a failure is "not known",
never an error: the person is then shown by name and email.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import ChatUser
from bot.identity import Identity

log = logging.getLogger(__name__)

PLATFORM = "slack"
MAX_CACHED = 10_000


class SlackUsers:
    """A cache of Slack users, keyed by team and user id."""

    def __init__(
        self,
        identity: Identity,
        ttl_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = identity
        self.ttl = ttl_seconds
        self.monotonic = monotonic
        self._cache: dict[tuple[str, str], tuple[float, ChatUser]] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[ChatUser]] = {}
        self._emails: dict[tuple[str, str], tuple[float, str | None]] = {}  # (team, email) → id

    async def get(
        self, client: AsyncWebClient, user_id: str, team_id: str = "", name: str | None = None
    ) -> ChatUser:
        """The user, from the cache or one ``users.info`` call (shared by concurrent askers)."""
        key = (team_id, user_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self.monotonic():
            return cached[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ChatUser] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            user, settled = await self._lookup(client, user_id, name)
            future.set_result(user)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            del self._pending[key]
        if self.ttl > 0 and settled:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = (self.monotonic() + self.ttl, user)
        return user

    async def _lookup(
        self, client: AsyncWebClient, user_id: str, name: str | None
    ) -> tuple[ChatUser, bool]:
        """The user, and whether Slack's answer was final (a timeout or a 5xx/429 is not)."""
        email: str | None = None
        settled = True
        try:
            response = await client.users_info(user=user_id)
            info = response.get("user") or {}
            profile = info.get("profile") or {}
            email = profile.get("email") or None
            name = (
                profile.get("display_name") or profile.get("real_name") or info.get("name") or name
            )
        except SlackApiError as exc:
            log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
            settled = exc.response.status_code < 500 and exc.response.status_code != 429
        except (TimeoutError, SlackClientError, OSError) as exc:
            log.warning("users.info for %s failed: %s", user_id, exc)
            settled = False
        if not email:
            email = await self.identity.email_for(PLATFORM, user_id)
        return ChatUser(PLATFORM, user_id, name, email), settled

    async def id_for_email(
        self, client: AsyncWebClient, email: str, team_id: str = ""
    ) -> str | None:
        """The id of the Slack user with ``email`` (``users.lookupByEmail``), cached; None
        when there is none (or a deactivated one) or Slack did not say."""
        key = (team_id, email.strip().lower())
        cached = self._emails.get(key)
        if cached is not None and cached[0] > self.monotonic():
            return cached[1]
        found: str | None = None
        settled = True
        try:
            response = await client.users_lookupByEmail(email=key[1])
            user = response.get("user") or {}
            if not user.get("deleted"):
                found = str(user.get("id") or "") or None
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error != "users_not_found":
                log.warning("users.lookupByEmail failed: %s", error)
            settled = exc.response.status_code < 500 and exc.response.status_code != 429
        except (TimeoutError, SlackClientError, OSError) as exc:
            log.warning("users.lookupByEmail failed: %s", exc)
            settled = False
        if self.ttl > 0 and settled:
            if len(self._emails) >= MAX_CACHED:
                self._emails.clear()
            self._emails[key] = (self.monotonic() + self.ttl, found)
        return found

    def people(self, client: AsyncWebClient, team_id: str = "") -> SlackPeople:
        """``bot.chat.ChatPeople`` for one request: emails looked up in its workspace."""
        return SlackPeople(self, client, team_id)

    def forget(self, user_id: str, team_id: str = "") -> None:
        """Drop one user (a ``user_change`` event, or a test)."""
        self._cache.pop((team_id, user_id), None)


class SlackPeople:
    """Implements ``bot.chat.ChatPeople`` with ``users.lookupByEmail`` in one workspace."""

    def __init__(self, users: SlackUsers, client: AsyncWebClient, team_id: str) -> None:
        self.users = users
        self.client = client
        self.team_id = team_id

    async def user_id_for_email(self, email: str) -> str | None:
        return await self.users.id_for_email(self.client, email, self.team_id)

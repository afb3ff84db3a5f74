"""Several workspaces: OAuth installs, with tokens in Callboard's own database.

With ``slack.oauth: true`` the app is installed per workspace through ``/slack/install`` →
Slack → ``/slack/oauth_redirect``; each workspace's bot token is kept by slack_sdk's
``SQLAlchemyInstallationStore`` in the ``slack_installations`` and ``slack_bots`` tables of
Callboard's database (migration 0004), and the OAuth ``state`` values in
``slack_oauth_states``. Tokens are stored as Slack issued them: protect the database (or use
PostgreSQL with encryption at rest) like any other secret store.

slack_sdk's SQLAlchemy stores are synchronous; Bolt's ``AsyncApp`` needs asynchronous ones,
so each call runs in a worker thread. Authorisations are cached per workspace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.client import make_client
from adapters.slack.manifest import BOT_SCOPES
from adapters.slack.post import ChannelResolver
from bot.app import App
from bot.errors import DeliveryError
from bot.platforms import SlackSettings

if TYPE_CHECKING:
    from adapters.slack.runtime import SlackRuntime, SlackSecrets

log = logging.getLogger(__name__)

T = TypeVar("T")
STATE_SECONDS = 600
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


class ThreadedInstallationStore(AsyncInstallationStore):
    """slack_sdk's SQLAlchemy installation store, each call in a worker thread."""

    def __init__(self, store: SQLAlchemyInstallationStore) -> None:
        self.store = store

    @property
    def logger(self) -> logging.Logger:
        return log

    async def _run(self, fn: Callable[..., T], **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, **kwargs)

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self.store.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self.store.save_bot, bot)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        return await self._run(
            self.store.find_bot,
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await self._run(
            self.store.find_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._run(self.store.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._run(
            self.store.delete_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
        )


class ThreadedStateStore(AsyncOAuthStateStore):
    """slack_sdk's SQLAlchemy OAuth state store, each call in a worker thread."""

    def __init__(self, store: SQLAlchemyOAuthStateStore) -> None:
        self.store = store

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await asyncio.to_thread(self.store.issue)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self.store.consume, state)


def installation_store(app: App, client_id: str) -> ThreadedInstallationStore:
    return ThreadedInstallationStore(SQLAlchemyInstallationStore(client_id, app.db.engine))


def oauth_options(
    app: App, settings: SlackSettings, secrets: SlackSecrets, client: AsyncWebClient
) -> dict[str, Any]:
    """``AsyncApp`` options for OAuth installs kept in Callboard's database."""
    assert secrets.client_id and secrets.client_secret and settings.public_url
    store = installation_store(app, secrets.client_id)
    states = ThreadedStateStore(SQLAlchemyOAuthStateStore(STATE_SECONDS, app.db.engine))
    flow = AsyncOAuthFlow(
        client=client,
        settings=AsyncOAuthSettings(
            client_id=secrets.client_id,
            client_secret=secrets.client_secret,
            scopes=list(BOT_SCOPES),
            redirect_uri=f"{settings.public_url}{REDIRECT_PATH}",
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            installation_store=store,
            installation_store_bot_only=True,
            state_store=states,
            state_expiration_seconds=STATE_SECONDS,
        ),
    )
    authorize = AsyncInstallationStoreAuthorize(
        logger=log,
        installation_store=store,
        client_id=secrets.client_id,
        client_secret=secrets.client_secret,
        bot_only=True,
        cache_enabled=True,  # one auth.test per workspace, not one per request
        client=client,
    )
    return {
        "oauth_flow": flow,
        "installation_store": store,
        "authorize": authorize,
        "user_facing_authorize_error_message": (
            "Callboard is not installed in this workspace: an admin can install it at "
            f"{settings.public_url}{INSTALL_PATH}"
        ),
    }


def workspace_resolver(runtime: SlackRuntime) -> ChannelResolver:
    """Channels as ``T0123/C0456`` (or just ``C0456`` when one workspace is installed)."""
    assert runtime.secrets.client_id
    store = installation_store(runtime.app, runtime.secrets.client_id)

    async def resolve(channel: str) -> tuple[AsyncWebClient, str]:
        team_id, sep, channel_id = channel.partition("/")
        if not sep:
            teams = await asyncio.to_thread(_installed_teams, store.store)
            if len(teams) != 1:
                raise DeliveryError(
                    f"Slack channel {channel}: name the workspace as <team id>/{channel} "
                    f"({len(teams)} workspaces are installed)",
                    channel,
                )
            team_id, channel_id = teams[0], channel
        bot = await store.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            raise DeliveryError(f"Slack workspace {team_id} has not installed Callboard", channel)
        session = runtime.adapter.client.session if runtime.adapter else None
        return make_client(runtime.settings, bot.bot_token, session), channel_id

    return resolve


def _installed_teams(store: SQLAlchemyInstallationStore) -> list[str]:
    import sqlalchemy

    with store.engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.select(store.bots.c.team_id)
            .where(store.bots.c.client_id == store.client_id)
            .distinct()
        ).all()
    return sorted(str(r.team_id) for r in rows if r.team_id)

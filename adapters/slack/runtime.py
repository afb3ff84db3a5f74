"""Serving Slack: secrets from the environment, the HTTP server or Socket Mode, the poster.

HTTP mode is an aiohttp server on ``slack.host``/``slack.port``: ``POST /slack/events`` takes
slash commands, events, interactivity and option loads. Its handler checks the signature over
the raw body bytes before anything parses them (``verify_request``): an unsigned, badly signed
or stale request, or one with a malformed timestamp, gets 401 and nothing else runs; a signed
body that is not what Slack sends gets 400; bodies over 1 MiB get 413 (aiohttp). Bolt checks
the signature again.
``GET /healthz`` answers load balancers (the process is alive), ``GET /readyz`` whether to
send it requests (200, or 503 with the reasons as JSON: ``App.not_ready``), ``GET /metrics``
Prometheus, and with ``slack.oauth`` ``GET /slack/install`` and
``GET /slack/oauth_redirect`` run the OAuth install. Socket Mode needs no public URL: the app
token (``SLACK_APP_TOKEN``, ``connections:write``) opens a WebSocket and the same listeners run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.metrics_http import add_ops_routes
from adapters.slack.app import SlackAdapter
from adapters.slack.client import make_client
from adapters.slack.post import ChannelResolver, SlackPoster, single_workspace
from bot.app import SHUTTING_DOWN, App
from bot.errors import ConfigError
from bot.platforms import (
    SLACK_APP_TOKEN,
    SLACK_BOT_TOKEN,
    SLACK_CLIENT_ID,
    SLACK_CLIENT_SECRET,
    SLACK_SIGNING_SECRET,
    SlackSettings,
)

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
REPLAY_WINDOW = 300  # seconds either side of now (Slack's documented five minutes)
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: no sign, exponent or fraction
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def verify_request(
    secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> str | None:
    """Why a request is not Slack's (for the debug log), or None when its signature holds.

    HMAC-SHA256 of ``v0:<timestamp>:<raw body bytes>`` with the signing secret, compared in
    constant time, and a timestamp within five minutes. Nothing is parsed before this.
    """
    timestamp = headers.get("X-Slack-Request-Timestamp") or ""
    signature = headers.get("X-Slack-Signature") or ""
    if not secret:
        return "no signing secret"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "malformed or missing timestamp"
    if abs((time.time() if now is None else now) - int(timestamp)) > REPLAY_WINDOW:
        return "stale timestamp"
    if not _SIGNATURE.fullmatch(signature):
        return "malformed or missing signature"
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "signature mismatch"
    return None


def _is_ssl_check(body: bytes) -> bool:
    try:
        return parse_qs(body.decode("ascii")).get("ssl_check") == ["1"]
    except (UnicodeDecodeError, ValueError):
        return False


async def checked_bolt_request(
    request: web.Request, secret: str
) -> AsyncBoltRequest | web.Response:
    """A verified request for Bolt, or the answer (``HTTPUnauthorized``/``HTTPBadRequest``).

    Slack's certificate check (``ssl_check=1``) may come unsigned: it gets an empty 200, as
    Bolt answers it, and nothing runs.
    """
    body = await request.read()  # over client_max_size: 413 from aiohttp
    problem = verify_request(secret, body, request.headers)
    if problem is not None:
        if _is_ssl_check(body):
            return web.Response(status=200)
        log.debug("Slack: refused a request to %s: %s", request.path, problem)
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "invalid request"}), content_type="application/json"
        )
    try:
        bolt_request = await to_bolt_request(request)
        if not isinstance(bolt_request.body, dict):
            raise ValueError(f"a {type(bolt_request.body).__name__} payload")
    except Exception as exc:  # Bolt parses in its constructor and fails in many ways
        log.warning("Slack: a signed request that is not Slack's format: %s", exc)
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "malformed request"}), content_type="application/json"
        ) from exc
    return bolt_request


@dataclass(frozen=True)
class SlackSecrets:
    """What the environment holds for Slack; never logged, never in the config file."""

    bot_token: str | None = None
    signing_secret: str | None = None
    app_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def __repr__(self) -> str:  # dataclass repr would print the tokens
        present = [k for k, v in self.__dict__.items() if v]
        return f"SlackSecrets(set={present})"


def read_secrets(settings: SlackSettings, env: Mapping[str, str]) -> SlackSecrets:
    """The secrets ``settings`` needs, or a ``ConfigError`` naming every missing variable."""
    secrets = SlackSecrets(
        bot_token=env.get(SLACK_BOT_TOKEN) or None,
        signing_secret=env.get(SLACK_SIGNING_SECRET) or None,
        app_token=env.get(SLACK_APP_TOKEN) or None,
        client_id=env.get(SLACK_CLIENT_ID) or None,
        client_secret=env.get(SLACK_CLIENT_SECRET) or None,
    )
    needed: list[tuple[str, str | None]] = []
    if settings.oauth:
        needed += [
            (SLACK_CLIENT_ID, secrets.client_id),
            (SLACK_CLIENT_SECRET, secrets.client_secret),
            (SLACK_SIGNING_SECRET, secrets.signing_secret),
        ]
    else:
        needed.append((SLACK_BOT_TOKEN, secrets.bot_token))
        if settings.mode == "socket":
            needed.append((SLACK_APP_TOKEN, secrets.app_token))
        else:
            needed.append((SLACK_SIGNING_SECRET, secrets.signing_secret))
        if secrets.client_id and secrets.client_secret:
            # Bolt would quietly switch to OAuth with file-based token stores.
            raise ConfigError(
                f"{SLACK_CLIENT_ID} and {SLACK_CLIENT_SECRET} are set but slack.oauth is false: "
                "set slack.oauth: true for installs in several workspaces, or unset them"
            )
    missing = [name for name, value in needed if not value]
    if missing:
        what = "OAuth" if settings.oauth else f"{settings.mode} mode"
        raise ConfigError(f"Slack ({what}) needs the environment variable(s) {', '.join(missing)}")
    if secrets.bot_token and not secrets.bot_token.startswith("xoxb-"):
        raise ConfigError(f"{SLACK_BOT_TOKEN} must be a bot token (xoxb-…)")
    if (
        settings.mode == "socket"
        and secrets.app_token
        and not secrets.app_token.startswith("xapp-")
    ):
        raise ConfigError(f"{SLACK_APP_TOKEN} must be an app-level token (xapp-…)")
    return secrets


class SlackRuntime:
    """The adapter and everything it runs on; one per process, shared by serve and post."""

    def __init__(self, app: App, settings: SlackSettings, secrets: SlackSecrets) -> None:
        self.app = app
        self.settings = settings
        self.secrets = secrets
        self.adapter: SlackAdapter | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._socket: Any = None
        self.stopping = False  # set at shutdown: /readyz answers 503 so traffic moves away
        self.grace_seconds = 5.0  # how long ``close`` lets requests and answers in flight run

    def not_ready(self) -> list[str]:
        """Slack's part of ``/readyz``: shutting down, or not started / not connected."""
        if self.stopping:
            return [SHUTTING_DOWN]
        if self.adapter is None:
            return ["slack: not started"]
        if self.settings.mode == "socket" and self._socket is None:
            return ["slack: not connected (Socket Mode)"]
        return []

    # ------------------------------------------------------------------ startup

    async def start(self) -> SlackAdapter:
        """Build the Bolt app (once), on one HTTP session reused for every Web API call."""
        if self.adapter is not None:
            return self.adapter
        session = aiohttp.ClientSession()
        try:
            client = make_client(self.settings, self.secrets.bot_token, session)
            options: dict[str, Any] = {}
            if self.settings.oauth:
                from adapters.slack.oauth import oauth_options

                options.update(oauth_options(self.app, self.settings, self.secrets, client))
            self.adapter = SlackAdapter(
                self.app, self.settings, client, self.secrets.signing_secret or "", **options
            )
        except BaseException:
            await session.close()
            raise
        self._session = session
        return self.adapter

    def web_app(self, adapter: SlackAdapter) -> web.Application:
        """The HTTP routes: events (all of Slack's requests), health, and the OAuth pages."""

        secret = self.secrets.signing_secret or ""

        async def events(request: web.Request) -> web.Response:
            bolt_request = await checked_bolt_request(request, secret)
            if isinstance(bolt_request, web.Response):
                return bolt_request
            return await to_aiohttp_response(await adapter.bolt.async_dispatch(bolt_request))

        web_app = web.Application()
        web_app.add_routes([web.post(EVENTS_PATH, events)])
        add_ops_routes(web_app, self.app, self.not_ready)  # /healthz, /readyz, /metrics
        flow = adapter.bolt.oauth_flow
        if flow is not None:

            async def install(request: web.Request) -> web.Response:
                return await to_aiohttp_response(
                    await flow.handle_installation(await to_bolt_request(request))
                )

            async def redirect(request: web.Request) -> web.Response:
                return await to_aiohttp_response(
                    await flow.handle_callback(await to_bolt_request(request))
                )

            web_app.add_routes(
                [web.get(flow.install_path, install), web.get(flow.redirect_uri_path, redirect)]
            )
        return web_app

    async def start_http(self, host: str | None = None, port: int | None = None) -> int:
        """Listen for Slack's requests; returns the bound port (``port=0`` picks a free one)."""
        adapter = await self.start()
        self._runner = web.AppRunner(
            self.web_app(adapter), access_log=None, shutdown_timeout=self.grace_seconds
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, host or self.settings.host, self.settings.port if port is None else port
        )
        await site.start()
        bound = int(self._runner.addresses[0][1])
        log.info(
            "Slack: listening on http://%s:%s%s", host or self.settings.host, bound, EVENTS_PATH
        )
        return bound

    async def start_socket(self) -> None:
        """Connect over Socket Mode with the app-level token."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        adapter = await self.start()
        web_client = AsyncWebClient(base_url=self.settings.api_url, session=self._session)
        self._socket = AsyncSocketModeHandler(
            adapter.bolt, self.secrets.app_token, web_client=web_client
        )
        await self._socket.connect_async()
        log.info("Slack: connected in Socket Mode")

    async def serve(self) -> None:
        """Serve until cancelled (``callboard run`` cancels on Ctrl-C or SIGTERM)."""
        try:
            if self.settings.mode == "socket":
                await self.start_socket()
                print("Slack: connected in Socket Mode", file=sys.stderr, flush=True)
            else:
                port = await self.start_http()
                print(
                    f"Slack: listening on http://{self.settings.host}:{port}{EVENTS_PATH}",
                    file=sys.stderr,
                    flush=True,
                )
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def stop(self, grace_seconds: float) -> None:
        """Graceful shutdown (SIGTERM): answer 503 on ``/readyz``, stop taking requests, let
        requests and answers in flight finish (up to ``grace_seconds``). The Web API session
        stays open for a scheduled post still going out; ``close`` ends it."""
        self.stopping = True
        self.grace_seconds = grace_seconds
        log.info("Slack: stopping; finishing requests in flight (up to %ss)", grace_seconds)
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.adapter is not None:
            await self.adapter.close(grace_seconds)

    async def close(self) -> None:
        """Stop taking requests, let answers on their way finish, then close connections."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.adapter is not None:
            await self.adapter.close(self.grace_seconds)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ posting

    def poster(self) -> SlackPoster:
        return SlackPoster(self._resolver())

    def _resolver(self) -> ChannelResolver:
        if self.settings.oauth:
            from adapters.slack.oauth import workspace_resolver

            return workspace_resolver(self)
        own: list[AsyncWebClient] = []

        async def resolve(channel: str) -> tuple[AsyncWebClient, str]:
            if self.adapter is not None:  # serving: share its session
                return await single_workspace(self.adapter.client)(channel)
            if not own:  # posting from a one-off job: a client of our own
                own.append(make_client(self.settings, self.secrets.bot_token))
            return await single_workspace(own[0])(channel)

        return resolve


def new_runtime(app: App, env: Mapping[str, str]) -> SlackRuntime | None:
    """A Slack runtime for ``app``, or None when there is no ``slack`` section (one per app:
    ``bot.bootstrap.build_app`` makes it through ``adapters.slack.PLATFORM``)."""
    settings = app.services.settings.optional_section("slack", SlackSettings)
    if settings is None or not settings.enabled:
        return None
    return SlackRuntime(app, settings, read_secrets(settings, env))

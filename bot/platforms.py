"""Chat platform settings: plain data parsed from the config, no platform SDK imported.

Each platform's adapter reads its section here (``settings.section("slack", SlackSettings)``).
Secrets never live in the config file: tokens and signing secrets come from the environment,
under the names below, and a config key that looks like a secret is an error saying so.
"""

from __future__ import annotations

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

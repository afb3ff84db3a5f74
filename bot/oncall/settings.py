"""The ``oncall:`` config section. Tokens come only from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Section

PAGERDUTY_TOKEN = "PAGERDUTY_TOKEN"  # a REST API key (read-only is enough for /oncall)
OPSGENIE_API_KEY = "OPSGENIE_API_KEY"  # an API integration key with Read access

PAGERDUTY_URL = "https://api.pagerduty.com"
OPSGENIE_URL = "https://api.opsgenie.com"  # EU: https://api.eu.opsgenie.com
EVENTS_URL = "https://events.pagerduty.com"  # PagerDuty Events API v2 (/v2/enqueue)


@dataclass(frozen=True)
class OnCallSettings:
    """Where the providers are and how long answers are kept; a provider is used only when its
    token is in the environment."""

    cache_seconds: int = 60
    budget_ms: int = 1500
    pagerduty_url: str = PAGERDUTY_URL
    opsgenie_url: str = OPSGENIE_URL
    events_url: str = EVENTS_URL
    dedup_minutes: int = 10  # an identical page within this window is a duplicate, not sent
    # Who may /page: catalog groups or users (a bare name is a group); empty: any catalog User.
    page_allowed: tuple[str, ...] = ()


def _refuse_secrets(sec: Section, env: str, *keys: str) -> None:
    for key in keys:
        if sec.raw(key) is not None:
            raise sec.error(
                key, f"is a secret: set the {env} environment variable instead of a config key"
            )


def parse_oncall(sec: Section) -> OnCallSettings:
    """Read ``oncall:`` (defaults when absent)."""
    cache = sec.int("cache_seconds", OnCallSettings.cache_seconds, minimum=0)
    budget = sec.int("budget_ms", OnCallSettings.budget_ms, minimum=50, maximum=30000)
    pd = sec.section("pagerduty")
    _refuse_secrets(pd, PAGERDUTY_TOKEN, "token", "api_key")
    pd_url = pd.str("url", PAGERDUTY_URL) or PAGERDUTY_URL
    events_url = pd.str("events_url", EVENTS_URL) or EVENTS_URL
    pd.done()
    og = sec.section("opsgenie")
    _refuse_secrets(og, OPSGENIE_API_KEY, "api_key", "key", "token")
    og_url = og.str("url", OPSGENIE_URL) or OPSGENIE_URL
    og.done()
    page = sec.section("page")
    dedup = page.int("dedup_minutes", OnCallSettings.dedup_minutes, minimum=0)
    allowed = page.str_list("allowed")
    page.done()
    return OnCallSettings(
        cache_seconds=cache,
        budget_ms=budget,
        pagerduty_url=pd_url.rstrip("/"),
        opsgenie_url=og_url.rstrip("/"),
        events_url=events_url.rstrip("/"),
        dedup_minutes=dedup,
        page_allowed=allowed,
    )

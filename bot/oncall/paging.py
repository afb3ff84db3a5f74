"""Paging from chat: a PagerDuty Events API v2 ``trigger`` or an Opsgenie alert (API v2).

Blocking HTTP (stdlib), run in a worker thread by ``ProviderPager.send``. PagerDuty's Events
API needs no token: the routing key is the entity's ``pagerduty.com/integration-key``. An
Opsgenie alert uses ``OPSGENIE_API_KEY`` (an API key with Create and Update access) and goes
to the ``opsgenie.com/team`` as responder.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from bot.annotations import OPSGENIE_TEAM, PAGERDUTY_INTEGRATION_KEY
from bot.apicalls import CONNECTION, INVALID_RESPONSE, ApiCalls, counted, http_error
from bot.apicalls import TIMEOUT as TIMED_OUT
from bot.oncall.model import OPSGENIE, PAGERDUTY, ProviderError
from bot.oncall.settings import OPSGENIE_API_KEY, OnCallSettings

SEVERITIES = ("critical", "error", "warning", "info")
# Opsgenie priorities for PagerDuty's severities.
PRIORITY = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}
TIMEOUT = 10.0


@dataclass(frozen=True)
class PageTarget:
    """Where a page goes: PagerDuty (the integration key) or Opsgenie (the team)."""

    provider: str
    key: str  # the routing key, or the Opsgenie team name

    @property
    def shown(self) -> str:
        return f"{self.provider} team {self.key}" if self.provider == OPSGENIE else self.provider


@dataclass(frozen=True)
class Page:
    entity: str  # the entity's ref
    summary: str
    severity: str
    details: str
    requester: str
    dedup_key: str


@dataclass(frozen=True)
class Sent:
    """What the provider said: its id for the page (dedup key or request id), and a link."""

    reference: str
    link: str | None = None


def page_target_of(annotations: Mapping[str, str]) -> PageTarget | None:
    key = (annotations.get(PAGERDUTY_INTEGRATION_KEY) or "").strip()
    if key:
        return PageTarget(PAGERDUTY, key)
    team = (annotations.get(OPSGENIE_TEAM) or "").strip()
    if team:
        return PageTarget(OPSGENIE, team)
    return None


def _post(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Any:
    data = json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            body_in = json.loads(e.read() or b"null")
        except (OSError, ValueError):
            body_in = None
        message = str(e.reason)
        if isinstance(body_in, dict):
            errors = body_in.get("errors")
            message = str(body_in.get("message") or message)
            if isinstance(errors, list) and errors:
                message += ": " + "; ".join(str(x) for x in errors)
        if e.code == 429:
            retry = e.headers.get("Retry-After") if e.headers else None
            message += f" (retry after {retry} s)" if retry else ""
        raise ProviderError(f"HTTP {e.code}: {message}", http_error(e.code)) from None
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError):
            kind = TIMED_OUT
        else:
            kind = INVALID_RESPONSE if isinstance(e, ValueError) else CONNECTION
        raise ProviderError(str(reason) or type(e).__name__, kind) from None


class ProviderPager:
    """Sends pages (``bot.ports.Pager``)."""

    def __init__(
        self,
        settings: OnCallSettings,
        environ: Mapping[str, str],
        executor: Executor | None = None,
        calls: ApiCalls | None = None,
    ) -> None:
        self.settings = settings
        self._opsgenie_key = environ.get(OPSGENIE_API_KEY) or None
        self._executor = executor
        self.calls = calls  # each page sent counted there (pagerduty events, opsgenie alerts)

    def can_send(self, target: PageTarget) -> str | None:
        """Why ``target`` cannot be paged (None: it can)."""
        if target.provider == OPSGENIE and not self._opsgenie_key:
            return f"Opsgenie is not configured: set {OPSGENIE_API_KEY}"
        return None

    async def send(self, target: PageTarget, page: Page) -> Sent:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._send, target, page)

    def _send(self, target: PageTarget, page: Page) -> Sent:
        if target.provider == PAGERDUTY:
            body: dict[str, Any] = {
                "routing_key": target.key,
                "event_action": "trigger",
                "dedup_key": page.dedup_key,
                "payload": {
                    "summary": page.summary,
                    "source": page.entity,
                    "severity": page.severity,
                    "component": page.entity,
                    "custom_details": {"details": page.details, "paged by": page.requester},
                },
                "client": "Callboard",
            }
            with counted(self.calls, "pagerduty", "events"):
                answer = _post(f"{self.settings.events_url}/v2/enqueue", body, {}) or {}
            if answer.get("status") != "success":
                raise ProviderError(str(answer.get("message") or "the event was not accepted"))
            return Sent(str(answer.get("dedup_key") or page.dedup_key))
        reason = self.can_send(target)
        if reason:
            raise ProviderError(reason)
        alert: dict[str, Any] = {
            "message": page.summary[:130],
            "alias": page.dedup_key,
            "description": page.details,
            "responders": [{"name": target.key, "type": "team"}],
            "entity": page.entity,
            "source": "Callboard",
            "priority": PRIORITY.get(page.severity, "P3"),
            "details": {"paged by": page.requester},
        }
        headers = {"Authorization": f"GenieKey {self._opsgenie_key}"}
        with counted(self.calls, "opsgenie", "alerts"):
            answer = _post(f"{self.settings.opsgenie_url}/v2/alerts", alert, headers) or {}
        return Sent(str(answer.get("requestId") or page.dedup_key))

"""PagerDuty REST API v2 and Opsgenie API v2 on-call lookups (blocking; run in a worker thread).

PagerDuty: a service's escalation policy (``GET /services/{id}``), then ``GET /oncalls`` for
that policy over the next week (``include[]=users``, paged with ``offset``/``more``).
Opsgenie: a schedule's ``/on-calls`` and ``/next-on-calls``; a team's schedules are those of
``GET /v2/schedules`` whose ``ownerTeam`` is the team.

``coverage`` (for reports: schedule gaps) reads when the first level is covered over a window:
PagerDuty's ``GET /oncalls`` with ``since``/``until``, Opsgenie's schedule ``/timeline``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

from bot.apicalls import ApiCalls
from bot.oncall.http import Query, get_json
from bot.oncall.model import (
    OPSGENIE,
    PAGERDUTY,
    Interval,
    OnCallAnswer,
    OnCallPerson,
    OnCallShift,
    OnCallTarget,
    ProviderError,
    parse_time,
)

# What a schedule check reads: per schedule (as shown), the spans its first level is covered.
Coverage = list[tuple[str, list[Interval]]]

Fetch = Callable[[str, Query, float], Any]  # (path, query, timeout) → JSON
PAGE_LIMIT = 100
MAX_PAGES = 20
LOOKAHEAD = dt.timedelta(days=7)
MAX_ROTATIONS = 50  # of one schedule's timeline
MAX_PERIODS = 2000  # of one rotation's timeline
POLICY_TTL = 3600.0  # seconds a service's escalation policy is kept
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PagerDutyProvider:
    name = PAGERDUTY

    def __init__(self, base_url: str, token: str, calls: ApiCalls | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.calls = calls  # each request counted there (api pagerduty)
        # service → (when read, its escalation policy): policies change rarely, so a lookup is
        # one request (``/oncalls``) once the service has been seen.
        self._policies: dict[str, tuple[float, str]] = {}
        self._headers = {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }

    def _get(self, endpoint: str, path: str, query: Query, timeout: float) -> Any:
        return get_json(
            self.base_url,
            path,
            query,
            self._headers,
            timeout,
            calls=self.calls,
            api="pagerduty",
            endpoint=endpoint,
        )

    def lookup(
        self, target: OnCallTarget, now: dt.datetime, deadline: Callable[[], float]
    ) -> OnCallAnswer:
        """Who is on call for a PagerDuty service, at each level of its escalation policy."""
        shifts = self._shifts(target, now, now + LOOKAHEAD, deadline)
        return split_now_next(target, shifts, now)

    def coverage(
        self,
        target: OnCallTarget,
        since: dt.datetime,
        until: dt.datetime,
        deadline: Callable[[], float],
    ) -> Coverage:
        """The spans someone is on call at the first level of the service's escalation policy
        (``GET /oncalls`` with ``since``/``until``; an entry without bounds is always on)."""
        shifts = self._shifts(target, since, until, deadline)
        first = min((s.level for s in shifts), default=1)
        return [
            (
                f"PagerDuty service {target.id}",
                [(s.start, s.end) for s in shifts if s.level == first],
            )
        ]

    def _shifts(
        self,
        target: OnCallTarget,
        since: dt.datetime,
        until: dt.datetime,
        deadline: Callable[[], float],
    ) -> list[OnCallShift]:
        if target.kind != "service":
            raise ProviderError(f"cannot look up a {target.kind} (only services)")
        policy_id = self._policy(target.id, deadline)
        entries: list[dict[str, Any]] = []
        offset = 0
        for _ in range(MAX_PAGES):
            query: list[tuple[str, str]] = [
                ("escalation_policy_ids[]", str(policy_id)),
                ("include[]", "users"),
                ("since", _iso(since)),
                ("until", _iso(until)),
                ("limit", str(PAGE_LIMIT)),
                ("offset", str(offset)),
            ]
            page = self._get("oncalls", "/oncalls", query, deadline()) or {}
            batch = page.get("oncalls") or []
            entries.extend(e for e in batch if isinstance(e, dict))
            if not page.get("more") or not batch:
                break
            offset += len(batch)
        return [_pd_shift(e) for e in entries]

    def _policy(self, service_id: str, deadline: Callable[[], float]) -> str:
        """The service's escalation policy id (``GET /services/{id}``, kept POLICY_TTL)."""
        known = self._policies.get(service_id)
        if known is not None and time.monotonic() - known[0] < POLICY_TTL:
            return known[1]
        service = self._get("services", f"/services/{service_id}", (), deadline())
        policy = (service or {}).get("service", {}).get("escalation_policy") or {}
        policy_id = policy.get("id")
        if not policy_id:
            raise ProviderError(f"service {service_id} has no escalation policy")
        self._policies[service_id] = (time.monotonic(), str(policy_id))
        return str(policy_id)


def _pd_shift(entry: dict[str, Any]) -> OnCallShift:
    user = entry.get("user") or {}
    schedule = entry.get("schedule") or {}
    return OnCallShift(
        level=int(entry.get("escalation_level") or 1),
        person=OnCallPerson(
            name=str(user.get("name") or user.get("summary") or user.get("id") or "someone"),
            email=user.get("email") or None,
        ),
        start=parse_time(entry.get("start")),
        end=parse_time(entry.get("end")),
        schedule=schedule.get("summary") or schedule.get("name") or None,
    )


def split_now_next(
    target: OnCallTarget, shifts: list[OnCallShift], now: dt.datetime
) -> OnCallAnswer:
    """Shifts covering ``now`` (by level), and per level the first later shift of someone else."""
    current = [
        s for s in shifts if (s.start is None or s.start <= now) and (s.end is None or s.end > now)
    ]
    later = sorted(
        (s for s in shifts if s.start is not None and s.start > now),
        key=lambda s: (s.level, s.start or now),
    )
    following: list[OnCallShift] = []
    for level in sorted({s.level for s in current} | {s.level for s in later}):
        here = {s.person for s in current if s.level == level}
        nxt = next((s for s in later if s.level == level and s.person not in here), None)
        if nxt is not None:
            following.append(nxt)
    seen: set[tuple[int, OnCallPerson, str | None]] = set()
    unique: list[OnCallShift] = []
    for s in sorted(current, key=lambda s: (s.level, s.person.name)):
        if (s.level, s.person, s.schedule) not in seen:
            seen.add((s.level, s.person, s.schedule))
            unique.append(s)
    return OnCallAnswer(target=target, now=tuple(unique), next=tuple(following))


class OpsgenieProvider:
    name = OPSGENIE

    def __init__(self, base_url: str, api_key: str, calls: ApiCalls | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.calls = calls  # each request counted there (api opsgenie)
        self._headers = {"Authorization": f"GenieKey {api_key}"}

    def _get(self, endpoint: str, path: str, query: Query, timeout: float) -> Any:
        return get_json(
            self.base_url,
            path,
            query,
            self._headers,
            timeout,
            calls=self.calls,
            api="opsgenie",
            endpoint=endpoint,
        )

    def lookup(
        self, target: OnCallTarget, now: dt.datetime, deadline: Callable[[], float]
    ) -> OnCallAnswer:
        """Who is on call in a schedule, or in each schedule a team owns, and who is next."""
        schedules = self._schedules(target, deadline)
        now_shifts: list[OnCallShift] = []
        next_shifts: list[OnCallShift] = []
        for level, schedule in enumerate(schedules, start=1):
            kind = "id" if _UUID.fullmatch(schedule) else "name"
            query = (("scheduleIdentifierType", kind), ("flat", "false"), ("date", _iso(now)))
            data = (
                self._get("on-calls", f"/v2/schedules/{schedule}/on-calls", query, deadline()) or {}
            ).get("data") or {}
            shown = (data.get("_parent") or {}).get("name") or schedule
            for p in _og_users(data.get("onCallParticipants")):
                now_shifts.append(OnCallShift(level=level, person=p, schedule=shown))
            data = (
                self._get(
                    "next-on-calls", f"/v2/schedules/{schedule}/next-on-calls", query, deadline()
                )
                or {}
            ).get("data") or {}
            for p in _og_users(data.get("nextOnCallRecipients")):
                next_shifts.append(OnCallShift(level=level, person=p, schedule=shown))
        return OnCallAnswer(target=target, now=tuple(now_shifts), next=tuple(next_shifts))

    def coverage(
        self,
        target: OnCallTarget,
        since: dt.datetime,
        until: dt.datetime,
        deadline: Callable[[], float],
    ) -> Coverage:
        """Per schedule, the spans of its final timeline with someone on call
        (``GET /v2/schedules/{id}/timeline``, a week from ``since``)."""
        out: Coverage = []
        weeks = max(1, -(-(until - since).days // 7))
        for schedule in self._schedules(target, deadline):
            kind = "id" if _UUID.fullmatch(schedule) else "name"
            query = (
                ("identifierType", kind),
                ("interval", str(weeks)),
                ("intervalUnit", "weeks"),
                ("date", _iso(since)),
            )
            data = (
                self._get("timeline", f"/v2/schedules/{schedule}/timeline", query, deadline()) or {}
            ).get("data") or {}
            shown = (data.get("_parent") or {}).get("name") or schedule
            spans: list[Interval] = []
            rotations = (data.get("finalTimeline") or {}).get("rotations") or []
            for rotation in rotations[:MAX_ROTATIONS] if isinstance(rotations, list) else ():
                periods = rotation.get("periods") if isinstance(rotation, dict) else None
                for period in periods[:MAX_PERIODS] if isinstance(periods, list) else ():
                    if isinstance(period, dict) and period.get("recipient"):
                        start = parse_time(period.get("startDate"))
                        end = parse_time(period.get("endDate"))
                        if start is not None and end is not None:
                            spans.append((start, end))
            out.append((f"Opsgenie schedule {shown}", spans))
        return out

    def _schedules(self, target: OnCallTarget, deadline: Callable[[], float]) -> list[str]:
        """The schedule named, or every enabled schedule the team owns."""
        if target.kind == "schedule":
            return [target.id]
        if target.kind != "team":
            raise ProviderError(f"cannot look up a {target.kind}")
        listed = (self._get("schedules", "/v2/schedules", (), deadline()) or {}).get("data") or []
        schedules = [
            str(s.get("name"))
            for s in listed
            if isinstance(s, dict)
            and s.get("enabled", True)
            and (
                (s.get("ownerTeam") or {}).get("name") == target.id
                or (s.get("ownerTeam") or {}).get("id") == target.id
            )
        ]
        if not schedules:
            raise ProviderError(f"team {target.id} owns no schedule")
        return schedules


def _og_users(participants: object) -> list[OnCallPerson]:
    """Users among Opsgenie participants (their ``name`` is the username, an email)."""
    out: list[OnCallPerson] = []
    if not isinstance(participants, list):
        return out
    for p in participants:
        if not isinstance(p, dict):
            continue
        if p.get("type", "user") == "user" and p.get("name"):
            name = str(p["name"])
            out.append(OnCallPerson(name=name, email=name if "@" in name else None))
        elif isinstance(p.get("onCallParticipants"), list):  # an escalation or a team, nested
            out.extend(_og_users(p["onCallParticipants"]))
    return out

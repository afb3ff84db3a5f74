"""The ``notifications`` config section: which changes, which channels, and when to hold them.

```yaml
notifications:
  enabled: true                     # default: true when the section is present
  changes: [added, moved-in, moved-out, removed, owner-unknown, docs-stale]
  team_channels: true               # post to each owning team's channel (its Group annotation)
  routes:                           # and to channels by topic
    - match: {kind: component, type: service, system: payments, lifecycle: production,
              tag: pci, owner: team-payments}   # every key given must match; lists: any of
      channels: [slack:C0PAYMENTS, discord:123456789012345678]
      changes: [moved-in, moved-out]            # optional: only these
  fallback: [slack:C0PLATFORM]      # changes no channel above hears of
  quiet_hours:
    - timezone: Europe/Rome
      start: "20:00"
      end: "08:00"                  # held until then, and sent after (kept in the database)
      channels: [slack:C0ROME]      # optional: the channels it covers (none: every channel)
  max_items: 20                     # lines per message; the rest counted
  check_seconds: 60                 # how often held messages are looked at
```

Posting is paced as reports are (``reports.pace_ms``, ``retries``, ``backoff_ms``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.catalog.model import EntityRef
from bot.config import Section
from bot.errors import CatalogError
from bot.reports.settings import Target, parse_target

# What a message line can say, in the order messages list them.
CHANGE_TYPES = ("added", "moved-in", "moved-out", "removed", "owner-unknown", "docs-stale")
MATCH_KEYS = ("kind", "type", "system", "lifecycle", "tag", "owner")
MAX_ROUTES = 200
MAX_TARGETS = 50

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Route:
    """Channels that hear of the changes of entities matching every key given."""

    targets: tuple[Target, ...]
    kinds: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    systems: frozenset[str] = frozenset()  # full refs: system:default/payments
    lifecycles: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()  # full refs: group:default/team-payments
    changes: frozenset[str] = frozenset(CHANGE_TYPES)


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in a timezone, when posts are held until its end."""

    timezone: str
    start: dt.time
    end: dt.time
    channels: frozenset[Target] = frozenset()  # empty: every channel no other entry names

    def hold_until(self, now: dt.datetime) -> dt.datetime | None:
        """The end of the window ``now`` falls in (UTC), or None when outside it."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= t < self.end
            end_day = local.date()
        else:  # across midnight: 20:00-08:00
            inside = t >= self.start or t < self.end
            end_day = local.date() + dt.timedelta(days=1) if t >= self.start else local.date()
        if not inside:
            return None
        until = dt.datetime.combine(end_day, self.end, tzinfo=zone)
        return until.astimezone(dt.UTC)


@dataclass(frozen=True)
class NotificationsSettings:
    """What change notifications say, and where and when they are posted."""

    enabled: bool = False
    changes: frozenset[str] = frozenset(CHANGE_TYPES)
    team_channels: bool = True
    routes: tuple[Route, ...] = ()
    fallback: tuple[Target, ...] = ()
    quiet_hours: tuple[QuietHours, ...] = field(default_factory=tuple)
    max_items: int = 20
    check_seconds: int = 60

    def quiet_for(self, target: Target) -> QuietHours | None:
        """The quiet hours that cover ``target``: the entry naming it, else a general one."""
        named = next((q for q in self.quiet_hours if target in q.channels), None)
        if named is not None:
            return named
        return next((q for q in self.quiet_hours if not q.channels), None)


def _changes(sec: Section, key: str) -> frozenset[str]:
    values = [v.strip().lower() for v in sec.str_list(key)]
    for value in values:
        if value not in CHANGE_TYPES:
            raise sec.error(key, f"has {value!r}; change types: {', '.join(CHANGE_TYPES)}")
    if not values:
        raise sec.error(key, f"must list at least one of {', '.join(CHANGE_TYPES)}")
    return frozenset(values)


def _targets(sec: Section, key: str, required: bool) -> tuple[Target, ...]:
    values = sec.str_list(key)
    if required and not values:
        raise sec.error(key, "must list at least one platform:channel (e.g. slack:C0PLATFORM)")
    if len(values) > MAX_TARGETS:
        raise sec.error(key, f"lists {len(values)} channels; at most {MAX_TARGETS}")
    return tuple(dict.fromkeys(parse_target(sec, key, v) for v in values))


def _refs(sec: Section, key: str, kind: str, values: tuple[str, ...]) -> frozenset[str]:
    out = set()
    for value in values:
        try:
            out.add(str(EntityRef.parse(value.strip(), kind)))
        except CatalogError as exc:
            raise sec.error(key, f"has {value!r}, which is not an entity ref: {exc}") from None
    return frozenset(out)


def _route(sec: Section) -> Route:
    match = sec.section("match")
    if not match.present or not match.data:
        raise sec.error("match", f"is required: one or more of {', '.join(MATCH_KEYS)}")
    values = {key: match.str_list(key) for key in MATCH_KEYS}
    match.done()
    targets = _targets(sec, "channels", required=True)
    changes = _changes(sec, "changes") if "changes" in sec.data else frozenset(CHANGE_TYPES)
    sec.done()

    def lower(key: str) -> frozenset[str]:
        return frozenset(v.strip().lower() for v in values[key] if v.strip())

    return Route(
        targets=targets,
        kinds=lower("kind"),
        types=lower("type"),
        systems=_refs(match, "system", "system", values["system"]),
        lifecycles=lower("lifecycle"),
        tags=lower("tag"),
        owners=_refs(match, "owner", "group", values["owner"]),
        changes=changes,
    )


def _time(sec: Section, key: str) -> dt.time:
    value = sec.req_str(key).strip()
    found = _TIME.match(value)
    if not found:
        raise sec.error(key, f"must be a time of day as HH:MM (e.g. 20:00), found {value!r}")
    return dt.time(int(found.group(1)), int(found.group(2)))


def _quiet(sec: Section) -> QuietHours:
    tz_name = (sec.str("timezone", "UTC") or "UTC").strip()
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise sec.error(
            "timezone", f"is {tz_name!r}, which is not an IANA time zone (e.g. Europe/Rome, UTC)"
        ) from None
    start, end = _time(sec, "start"), _time(sec, "end")
    if start == end:
        raise sec.error("end", f"is the same as start ({start:%H:%M}): the window would be empty")
    channels = frozenset(_targets(sec, "channels", required=False))
    sec.done()
    return QuietHours(tz_name, start, end, channels)


def parse_notifications(sec: Section) -> NotificationsSettings:
    """Read ``notifications:`` (off when absent)."""
    enabled = sec.bool("enabled", sec.present)
    changes = _changes(sec, "changes") if "changes" in sec.data else frozenset(CHANGE_TYPES)
    routes = tuple(_route(r) for r in sec.sections("routes"))
    if len(routes) > MAX_ROUTES:
        raise sec.error("routes", f"has {len(routes)} routes; at most {MAX_ROUTES}")
    quiet = tuple(_quiet(q) for q in sec.sections("quiet_hours"))
    general = [i for i, q in enumerate(quiet) if not q.channels]
    if len(general) > 1:
        raise sec.error(
            f"quiet_hours[{general[1]}]",
            "covers every channel, as an earlier entry does: give it channels:",
        )
    return NotificationsSettings(
        enabled=enabled,
        changes=changes,
        team_channels=sec.bool("team_channels", True),
        routes=routes,
        fallback=_targets(sec, "fallback", required=False),
        quiet_hours=quiet,
        max_items=sec.int("max_items", 20, minimum=1, maximum=100),
        check_seconds=sec.int("check_seconds", 60, minimum=5, maximum=3600),
    )

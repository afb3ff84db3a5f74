"""The ``reports`` config section: what reports say when all is well, and how they are delivered.

```yaml
reports:
  when_empty: all-clear          # or "skip": post nothing when there is nothing to report
  platform_channel: slack:C0PLATFORM   # unknown/archived channels are reported here, once
  max_items: 10                  # list items per section in a posted digest
  worst_offenders: 5             # teams named in the platform digest
  docs_required: [production]    # lifecycles whose Components must have docs
  changes_days: 7                # with no earlier digest, list changes of this many days
  retries: 3                     # a post the platform rate-limits is tried this often again
  backoff_ms: 2000               # first wait before a retry; doubled each time
  pace_ms: 200                   # pause between two posts to one platform
```

Docs staleness thresholds are the docs index's own (``docs.stale_days``,
``docs.behind_code_days``), so ``/docs`` and the stale-docs report agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.config import Section

WhenEmpty = Literal["all-clear", "skip"]
PLATFORMS = ("slack", "discord", "console")

_CHANNEL = re.compile(r"^\S+$")


@dataclass(frozen=True)
class Target:
    """Where a report goes: one channel of one platform."""

    platform: str
    channel: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.channel}"


def parse_target(sec: Section, key: str, value: str) -> Target:
    """``platform:channel`` (``slack:C0PLATFORM``, ``discord:1234…``, ``console:stdout``)."""
    platform, sep, channel = value.strip().partition(":")
    platform = platform.lower()
    if not sep or platform not in PLATFORMS or not channel or not _CHANNEL.match(channel):
        raise sec.error(
            key,
            f"must be platform:channel with platform one of {', '.join(PLATFORMS)} "
            f"(e.g. slack:C0PLATFORM), found {value!r}",
        )
    if platform == "discord" and not (channel.isdigit() and 15 <= len(channel) <= 21):
        raise sec.error(
            key, f"names a Discord channel by its id (15 to 21 digits), found {value!r}"
        )
    return Target(platform, channel)


@dataclass(frozen=True)
class ReportsSettings:
    """How reports read and how they are delivered."""

    when_empty: WhenEmpty = "all-clear"
    platform_channel: Target | None = None
    max_items: int = 10
    worst_offenders: int = 5
    docs_required: tuple[str, ...] = ("production",)
    changes_days: int = 7
    retries: int = 3
    backoff_ms: int = 2000
    pace_ms: int = 200


def parse_when_empty(sec: Section, key: str, default: WhenEmpty) -> WhenEmpty:
    value = (sec.str(key, default) or default).lower()
    if value == "all-clear":
        return "all-clear"
    if value == "skip":
        return "skip"
    raise sec.error(key, f"must be all-clear or skip, found {value!r}")


MAX_CHANGES_DAYS = 3650


def parse_reports(sec: Section) -> ReportsSettings:
    """Read ``reports:`` (defaults when absent)."""
    channel = sec.str("platform_channel")
    lifecycles = sec.str_list("docs_required") if "docs_required" in sec.data else None
    changes_days = sec.int("changes_days", 7, minimum=1)
    if changes_days > MAX_CHANGES_DAYS:  # further back than datetime can count crashed reports
        raise sec.error(
            "changes_days", f"must be at most {MAX_CHANGES_DAYS} (ten years), found {changes_days}"
        )
    return ReportsSettings(
        when_empty=parse_when_empty(sec, "when_empty", "all-clear"),
        platform_channel=parse_target(sec, "platform_channel", channel) if channel else None,
        max_items=sec.int("max_items", 10, minimum=1),
        worst_offenders=sec.int("worst_offenders", 5, minimum=0),
        docs_required=tuple(x.lower() for x in lifecycles)
        if lifecycles is not None
        else ("production",),
        changes_days=changes_days,
        # Bounded: a digest run waits through these, and must end.
        retries=sec.int("retries", 3, minimum=0, maximum=20),
        backoff_ms=sec.int("backoff_ms", 2000, minimum=0, maximum=300_000),
        pace_ms=sec.int("pace_ms", 200, minimum=0, maximum=60_000),
    )

"""A catalog with planted ownership gaps and stale docs, in a real git repository with backdated
commits, and a stand-in chat platform that remembers every post.

The catalog (``build_planted``) and the exact problems planted in it (``PLANTED_GAPS``,
``PLANTED_DOCS``) are what the report tests hold the reports to: no more, no fewer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.chat import Reply
from bot.errors import ChannelNotFound, DeliveryError, RateLimited

NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # tests.conftest.FixedClock's default

# (code, entity) of every problem planted below.
PLANTED_GAPS = {
    ("owner-missing", "template:default/orphan-template"),
    ("owner-not-found", "component:default/svc-legacy"),
    ("owner-user-not-found", "component:default/svc-marta"),
    ("owner-wrong-kind", "api:default/core-api"),
    ("owner-group-empty", "group:default/team-ghost"),
    ("owner-user-no-group", "user:default/erin"),
    ("owner-user-no-group", "user:default/frank"),
    ("group-owns-nothing", "group:default/team-idle"),
}
PLANTED_DOCS = {
    ("not-updated", "component:default/svc-stale"),
    ("behind-code", "component:default/svc-behind"),
    ("docs-missing", "component:default/svc-nodocs"),
    ("nav-missing", "component:default/svc-nav"),
    ("undocumented", "component:default/svc-undoc"),
}

TEAM_CHANNELS = {
    # group name: (Slack channel id, Discord channel id)
    "team-a": ("C0TEAMA", "100000000000000001"),
    "team-b": ("C0TEAMB", "100000000000000002"),
    "team-ghost": ("C0GHOST", "100000000000000003"),
    "team-idle": ("C0IDLE", "100000000000000004"),
    "team-child": ("C0CHILD", "100000000000000005"),  # nothing wrong here: all clear
}


def _group(name: str, parent: str | None = None, children: Iterable[str] = ()) -> dict[str, Any]:
    annotations = {}
    if name in TEAM_CHANNELS:
        slack, discord = TEAM_CHANNELS[name]
        annotations = {"slack.com/channel-id": slack, "discord.com/channel-id": discord}
    spec: dict[str, Any] = {"type": "team", "children": list(children)}
    if parent:
        spec["parent"] = parent
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Group",
        "metadata": {
            "name": name,
            "title": name.replace("-", " ").title(),
            "annotations": annotations,
        },
        "spec": spec,
    }


def _user(name: str, groups: Iterable[str]) -> dict[str, Any]:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "User",
        "metadata": {"name": name},
        "spec": {"profile": {"email": f"{name}@example.com"}, "memberOf": list(groups)},
    }


def component(
    name: str, owner: str, lifecycle: str = "experimental", docs: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if docs:
        meta["annotations"] = {"backstage.io/techdocs-ref": "dir:."}
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": meta,
        "spec": {"type": "service", "lifecycle": lifecycle, "owner": owner},
    }


def _dump(docs: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)


ORG = [
    {
        **_group("acme", children=["platform-dept"]),
        "spec": {"type": "organization", "children": ["platform-dept"]},
    },
    _group("platform-dept", "acme", ["team-a", "team-b", "team-ghost", "team-idle", "team-parent"]),
    _group("team-a", "platform-dept"),
    _group("team-b", "platform-dept"),
    _group("team-ghost", "platform-dept"),  # owns svc-ghost, nobody in it
    _group("team-idle", "platform-dept"),  # people, owns nothing
    _group("team-parent", "platform-dept", ["team-child"]),  # nobody directly; its child has
    _group("team-child", "team-parent"),
    _user("alice", ["team-a"]),
    _user("bob", ["team-b"]),
    _user("carol", ["team-idle"]),
    _user("dave", ["team-child"]),
    _user("erin", []),  # owns svc-erin, in no group
    _user("frank", ["team-gone"]),  # owns svc-frank; their only group is not in the catalog
]

MISC = [
    component("svc-undoc", "team-b", "production"),  # production, no docs annotation
    component("svc-exp", "team-a"),  # experimental: docs not required
    component("svc-legacy", "group:team-gone"),
    component("svc-marta", "user:marta"),
    component("svc-ghost", "team-ghost"),
    component("svc-erin", "user:erin"),
    component("svc-frank", "user:frank"),
    component("svc-parent", "team-parent"),
    component("lib-child", "team-child"),
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "System",
        "metadata": {"name": "core"},
        "spec": {"owner": "team-a"},
    },
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "API",
        "metadata": {"name": "core-api"},
        "spec": {
            "type": "openapi",
            "lifecycle": "production",
            "owner": "system:core",
            "definition": "openapi: 3.0.0",
        },
    },
    {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "orphan-template"},
        "spec": {"type": "service", "steps": [{"action": "fetch:template"}]},
    },
]

MKDOCS = "site_name: {name}\nnav:\n  - Home: index.md\n"


def git(repo: Path, *args: str, when: dt.datetime | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Planter",
        "GIT_AUTHOR_EMAIL": "planter@example.com",
        "GIT_COMMITTER_NAME": "Planter",
        "GIT_COMMITTER_EMAIL": "planter@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo),
    }
    if when is not None:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = stamp
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def commit(repo: Path, files: dict[str, str], when: dt.datetime, message: str) -> None:
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", *files, when=when)
    git(repo, "commit", "-q", "-m", message, when=when)


def _site(name: str, owner: str, nav_extra: str = "") -> dict[str, str]:
    return {
        f"services/{name}/catalog-info.yaml": _dump([component(name, owner, "production", True)]),
        f"services/{name}/mkdocs.yml": MKDOCS.format(name=name) + nav_extra,
        f"services/{name}/docs/index.md": f"# {name}\n\nWhat {name} does.\n",
    }


def build_planted(root: Path, now: dt.datetime = NOW) -> Path:
    """Write the planted catalog as a git repository under ``root``; returns its Location."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    days = lambda n: now - dt.timedelta(days=n)  # noqa: E731
    # svc-stale: docs and code untouched for 400 days (stale, but not behind its code).
    commit(root, _site("svc-stale", "team-a"), days(400), "svc-stale")
    # svc-behind: docs 150 days old (not stale yet), code changed 10 days ago (140 behind).
    commit(root, _site("svc-behind", "team-b"), days(150), "svc-behind docs")
    commit(root, {"services/svc-behind/src/main.py": "print('hi')\n"}, days(10), "code")
    fresh = {
        **_site("svc-a", "team-a"),
        **_site("svc-nav", "team-a", "  - Runbook: runbook.md\n"),  # runbook.md never written
        "services/svc-nodocs/catalog-info.yaml": _dump(
            [component("svc-nodocs", "team-b", "production", True)]
        ),  # the annotation, and no docs at all
        "org.yaml": _dump(ORG),
        "misc.yaml": _dump(MISC),
        "all.yaml": _dump(
            [
                {
                    "apiVersion": "backstage.io/v1alpha1",
                    "kind": "Location",
                    "metadata": {"name": "planted"},
                    "spec": {
                        "targets": ["./org.yaml", "./misc.yaml", "./services/*/catalog-info.yaml"]
                    },
                }
            ]
        ),
    }
    commit(root, fresh, days(5), "the rest")
    return root / "all.yaml"


def source(location: Path) -> list[dict[str, Any]]:
    return [{"type": "file", "name": "planted", "target": str(location)}]


# ----------------------------------------------------------------------------- a chat platform


@dataclass
class Post:
    platform: str
    channel: str
    reply: Reply


@dataclass
class ChatPlatform:
    """Stands in for Slack or Discord (which cannot run here) behind the ``Poster`` port.

    Channels in ``gone`` do not exist; a channel in ``limits`` answers "rate limited" that
    many times before it takes a post; a channel in ``broken`` fails with another error.
    """

    platform: str
    gone: set[str] = field(default_factory=set)
    limits: dict[str, int] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    retry_after: float | None = 1.5
    posts: list[Post] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def post(self, channel: str, reply: Reply) -> None:
        with self._lock:
            self.attempts.append(channel)
            if channel in self.gone:
                raise ChannelNotFound(
                    f"{self.platform} channel {channel}: channel_not_found", channel
                )
            if self.limits.get(channel, 0) > 0:
                self.limits[channel] -= 1
                raise RateLimited(
                    f"{self.platform} channel {channel}: ratelimited", channel, self.retry_after
                )
            if channel in self.broken:
                raise DeliveryError(f"{self.platform} channel {channel}: msg_too_long", channel)
            self.posts.append(Post(self.platform, channel, reply))

    def channels(self) -> list[str]:
        return [p.channel for p in self.posts]


@dataclass
class FilePlatform:
    """A chat platform for another process: each post is one JSON line in ``path``."""

    platform: str
    path: Path

    async def post(self, channel: str, reply: Reply) -> None:
        line = json.dumps(
            {
                "platform": self.platform,
                "channel": channel,
                "title": reply.title,
                "pid": os.getpid(),
            }
        )
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


# ----------------------------------------------------------------------------- another process


def simulate_replica(
    config: str, schedule_id: str, out: str, fire_times: list[str], jitter_s: float, barrier: Any
) -> None:
    """One bot process firing ``schedule_id`` at each of ``fire_times`` (ISO), in step with the
    other process through ``barrier``; every post is a line in ``out``."""
    import asyncio

    from bot.bootstrap import build_app, build_scheduler, load_settings
    from bot.scheduler import SchedulesSettings
    from commands import COMMANDS
    from tests.conftest import FixedClock

    clock = FixedClock(NOW)
    app = build_app(load_settings(Path(config)), COMMANDS, clock=clock)
    app.services.posters["slack"] = FilePlatform("slack", Path(out))
    app.services.posters["discord"] = FilePlatform("discord", Path(out))
    found = app.services.settings.optional_section("schedules", SchedulesSettings)
    schedules = found.schedules if found else ()
    scheduler = build_scheduler(app, schedules, sleep=_no_sleep)

    async def days() -> None:
        for stamp in fire_times:
            clock.now = dt.datetime.fromisoformat(stamp) + dt.timedelta(seconds=jitter_s)
            await asyncio.to_thread(barrier.wait)
            await scheduler.on_fire(schedule_id)

    try:
        asyncio.run(days())
    finally:
        app.close()


async def _no_sleep(_: float) -> None:
    return None

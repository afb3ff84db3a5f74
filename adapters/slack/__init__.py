"""The Slack adapter: slash commands, mentions, Block Kit, modals, posting, the app manifest.

``PLATFORM`` is what ``bot.bootstrap.build_app`` wires: ``start`` (the runtime, its poster
and server) and ``add_cli`` (``callboard slack-manifest``). Importing this package needs no
Slack SDK: the manifest is plain data, and slack-bolt, slack_sdk and aiohttp are imported only
when a ``slack`` section is configured.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from bot.app import App, Platform, PlatformParts
from bot.errors import ConfigError
from bot.hardening import secret_environ
from bot.platforms import SlackSettings

log = logging.getLogger(__name__)


def add_cli(subparsers: Any) -> None:
    """``callboard slack-manifest``: the Slack app manifest for the registered commands."""
    p = subparsers.add_parser(
        "slack-manifest",
        help="print the Slack app manifest (YAML) for the registered commands",
        description="Print a Slack app manifest: paste it at api.slack.com/apps → Create New "
        "App → From a manifest.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--socket", action="store_true", help="Socket Mode (no request URL)")
    mode.add_argument("--http", action="store_true", help="HTTP mode (needs the public URL)")
    p.add_argument(
        "--url", help="the https:// base URL Slack reaches Callboard at (default: slack.public_url)"
    )
    p.set_defaults(func=cmd_manifest)


def cmd_manifest(ns: argparse.Namespace) -> int:
    from adapters.slack.manifest import build_manifest, manifest_yaml
    from bot.bootstrap import load_settings
    from commands import COMMANDS

    settings = load_settings(Path(ns.config) if ns.config else None)
    slack = settings.optional_section("slack", SlackSettings) or SlackSettings()
    socket = True if ns.socket else False if ns.http else None
    try:
        manifest = build_manifest(COMMANDS, slack, socket=socket, public_url=ns.url)
    except ConfigError as exc:
        print(f"callboard slack-manifest: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(manifest_yaml(manifest))
    return 0


def start(app: App) -> PlatformParts | None:
    """Slack's parts for ``app`` when a ``slack`` section is configured: its runtime, a poster
    for scheduled reports and its server.

    Without Slack's secrets, ``callboard ask/sync/list`` still work (posting is off, with a
    warning); only serving needs them, and then it fails naming the missing variables.
    """
    settings = app.services.settings.optional_section("slack", SlackSettings)
    if settings is None or not settings.enabled:
        return None
    from adapters.slack.runtime import new_runtime

    try:
        # A ConfigError names the missing variables; what is read leaves os.environ.
        runtime = new_runtime(app, secret_environ())
    except ConfigError as exc:
        log.warning("Slack posting is off: %s", exc)
        return PlatformParts("slack", None, error=exc)
    if runtime is None:
        return None
    return PlatformParts(
        "slack",
        runtime,
        poster=runtime.poster(),
        serve=runtime.serve,
        stop=runtime.stop,
        close=runtime.close,
        not_ready=runtime.not_ready,
    )


PLATFORM = Platform("slack", start=start, add_cli=add_cli)

"""The Slack adapter: slash commands, mentions, Block Kit, modals, posting, the app manifest.

The hooks ``adapters/cli.py`` looks for: ``add_cli`` (``callboard slack-manifest``), ``poster``
and ``serve``. Importing this package needs no Slack SDK: the manifest is plain data, and
slack-bolt, slack_sdk and aiohttp are imported only when a ``slack`` section is configured.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bot.app import App
from bot.config import load_settings
from bot.errors import ConfigError
from bot.hardening import secret_environ
from bot.platforms import SlackSettings
from bot.ports import Poster

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


def poster(app: App) -> Poster | None:
    """A poster for scheduled reports, when a ``slack`` section and its token are there."""
    settings = app.settings.optional_section("slack", SlackSettings)
    if settings is None or not settings.enabled:
        return None
    from adapters.slack.runtime import runtime_for

    try:
        runtime = runtime_for(app, secret_environ())
    except ConfigError as exc:
        # `callboard ask/sync/list` work without Slack's secrets; only serving needs them.
        log.warning("Slack posting is off: %s", exc)
        return None
    return runtime.poster() if runtime is not None else None


def serve(app: App) -> Coroutine[Any, Any, None] | None:
    """Serve Slack until cancelled, when a ``slack`` section is configured (else None)."""
    settings = app.settings.optional_section("slack", SlackSettings)
    if settings is None or not settings.enabled:
        return None
    from adapters.slack.runtime import runtime_for

    # A ConfigError names the missing variables; what is read leaves os.environ.
    runtime = runtime_for(app, secret_environ())
    return runtime.serve() if runtime is not None else None

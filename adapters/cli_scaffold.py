"""``callboard scaffold`` and ``callboard audit``: scaffolding without a chat, and its audit log.

``callboard scaffold python-service --set name=checkout-api --set owner=team-payments`` runs
the same checks and steps as the chat dialog, as the console user (``console.user_email``),
printing each step to stderr; ``--dry-run`` renders and lists the files, publishing nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable

from adapters.console import PLATFORM, console_user, terminal_text
from bot.app import App
from bot.audit import AuditEntry
from bot.chat import Request
from bot.scaffold.model import InvalidAnswers
from commands.scaffold import requester_for

AppFactory = Callable[[argparse.Namespace], App]


class StderrProgress:
    """Each step on its own line on stderr (stdout carries the result)."""

    async def update(self, text: str) -> None:
        print(f"... {terminal_text(text)}", file=sys.stderr, flush=True)


def add_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser], make_app: AppFactory) -> None:
    p = sub.add_parser("scaffold", help="create a project from a template (no chat needed)")
    p.add_argument("template", nargs="?", help="the template; none lists them")
    p.add_argument(
        "--set",
        dest="values",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dialog field, e.g. --set name=checkout-api (repeat for each)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="render and list the files; publish nothing"
    )
    p.add_argument("--no-sync", action="store_true", help="use the stored catalog as is")
    p.set_defaults(func=lambda ns: cmd_scaffold(ns, make_app))

    p = sub.add_parser("audit", help="who scaffolded what, when, with which values and result")
    p.add_argument("--limit", type=int, default=50, help="newest N entries (default 50)")
    p.add_argument("--action", help="only this action (scaffold, ...)")
    p.add_argument("--user", help="only actors whose ref, name or id contains this")
    p.add_argument("--target", help="only targets containing this")
    p.add_argument("--since", type=_date, help="only entries from this date on (YYYY-MM-DD)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=lambda ns: cmd_audit(ns, make_app))


def _date(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _values(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise SystemExit(f"callboard scaffold: --set takes KEY=VALUE, not {pair!r}")
        values[key.strip()] = value
    return values


def cmd_scaffold(ns: argparse.Namespace, make_app: AppFactory) -> int:
    values = _values(ns.values)
    app = make_app(ns)
    try:
        if not ns.no_sync:
            app.services.sync.run()
        if not ns.template:
            request = Request(text="/scaffold", user=console_user(app), platform=PLATFORM)
            reply = asyncio.run(app.dispatcher.dispatch(request))
            print(terminal_text(reply.to_text()))
            return 1 if reply.error else 0
        return asyncio.run(_scaffold(app, ns.template, values, ns.dry_run))
    finally:
        app.close()


async def _scaffold(app: App, template: str, values: dict[str, str], dry_run: bool) -> int:
    service = app.services.scaffolder
    ctx = app.dispatcher.context(
        Request(text=f"/scaffold {template}", user=console_user(app), platform=PLATFORM)
    )
    requester = await requester_for(ctx)
    if "owner" not in values:
        owner = await service.default_owner(requester)
        if owner is not None:
            values["owner"] = str(owner)
    try:
        reply = await service.submit(template, values, requester, StderrProgress(), dry_run=dry_run)
    except InvalidAnswers as exc:
        for key, message in exc.errors.items():
            print(terminal_text(f"callboard scaffold: {key}: {message}"), file=sys.stderr)
        return 2
    print(terminal_text(reply.to_text()))
    return 1 if reply.error else 0


def cmd_audit(ns: argparse.Namespace, make_app: AppFactory) -> int:
    app = make_app(ns)
    try:
        entries = asyncio.run(
            app.services.audit.entries(
                limit=max(1, ns.limit),
                action=ns.action,
                actor=ns.user,
                target=ns.target,
                since=ns.since,
            )
        )
    finally:
        app.close()
    if ns.format == "json":
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return 0
    for entry in entries:
        print(terminal_text(audit_line(entry)))
    print(f"{len(entries)} entries", file=sys.stderr)
    return 0


def audit_line(entry: AuditEntry) -> str:
    """``2026-11-02 09:00:03Z #12 scaffold checkout-api succeeded by user:default/ana.silva``,
    then the values and the outcome, indented."""
    when = entry.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    head = (
        f"{when}  #{entry.id}  {entry.action}  {entry.target}  {entry.result}  by "
        f"{entry.actor} ({entry.platform})"
    )
    lines = [head]
    template = entry.details.get("template")
    values = entry.details.get("values")
    if template:
        dry = " (dry run)" if entry.details.get("dry_run") else ""
        lines.append(f"    template: {template}{dry}")
    if isinstance(values, dict) and values:
        shown = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in values.items())
        lines.append(f"    values: {shown}")
    for key in ("repository", "entity"):
        if entry.details.get(key):
            lines.append(f"    {key}: {entry.details[key]}")
    if entry.message:
        lines.append(f"    {entry.message}")
    return "\n".join(lines)

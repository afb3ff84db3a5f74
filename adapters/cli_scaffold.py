"""``callboard scaffold``, ``callboard templates`` and ``callboard audit``: scaffolding without
a chat, the templates on offer, and the audit log.

``callboard scaffold python-service --set name=checkout-api --set owner=team-payments`` runs
the same checks and steps as the chat dialog, as the console user (``console.user_email``),
printing each step to stderr; ``--dry-run`` renders and lists the files, publishing nothing.
``--values form.json`` takes the form's values as JSON, in Backstage's shape (``--set`` wins
over it); ``--output DIR`` writes the files the run would publish (with ``--dry-run``, the
whole workspace, as Backstage's dry run returns it). ``callboard templates`` lists every
template with its engine (native, backstage, cookiecutter, remote: on the team's Backstage)
or why it is not available.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.console import PLATFORM, console_user, terminal_text
from bot.app import App
from bot.audit import AuditEntry
from bot.chat import Reply, Request
from bot.errors import UserError
from bot.scaffold.model import InvalidAnswers, Template

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
    p.add_argument(
        "--values",
        dest="values_file",
        metavar="FILE.json",
        help="the form values as a JSON object (Backstage's shape); --set wins over it",
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        type=Path,
        help="write the files the run would publish into DIR (new or empty)",
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: the reply as data (title, text, sections, links), for scripts",
    )
    p.add_argument("--no-sync", action="store_true", help="use the stored catalog as is")
    p.set_defaults(func=lambda ns: cmd_scaffold(ns, make_app))

    p = sub.add_parser(
        "templates", help="every template, with its engine or why it is not available"
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--no-sync", action="store_true", help="use the stored catalog as is")
    p.set_defaults(func=lambda ns: cmd_templates(ns, make_app))

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


def _json_values(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"callboard scaffold: --values {path}: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"callboard scaffold: --values {path} must hold a JSON object")
    return data


def split_values(
    template: Template, given: dict[str, Any], dry_run: bool
) -> tuple[dict[str, str], dict[str, Any]]:
    """JSON form values → the dialog's text values and the JSON parameters passed as data.

    A template field mapped to one of the dialog's own fields (its name, owner or system
    picker) fills that field; a repository picker's value is kept only for a dry run (a real
    run publishes to the configured remote); what the dialog does not ask goes as data."""
    values: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for key, value in given.items():
        var = template.variable(key)
        if var is not None and var.hidden:
            extra[key] = value  # ui:widget hidden: not asked; Backstage's form sends it as is
        elif key in ("name", "owner") and var is None and isinstance(value, (dict, list)):
            extra[key] = value  # a template's own object or list field of that name
        elif key in ("name", "owner") and (var is None or var.role == key):
            values[key] = _text(value)
            if var is None:
                extra[key] = value  # the template may read it as a parameter too
        elif key == "system" and var is None and template.role_variable("system") is None:
            extra[key] = value  # a parameter of the template, not the dialog's system field
        elif var is not None and var.role in ("name", "owner", "system"):
            values[str(var.role)] = _text(value)
        elif var is not None and var.role == "repo":
            if dry_run or template.engine == "remote":  # Backstage publishes where it says
                extra[key] = value
        elif var is not None and (var.kind != "json" or isinstance(value, str)):
            if isinstance(value, (dict, list)):
                extra[key] = value
            else:
                values[key] = _text(value)
        elif var is not None:
            values[key] = json.dumps(value)
        else:
            extra[key] = value
    return values, extra


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def cmd_scaffold(ns: argparse.Namespace, make_app: AppFactory) -> int:
    values = _values(ns.values)
    given = _json_values(ns.values_file)
    app = make_app(ns)
    try:
        if not ns.no_sync:
            app.services.sync.run()
        if not ns.template:
            request = Request(text="/scaffold", user=console_user(app), platform=PLATFORM)
            reply = asyncio.run(app.dispatcher.dispatch(request))
            print(terminal_text(reply.to_text()))
            return 1 if reply.error else 0
        return asyncio.run(
            _scaffold(app, ns.template, values, ns.dry_run, given, ns.output, ns.format)
        )
    finally:
        app.close()


async def _scaffold(
    app: App,
    template: str,
    values: dict[str, str],
    dry_run: bool,
    given: dict[str, Any] | None = None,
    output: Path | None = None,
    fmt: str = "text",
) -> int:
    service = app.services.scaffolder
    extra: dict[str, Any] = {}
    requester = await service.requester_for(console_user(app))
    if given:
        try:
            found = await service.template(template)
            await service.check_permission(found, requester)
            found = await service.form(found)  # a template run on Backstage: its form there
        except UserError as exc:
            print(terminal_text(f"callboard scaffold: {exc}"), file=sys.stderr)
            return 2
        from_json, extra = split_values(found, given, dry_run)
        values = {**from_json, **values}
    if "owner" not in values:
        owner = await service.default_owner(requester)
        if owner is not None:
            values["owner"] = str(owner)
    try:
        reply = await service.submit(
            template,
            values,
            requester,
            StderrProgress(),
            dry_run=dry_run,
            extra=extra,
            output=output,
        )
    except InvalidAnswers as exc:
        for key, message in exc.errors.items():
            print(terminal_text(f"callboard scaffold: {key}: {message}"), file=sys.stderr)
        return 2
    if fmt == "json":
        print(json.dumps(reply_data(reply), indent=2, ensure_ascii=False))
    else:
        print(terminal_text(reply.to_text()))
    return 1 if reply.error else 0


def reply_data(reply: Reply) -> dict[str, Any]:
    """A reply as plain data: what ``--format json`` prints."""
    return {
        "title": reply.title,
        "text": reply.text,
        "error": reply.error,
        "sections": [
            {
                "title": s.title,
                "text": s.text,
                "items": list(s.items),
                "fields": {f.label: f.value for f in s.fields},
            }
            for s in reply.sections
        ],
        "links": [{"title": link.title, "url": link.url} for link in reply.links],
        "notes": list(reply.notes),
    }


def cmd_templates(ns: argparse.Namespace, make_app: AppFactory) -> int:
    """Every template found: its engine, or the reason it cannot be run."""
    app = make_app(ns)
    try:
        if not ns.no_sync:
            app.services.sync.run()
        listing = asyncio.run(app.services.scaffolder.listing())
    finally:
        app.close()
    rows: list[dict[str, Any]] = [
        {
            "name": t.name,
            "engine": t.engine,
            "available": t.usable,
            "title": t.title,
            "origin": t.origin,
            "problems": list(t.problems),
        }
        for t in listing.templates
    ]
    if ns.format == "json":
        print(json.dumps({"templates": rows, "problems": list(listing.problems)}, indent=2))
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    for row in rows:
        what = row["engine"] if row["available"] else f"not available: {row['problems'][0]}"
        print(terminal_text(f"{row['name']:<{width}}  {what}  ({row['origin']})"))
    for problem in listing.problems:
        print(terminal_text(f"note: {problem}"), file=sys.stderr)
    usable = sum(1 for r in rows if r["available"])
    print(f"{len(rows)} templates, {usable} available", file=sys.stderr)
    return 0


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

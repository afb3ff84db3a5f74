"""``callboard attest report``: an ownership check's evidence as CSV or JSON (for auditors).

Every answer is a row (who, when, on which platform, the entity's version when asked and when
answered, the note, the team named); an entity nobody answered is a ``pending`` row. The
export reads the store only: it neither syncs nor posts.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from bot.app import App

AppFactory = Callable[..., App]

COLUMNS = (
    "campaign",
    "team",
    "entity",
    "title",
    "state",
    "answer",
    "by",
    "user",
    "platform",
    "at",
    "version_asked",
    "version_answered",
    "note",
    "named_team",
)
# A cell a spreadsheet would run as a formula starts with one of these: prefix a quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def add_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser], make_app: AppFactory) -> None:
    p = sub.add_parser("attest", help="ownership checks: export a campaign's evidence")
    actions = p.add_subparsers(dest="attest_command", required=True)
    report = actions.add_parser("report", help="every answer of a campaign, as CSV or JSON")
    report.add_argument("--campaign", type=int, help="the campaign (default: the newest)")
    report.add_argument("--format", choices=("csv", "json"), default="csv")
    report.set_defaults(func=lambda ns: cmd_report(ns, make_app))


def cell(value: Any) -> str:
    """A CSV cell that no spreadsheet runs as a formula (catalog and chat text are untrusted)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def rows(evidence: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per answer, and one per entity still pending."""
    campaign = evidence["campaign"]["id"]
    out: list[dict[str, str]] = []
    for item in evidence["items"]:
        base = {
            "campaign": campaign,
            "team": item["team"],
            "entity": item["entity"],
            "title": item["title"],
            "state": item["state"],
            "version_asked": item["version_asked"],
        }
        answers = item["answers"] or [None]
        for answer in answers:
            row = dict(base)
            if answer is not None:
                row.update(
                    answer=answer["answer"],
                    by=answer["by"],
                    user=answer["user"],
                    platform=answer["platform"],
                    at=answer["at"],
                    version_answered=answer["version"],
                    note=answer["note"],
                    named_team=answer["named_team"],
                )
            out.append({c: cell(row.get(c)) for c in COLUMNS})
    return out


def cmd_report(ns: argparse.Namespace, make_app: AppFactory) -> int:
    app = make_app(ns, posters=False)
    try:
        service = app.services.attest
        if service is None:
            print("callboard attest: this store keeps no ownership checks", file=sys.stderr)
            return 1
        campaign = asyncio.run(service.campaign(ns.campaign))
        if campaign is None:
            which = f"ownership check {ns.campaign}" if ns.campaign else "ownership check"
            print(f"callboard attest: there is no {which} yet", file=sys.stderr)
            return 1
        evidence = asyncio.run(service.evidence(campaign))
        if ns.format == "json":
            print(json.dumps(evidence, indent=2))
        else:
            writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows(evidence))
        return 0
    finally:
        app.close()

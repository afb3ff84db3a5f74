"""Catalog-backed pickers from a v1beta3 Template's ``ui:field``/``ui:options``, through the
chat dialog (the dispatcher path every platform takes): offered from the demo catalog
(allowedKinds, catalogFilter, the requester's own entities and groups), a value outside the
allowed set refused with the field's message, a hidden field's default passed on,
RepoUrlPicker's allowedHosts, and the user context (``user.ref``, ``user.entity``) a dry run
carries, as Backstage's does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.chat import DialogErrors, Reply
from bot.scaffold.model import InvalidAnswers
from tests.conftest import REPO, AppFactory
from tests.integration.test_scaffold import CONSOLE_ANA, open_dialog, scaffold_app, submit

PICKERS = REPO / "tests" / "fixtures" / "v1beta3" / "pickers"
GOOD = {"name": "picked-app", "database": "resource:default/payments-db"}


def pickers_app(make_app: AppFactory, tmp_path: Path, **scaffold: Any) -> Any:
    folder = tmp_path / "pickers"
    shutil.copytree(PICKERS, folder)
    return scaffold_app(
        make_app,
        tmp_path,
        sources=[{"type": "file", "name": "tpl", "target": str(folder / "template.yaml")}],
        **scaffold,
    )


async def test_pickers_are_offered_from_the_catalog(make_app: AppFactory, tmp_path: Path) -> None:
    app = pickers_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold callboard-pickers --dry-run")
    fields = {f.name: f for f in dialog.fields}
    assert "repoUrl" not in fields and "channel" not in fields  # filled by Callboard / hidden
    # catalogFilter {kind: Resource, spec.type: database}: the three databases, nothing else
    assert fields["database"].kind == "choice"
    assert [v for v, _ in fields["database"].choices] == [
        "resource:default/ledger-db",
        "resource:default/payments-db",
        "resource:default/trip-state-db",
    ]
    assert fields["database"].hint == "A catalog entity (resource) with spec.type database."
    # OwnedEntityPicker: the Components Ana's teams own; MyGroupsPicker: her groups
    owned = [v for v, _ in fields["service"].choices]
    assert "component:default/payments-api" in owned
    assert "component:default/dispatch-service" not in owned
    assert [v for v, _ in fields["team"].choices] == [
        "group:default/team-payments",
        "group:default/team-risk",
    ]
    # too many to list, or any entity of a kind: a catalog search of those kinds
    assert (fields["domain"].kind, fields["domain"].entity_kinds) == ("entity", ("domain",))
    assert fields["apis"].hint == "A catalog entity (api); comma-separated."
    # EntityTagsPicker: the tags the catalog already uses, most used first
    assert fields["tags"].hint is not None and "Tags:" in fields["tags"].hint
    assert "In the catalog: python, typescript, " in fields["tags"].hint


async def test_a_value_outside_what_a_picker_allows_is_refused_on_its_field(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = pickers_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold callboard-pickers --dry-run")
    bad = await submit(
        app,
        dialog,
        {
            **GOOD,
            "database": "resource:default/payment-events-queue",
            "service": "component:default/dispatch-service",
            "team": "group:default/team-data",
            "apis": "api:default/payments-rest-api, component:default/payments-api",
            "tags": "payments, Not A Tag",
        },
    )
    assert isinstance(bad, DialogErrors)
    assert bad.errors == {
        "database": "resource:default/payment-events-queue is not one of the entities this "
        "field allows (A catalog entity (resource) with spec.type database.)",
        "service": "component:default/dispatch-service is not one of the entities this field "
        "allows (An entity you or your groups own (component).)",
        "team": "group:default/team-data is not one of the entities this field allows (One of "
        "your groups (group).)",
        "apis": "component:default/payments-api is not one of the entities this field allows "
        "(A catalog entity (api).)",
        "tags": "“Not A Tag” is not a tag: up to 63 lower-case letters, digits and : + # "
        "between dashes",
    }
    missing = await submit(app, dialog, {**GOOD, "domain": "domain:default/nowhere-yet"})
    assert isinstance(missing, Reply) and not missing.error  # allowArbitraryValues: true


async def test_picked_values_a_hidden_default_and_the_user_reach_the_template(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = pickers_app(make_app, tmp_path)
    service = app.services.scaffolder
    requester = await service.requester_for(CONSOLE_ANA)
    output = tmp_path / "out"
    reply = await service.submit(
        "callboard-pickers",
        {
            **GOOD,
            "owner": "team-payments",
            "database": "payments-db",  # a short name, of the one kind the filter allows
            "service": "component:default/payments-api",
            "team": "group:default/team-risk",
            "apis": "api:payments-rest-api, api:default/payment-events",
            "tags": "payments, pci",
        },
        requester,
        dry_run=True,
        output=output,
    )
    assert not reply.error, reply.to_text()
    parameters = json.loads((output / "parameters.json").read_text())
    assert parameters == {
        "name": "picked-app",
        "owner": "group:default/team-payments",
        "repoUrl": parameters["repoUrl"],  # the configured remote's (checked below)
        "database": "resource:default/payments-db",
        "service": "component:default/payments-api",
        "team": "group:default/team-risk",
        "apis": ["api:default/payments-rest-api", "api:default/payment-events"],
        "tags": ["payments", "pci"],
        "channel": "#payments",  # ui:widget hidden: its default, as Backstage's form sends
    }
    assert parameters["repoUrl"].startswith("localhost?")
    # the dry run carries who asked, as Backstage's does (user.ref, user.entity)
    texts = {s.title: s.items for s in reply.sections}
    assert texts["Requested by"] == ("user:default/ana.silva (ana.silva@acme-rides.example)",)


async def test_repo_url_pickers_allowed_hosts(make_app: AppFactory, tmp_path: Path) -> None:
    app = pickers_app(make_app, tmp_path)
    service = app.services.scaffolder
    requester = await service.requester_for(CONSOLE_ANA)
    values = {**GOOD, "owner": "team-payments"}
    with pytest.raises(InvalidAnswers) as caught:
        await service.submit(
            "callboard-pickers",
            values,
            requester,
            dry_run=True,
            extra={"repoUrl": "github.com?owner=acme&repo=picked-app"},
        )
    assert caught.value.errors == {"repoUrl": "must be a repository on localhost, not github.com"}
    # Callboard's own publisher goes where its operator configured (the template's hosts
    # are for Backstage's publishing); a run on Backstage is checked before the task is made
    # (tests/e2e/test_scaffold_on_backstage.py).
    elsewhere = pickers_app(
        make_app,
        tmp_path / "gh",
        publish={"remote": "https://github.com/acme/{name}.git"},
    )
    reply = await elsewhere.services.scaffolder.submit(
        "callboard-pickers",
        values,
        await elsewhere.services.scaffolder.requester_for(CONSOLE_ANA),
        dry_run=True,
    )
    assert not reply.error, reply.to_text()

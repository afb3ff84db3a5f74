"""A v1beta3 Template's form through Slack: the modal built from ``spec.parameters`` (fields
for some answers only, constraints), a signed ``view_submission`` refused per field, then a
dry run of the native engine posted back. Slack's Web API is the loopback fake."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import DEMO, REPO
from tests.e2e import test_slack as harness
from tests.e2e.slack_fake import FakeSlack
from tests.e2e.test_slack import Starter, block_text, submit

fake = harness.fake
start_slack = harness.start_slack
FORMS = REPO / "tests" / "fixtures" / "v1beta3" / "forms"


def fill(view: dict[str, Any], wanted: dict[str, str]) -> dict[str, Any]:
    """Every block's state as Slack sends it, with ``wanted`` values (others left empty)."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if "element" not in block:
            continue
        name = block["block_id"].removeprefix("field:")
        element = block["element"]
        value = wanted.get(name)
        kind = element["type"]
        if kind == "static_select" or kind == "external_select":
            if value is None and element.get("initial_option"):
                value = element["initial_option"]["value"]
            option = {"text": {"type": "plain_text", "text": value}, "value": value}
            values[block["block_id"]] = {
                element["action_id"]: {"type": kind, "selected_option": option if value else None}
            }
        elif kind == "checkboxes":
            options = element.get("options") or []
            chosen = options[:1] if value in ("true", "yes") else []
            values[block["block_id"]] = {
                element["action_id"]: {"type": kind, "selected_options": chosen}
            }
        elif kind == "radio_buttons":
            option = {"text": {"type": "plain_text", "text": value}, "value": value}
            values[block["block_id"]] = {
                element["action_id"]: {"type": kind, "selected_option": option if value else None}
            }
        else:
            values[block["block_id"]] = {element["action_id"]: {"type": kind, "value": value}}
    return values


async def test_a_v1beta3_form_through_a_slack_modal(
    start_slack: Starter, fake: FakeSlack, tmp_path: Path
) -> None:
    folder = tmp_path / "forms"
    shutil.copytree(FORMS, folder)
    slack = await start_slack(
        sources=[
            {"type": "file", "name": "demo", "target": str(DEMO)},
            {"type": "file", "name": "tpl", "target": str(folder / "template.yaml")},
        ]
    )
    status, body = await slack.command("/scaffold", "callboard-forms --dry-run")
    assert (status, body) == (200, "")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    view: dict[str, Any] = opened.args["view"]
    shown = str(view)
    assert "Only when cloud is aws." in shown and "Backstage shows the FlavourPicker" in shown

    good = {
        "name": "slack-forms",
        "cloud": "aws",
        "replicas": "3",
        "contact": "ana@example.com",
    }
    status, body = await submit(slack, view, fill(view, {**good, "replicas": "12"}))
    assert status == 200 and body["response_action"] == "errors"
    assert body["errors"] == {
        "field:awsRegion": "is required when cloud is aws",
        "field:replicas": "must be at most 10",
    }

    status, body = await submit(slack, view, fill(view, {**good, "awsRegion": "eu-west-1"}))
    assert (status, body) == (200, "")
    await slack.settle()
    methods = ("chat.postMessage", "chat.postEphemeral", "chat.update", "webhook")
    posted = [block_text(c.args) for c in fake.calls if c.method in methods]
    assert any("Dry run: slack-forms from callboard-forms" in p for p in posted), posted
    assert any("Parameters (fetch:template): completed" in p for p in posted), posted


async def test_catalog_pickers_through_a_slack_modal(
    start_slack: Starter, fake: FakeSlack, tmp_path: Path
) -> None:
    folder = tmp_path / "pickers"
    shutil.copytree(REPO / "tests" / "fixtures" / "v1beta3" / "pickers", folder)
    slack = await start_slack(
        sources=[
            {"type": "file", "name": "demo", "target": str(DEMO)},
            {"type": "file", "name": "tpl", "target": str(folder / "template.yaml")},
        ]
    )
    status, body = await slack.command("/scaffold", "callboard-pickers --dry-run")
    assert (status, body) == (200, "")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    view: dict[str, Any] = opened.args["view"]
    blocks = {b["block_id"]: b for b in view["blocks"] if "element" in b}
    database = blocks["field:database"]["element"]
    assert database["type"] == "static_select"  # the catalog's three databases, as a menu
    assert [o["value"] for o in database["options"]] == [
        "resource:default/ledger-db",
        "resource:default/payments-db",
        "resource:default/trip-state-db",
    ]
    assert blocks["field:domain"]["element"]["type"] == "external_select"  # a catalog search

    good = {"name": "slack-picked", "database": "resource:default/payments-db"}
    status, body = await submit(
        slack, view, fill(view, {**good, "apis": "component:default/payments-api"})
    )
    assert status == 200 and body["response_action"] == "errors"
    assert body["errors"] == {
        "field:apis": "component:default/payments-api is not one of the entities this field "
        "allows (A catalog entity (api).)"
    }
    status, body = await submit(slack, view, fill(view, {**good, "apis": "api:payment-events"}))
    assert (status, body) == (200, "")
    await slack.settle()
    methods = ("chat.postMessage", "chat.postEphemeral", "chat.update", "webhook")
    posted = [block_text(c.args) for c in fake.calls if c.method in methods]
    assert any("Dry run: slack-picked from callboard-pickers" in p for p in posted), posted


async def test_a_field_the_modal_cannot_hold_is_named_above_the_fields(
    start_slack: Starter, fake: FakeSlack, tmp_path: Path
) -> None:
    folder = tmp_path / "unasked"
    shutil.copytree(REPO / "tests" / "fixtures" / "v1beta3" / "unasked", folder)
    slack = await start_slack(
        sources=[
            {"type": "file", "name": "demo", "target": str(DEMO)},
            {"type": "file", "name": "tpl", "target": str(folder / "template.yaml")},
        ]
    )
    status, body = await slack.command("/scaffold", "callboard-unasked --dry-run")
    assert (status, body) == (200, "")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    view: dict[str, Any] = opened.args["view"]
    first = view["blocks"][0]
    assert first["type"] == "context"
    assert (
        "Layout (layout) is not asked here: it uses the form field AccordionField"
        in first["elements"][0]["text"]
    )
    assert [b["block_id"] for b in view["blocks"][1:]] == ["field:name", "field:owner"]
    status, body = await submit(slack, view, fill(view, {"name": "slack-unasked"}))
    assert (status, body) == (200, "")
    await slack.settle()
    methods = ("chat.postMessage", "chat.postEphemeral", "chat.update", "webhook")
    posted = [block_text(c.args) for c in fake.calls if c.method in methods]
    assert any("Dry run: slack-unasked from callboard-unasked" in p for p in posted), posted

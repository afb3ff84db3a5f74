"""/scaffold through Slack: a signed slash command opens the modal, a signed view_submission
runs it, and the project lands in a local bare repository and the catalog.

Slack's Web API is the fake on loopback from ``slack_fake``; everything else is real.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from slack_sdk.models.views import View

from tests.e2e import test_slack as harness
from tests.e2e.slack_fake import FakeSlack
from tests.e2e.test_slack import ANA, PAYMENTS_CHANNEL, Slack, Starter, block_text, submit

# The Slack adapter's harness: a fake Web API on loopback, and the adapter started on a port.
fake = harness.fake
start_slack = harness.start_slack


def text_input(value: str | None) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def picked(block: dict[str, Any], value: str | None) -> dict[str, Any]:
    element = block["element"]
    option = {"text": {"type": "plain_text", "text": value}, "value": value} if value else None
    return {element["action_id"]: {"type": element["type"], "selected_option": option}}


async def open_modal(slack: Slack, fake: FakeSlack) -> dict[str, Any]:
    status, body = await slack.command("/scaffold", "python-service")
    assert (status, body) == (200, "")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    view: dict[str, Any] = opened.args["view"]
    assert View(**view).to_dict()
    return view


def answers(view: dict[str, Any], name: str, description: str) -> dict[str, Any]:
    blocks = {b["block_id"]: b for b in view["blocks"]}
    owner = blocks["field:owner"]["element"]["initial_option"]["value"]
    return {
        "field:name": text_input(name),
        "field:owner": picked(blocks["field:owner"], owner),
        "field:system": picked(blocks["field:system"], "system:default/checkout"),
        "field:description": text_input(description),
        "field:package": text_input(None),
        "field:python_version": picked(blocks["field:python_version"], "3.12"),
        "field:port": text_input("8080"),
        "field:lifecycle": picked(blocks["field:lifecycle"], "experimental"),
        "field:metrics": {"value": {"type": "checkboxes", "selected_options": []}},
    }


async def test_scaffold_through_a_slack_modal(
    start_slack: Starter, fake: FakeSlack, tmp_path: Path
) -> None:
    slack = await start_slack()
    view = await open_modal(slack, fake)
    assert view["title"]["text"] == "New Python service"
    assert view["submit"]["text"] == "Create"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert list(blocks) == [
        "field:name",
        "field:owner",
        "field:system",
        "field:description",
        "field:package",
        "field:python_version",
        "field:port",
        "field:lifecycle",
        "field:metrics",
    ]
    # The owner picker starts on the user's own team (Ana: found by her Slack email).
    assert blocks["field:owner"]["element"]["initial_option"]["value"] == (
        "group:default/team-payments"
    )
    assert blocks["field:python_version"]["element"]["type"] == "static_select"
    assert blocks["field:metrics"]["element"]["type"] == "checkboxes"

    # Template syntax comes back inline on its field; nothing is created.
    values = answers(view, "ride-invoices", "{{ 7 * 7 }}")
    status, body = await submit(slack, view, values)
    assert status == 200
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == ["field:description"]
    assert "template syntax is not allowed" in body["errors"]["field:description"]
    assert not (tmp_path / "var" / "git").exists()

    values = answers(view, "ride-invoices", "Sends an invoice for every business ride.")
    status, body = await submit(slack, view, values)
    assert (status, body) == (200, "")  # the modal closes; the outcome is posted
    await slack.settle()
    [posted] = fake.calls_to("chat.postMessage")
    assert posted.args["channel"] == PAYMENTS_CHANNEL
    shown = block_text(posted.args)
    assert "Created ride-invoices" in shown
    assert "component:default/ride-invoices" in shown

    bare = tmp_path / "var" / "git" / "ride-invoices.git"
    files = subprocess.run(
        ["git", f"--git-dir={bare}", "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "src/ride_invoices/app.py" in files and "catalog-info.yaml" in files
    assert slack.app is not None
    assert slack.app.services.reader.get("component:default/ride-invoices") is not None
    _, who = await slack.command("/whoowns", "ride-invoices")
    assert "group:default/team-payments" in block_text(who)


async def test_a_slow_scaffold_shows_its_steps_in_one_message_updated_in_place(
    start_slack: Starter, fake: FakeSlack, tmp_path: Path
) -> None:
    slack = await start_slack(ack_ms=50)  # the run outlasts the ack: steps are shown
    view = await open_modal(slack, fake)
    values = answers(view, "fare-splitter", "Splits a fare between riders.")
    status, body = await submit(slack, view, values)
    assert (status, body) == (200, "")
    await slack.settle()

    step_posts = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == ANA]
    assert len(step_posts) == 1  # one step message, in Ana's DM with the app...
    edits = [block_text(c.args) for c in fake.calls_to("chat.update")]
    # ...edited in place at each later step, then marked done.
    assert any("registering it in the catalog" in e for e in edits), edits
    assert "✅ Created fare-splitter" in edits[-1]
    [answer] = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] != ANA]
    assert answer.args["channel"] == PAYMENTS_CHANNEL
    assert "component:default/fare-splitter" in block_text(answer.args)


async def test_a_catalog_template_exploit_through_a_slack_modal_runs_nothing_and_leaks_nothing(
    tmp_path: Path, fake: FakeSlack
) -> None:
    """The review's finding 1 end to end: ``callboard run`` serving Slack with its tokens in
    its environment, a catalog Template whose skeleton reaches ``os`` through Jinja, and a
    user submitting its modal as a dry run."""
    import asyncio
    import os
    import signal
    import sys

    import aiohttp
    import yaml

    from tests.conftest import DEMO
    from tests.e2e.slack_fake import BOT_TOKEN, SIGNING_SECRET
    from tests.e2e.test_slack import free_port
    from tests.integration.test_scaffold_attacks import exploit_catalog, files_holding

    loot = tmp_path / "PWNED-catalog-template"
    exploit_catalog(tmp_path / "evil", loot)
    port = free_port()
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
                "catalog": {
                    "sources": [
                        {"type": "file", "name": "demo", "target": str(DEMO)},
                        {
                            "type": "file",
                            "name": "templates",
                            "target": str(tmp_path / "evil" / "template.yaml"),
                        },
                    ]
                },
                "slack": {"api_url": fake.base_url, "host": "127.0.0.1", "port": port},
                "scaffold": {"publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"}},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        "--config",
        str(config),
        "run",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**env, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET},
    )
    assert proc.stderr is not None
    try:
        seen: list[str] = []
        while not any("Slack: listening on" in line for line in seen):
            line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
            assert line, f"callboard run stopped: {''.join(seen)}"
            seen.append(line)
        slack = Slack(fake=fake, port=port, http=aiohttp.ClientSession())
        try:
            status, body = await slack.command("/scaffold", "innocent-docs --dry-run")
            assert (status, body) == (200, "")
            [opened] = await asyncio.to_thread(fake.wait_for, "views.open", 1, 30)
            view = opened.args["view"]
            blocks = {b["block_id"]: b for b in view["blocks"]}
            owner = blocks["field:owner"]["element"]["initial_option"]["value"]
            values = {
                "field:name": text_input("docs-one"),
                "field:owner": picked(blocks["field:owner"], owner),
            }
            status, body = await submit(slack, view, values)
            assert (status, body) == (200, "")
            posted = await _outcome(fake, "docs-one")
        finally:
            await slack.http.close()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 30)
    shown = block_text(posted.args)
    assert "the sandbox forbids" in shown, shown
    assert not loot.exists(), loot.read_text()
    assert not Path(f"{loot}.ran").exists()
    for token in (BOT_TOKEN, SIGNING_SECRET):
        assert files_holding(tmp_path, token) == []
        assert all(token not in str(call.args) for call in fake.calls)


async def _outcome(fake: FakeSlack, name: str, timeout: float = 60) -> Any:
    """The message that carries the scaffold's answer, once the bot has sent it."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in fake.calls:
            if call.method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
                text = block_text(call.args)
                if name in text and ("failed" in text or "Dry run" in text):
                    return call
        await asyncio.sleep(0.2)
    raise AssertionError(f"no answer for {name}: {[c.method for c in fake.calls]}")

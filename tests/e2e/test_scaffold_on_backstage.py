"""/scaffold on the team's Backstage (``scaffold.backstage: run``), against the real scaffolder.

The peer (../shared/peers/backstage, WITH_SCAFFOLDER=1) serves a Template using
``fetch:template`` + ``debug:log`` + ``catalog:write`` (tests/fixtures/v1beta3/on-backstage),
registered through the peer's catalog location; Callboard reads it through a ``backstage``
catalog source. The dialog comes from Backstage's parameter schema, the run is a real task
whose event stream becomes the progress message, step by step (console lines; Slack
``chat.update`` calls, signed HTTP in, the loopback fake as Slack's Web API), and the reply
carries the output's links and text. A step that fails shows its log lines; a dry run goes
through ``/v2/dry-run`` with the template's files. Skips with the reason when the peer cannot
start (no node, npm or PostgreSQL).
"""

from __future__ import annotations

import io
import json
import shutil
import socket
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.cli import main as cli_main
from adapters.console import Console
from tests.backstage_peer import backstage_peer
from tests.conftest import DEMO, REPO, AppFactory, aask
from tests.e2e import test_slack as harness
from tests.e2e.slack_fake import FakeSlack
from tests.e2e.test_scaffold_v1beta3_slack import fill
from tests.e2e.test_slack import ANA as ANA_ID
from tests.e2e.test_slack import Starter, block_text, submit

fake = harness.fake
start_slack = harness.start_slack
FIXTURE = REPO / "tests" / "fixtures" / "v1beta3" / "on-backstage"
ANA = "ana.silva@acme-rides.example"
STEP_LINES = (
    "Fetch skeleton…",
    "✓ Fetch skeleton: completed",
    "Say hello…",
    "✓ Say hello: completed",
    "Break…",
    "– Break: skipped",
    "Write catalog file…",
    "✓ Write catalog file: completed",
)


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The peer's URL, and the folder holding the template (a scaffold.templates directory)."""
    root = tmp_path_factory.mktemp("on-backstage")
    shutil.copytree(FIXTURE, root / "chat-service")
    location = root / "location.yaml"
    location.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Location",
                "metadata": {"name": "chat-templates"},
                "spec": {"targets": ["./chat-service/template.yaml"]},
            }
        )
    )
    # the config's Location, the file's Location and the Template
    with backstage_peer(location, 3, (7401, 7479), scaffolder=True) as url:
        yield url, root


def sections(url: str, root: Path) -> dict[str, Any]:
    """Callboard's config: the demo's people, the team's Backstage, scaffold.backstage: run."""
    return {
        "sources": [
            {"type": "file", "name": "demo", "target": str(DEMO)},
            {
                "type": "backstage",
                "name": "team-backstage",
                "url": url,
                "filter": ["kind=template"],
            },
        ],
        "console": {"user_email": ANA},
        "scaffold": {
            "backstage": "run",
            "templates": [str(root)],
            "publish": {"remote": "https://github.com/acme/{name}.git"},  # Backstage publishes
        },
    }


async def run_console(make_app: AppFactory, url: str, root: Path, lines: list[str]) -> str:
    app = make_app(**sections(url, root))
    console = Console(app, io.StringIO("\n".join(lines) + "\n"), io.StringIO())
    await console.loop()
    assert isinstance(console.out, io.StringIO)
    return console.out.getvalue()


async def test_a_task_on_backstage_through_the_console(
    peer: tuple[str, Path], make_app: AppFactory
) -> None:
    url, root = peer
    out = await run_console(
        make_app,
        url,
        root,
        ["/scaffold", "/scaffold chat-service", "console-svc", "", "n"],
    )
    # listed with where it runs
    assert f"backstage {url} (template:default/chat-service)" in out
    # each step's progress, as the task's events arrive
    for line in (
        "console-svc (chat-service): task ",
        "console-svc (chat-service): Fetch skeleton…",
        "console-svc (chat-service): ✓ Fetch skeleton: completed",
        "console-svc (chat-service): ✓ Say hello: completed",
        "console-svc (chat-service): – Break: skipped",
        "console-svc (chat-service): ✓ Write catalog file: completed",
    ):
        assert line in out, out
    assert "Ran Chat service on Backstage for console-svc" in out
    assert "https://docs.example.com/console-svc" in out  # the output's link
    assert "Push console-svc when ready" in out  # ... and its text
    assert "github.com?owner=acme&repo=console-svc" in out  # the RepoUrlPicker's value
    assert "/describe group:default/team-payments" in out  # an entityRef link: a button


async def test_a_failing_step_on_backstage_shows_its_log_lines(
    peer: tuple[str, Path], make_app: AppFactory
) -> None:
    url, root = peer
    out = await run_console(make_app, url, root, ["/scaffold chat-service", "broken-svc", "", "y"])
    assert "Scaffolding broken-svc on Backstage failed" in out
    assert "✗ Break (fs:delete): failed" in out
    assert "– Write catalog file (catalog:write): skipped" in out
    assert "Log of Break" in out
    assert "Relative path is not allowed to refer to a directory outside its parent" in out
    assert "\x1b" not in out and "node_modules" not in out  # colours and stack frames left out


async def test_a_dry_run_on_backstage_through_the_console(
    peer: tuple[str, Path], make_app: AppFactory
) -> None:
    url, root = peer
    out = await run_console(
        make_app, url, root, ["/scaffold chat-service --dry-run", "dry-svc", "", ""]
    )
    assert "Dry run on Backstage: dry-svc from chat-service" in out
    assert "README.md" in out and "catalog-info.yaml" in out
    assert "https://docs.example.com/dry-svc" in out


def test_the_cli_writes_backstages_dry_run(peer: tuple[str, Path], tmp_path: Path) -> None:
    url, root = peer
    config = tmp_path / "callboard.yaml"
    wanted = sections(url, root)
    config.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
                "catalog": {"sources": wanted["sources"]},
                "console": wanted["console"],
                "scaffold": wanted["scaffold"],
            }
        )
    )
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"name": "cli-svc", "owner": "group:default/team-payments"}))
    out = tmp_path / "out"
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = cli_main(
            [
                *("--config", str(config), "scaffold", "chat-service"),
                *("--values", str(values), "--dry-run", "--output", str(out), "--format", "json"),
            ]
        )
    reply = json.loads(buffer.getvalue())
    assert code == 0, reply
    assert (out / "README.md").read_text() == (
        "# cli-svc\n\nOwned by group:default/team-payments.\n"
    )
    written = yaml.safe_load((out / "catalog-info.yaml").read_text())
    assert written["metadata"]["name"] == "cli-svc"
    assert reply["links"] == [{"title": "Docs", "url": "https://docs.example.com/cli-svc"}]


async def test_a_task_on_backstage_through_slack(
    peer: tuple[str, Path], start_slack: Starter, fake: FakeSlack
) -> None:
    url, root = peer
    config = sections(url, root)
    slack = await start_slack(
        sources=config["sources"], sections={"scaffold": config["scaffold"]}, ack_ms=50
    )
    status, body = await slack.command("/scaffold", "chat-service")
    assert (status, body) == (200, "")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    view: dict[str, Any] = opened.args["view"]
    assert "Fail on purpose" in str(view)

    # Refused on its field: in the ack when the check beats ack_ms, else said to the user.
    status, body = await submit(slack, view, fill(view, {"name": "Bad Name!"}))
    await slack.settle()
    assert status == 200
    if body:
        assert "field:name" in body["errors"]
    else:
        [said] = fake.calls_to("chat.postEphemeral")
        assert "name: “Bad Name!” must be 1-63 characters" in block_text(said.args)
    fake.calls.clear()

    status, body = await submit(slack, view, fill(view, {"name": "slack-svc"}))
    assert (status, body) == (200, "")
    await slack.settle()
    # The step message (posted in Ana's DM, then edited in place) follows the task's events in
    # order, up to the last step; Slack's adapter folds steps that come faster than Slack
    # takes edits into the latest one.
    shown = [
        block_text(c.args)
        for c in fake.calls
        if c.method == "chat.update"
        or (c.method == "chat.postMessage" and c.args["channel"] == ANA_ID)
    ]
    order = [
        n
        for message in shown
        for n, line in enumerate(STEP_LINES)
        if f"slack-svc (chat-service): {line}_" in message
    ]
    assert order and order == sorted(set(order)), (order, shown)
    assert order[-1] == len(STEP_LINES) - 1, shown
    assert "✅ Ran Chat service on Backstage for slack-svc" in shown[-1]
    methods = ("chat.postMessage", "chat.update", "webhook")
    posted = [block_text(c.args) for c in fake.calls if c.method in methods]
    final = [p for p in posted if "Ran Chat service on Backstage for slack-svc" in p]
    assert final, posted
    assert "https://docs.example.com/slack-svc" in final[-1]
    assert "Push slack-svc when ready" in final[-1]

    # a failing step through Slack: its log lines in the message
    fake.calls.clear()
    await slack.command("/scaffold", "chat-service")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    status, body = await submit(
        slack, opened.args["view"], fill(opened.args["view"], {"name": "slack-bad", "fail": "true"})
    )
    assert (status, body) == (200, "")
    await slack.settle()
    posted = [block_text(c.args) for c in fake.calls if c.method in methods]
    failed = [p for p in posted if "Scaffolding slack-bad on Backstage failed" in p]
    assert failed, posted
    assert "Relative path is not allowed to refer to a directory outside its parent" in failed[-1]


async def test_without_scaffold_backstage_the_template_is_listed_as_not_available(
    peer: tuple[str, Path], make_app: AppFactory
) -> None:
    url, root = peer
    config = sections(url, root)
    config["scaffold"] = {"templates": [str(root)]}
    app = make_app(**config)
    listing = await app.services.scaffolder.listing()
    [template] = [t for t in listing.templates if t.name == "chat-service"]
    assert template.engine == "native" and not template.usable
    assert "scaffold.backstage: run runs it on that Backstage" in template.problems[-1]


async def test_a_repository_host_the_template_does_not_allow_is_refused_before_any_task(
    peer: tuple[str, Path], make_app: AppFactory
) -> None:
    url, root = peer
    config = sections(url, root)
    config["scaffold"]["publish"] = {"remote": "https://gitlab.com/acme/{name}.git"}
    app = make_app(**config)
    console = Console(app, io.StringIO("/scaffold chat-service\ngl-svc\n\nn\n"), io.StringIO())
    await console.loop()
    assert isinstance(console.out, io.StringIO)
    out = console.out.getvalue()
    assert "publishes only to github.com (its repoUrl field's allowedHosts)" in out
    assert "Callboard publishes to gitlab.com" in out and "task " not in out


async def test_nothing_is_asked_of_backstage_before_the_permission_check(
    peer: tuple[str, Path], make_app: AppFactory
) -> None:
    url, root = peer
    make_app(**sections(url, root))  # the template, synced from the peer into the database
    # The same database, the Backstage source now pointing at a closed port (not synced): a
    # request there would fail with "cannot connect".
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    gone = sections(closed, root)
    refused = make_app(
        **{**gone, "scaffold": {**gone["scaffold"], "permissions": [
            {"templates": ["chat-service"], "groups": ["team-data"]}]}},
        sync=False,
    )  # fmt: skip
    reply = await aask(refused, "/scaffold chat-service")
    assert reply.error and "team-data" in reply.to_text(), reply.to_text()
    assert "cannot connect" not in reply.to_text()
    allowed = make_app(**gone, sync=False)
    reply = await aask(allowed, "/scaffold chat-service")
    assert reply.error and "Backstage did not give its form: cannot connect" in reply.to_text()


async def test_a_token_backstage_refuses_is_named_never_shown(
    peer: tuple[str, Path], make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = peer
    make_app(**sections(url, root))  # synced without a token (the peer's policy allows it)
    token = "cb-refused-token-8d1f2a"
    monkeypatch.setenv("CB_TEST_BACKSTAGE_TOKEN", token)
    config = sections(url, root)
    config["sources"][1]["token_env"] = "CB_TEST_BACKSTAGE_TOKEN"
    app = make_app(**config, sync=False)
    reply = await aask(app, "/scaffold chat-service")
    text = reply.to_text()
    assert reply.error and "refused the token from $CB_TEST_BACKSTAGE_TOKEN" in text, text
    assert "(HTTP 401)" in text and token not in text

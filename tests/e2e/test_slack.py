"""The Slack adapter end to end: a real Bolt app on a loopback port, signed requests as Slack
sends them, and Slack's Web API as a fake on loopback that records every call.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier

from adapters.slack import render
from adapters.slack.post import SlackPoster
from adapters.slack.runtime import SlackRuntime, read_secrets
from bot.app import App
from bot.bootstrap import build_app, parse_settings
from bot.chat import Dialog, DialogErrors, DialogField, DialogSubmission, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context
from bot.platforms import SlackSettings
from bot.store.db import Database
from commands import COMMANDS, INTERPRETERS
from tests.conftest import DEMO
from tests.e2e.slack_fake import (
    APP_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_ID,
    Call,
    FakeSlack,
)
from tests.markup import HOSTILE_OK_URL, hostile_catalog, mrkdwn_objects, slack_problems

ANA = "U0ANA"  # ana.silva@acme-rides.example in the demo catalog
PAYMENTS_CHANNEL = "C0FOGYR3XK"
ENV = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}


# ----------------------------------------------------------------------------- Block Kit checks


def assert_valid_message(message: dict[str, Any]) -> None:
    """What Slack would accept: fallback text, ≤ 50 blocks, each valid per slack_sdk.models."""
    assert message.get("text"), "every message needs its notification text"
    blocks = message.get("blocks") or []
    assert 0 < len(blocks) <= render.BLOCKS_PER_MESSAGE
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        assert parsed.to_dict() == block  # to_dict() validates every limit


def assert_valid_view(view: dict[str, Any]) -> None:
    assert View(**view).to_dict()  # validates title, blocks, metadata, callback id
    for block in view["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()


def block_text(message: dict[str, Any]) -> str:
    """Every visible string in a message, for assertions on content."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(out)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


# ----------------------------------------------------------------------------- the harness


@dataclass
class Slack:
    """A running adapter on a loopback port, and a way to talk to it as Slack does."""

    fake: FakeSlack
    port: int
    http: aiohttp.ClientSession
    runtime: SlackRuntime | None = None  # None: a server this test did not start
    app: App | None = None
    triggers: int = 0
    events: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def poster(self) -> SlackPoster:
        assert self.runtime is not None
        return self.runtime.poster()

    @property
    def db(self) -> Database:
        assert self.app is not None
        return self.app.db

    @property
    def adapter(self) -> Any:
        assert self.runtime is not None and self.runtime.adapter is not None
        return self.runtime.adapter

    async def send(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        omit: Sequence[str] = (),
    ) -> tuple[int, Any]:
        ts = int(time.time()) if timestamp is None else timestamp
        sig = signature or SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=str(ts), body=body
        )
        assert sig is not None
        all_headers = {
            "content-type": content_type,
            "x-slack-request-timestamp": str(ts),
            "x-slack-signature": sig,
            **(headers or {}),
        }
        for name in omit:
            all_headers.pop(name)
        async with self.http.post(self.url, data=body.encode(), headers=all_headers) as resp:
            text = await resp.text()
            answer = json.loads(text) if text.startswith("{") else text
        if isinstance(answer, dict):  # every ack the adapter renders is valid Block Kit
            if "blocks" in answer:
                assert_valid_message(answer)
            if "view" in answer:
                assert_valid_view(answer["view"])
        return resp.status, answer

    def trigger(self) -> str:
        self.triggers += 1
        return f"1000{self.triggers}.2000.{self.triggers:032x}"

    async def command(
        self,
        command: str,
        text: str = "",
        *,
        user: str = ANA,
        channel: str = PAYMENTS_CHANNEL,
        response: str = "r",
        team: str = TEAM_ID,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        """A slash command, form-encoded field for field as Slack posts it."""
        form = {
            "token": "deprecated-verification-token",
            "team_id": team,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "team-payments",
            "user_id": user,
            "user_name": "ana.silva",
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.fake.webhook_url(response),
            "trigger_id": self.trigger(),
        }
        return await self.send(
            urllib.parse.urlencode(form), "application/x-www-form-urlencoded", **kwargs
        )

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """An Events API callback, JSON as Slack posts it."""
        self.events += 1
        body = {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{self.events:08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
        return await self.send(json.dumps(body), "application/json", **kwargs)

    async def interaction(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, Any]:
        """Interactivity: ``payload=<url-encoded JSON>`` as Slack posts it."""
        base = {
            "team": {"id": TEAM_ID, "domain": "acme"},
            "api_app_id": APP_ID,
            "user": {"id": ANA, "username": "ana.silva", "team_id": TEAM_ID},
            "token": "deprecated-verification-token",
            "is_enterprise_install": False,
        }
        body = "payload=" + urllib.parse.quote(json.dumps({**base, **payload}))
        return await self.send(body, "application/x-www-form-urlencoded", **kwargs)

    async def click(
        self,
        button: dict[str, Any],
        *,
        response: str = "click",
        ephemeral: bool = True,
        channel: str = PAYMENTS_CHANNEL,
    ) -> tuple[int, Any]:
        """A block_actions payload for a button of a message the bot sent."""
        return await self.interaction(
            {
                "type": "block_actions",
                "trigger_id": self.trigger(),
                "response_url": self.fake.webhook_url(response),
                "container": {
                    "type": "message",
                    "message_ts": "1700000000.000001",
                    "channel_id": channel,
                    "is_ephemeral": ephemeral,
                },
                "channel": {"id": channel, "name": "team-payments"},
                "actions": [
                    {
                        "type": "button",
                        "action_id": button["action_id"],
                        "block_id": "b1",
                        "value": button.get("value"),
                        "text": button["text"],
                        "action_ts": "1700000001.000001",
                    }
                ],
            }
        )

    async def settle(self) -> None:
        """Wait for every delivery the adapter started after its acks."""
        await self.adapter.drain()

    def webhooks(self, name: str | None = None) -> list[Call]:
        calls = self.fake.calls_to("webhook")
        return [c for c in calls if name is None or c.path.endswith(f"/{name}")]


Starter = Callable[..., Awaitable[Slack]]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    server.add_user(ANA, "ana.silva@acme-rides.example", "Ana Silva")
    yield server
    server.stop()


@pytest.fixture
async def start_slack(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[Starter]:
    """Start Callboard's Slack adapter on a free port over a synced catalog."""
    started: list[tuple[Slack, App]] = []

    async def start(
        commands: Sequence[CommandSpec] = (),
        sources: Sequence[dict[str, Any]] | None = None,
        db_url: str | None = None,
        env: dict[str, str] | None = None,
        exclude: Sequence[str] = (),
        sections: dict[str, Any] | None = None,
        **slack: Any,
    ) -> Slack:
        """``sections``: more top-level config sections (``scaffold``...)."""
        config: dict[str, Any] = {
            "data_dir": str(tmp_path / "var"),
            "database": {"url": db_url or f"sqlite:///{tmp_path / 'callboard.db'}"},
            "catalog": {
                "sources": list(sources)
                if sources is not None
                else [{"type": "file", "name": "demo", "target": str(DEMO)}]
            },
            "slack": {"api_url": fake.base_url, "host": "127.0.0.1", "port": 0, **slack},
            **(sections or {}),
        }
        path = tmp_path / "callboard.yaml"
        path.write_text(yaml.safe_dump(config))
        settings = parse_settings(config, str(path), tmp_path, path)
        # A test command replaces a registered namesake; ``exclude`` leaves commands out.
        own = {c.name for c in commands} | set(exclude)
        app = build_app(
            settings,
            [*(c for c in COMMANDS if c.name not in own), *commands],
            interpreters=INTERPRETERS,
        )
        await asyncio.to_thread(app.services.sync.run)
        slack_settings = settings.section("slack", SlackSettings)
        runtime = SlackRuntime(app, slack_settings, read_secrets(slack_settings, env or ENV))
        port = await runtime.start_http(port=0)
        harness = Slack(fake, port, aiohttp.ClientSession(), runtime, app)
        started.append((harness, app))
        return harness

    yield start
    for harness, app in started:
        await harness.http.close()
        assert harness.runtime is not None
        await harness.runtime.close()
        app.close()
    assert_every_call_valid(fake)


def assert_every_call_valid(fake: FakeSlack) -> None:
    """Every message and modal the adapter sent Slack in a test is valid Block Kit."""
    for call in fake.calls:
        if call.method in ("chat.postMessage", "chat.postEphemeral", "webhook"):
            if "blocks" in call.args:
                assert_valid_message(call.args)
            else:  # Bolt's own notices (an uninstalled workspace) are plain text
                assert call.args.get("text")
        elif call.method == "views.open":
            assert_valid_view(call.args["view"])


# ----------------------------------------------------------------------------- test commands


def slow_command(release: asyncio.Event) -> CommandSpec:
    async def slow(ctx: Context, args: Args) -> Reply:
        await release.wait()
        return Reply(title="Slow answer", text=f"Finished for {ctx.user.email}.")

    return CommandSpec("slowpoke", "A test command that waits to be released.", slow)


async def _feedback(ctx: Context, args: Args) -> Reply:
    return Reply(
        dialog=Dialog(
            id="feedback:v1",
            title="Report a problem in the catalog",
            fields=(
                DialogField("summary", "Summary", hint="At least 10 characters"),
                DialogField("service", "Service", kind="entity", entity_kinds=("component",)),
                DialogField("team", "Team to notify", kind="group", required=False),
                DialogField(
                    "severity",
                    "Severity",
                    kind="choice",
                    choices=(("low", "Low"), ("high", "High")),
                ),
                DialogField("details", "Details", kind="multiline", required=False),
                DialogField("urgent", "Page someone", kind="boolean"),
            ),
            submit_label="File it",
            state={"origin": "slack-test"},
        )
    )


async def _feedback_done(ctx: Context, sub: DialogSubmission) -> Reply | DialogErrors:
    if len(sub.values.get("summary", "")) < 10:
        return DialogErrors({"summary": "Please write at least 10 characters."})
    return Reply(
        title="Problem filed",
        text=f"{sub.values['summary']} ({sub.values['service']}, severity "
        f"{sub.values['severity']}, urgent {sub.values['urgent']}, "
        f"from {sub.state.get('origin')}, by {ctx.user.email})",
        ephemeral=False,
    )


FEEDBACK = CommandSpec(
    "feedback",
    "A test command with a dialog.",
    _feedback,
    dialog_prefix="feedback:",
    on_dialog=_feedback_done,
)


async def _inventory(ctx: Context, args: Args) -> Reply:
    group = args.entity("group")
    owned = ctx.services.reader.get_many(ctx.services.reader.related(group.ref, "ownerOf"))
    items = tuple(sorted(f"{e.name} — {e.description}" for e in owned.values()))
    return Reply(
        title=f"Everything {group.name} owns",
        text=f"{len(items)} entities.",
        sections=(Section(title="Owned", items=items),),
    )


INVENTORY = CommandSpec(
    "inventory",
    "A test command listing everything a group owns at once.",
    _inventory,
    args=(Arg("group", kinds=("group",)),),
)


def big_team_catalog(root: Path, count: int = 500) -> Path:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Group",
            "metadata": {"name": "team-big", "annotations": {"slack.com/channel-id": "C0BIG"}},
            "spec": {"type": "team", "children": []},
        }
    ]
    for i in range(count):
        docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {
                    "name": f"big-service-{i:03d}",
                    "description": f"Service number {i} of the big team & friends <ok>",
                },
                "spec": {"type": "service", "lifecycle": "production", "owner": "team-big"},
            }
        )
    path = root / "big.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


# ----------------------------------------------------------------------------- tests: commands


async def test_whoowns_is_answered_in_the_ack(start_slack: Starter, fake: FakeSlack) -> None:
    slack = await start_slack()
    status, body = await slack.command("/whoowns", "payments-api")
    assert status == 200
    assert body["response_type"] == "ephemeral"
    assert_valid_message(body)
    shown = block_text(body)
    assert "Who owns Payments API" in shown
    assert "group:default/team-payments" in shown
    assert "Ana Silva &lt;ana.silva@acme-rides.example&gt;" in shown  # escaped, not a link
    assert "P1W103D" in shown
    actions = {b["text"]["text"]: b for b in buttons(body)}
    assert actions["Share in channel"]["value"] == "/whoowns payments-api"
    assert actions["Details"]["value"] == "/describe component:default/payments-api"
    await slack.settle()
    assert slack.webhooks() == []  # nothing went through response_url
    info = fake.calls_to("users.info")
    assert [c.args["user"] for c in info] == [ANA]


async def test_umbrella_command_routes_to_the_named_command(start_slack: Starter) -> None:
    slack = await start_slack()
    status, body = await slack.command("/callboard", "whoowns payments-api")
    assert status == 200
    assert "group:default/team-payments" in block_text(body)
    share = {b["text"]["text"]: b for b in buttons(body)}["Share in channel"]
    assert share["value"] == "/whoowns payments-api"
    # Slack keeps a shift-enter newline in the text: any whitespace ends the command word.
    _, body = await slack.command("/callboard", "whoowns\npayments-api")
    assert "group:default/team-payments" in block_text(body)


async def test_a_bare_entity_command_offers_a_picker_that_completes_it(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    status, body = await slack.command("/whoowns", "")
    assert status == 200
    assert_valid_message(body)
    picker = body["blocks"][1]
    element = picker["elements"][0]
    assert element["type"] == "external_select" and element["min_query_length"] == 1
    # Typing "paym" asks for options (block_suggestion) ...
    status, options = await slack.interaction(
        {
            "type": "block_suggestion",
            "action_id": element["action_id"],
            "block_id": picker["block_id"],
            "value": "paym",
            "container": {"type": "message", "channel_id": PAYMENTS_CHANNEL, "is_ephemeral": True},
        }
    )
    assert status == 200
    values = [o["value"] for o in options["options"]]
    assert "component:default/payments-api" in values
    assert len(values) <= 100
    # ... and choosing one runs /whoowns on it, replacing the picker.
    status, _ = await slack.interaction(
        {
            "type": "block_actions",
            "trigger_id": slack.trigger(),
            "response_url": fake.webhook_url("pick"),
            "container": {"type": "message", "channel_id": PAYMENTS_CHANNEL, "is_ephemeral": True},
            "channel": {"id": PAYMENTS_CHANNEL},
            "actions": [
                {
                    "type": "external_select",
                    "action_id": element["action_id"],
                    "block_id": picker["block_id"],
                    "selected_option": {
                        "text": {"type": "plain_text", "text": "Payments API"},
                        "value": "component:default/payments-api",
                    },
                }
            ],
        }
    )
    assert status == 200
    await slack.settle()
    [answer] = slack.webhooks("pick")
    assert answer.args["replace_original"] is True
    assert "group:default/team-payments" in block_text(answer.args)


@pytest.mark.parametrize(
    "problem", ["bad signature", "old timestamp", "no signature", "no timestamp"]
)
async def test_unverified_requests_get_401_and_run_nothing(
    start_slack: Starter, fake: FakeSlack, problem: str
) -> None:
    slack = await start_slack()
    cases: dict[str, dict[str, Any]] = {
        "bad signature": {"signature": "v0=" + "0" * 64},
        "old timestamp": {"timestamp": int(time.time()) - 5 * 60 - 10},
        "no signature": {"omit": ["x-slack-signature"]},
        "no timestamp": {"omit": ["x-slack-request-timestamp"]},
    }
    kwargs = cases[problem]
    status, body = await slack.command("/whoowns", "payments-api", **kwargs)
    assert status == 401
    assert body == {"error": "invalid request"}
    status, body = await slack.event(
        {
            "type": "app_mention",
            "user": ANA,
            "text": f"<@{BOT_USER_ID}> whoowns payments-api",
            "ts": "1700000000.000100",
            "channel": PAYMENTS_CHANNEL,
            "event_ts": "1700000000.000100",
        },
        **kwargs,
    )
    assert status == 401
    await slack.settle()
    # No command ran: Slack's API was never asked anything, not even who the user is.
    assert fake.calls == []


async def test_the_signature_is_computed_as_slack_documents(start_slack: Starter) -> None:
    # Slack's known-answer vector (docs.slack.dev/authentication/verifying-requests-from-slack).
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.generate_signature(timestamp="1531420618", body=body) == expected
    # ... and the adapter refuses that same request now: its timestamp is years old.
    slack = await start_slack()
    status, _ = await slack.send(
        body, "application/x-www-form-urlencoded", timestamp=1531420618, signature=expected
    )
    assert status == 401


async def test_a_slow_command_is_acked_at_once_and_answered_through_response_url(
    start_slack: Starter,
) -> None:
    release = asyncio.Event()
    slack = await start_slack(commands=[slow_command(release)], ack_ms=200)
    status, body = await slack.command("/slowpoke", response="slow")
    assert status == 200
    assert body == ""  # an empty ack: Slack shows nothing until the answer comes
    assert slack.webhooks("slow") == []
    release.set()
    await slack.settle()
    [answer] = slack.webhooks("slow")
    assert answer.args["response_type"] == "ephemeral"
    assert_valid_message(answer.args)
    assert "Finished for ana.silva@acme-rides.example." in block_text(answer.args)


async def test_share_in_channel_reposts_the_answer_publicly(start_slack: Starter) -> None:
    slack = await start_slack()
    _, body = await slack.command("/whoowns", "payments-api")
    share = {b["text"]["text"]: b for b in buttons(body)}["Share in channel"]
    status, _ = await slack.click(share, response="share")
    assert status == 200
    await slack.settle()
    [shared] = slack.webhooks("share")
    assert shared.args["response_type"] == "in_channel"
    assert shared.args["delete_original"] is True
    assert_valid_message(shared.args)
    assert f"Shared by <@{ANA}>" in block_text(shared.args)
    assert "Share in channel" not in [b["text"]["text"] for b in buttons(shared.args)]


async def test_a_button_runs_its_command_as_the_clicking_user(start_slack: Starter) -> None:
    slack = await start_slack()
    _, body = await slack.command("/whoowns", "payments-api")
    owner = {b["text"]["text"]: b for b in buttons(body)}["What team-payments owns"]
    status, _ = await slack.click(owner, response="owner")
    assert status == 200
    await slack.settle()
    [answer] = slack.webhooks("owner")
    assert answer.args["replace_original"] is False
    assert_valid_message(answer.args)
    assert "What Payments Team owns" in block_text(answer.args)
    assert "payments-api [production]" in block_text(answer.args)


async def test_without_a_callboard_command_the_umbrella_alone_is_help(
    start_slack: Starter,
) -> None:
    slack = await start_slack(exclude=("callboard",))
    _, body = await slack.command("/callboard", "")
    assert "/whoowns &lt;entity&gt;" in block_text(body)  # /help's list of commands
    _, body = await slack.command("/callboard", "whoowns payments-api")
    assert "group:default/team-payments" in block_text(body)
    _, body = await slack.command("/callboard", "whoown payments-api")
    assert "Did you mean /whoowns" in block_text(body)


async def test_the_umbrella_hands_other_words_to_a_registered_callboard_command(
    start_slack: Starter,
) -> None:
    async def admin(ctx: Context, args: Args) -> Reply:
        return Reply(text=f"admin got “{args.text('words')}”")

    umbrella = CommandSpec(
        "callboard",
        "Admin: sync and status.",
        admin,
        args=(Arg("words", kind="words", required=False),),
    )
    slack = await start_slack(commands=[umbrella])
    _, body = await slack.command("/callboard", "sync demo")
    assert "admin got “sync demo”" in block_text(body)
    _, body = await slack.command("/callboard", "")
    assert "admin got “”" in block_text(body)
    _, body = await slack.command("/callboard", "whoowns payments-api")
    assert "group:default/team-payments" in block_text(body)


def mention(text: str, ts: str = "1700000000.000100", **extra: Any) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": ANA,
        "text": text,
        "ts": ts,
        "channel": PAYMENTS_CHANNEL,
        "event_ts": ts,
        **extra,
    }


async def test_a_mention_is_answered_in_its_thread(start_slack: Starter, fake: FakeSlack) -> None:
    slack = await start_slack()
    status, _ = await slack.event(mention(f"<@{BOT_USER_ID}> whoowns payments-api"))
    assert status == 200
    await slack.settle()
    [posted] = fake.calls_to("chat.postMessage")
    assert posted.token == BOT_TOKEN
    assert posted.args["channel"] == PAYMENTS_CHANNEL
    assert posted.args["thread_ts"] == "1700000000.000100"
    assert_valid_message(posted.args)
    assert "group:default/team-payments" in block_text(posted.args)


async def test_a_mention_from_another_bot_is_not_answered(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    event = mention(f"<@{BOT_USER_ID}> whoowns payments-api", bot_id="B0OTHERBOT")
    status, _ = await slack.event(event)
    assert status == 200
    await slack.settle()
    assert fake.calls_to("chat.postMessage") == []


async def test_a_retried_event_delivery_runs_once(start_slack: Starter, fake: FakeSlack) -> None:
    slack = await start_slack()
    event = mention(f"<@{BOT_USER_ID}> whoowns payments-api")
    first = await slack.event(event, event_id="Ev0RETRY01")
    await slack.settle()
    again = await slack.event(
        event,
        event_id="Ev0RETRY01",
        headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"},
    )
    await slack.settle()
    assert first[0] == again[0] == 200
    assert len(fake.calls_to("chat.postMessage")) == 1
    # A new event (a new id) is a new question.
    await slack.event(event, event_id="Ev0RETRY02")
    await slack.settle()
    assert len(fake.calls_to("chat.postMessage")) == 2


async def test_a_direct_message_is_answered_in_the_dm(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    dm = "D0ANADM"
    await slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "user": ANA,
            "channel": dm,
            "text": "whoowns fraud-scorer",
            "ts": "1700000000.000200",
        }
    )
    # The bot's own message and edits are not questions.
    await slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "user": BOT_USER_ID,
            "bot_id": "B0CALLBOARD",
            "channel": dm,
            "text": "whoowns x",
            "ts": "1700000000.000300",
        }
    )
    await slack.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel_type": "im",
            "channel": dm,
            "ts": "1700000000.000400",
            "message": {"text": "whoowns y"},
        }
    )
    await slack.settle()
    [posted] = fake.calls_to("chat.postMessage")
    assert posted.args["channel"] == dm
    assert "thread_ts" not in posted.args
    assert "group:default/team-risk" in block_text(posted.args)


async def test_plain_language_in_a_mention_is_understood(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    await slack.event(mention(f"<@{BOT_USER_ID}> who owns payments-api?"))
    await slack.settle()
    [posted] = fake.calls_to("chat.postMessage")
    assert "group:default/team-payments" in block_text(posted.args)


async def test_me_is_the_catalog_user_with_the_slack_users_email(start_slack: Starter) -> None:
    slack = await start_slack()
    _, body = await slack.command("/owns", "me")
    shown = block_text(body)
    assert "user:default/ana.silva" in shown
    assert "What Ana Silva owns" in shown


async def test_a_mention_in_plain_words_reaches_the_dispatcher(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    await slack.event(mention(f"<@{BOT_USER_ID}> blorp the &lt;thing&gt;"))
    await slack.settle()
    [posted] = fake.calls_to("chat.postMessage")
    assert "I did not understand “blorp the &lt;thing&gt;”" in block_text(posted.args)


def view_state(values: dict[str, Any]) -> dict[str, Any]:
    """``view.state.values`` as Slack sends it for the feedback modal."""
    state: dict[str, Any] = {}
    for name, value in values.items():
        state[f"field:{name}"] = {"value": value} if "type" in value else value
    return state


async def submit(slack: Slack, view: dict[str, Any], values: dict[str, Any]) -> tuple[int, Any]:
    submitted = {
        **view,
        "id": "V0FEEDBACK",
        "team_id": TEAM_ID,
        "state": {"values": values},
        "hash": "1700000000.abcdef",
    }
    return await slack.interaction(
        {"type": "view_submission", "trigger_id": slack.trigger(), "view": submitted}
    )


async def test_a_dialog_round_trip_with_an_inline_error_then_success(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack(commands=[FEEDBACK])
    status, body = await slack.command("/feedback")
    assert (status, body) == (200, "")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    assert opened.args["trigger_id"] == f"1000{slack.triggers}.2000.{slack.triggers:032x}"
    view = opened.args["view"]
    assert_valid_view(view)
    assert view["title"]["text"] == "Report a problem in the…"  # 24 characters at most
    assert view["submit"]["text"] == "File it"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert list(blocks) == [
        "field:summary",
        "field:service",
        "field:team",
        "field:severity",
        "field:details",
        "field:urgent",
    ]
    assert blocks["field:team"]["optional"] is True
    service_action = blocks["field:service"]["element"]["action_id"]
    assert blocks["field:service"]["element"]["type"] == "external_select"
    meta = json.loads(view["private_metadata"])
    assert meta == {
        "id": "feedback:v1",
        "state": {"origin": "slack-test"},
        "channel": PAYMENTS_CHANNEL,
    }

    # The entity picker inside the modal gets its options from the catalog.
    status, options = await slack.interaction(
        {
            "type": "block_suggestion",
            "action_id": service_action,
            "block_id": "field:service",
            "value": "fraud",
            "view": {**view, "id": "V0FEEDBACK"},
        }
    )
    assert status == 200
    assert options["options"][0]["value"] == "component:default/fraud-scorer"
    assert all(o["value"].startswith("component:") for o in options["options"])
    team_action = blocks["field:team"]["element"]["action_id"]
    _, options = await slack.interaction(
        {
            "type": "block_suggestion",
            "action_id": team_action,
            "block_id": "field:team",
            "value": "paym",
            "view": {**view, "id": "V0FEEDBACK"},
        }
    )
    assert options["options"][0]["value"] == "group:default/team-payments"
    assert all(o["value"].startswith("group:") for o in options["options"])

    values = {
        "field:summary": {"value": {"type": "plain_text_input", "value": "bad"}},
        "field:service": {
            service_action: {
                "type": "external_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "Fraud Scorer"},
                    "value": "component:default/fraud-scorer",
                },
            }
        },
        "field:team": {team_action: {"type": "external_select", "selected_option": None}},
        "field:severity": {
            "value": {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "High"},
                    "value": "high",
                },
            }
        },
        "field:details": {"value": {"type": "plain_text_input", "value": None}},
        "field:urgent": {"value": {"type": "checkboxes", "selected_options": []}},
    }
    status, body = await submit(slack, view, values)
    assert status == 200
    assert body == {
        "response_action": "errors",
        "errors": {"field:summary": "Please write at least 10 characters."},
    }
    await slack.settle()
    assert fake.calls_to("chat.postMessage") == []

    values["field:summary"] = {
        "value": {"type": "plain_text_input", "value": "Owner of fraud-scorer is wrong"}
    }
    values["field:urgent"] = {
        "value": {
            "type": "checkboxes",
            "selected_options": [{"text": {"type": "plain_text", "text": "Yes"}, "value": "true"}],
        }
    }
    status, body = await submit(slack, view, values)
    assert (status, body) == (200, "")  # closes the modal
    await slack.settle()
    [posted] = fake.calls_to("chat.postMessage")
    assert posted.args["channel"] == PAYMENTS_CHANNEL
    assert_valid_message(posted.args)
    assert (
        "Owner of fraud-scorer is wrong (component:default/fraud-scorer, severity high, "
        "urgent true, from slack-test, by ana.silva@acme-rides.example)"
    ) in block_text(posted.args)


async def test_a_reply_far_over_the_limits_arrives_complete_across_messages(
    start_slack: Starter, tmp_path: Path
) -> None:
    big = big_team_catalog(tmp_path)
    slack = await start_slack(
        commands=[INVENTORY], sources=[{"type": "file", "name": "big", "target": str(big)}]
    )
    status, first = await slack.command("/inventory", "team-big", response="big")
    assert status == 200
    await slack.settle()
    rest = [c.args for c in slack.webhooks("big")]
    messages = [first, *rest]
    assert 2 <= len(messages) <= 5
    for message in messages:
        assert_valid_message(message)
        assert message["response_type"] == "ephemeral"
    for later in rest:
        assert later["replace_original"] is False
    lines = [line for m in messages for line in block_text(m).split("\n") if line.startswith("• ")]
    assert len(lines) == 500
    assert (
        lines[0] == "• big-service-000 — Service number 0 of the big team &amp; friends &lt;ok&gt;"
    )
    assert len(set(lines)) == 500
    # The buttons come last, once.
    assert [b["text"]["text"] for m in messages for b in buttons(m)] == ["Share in channel"]
    assert buttons(messages[-1])


async def test_a_paged_answer_over_500_entities_is_summarised_with_show_more(
    start_slack: Starter, tmp_path: Path
) -> None:
    big = big_team_catalog(tmp_path)
    slack = await start_slack(sources=[{"type": "file", "name": "big", "target": str(big)}])
    _, body = await slack.command("/whoowns", "team-big")
    assert_valid_message(body)
    assert "460 more not shown" in block_text(body)
    more = {b["text"]["text"]: b for b in buttons(body)}["Show more"]
    assert more["value"] == "/whoowns group:default/team-big --page 2"
    await slack.click(more, response="more")
    await slack.settle()
    [page2] = slack.webhooks("more")
    assert_valid_message(page2.args)
    assert "big-service-040" in block_text(page2.args)


# ----------------------------------------------------------------------------- tests: users


async def test_the_slack_user_is_known_by_email_and_cached(
    start_slack: Starter, fake: FakeSlack
) -> None:
    release = asyncio.Event()
    release.set()
    slack = await start_slack(commands=[slow_command(release)])
    for _ in range(3):
        _, body = await slack.command("/slowpoke")
        assert "Finished for ana.silva@acme-rides.example." in block_text(body)
    assert len(fake.calls_to("users.info")) == 1


async def test_a_failed_users_info_is_not_cached(start_slack: Starter, fake: FakeSlack) -> None:
    release = asyncio.Event()
    release.set()
    slack = await start_slack(commands=[slow_command(release)], rate_limit_retries=0)
    fake.fail_next("users.info", status=503, body={"ok": False, "error": "fatal_error"})
    _, body = await slack.command("/slowpoke")
    assert "Finished for None." in block_text(body)  # the command still ran
    _, body = await slack.command("/slowpoke")  # Slack answers again: the email is back
    assert "Finished for ana.silva@acme-rides.example." in block_text(body)
    assert len(fake.calls_to("users.info")) == 2


async def test_without_a_profile_email_the_catalog_annotation_names_the_user(
    start_slack: Starter, fake: FakeSlack
) -> None:
    release = asyncio.Event()
    release.set()
    slack = await start_slack(commands=[slow_command(release)])
    # Priya is not known to users.info (user_not_found), but her catalog User carries
    # slack.com/user-id: U08I4P40M.
    _, body = await slack.command("/slowpoke", user="U08I4P40M")
    assert "Finished for priya.raman@acme-rides.example." in block_text(body)
    # Nobody knows this one: the command still runs, without an email.
    _, body = await slack.command("/slowpoke", user="U0NOBODY")
    assert "Finished for None." in block_text(body)


# ----------------------------------------------------------------------------- tests: posting


async def test_post_threads_a_long_digest_and_waits_out_a_429(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    poster = slack.poster()
    assert poster.platform == "slack"
    items = tuple(
        f"component:default/service-{i:03d} has no owner (owner team-{i} is gone)"
        for i in range(600)
    )
    digest = Reply(
        title="Ownership gaps this week",
        text=f"{len(items)} gaps.",
        sections=(Section(title="Gaps", items=items),),
        ephemeral=False,
    )
    fake.fail_next("chat.postMessage", 429, {"Retry-After": "0"})
    await poster.post("C0FOGYR3XK", digest)
    calls = fake.calls_to("chat.postMessage")
    limited, parent, *thread = calls
    assert limited.args == parent.args  # the same message, sent again after Retry-After
    assert parent.args["channel"] == "C0FOGYR3XK"
    assert parent.args["unfurl_links"] is False
    assert "thread_ts" not in parent.args
    assert "Details in the thread" in block_text(parent.args)
    assert len(thread) >= 2
    assert {c.args["thread_ts"] for c in thread} == {"1700000000.000001"}
    for call in (parent, *thread):
        assert_valid_message(call.args)
    lines = [
        line for c in thread for line in block_text(c.args).split("\n") if line.startswith("• ")
    ]
    assert len(lines) == 600


async def test_a_short_post_is_one_message_and_refusals_are_delivery_errors(
    start_slack: Starter, fake: FakeSlack
) -> None:
    from bot.errors import ChannelNotFound, DeliveryError, RateLimited

    slack = await start_slack(rate_limit_retries=1)
    poster = slack.poster()
    await poster.post("C0FOGYR3XK", Reply(title="All good", text="No gaps this week."))
    [posted] = fake.calls_to("chat.postMessage")
    assert_valid_message(posted.args)

    fake.fail_next("chat.postMessage", 200, body={"ok": False, "error": "channel_not_found"})
    with pytest.raises(
        ChannelNotFound, match="Slack refused the post to C0GONE: channel_not_found"
    ) as gone:
        await poster.post("C0GONE", Reply(text="hello"))
    assert gone.value.channel == "C0GONE"

    fake.fail_next("chat.postMessage", 429, {"Retry-After": "0"}, times=2)
    with pytest.raises(RateLimited, match="ratelimited") as limited:
        await poster.post("C0FOGYR3XK", Reply(text="hello"))
    assert limited.value.retry_after == 0

    fake.fail_next("chat.postMessage", 200, body={"ok": False, "error": "msg_too_long"})
    with pytest.raises(DeliveryError, match="msg_too_long") as other:
        await poster.post("C0FOGYR3XK", Reply(text="hello"))
    assert type(other.value) is DeliveryError


# ----------------------------------------------------------------------------- tests: manifest


def write_config(tmp_path: Path, **slack: Any) -> Path:
    path = tmp_path / "manifest.yaml"
    config: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "database": {"url": f"sqlite:///{tmp_path / 'manifest.db'}"},
        "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
    }
    if slack:
        config["slack"] = slack
    path.write_text(yaml.safe_dump(config))
    return path


def test_slack_manifest_lists_every_registered_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.cli import main

    config = write_config(
        tmp_path, public_url="https://callboard.acme.example", app_name="Acme Callboard"
    )
    assert main(["--config", str(config), "slack-manifest"]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    slash = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    registered = {f"/{c.name}" for c in COMMANDS}
    assert registered <= set(slash)
    assert "/callboard" in slash
    assert set(slash) - registered <= {"/callboard"}
    events_url = "https://callboard.acme.example/slack/events"
    assert {c["url"] for c in slash.values()} == {events_url}
    assert slash["/whoowns"]["usage_hint"] == "<entity> [--page N] [--oncall]"
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"] == {
        "is_enabled": True,
        "request_url": events_url,
        "message_menu_options_url": events_url,
    }
    assert settings["event_subscriptions"]["request_url"] == events_url
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "app_mentions:read", "users:read.email"} <= scopes
    assert manifest["display_information"]["name"] == "Acme Callboard"
    for command in slash.values():
        assert len(command["command"]) <= 32 and command["description"]


def test_slack_manifest_in_socket_mode_has_no_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.cli import main

    config = write_config(tmp_path, mode="socket")
    assert main(["--config", str(config), "slack-manifest"]) == 0
    text = capsys.readouterr().out
    manifest = yaml.safe_load(text)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in text.replace("redirect_urls", "")
    assert {f"/{c.name}" for c in COMMANDS} <= {
        c["command"] for c in manifest["features"]["slash_commands"]
    }


def test_slack_manifest_in_http_mode_needs_the_public_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.cli import main

    config = write_config(tmp_path)  # no slack section at all: HTTP mode by default
    assert main(["--config", str(config), "slack-manifest"]) == 2
    assert "set slack.public_url or pass --url" in capsys.readouterr().err
    assert (
        main(["--config", str(config), "slack-manifest", "--url", "https://cb.example.org/"]) == 0
    )
    manifest = yaml.safe_load(capsys.readouterr().out)
    assert (
        manifest["settings"]["interactivity"]["request_url"]
        == "https://cb.example.org/slack/events"
    )
    assert main(["--config", str(config), "slack-manifest", "--url", "http://plain"]) == 2
    assert "https://" in capsys.readouterr().err


# ----------------------------------------------------------------------------- tests: config


def test_secrets_come_only_from_the_environment(tmp_path: Path) -> None:
    from bot.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=r"slack\.signing_secret is a secret: set the SLACK_SIGNING_SECRET environment",
    ):
        parse_settings({"slack": {"signing_secret": "abc"}}, "cb.yaml", tmp_path)
    settings = parse_settings({"slack": {"mode": "socket"}}, "cb.yaml", tmp_path)
    slack = settings.section("slack", SlackSettings)
    with pytest.raises(
        ConfigError, match=r"needs the environment variable\(s\) SLACK_BOT_TOKEN, SLACK_APP_TOKEN"
    ):
        read_secrets(slack, {})
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        read_secrets(SlackSettings(enabled=True), {"SLACK_BOT_TOKEN": BOT_TOKEN})
    secrets = read_secrets(slack, {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-1"})
    assert BOT_TOKEN not in repr(secrets)
    with pytest.raises(ConfigError, match=r"slack\.mode must be http or socket"):
        parse_settings({"slack": {"mode": "websocket"}}, "cb.yaml", tmp_path)
    with pytest.raises(ConfigError, match=r"unknown key slack\.colour"):
        parse_settings({"slack": {"colour": "red"}}, "cb.yaml", tmp_path)


async def test_the_events_url_answers_slacks_url_verification(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    body = {
        "token": "deprecated",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    status, answer = await slack.send(json.dumps(body), "application/json")
    assert status == 200
    assert answer == {"challenge": body["challenge"]}
    status, _ = await slack.send(json.dumps(body), "application/json", signature="v0=bad")
    assert status == 401


async def test_healthz_answers_without_a_signature(start_slack: Starter, fake: FakeSlack) -> None:
    slack = await start_slack()
    async with slack.http.get(f"http://127.0.0.1:{slack.port}/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"ok": True, "entities": 105}
    assert fake.calls == []


# ----------------------------------------------------------------------------- tests: the CLI


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_callboard_run_serves_slack_with_stdin_closed_until_stopped(
    tmp_path: Path, fake: FakeSlack
) -> None:
    import os
    import signal
    import sys

    port = free_port()
    config = write_config(tmp_path, api_url=fake.base_url, host="127.0.0.1", port=port)
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
        env={**env, **ENV},
    )
    assert proc.stderr is not None
    try:
        seen: list[str] = []
        while not any("Slack: listening on" in line for line in seen):
            line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
            assert line, f"callboard run stopped: {''.join(seen)}"
            seen.append(line)
        assert f"http://127.0.0.1:{port}/slack/events" in seen[-1]
        harness = Slack(fake=fake, port=port, http=aiohttp.ClientSession())
        try:
            status, body = await harness.command("/whoowns", "payments-api")
        finally:
            await harness.http.close()
        assert status == 200
        assert "group:default/team-payments" in block_text(body)
        assert proc.returncode is None  # stdin is closed, and it still serves
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 130  # stopped by Ctrl-C (SIGINT), as every callboard command is


# ----------------------------------------------------------------------------- tests: Socket Mode


async def test_socket_mode_answers_commands_and_mentions_over_the_websocket(
    tmp_path: Path, fake: FakeSlack
) -> None:
    """Slack's side of Socket Mode, on loopback: apps.connections.open, then envelopes."""
    from aiohttp import WSMsgType, web

    from tests.e2e.slack_fake import APP_TOKEN

    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    connected = asyncio.Event()
    sockets: list[web.WebSocketResponse] = []

    async def link(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "debug_info": {"host": "loopback"}}
        )
        connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await answers.put(json.loads(message.data))
        return ws

    server = web.Application()
    server.add_routes([web.get("/link", link)])
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.socket_url = f"ws://127.0.0.1:{runner.addresses[0][1]}/link"

    config = {
        "data_dir": str(tmp_path / "var"),
        "database": {"url": f"sqlite:///{tmp_path / 'socket.db'}"},
        "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
        "slack": {"mode": "socket", "api_url": fake.base_url},
    }
    settings = parse_settings(config, "socket.yaml", tmp_path)
    app = build_app(settings, COMMANDS)
    await asyncio.to_thread(app.services.sync.run)
    slack_settings = settings.section("slack", SlackSettings)
    runtime = SlackRuntime(
        app,
        slack_settings,
        read_secrets(slack_settings, {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}),
    )
    try:
        await runtime.start_socket()
        await asyncio.wait_for(connected.wait(), 10)
        [opened] = fake.calls_to("apps.connections.open")
        assert opened.token == APP_TOKEN
        ws = sockets[0]
        await ws.send_json(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "team_id": TEAM_ID,
                    "channel_id": PAYMENTS_CHANNEL,
                    "user_id": ANA,
                    "command": "/whoowns",
                    "text": "payments-api",
                    "api_app_id": APP_ID,
                    "response_url": fake.webhook_url("socket"),
                    "trigger_id": "1.2.3",
                },
            }
        )
        answer = await asyncio.wait_for(answers.get(), 10)
        assert answer["envelope_id"] == "env-1"
        assert_valid_message(answer["payload"])
        assert "group:default/team-payments" in block_text(answer["payload"])

        event = mention(f"<@{BOT_USER_ID}> whoowns fraud-scorer")
        envelope = {
            "envelope_id": "env-2",
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "team_id": TEAM_ID,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": "Ev0SOCKET1",
                "event_time": int(time.time()),
            },
        }
        await ws.send_json(envelope)
        assert (await asyncio.wait_for(answers.get(), 10))["envelope_id"] == "env-2"
        # Slack retries the same event: it is acknowledged and not answered twice.
        await ws.send_json(
            {**envelope, "envelope_id": "env-3", "retry_attempt": 1, "retry_reason": "timeout"}
        )
        assert (await asyncio.wait_for(answers.get(), 10))["envelope_id"] == "env-3"
        assert runtime.adapter is not None
        await runtime.adapter.drain()
        [posted] = fake.calls_to("chat.postMessage")
        assert posted.token == BOT_TOKEN
        assert "group:default/team-risk" in block_text(posted.args)
    finally:
        await runtime.close()
        await runner.cleanup()
        app.close()


async def test_an_expired_trigger_turns_into_a_button_that_opens_the_form(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack(commands=[FEEDBACK])
    fake.fail_next("views.open", 200, body={"ok": False, "error": "expired_trigger_id"})
    await slack.command("/feedback", response="late")
    await slack.settle()
    [offer] = slack.webhooks("late")
    assert_valid_message(offer.args)
    [button] = buttons(offer.args)
    assert button["text"]["text"] == "Open the form" and button["value"] == "/feedback"
    await slack.click(button)
    await slack.settle()
    assert len(fake.calls_to("views.open")) == 2  # the click's fresh trigger opened it


async def test_an_ephemeral_form_answer_falls_back_to_a_dm(
    start_slack: Starter, fake: FakeSlack
) -> None:
    async def done(ctx: Context, sub: DialogSubmission) -> Reply | DialogErrors:
        return Reply(text=f"Thanks, {sub.values['name']}.")  # ephemeral by default

    async def ask(ctx: Context, args: Args) -> Reply:
        return Reply(dialog=Dialog("hello:1", "Hello", (DialogField("name", "Name"),)))

    hello = CommandSpec("hello", "A test dialog.", ask, dialog_prefix="hello:", on_dialog=done)
    slack = await start_slack(commands=[hello])
    await slack.command("/hello", channel="C0PRIVATE")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    fake.fail_next("chat.postEphemeral", 200, body={"ok": False, "error": "channel_not_found"})
    status, body = await submit(
        slack,
        opened.args["view"],
        {"field:name": {"value": {"type": "plain_text_input", "value": "Ana"}}},
    )
    assert (status, body) == (200, "")
    await slack.settle()
    [ephemeral] = fake.calls_to("chat.postEphemeral")
    assert (ephemeral.args["channel"], ephemeral.args["user"]) == ("C0PRIVATE", ANA)
    [dm] = fake.calls_to("chat.postMessage")
    assert dm.args["channel"] == ANA
    assert "Thanks, Ana." in block_text(dm.args)


# ----------------------------------------------------------------------------- tests: OAuth


# slack_sdk builds aiohttp.BasicAuth for oauth.v2.access, deprecated since aiohttp 3.14.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_oauth_installs_a_workspace_into_our_database_and_serves_it(
    start_slack: Starter, fake: FakeSlack, db_url: str
) -> None:
    import sqlalchemy

    second_token = "xoxb-2222-second-workspace"
    env = {
        "SLACK_CLIENT_ID": "1111.2222",
        "SLACK_CLIENT_SECRET": "client-secret",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    slack = await start_slack(
        oauth=True, public_url="https://callboard.acme.example", env=env, db_url=db_url
    )
    base = f"http://127.0.0.1:{slack.port}"
    async with slack.http.get(f"{base}/slack/install") as resp:
        assert resp.status == 200
        page = await resp.text()
        cookie = resp.headers["set-cookie"].split(";")[0]
    assert "https://slack.com/oauth/v2/authorize?state=" in page
    assert "client_id=1111.2222" in page and "users:read.email" in page
    state = cookie.split("=", 1)[1]

    fake.tokens[second_token] = "T0SECOND"
    fake.oauth_tokens["code-1"] = {
        "ok": True,
        "app_id": APP_ID,
        "authed_user": {"id": "U0ADMIN"},
        "scope": "commands,chat:write",
        "token_type": "bot",
        "access_token": second_token,
        "bot_user_id": "U0BOT2",
        "team": {"id": "T0SECOND", "name": "Second"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    async with slack.http.get(
        f"{base}/slack/oauth_redirect",
        params={"code": "code-1", "state": state},
        headers={"cookie": cookie},
    ) as resp:
        assert resp.status == 200, await resp.text()
    [exchange] = fake.calls_to("oauth.v2.access")
    assert exchange.args["code"] == "code-1"
    assert exchange.args["redirect_uri"] == "https://callboard.acme.example/slack/oauth_redirect"
    with slack.db.engine.connect() as conn:
        bots = conn.execute(sqlalchemy.text("SELECT team_id, bot_token FROM slack_bots")).all()
        states = conn.execute(sqlalchemy.text("SELECT count(*) FROM slack_oauth_states")).scalar()
    assert [(b.team_id, b.bot_token) for b in bots] == [("T0SECOND", second_token)]
    assert states == 0  # consumed

    status, body = await slack.command("/whoowns", "payments-api", team="T0SECOND")
    assert status == 200
    assert "group:default/team-payments" in block_text(body)
    assert {c.token for c in fake.calls_to("users.info")} == {second_token}

    # A workspace that never installed Callboard runs nothing.
    fake.clear()
    status, body = await slack.command(
        "/whoowns", "payments-api", team="T0STRANGER", response="stranger"
    )
    assert status == 200
    assert "team-payments" not in str(body)
    assert fake.calls_to("users.info") == []
    [notice] = slack.webhooks("stranger")
    assert notice.args["text"] == (
        "Callboard is not installed in this workspace: an admin can install it at "
        "https://callboard.acme.example/slack/install"
    )

    poster = slack.poster()
    await poster.post("T0SECOND/C0NEWS", Reply(text="Digest"))
    await poster.post("C0NEWS", Reply(text="Digest"))  # one workspace: no need to name it
    posts = fake.calls_to("chat.postMessage")
    assert [(c.token, c.args["channel"]) for c in posts] == [(second_token, "C0NEWS")] * 2


def test_migration_0004_matches_slack_sdks_tables(db_url: str) -> None:
    import sqlalchemy
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    from bot.store import schema
    from bot.store.db import Database

    db = Database(db_url)
    db.migrate()
    try:
        sdk = sqlalchemy.MetaData()
        SQLAlchemyInstallationStore.build_installations_table(sdk, "slack_installations")
        SQLAlchemyInstallationStore.build_bots_table(sdk, "slack_bots")
        SQLAlchemyOAuthStateStore.build_oauth_states_table(sdk, "slack_oauth_states")
        inspector = sqlalchemy.inspect(db.engine)
        dialect = db.engine.dialect
        for table in sdk.sorted_tables:
            ours = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert list(ours) == [c.name for c in table.columns], table.name
            for column in table.columns:
                mine = ours[column.name]
                assert mine["type"].compile(dialect=dialect) == column.type.compile(
                    dialect=dialect
                ), (table.name, column.name)
                assert mine["nullable"] == column.nullable, (table.name, column.name)
            indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(table.name)}
            for index in table.indexes:
                assert indexes[index.name] == [c.name for c in index.columns]
            # bot/store/schema.py describes the same table.
            described = schema.metadata.tables[table.name]
            assert [
                (c.name, c.type.compile(dialect=dialect), c.nullable) for c in described.columns
            ] == [(c.name, c.type.compile(dialect=dialect), c.nullable) for c in table.columns]
    finally:
        db.dispose()


# ----------------------------------------------------------------------------- tests: progress


def stepping_commands(
    steps: list[asyncio.Event], *, public: bool = False
) -> tuple[CommandSpec, CommandSpec]:
    """Test commands that report a step, then wait for the test, once per event: ``/steps``
    does it directly, ``/stepform`` after its form is submitted."""

    async def run(ctx: Context, args: Args) -> Reply:
        assert ctx.progress is not None
        for number, gate in enumerate(steps, 1):
            await ctx.progress.update(f"step {number} of {len(steps)}")
            await gate.wait()
        return Reply(title="All steps done", text="The project exists now.", ephemeral=not public)

    async def on_dialog(ctx: Context, sub: DialogSubmission) -> Reply | DialogErrors:
        return await run(ctx, Args())

    async def ask(ctx: Context, args: Args) -> Reply:
        return Reply(dialog=Dialog("steps:1", "Steps", (DialogField("name", "Name"),)))

    direct = CommandSpec("steps", "A test command with progress.", run)
    form = CommandSpec(
        "stepform", "The same, through a form.", ask, dialog_prefix="steps:", on_dialog=on_dialog
    )
    return direct, form


async def test_a_slow_commands_steps_replace_each_other_then_the_answer_replaces_them(
    start_slack: Starter, fake: FakeSlack
) -> None:
    gates = [asyncio.Event(), asyncio.Event()]
    steps, _ = stepping_commands(gates)
    slack = await start_slack(commands=[steps], ack_ms=200)
    status, body = await slack.command("/steps", response="steps")
    assert (status, body) == (200, "")
    [first] = await asyncio.to_thread(fake.wait_for, "webhook", 1)
    assert "⏳ step 1 of 2" in block_text(first.args)
    assert first.args["replace_original"] is False
    gates[0].set()
    second = (await asyncio.to_thread(fake.wait_for, "webhook", 2))[1]
    assert "⏳ step 2 of 2" in block_text(second.args)
    assert second.args["replace_original"] is True
    gates[1].set()
    await slack.settle()
    *_, answer = slack.webhooks("steps")
    assert len(slack.webhooks("steps")) == 3
    assert answer.args["replace_original"] is True
    assert "The project exists now." in block_text(answer.args)


async def test_steps_of_a_command_answered_in_time_are_never_shown(
    start_slack: Starter, fake: FakeSlack
) -> None:
    gate = asyncio.Event()
    gate.set()
    steps, _ = stepping_commands([gate])
    slack = await start_slack(commands=[steps])
    _, body = await slack.command("/steps")
    assert "The project exists now." in block_text(body)
    await slack.settle()
    assert slack.webhooks() == []


@pytest.mark.parametrize("public", [False, True])
async def test_a_slow_forms_steps_show_in_a_dm_message_edited_in_place(
    start_slack: Starter, fake: FakeSlack, public: bool
) -> None:
    gate = asyncio.Event()
    steps, form = stepping_commands([gate], public=public)
    slack = await start_slack(commands=[steps, form], ack_ms=200)
    await slack.command("/stepform")
    await slack.settle()
    [opened] = fake.calls_to("views.open")
    status, body = await submit(
        slack,
        opened.args["view"],
        {"field:name": {"value": {"type": "plain_text_input", "value": "x"}}},
    )
    assert (status, body) == (200, "")
    [step] = await asyncio.to_thread(fake.wait_for, "chat.postMessage", 1)
    assert step.args["channel"] == ANA  # the user's DM with the app
    assert "⏳ step 1 of 1" in block_text(step.args)
    gate.set()
    await slack.settle()
    [update] = fake.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (ANA, "1700000000.000001")
    if public:  # the answer goes to the channel; the step message says it is done
        [_, announced] = fake.calls_to("chat.postMessage")
        assert announced.args["channel"] == PAYMENTS_CHANNEL
        assert "The project exists now." in block_text(announced.args)
        assert "✅ All steps done" in block_text(update.args)
    else:  # a private answer takes the step message's place
        assert "The project exists now." in block_text(update.args)
        assert len(fake.calls_to("chat.postMessage")) == 1


# ----------------------------------------------------------------------------- hostile text


def sent_messages(fake: FakeSlack, acks: Sequence[Any]) -> list[dict[str, Any]]:
    """Every message the adapter answered with: acks, response_url posts, chat.post*."""
    out = [a for a in acks if isinstance(a, dict) and "blocks" in a]
    for call in fake.calls:
        if call.method in ("chat.postMessage", "chat.postEphemeral", "webhook"):
            out.append(call.args)
    return out


def markup_problems(messages: Sequence[dict[str, Any]], allowed: set[str]) -> list[str]:
    return [
        problem
        for message in messages
        for obj in mrkdwn_objects(message.get("blocks") or [])
        for problem in slack_problems(obj["text"], bool(obj.get("verbatim")), allowed, [ANA])
    ]


async def test_a_search_for_2500_ampersands_fits_slacks_limits(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    acks = []
    for query in ("&" * 2500, "<" * 2500, "a&b " * 700):
        status, body = await slack.command("/search", query)
        assert status == 200
        acks.append(body)
    await slack.settle()
    messages = sent_messages(fake, acks)
    assert messages
    for message in messages:
        assert_valid_message(message)  # every text object within its limit
        for obj in mrkdwn_objects(message["blocks"]):
            assert len(obj["text"]) <= render.SECTION_TEXT
    assert markup_problems(messages, set()) == []  # no entity cut in half


async def test_hostile_catalog_text_forms_no_links_or_mentions(
    start_slack: Starter, fake: FakeSlack, tmp_path: Path
) -> None:
    catalog = tmp_path / "hostile.yaml"
    catalog.write_text(hostile_catalog())
    slack = await start_slack(sources=[{"type": "file", "name": "h", "target": str(catalog)}])
    acks = []
    for command, text in (
        ("/describe", "evil-svc"),
        ("/whoowns", "evil-svc"),
        ("/search", "payments"),
        ("/describe", "team-evil"),
        ("/search", "<!here> @here <https://evil.example/|x> &amp;"),  # echoed back
    ):
        status, body = await slack.command(command, text)
        assert status == 200
        acks.append(body)
    await slack.settle()
    messages = sent_messages(fake, acks)
    assert len(messages) >= 5
    assert markup_problems(messages, {HOSTILE_OK_URL}) == []
    shown = "\n".join(block_text(m) + m["text"] for m in messages)
    assert "\x1b" not in shown and "\u202e" not in shown and "payments-api\u200b" not in shown
    assert f"<{HOSTILE_OK_URL}|" in shown  # the one valid link is still a link


# ----------------------------------------------------------------------------- hostile HTTP

MALFORMED_BODIES: dict[str, tuple[bytes, str]] = {
    "invalid JSON": (b'{"type": "event_callback", ', "application/json"),
    "a JSON list": (b"[1, 2]", "application/json"),
    "payload=not-json": (b"payload=not-json", "application/x-www-form-urlencoded"),
    "payload=null": (b"payload=null", "application/x-www-form-urlencoded"),
    "payload=[]": (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
    "invalid UTF-8": (b"command=%2Fwhoowns&text=\xff\xfe\xfd", "application/x-www-form-urlencoded"),
    "invalid UTF-8 JSON": (b'{"a": "\xff"}', "application/json"),
}


async def post_raw(slack: Slack, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    import io

    async with slack.http.post(slack.url, data=io.BytesIO(body), headers=headers) as resp:
        return resp.status, await resp.text()


def signed_headers(body: bytes, content_type: str, timestamp: str | None = None) -> dict[str, str]:
    import hashlib
    import hmac

    ts = timestamp or str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": "v0=" + digest.hexdigest(),
    }


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= 40]


@pytest.mark.parametrize("case", sorted(MALFORMED_BODIES))
async def test_unsigned_malformed_bodies_get_401_without_an_error_in_the_log(
    start_slack: Starter, fake: FakeSlack, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    slack = await start_slack()
    body, content_type = MALFORMED_BODIES[case]
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": str(int(time.time())),
        "x-slack-signature": "v0=" + "0" * 64,
    }
    status, text = await post_raw(slack, body, headers)
    assert (status, json.loads(text)) == (401, {"error": "invalid request"})
    # Signed by someone holding the secret, the same bodies are refused as malformed: 400.
    status, _ = await post_raw(slack, body, signed_headers(body, content_type))
    assert status == 400
    await slack.settle()
    assert fake.calls == []
    assert no_errors_logged(caplog) == []


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "1e9", "1.5", "9" * 5000, "-1", " 1", "１２３", "", "0", "stale", "future"],
)
async def test_bad_timestamps_get_401_without_an_error_in_the_log(
    start_slack: Starter, fake: FakeSlack, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    slack = await start_slack()
    now = int(time.time())
    ts = {"stale": str(now - 301), "future": str(now + 301)}.get(timestamp, timestamp)
    body = urllib.parse.urlencode({"command": "/whoowns", "text": "payments-api"}).encode()
    # Correctly signed over that timestamp: only the timestamp is wrong.
    headers = signed_headers(body, "application/x-www-form-urlencoded", ts)
    headers["x-slack-request-timestamp"] = ts
    status, text = await post_raw(slack, body, headers)
    assert (status, json.loads(text)) == (401, {"error": "invalid request"})
    await slack.settle()
    assert fake.calls == []
    assert no_errors_logged(caplog) == []


async def test_the_signature_covers_the_raw_bytes(start_slack: Starter, fake: FakeSlack) -> None:
    slack = await start_slack()
    form = urllib.parse.urlencode(
        {
            "command": "/whoowns",
            "text": "payments-api",
            "user_id": ANA,
            "team_id": TEAM_ID,
            "channel_id": PAYMENTS_CHANNEL,
            "response_url": fake.webhook_url("r"),
            "trigger_id": slack.trigger(),
            "api_app_id": APP_ID,
        }
    ).encode()
    headers = signed_headers(form, "application/x-www-form-urlencoded")
    status, _ = await post_raw(slack, form, headers)
    assert status == 200
    # The same form, re-encoded differently (same parsed fields), no longer matches.
    status, _ = await post_raw(slack, form.replace(b"%2F", b"/"), headers)
    assert status == 401


async def test_a_body_over_a_mebibyte_gets_413(start_slack: Starter, fake: FakeSlack) -> None:
    slack = await start_slack()
    body = b"text=" + b"a" * (1024 * 1024 + 1)
    status, _ = await post_raw(slack, body, signed_headers(body, "application/json"))
    assert status == 413
    assert fake.calls == []


async def test_slacks_unsigned_ssl_check_gets_an_empty_200(
    start_slack: Starter, fake: FakeSlack
) -> None:
    slack = await start_slack()
    body = b"ssl_check=1&token=deprecated-verification-token"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert await post_raw(slack, body, headers) == (200, "")
    assert await post_raw(slack, body, signed_headers(body, headers["content-type"])) == (200, "")
    assert fake.calls == []


async def test_a_failure_after_the_ack_tells_the_user_the_error_id(
    start_slack: Starter, caplog: pytest.LogCaptureFixture
) -> None:
    slack = await start_slack()

    async def broken_delivery() -> None:
        raise RuntimeError("the adapter failed after the ack")

    adapter = slack.adapter
    tell = adapter.tell_url(slack.fake.webhook_url("boom"))
    adapter.spawn(broken_delivery(), "a test delivery", tell)
    await slack.settle()
    [told] = slack.webhooks("boom")
    assert told.args["response_type"] == "ephemeral"
    text = block_text(told.args)
    found = re.search(r"error id ([0-9a-f]{8})", text)
    assert found and "Sorry, something went wrong on my side" in text
    assert any(found.group(1) in r.getMessage() and r.exc_info for r in caplog.records)

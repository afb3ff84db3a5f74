"""Callboard on Discord, driven through the real discord.py client against simcord (offline).

simcord runs discord.py's own gateway and REST code against an in-memory Discord that
enforces its rules: unsynced commands cannot be invoked (``strict_sync`` stays on, so the
bot's own start-up sync is tested), oversized embeds are refused with a 400, a second
response to an interaction is an error, ephemeral messages are visible to their owner only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord
import yaml

from adapters.discord import PLATFORM, DiscordAdapter
from adapters.discord.render import (
    DESCRIPTION_MAX,
    EMBEDS_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    MESSAGE_EMBED_TOTAL_MAX,
    TITLE_MAX,
)
from adapters.discord.tree import NAME_RE
from bot.app import App
from bot.chat import (
    Button,
    Dialog,
    DialogErrors,
    DialogField,
    DialogSubmission,
    Field,
    Reply,
    Section,
)
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from bot.errors import ChannelNotFound, ConfigError
from commands import COMMANDS
from tests.conftest import DEMO
from tests.markup import (
    HOSTILE_OK_URL,
    discord_problems,
    discord_visible,
    embed_strings,
    hostile_catalog,
)

DEMO_SOURCES = [{"type": "file", "name": "demo", "target": str(DEMO)}]
GUILD_ID = 414243444546474849
OPTION_TYPES = {"string": 3, "integer": 4, "boolean": 5}


# ------------------------------------------------------------------ test-only commands


async def _open_form(ctx: Context, args: Args) -> Reply:
    return Reply(
        text="Describe the new service.",
        dialog=Dialog(
            id="newsvc:create",
            title="New service",
            state={"origin": "discord-test"},
            fields=(
                DialogField("name", "Service name", hint="lower case, digits and dashes"),
                DialogField("description", "What it does", kind="multiline", max_length=500),
                DialogField(
                    "tier",
                    "Tier",
                    kind="choice",
                    choices=(("1", "Tier 1: customer facing"), ("2", "Tier 2"), ("3", "Tier 3")),
                    default="2",
                ),
                DialogField("pager", "Page the owner at night?", kind="boolean", default="false"),
                DialogField("owner", "Owner", kind="group"),
                DialogField("system", "System", kind="entity", entity_kinds=("system",)),
                DialogField("notes", "Notes", required=False),
            ),
        ),
    )


async def _submit_form(ctx: Context, submission: DialogSubmission) -> Reply | DialogErrors:
    name = submission.values.get("name", "")
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        return DialogErrors({"name": "use lower case letters, digits and dashes"})
    return Reply(
        title=f"Created {name}",
        text=f"origin={submission.state.get('origin')}",
        sections=(
            Section(fields=tuple(Field(k, v or "—") for k, v in sorted(submission.values.items()))),
        ),
    )


async def _announce(ctx: Context, args: Args) -> Reply:
    return Reply(text=f"Announcement: {args.text('words')}", ephemeral=False)


async def _whoami(ctx: Context, args: Args) -> Reply:
    return Reply(text=f"name={ctx.user.name} email={ctx.user.email} channel={ctx.request.channel}")


async def _everything(ctx: Context, args: Args) -> Reply:
    """Every entity a team owns, in one reply with no paging: far over Discord's limits."""
    team = args.entity("team")
    owned = ctx.services.reader.get_many(ctx.services.reader.related(team.ref, "ownerOf"))
    items = tuple(f"{e.ref} — {e.description}" for e in sorted(owned.values(), key=str))
    facts = tuple(Field(f"Fact {i}", "x" * 1500) for i in range(40))
    return Reply(
        title="Everything " * 40,
        text="An answer far over the limits. " * 200,
        sections=(
            Section(title=f"Owned ({len(items)})", items=items),
            Section(title="Facts", fields=facts),
            *(Section(title=f"Extra {i}", items=("one", "two")) for i in range(12)),
        ),
        buttons=tuple(Button(f"B{i}", command=f"/help {i}") for i in range(30)),
    )


async def _slowjob(ctx: Context, args: Args) -> Reply:
    """A long-running command: reports two steps, then answers."""
    assert ctx.progress is not None
    await ctx.progress.update("step 1 of 2: rendering")
    await ctx.progress.update("step 2 of 2: pushing")
    return Reply(title="Job done", text="all steps ran", ephemeral=not args.options["public"])


FORM = CommandSpec(
    name="newservice",
    summary="Test only: a seven-field form.",
    handler=_open_form,
    dialog_prefix="newsvc:",
    on_dialog=_submit_form,
)
ANNOUNCE = CommandSpec(
    name="announce",
    summary="Test only: a public answer.",
    handler=_announce,
    args=(Arg("words", kind="words"),),
)
WHOAMI = CommandSpec(name="whoami", summary="Test only: who am I.", handler=_whoami)
EVERYTHING = CommandSpec(
    name="everything",
    summary="Test only: an answer far over Discord's limits.",
    handler=_everything,
    args=(Arg("team", kinds=("group",)),),
)
UMBRELLA = CommandSpec(
    name="umbrella",
    summary="Test only: a command with subcommands.",
    handler=_whoami,
    args=(Arg("action", kind="text", required=False), Arg("rest", kind="words", required=False)),
    subcommands=("status [source] — each source's status", "sync [source] — sync now"),
)
SLOWJOB = CommandSpec(
    name="slowjob",
    summary="Test only: a command that reports progress.",
    handler=_slowjob,
    options=(Option("public", "flag"),),
)
EXTRA = (FORM, ANNOUNCE, WHOAMI, EVERYTHING, UMBRELLA, SLOWJOB)


# ------------------------------------------------------------------------- helpers


AppFactory = Callable[..., App]


def discord_app(
    make_app: AppFactory,
    *,
    sources: list[dict[str, Any]] | None = None,
    db_url: str | None = None,
    **cfg: Any,
) -> App:
    return make_app(
        sources=DEMO_SOURCES if sources is None else sources,
        db_url=db_url,
        commands=[*COMMANDS, *EXTRA],
        platforms=[PLATFORM],
        discord=cfg,
    )


def adapter_for(app: App) -> DiscordAdapter | None:
    """The app's Discord adapter, as ``build_app`` made it (None when not configured)."""
    parts = app.platforms.get("discord")
    return parts.runtime if parts is not None else None


def poster(app: App) -> Any:
    """The poster ``build_app`` registered for Discord, if any."""
    return app.services.posters.get("discord")


def serve(app: App) -> Any:
    """Discord's server for ``App.servers`` (None when not configured)."""
    parts = app.platforms.get("discord")
    return parts.serve() if parts is not None and parts.serve is not None else None


@dataclasses.dataclass
class World:
    env: simcord.Env
    adapter: DiscordAdapter
    guild: Any
    channel: Any
    ana: Any  # simcord MemberActor
    ben: Any


@contextlib.asynccontextmanager
async def discord_world(app: App, **options: Any) -> AsyncIterator[World]:
    """The bot running against simcord with one server, one channel and two members."""
    adapter = adapter_for(app)
    assert adapter is not None
    async with simcord.run(adapter.client, **options) as env:
        guild = env.create_guild("Acme Rides")
        channel = guild.create_text_channel("platform")
        ana = guild.add_member(env.create_user("ana"))
        ben = guild.add_member(env.create_user("ben"))
        yield World(env, adapter, guild, channel, ana, ben)


def embed_text(embeds: list[discord.Embed]) -> str:
    """What the embeds show (markdown escapes resolved)."""
    parts: list[str] = []
    for e in embeds:
        parts.extend([e.title or "", e.description or "", e.footer.text or ""])
        for f in e.fields:
            parts.extend([f.name or "", f.value or ""])
    return discord_visible("\n".join(parts))


def button_labels(components: list[Any]) -> list[str]:
    labels: list[str] = []
    for row in components:
        row_children = row["components"] if isinstance(row, dict) else row.children
        for c in row_children:
            labels.append(c["label"] if isinstance(c, dict) else c.label)
    return labels


def assert_within_limits(embeds: list[discord.Embed]) -> None:
    assert 1 <= len(embeds) <= EMBEDS_MAX
    assert sum(len(e) for e in embeds) <= MESSAGE_EMBED_TOTAL_MAX
    for e in embeds:
        assert len(e.title or "") <= TITLE_MAX
        assert len(e.description or "") <= DESCRIPTION_MAX
        assert len(e.fields) <= FIELDS_MAX
        assert all(len(f.value or "") <= FIELD_VALUE_MAX for f in e.fields)


def modal_inputs(result: simcord.InteractionResult) -> dict[str, dict[str, Any]]:
    """The modal's inputs by label text: {label: component payload (+ description)}."""
    assert result.modal is not None
    out: dict[str, dict[str, Any]] = {}
    for label in result.modal["components"]:
        assert label["type"] == 18  # Label (discord.py 2.6+), wrapping a text input or select
        out[label["label"]] = {**label["component"], "description": label.get("description")}
    return out


# ------------------------------------------------------------------- command tree


def test_command_tree_follows_discord_rules_for_every_registry_command(
    make_app: AppFactory,
) -> None:
    app = discord_app(make_app)
    adapter = adapter_for(app)
    assert adapter is not None
    payloads = {p["name"]: p for p in adapter.command_payloads()}
    for spec in [*COMMANDS, *EXTRA]:
        payload = payloads[spec.name]  # one slash command per registry command
        assert NAME_RE.match(payload["name"]) and payload["name"] == payload["name"].lower()
        assert 1 <= len(payload["name"]) <= 32
        assert 1 <= len(payload["description"]) <= 100
        options = payload.get("options") or []
        assert len(options) <= 25
        assert [o["required"] for o in options] == sorted(
            (o["required"] for o in options), reverse=True
        )  # Discord wants required options first
        for option in options:
            assert NAME_RE.match(option["name"]) and option["name"] == option["name"].lower()
            assert 1 <= len(option["description"]) <= 100
        by_name = {o["name"]: o for o in options}
        for position, arg in enumerate(spec.args):
            assert by_name[arg.name]["type"] == OPTION_TYPES["string"]
            assert by_name[arg.name]["required"] == arg.required
            # Entity names complete from the catalog; an umbrella command's first argument
            # completes from its subcommands.
            completes = arg.kind == "entity" or (position == 0 and bool(spec.subcommands))
            assert by_name[arg.name].get("autocomplete", False) == completes
        for opt in spec.options:
            kind = {"flag": "boolean", "int": "integer", "text": "string"}[opt.kind]
            assert by_name[opt.name]["type"] == OPTION_TYPES[kind]
            assert by_name[opt.name].get("min_value") == opt.minimum
            assert by_name[opt.name].get("max_value") == opt.maximum


def test_command_tree_normalises_names_and_descriptions_it_cannot_use_as_is(
    make_app: AppFactory,
) -> None:
    async def handler(ctx: Context, args: Args) -> Reply:
        return Reply(text="ok")

    awkward = CommandSpec(
        name="Who_Owns Everything In The Whole Catalog Right Now",
        summary="A summary that goes on " + "and on " * 30,
        handler=handler,
        args=(Arg("Target Entity", help="h" * 300),),
        options=(
            *(Option(f"flag-{i}", "flag") for i in range(30)),
            Option("Target Entity"),
        ),
    )
    app = make_app(sources=DEMO_SOURCES, commands=[awkward], platforms=[PLATFORM], discord={})
    adapter = adapter_for(app)
    assert adapter is not None
    (payload,) = adapter.command_payloads()
    assert payload["name"] == "who_owns-everything-in-the-whole"
    assert len(payload["description"]) == 100 and payload["description"].endswith("…")
    names = [o["name"] for o in payload["options"]]
    assert len(names) == 25 and len(set(names)) == 25
    assert names[0] == "target-entity"
    assert all(len(o["description"]) <= 100 for o in payload["options"])


# -------------------------------------------------------------------- slash commands


async def test_every_registry_command_answers_through_its_slash_command(
    make_app: AppFactory,
) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        index = app.services.reader.index()
        for slash in w.adapter.commands:
            if slash.spec in EXTRA:
                continue
            options: dict[str, Any] = {}
            for param in slash.params:
                source = param.source
                if not isinstance(source, Arg) or not source.required:
                    continue
                if source.kind == "entity":
                    pool = sorted(
                        e.ref for e in index.entries() if not source.kinds or e.kind in source.kinds
                    )
                    options[param.name] = pool[0]
                else:
                    words = [s.split()[0] for s in slash.spec.subcommands if s.split()]
                    options[param.name] = words[0] if words else "help"
            result = await w.ana.slash(w.channel, slash.name, **options)
            assert result.acknowledged, slash.name
            if result.modal is not None:
                continue  # a command that opens a form answers with a modal
            answer = result.response or result.followups[-1]
            text = answer.content + embed_text(answer.embeds)
            assert text.strip(), slash.name
            assert "error id" not in text, f"/{slash.name} crashed: {text}"
            assert_within_limits(answer.embeds)


async def test_whoowns_answers_privately_with_embeds_members_channel_and_buttons(
    make_app: AppFactory,
) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "whoowns", entity="payments-api")
        assert result.acknowledged and not result.deferred
        assert result.ephemeral  # lookups are private until shared
        embeds = result.response.embeds
        text = embed_text(embeds)
        assert embeds[0].title == "Who owns Payments API"
        assert "Payments Team (group:default/team-payments)" in text
        assert "Ana Silva <ana.silva@acme-rides.example>" in text
        assert "C0FOGYR3XK" in text and "941059834533996378" in text
        assert "P1W103D" in text  # PagerDuty on-call
        assert [e.title for e in embeds[1:]] == ["Owner", "Members (4)", "On call"]
        assert button_labels(result.response.components) == [
            "What team-payments owns",
            "Details",
            "Share",
        ]


async def test_help_lists_the_registry(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "help")
        text = embed_text(result.response.embeds)
        for spec in COMMANDS:
            assert f"/{spec.name}" in text
        one = await w.ana.slash(w.channel, "help", command="whoowns")
        assert "/whoowns <entity> [--page N]" in embed_text(one.response.embeds)


async def test_a_misspelt_name_gets_the_closest_match_with_a_note(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "whoowns", entity="paymnts api")
        text = embed_text(result.response.embeds)
        assert "showing the closest match, component:default/payments-api" in text
        assert "Payments Team" in text


async def test_an_unknown_name_is_an_error_with_suggestion_buttons_and_no_share(
    make_app: AppFactory,
) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "whoowns", entity="payments")
        embed = result.response.embeds[0]
        assert embed.colour == discord.Colour(0xED4245)
        assert "could mean several entities" in embed_text(result.response.embeds)
        labels = button_labels(result.response.components)
        assert "payments-api" in labels
        assert "Share" not in labels
        picked = await w.ana.click(result.response, label="payments-api")
        assert "Payments Team" in embed_text(picked.response.embeds)


# ---------------------------------------------------------------------- autocomplete


async def test_autocomplete_suggests_the_entity_for_a_misspelt_name(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        choices = await w.ana.autocomplete(w.channel, "whoowns", "entity", "paymnts-api")
        assert 1 <= len(choices) <= 25
        assert choices[0] == {
            "name": "Payments API (component:default/payments-api)",
            "value": "component:default/payments-api",
        }
        # Picking the suggestion sends its ref, which resolves exactly.
        result = await w.ana.slash(w.channel, "whoowns", entity=choices[0]["value"])
        assert embed_text(result.response.embeds).startswith("Who owns Payments API")


async def test_autocomplete_offers_at_most_25_and_respects_the_argument_kinds(
    make_app: AppFactory,
) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        browse = await w.ana.autocomplete(w.channel, "whoowns", "entity", "")
        assert len(browse) == 25  # the demo catalog has 105 entities
        groups = await w.ana.autocomplete(w.channel, "everything", "team", "pay")
        assert groups and all(c["value"].startswith("group:") for c in groups)
        assert groups[0]["value"] == "group:default/team-payments"
        assert await w.ana.autocomplete(w.channel, "whoowns", "entity", "zzzzqqqq") == []


async def test_an_umbrella_command_completes_its_subcommands(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        choices = await w.ana.autocomplete(w.channel, "umbrella", "action", "st")
        assert choices == [{"name": "status [source] — each source's status", "value": "status"}]
        both = await w.ana.autocomplete(w.channel, "umbrella", "action", "")
        assert [c["value"] for c in both] == ["status", "sync"]


# ----------------------------------------------------------- defer, public, share


async def test_a_slow_answer_is_deferred_then_followed_up(make_app: AppFactory) -> None:
    app = discord_app(make_app, defer_ms=0)  # 0: always defer, as for a slow command
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "whoowns", entity="payments-api")
        callbacks = [r for r in w.env.http_requests if r.path.endswith("/callback")]
        assert callbacks[-1].json["type"] == 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
        answer = result.response  # the first followup completes the "thinking" message
        assert answer.ephemeral
        assert answer.embeds[0].title == "Who owns Payments API"
        assert "Share" in button_labels(answer.components)


async def test_a_public_answer_after_a_defer_is_posted_for_everyone(make_app: AppFactory) -> None:
    app = discord_app(make_app, defer_ms=0)
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "announce", words="deploy freeze at 5pm")
        assert result.response is None  # the private "thinking…" message is gone
        public = result.followups[-1]
        assert not public.ephemeral
        assert "Announcement: deploy freeze at 5pm" in embed_text(public.embeds)
        assert "Share" not in button_labels(public.components)


def progress_edits(env: simcord.Env) -> list[str]:
    """The texts the bot edited into a message, in order (progress steps)."""
    return [
        discord_visible(r.json["content"])
        for r in env.http_requests
        if r.method == "PATCH" and isinstance(r.json, dict) and r.json.get("content")
    ]


async def test_progress_steps_show_in_place_then_the_answer_replaces_them(
    make_app: AppFactory,
) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "slowjob")
        callbacks = [r for r in w.env.http_requests if r.path.endswith("/callback")]
        assert callbacks[-1].json["type"] == 5  # the first step deferred the answer
        assert progress_edits(w.env) == ["step 1 of 2: rendering", "step 2 of 2: pushing"]
        answer = result.response  # the same private message, now the answer
        assert answer.ephemeral and answer.content == ""
        assert answer.embeds[0].title == "Job done"
        assert "Share" in button_labels(answer.components)
        assert result.followups == []


async def test_progress_then_a_public_answer(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "slowjob", public=True)
        assert result.response is None  # the private progress message made way
        public = w.channel.last_message
        assert not public.flags.ephemeral and public.embeds[0].title == "Job done"


async def test_progress_on_a_mention_edits_the_reply(make_app: AppFactory) -> None:
    app = discord_app(make_app, message_content=True)
    async with discord_world(app) as w:
        me = w.adapter.client.user
        assert me is not None
        await w.ana.send(w.channel, f"{me.mention} slowjob")
        reply = w.channel.last_message
        assert reply.author.id == me.id
        assert reply.content == "" and reply.embeds[0].title == "Job done"
        assert progress_edits(w.env)[-1] == "step 2 of 2: pushing"
        bot_messages = [m for m in w.channel.history() if m.author.id == me.id]
        assert len(bot_messages) == 1  # one message, edited in place


async def test_share_posts_the_private_answer_publicly(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        private = await w.ana.slash(w.channel, "whoowns", entity="payments-api")
        shared = await w.ana.click(private.response, label="Share")
        # The private copy says so and loses its buttons (sharing twice is not offered).
        assert shared.response.content == "Shared in the channel."
        assert shared.response.components == []
        public = w.channel.last_message
        assert not public.flags.ephemeral
        assert public.content == f"Shared by {w.ana.mention}"
        assert embed_text(public.embeds) == embed_text(private.response.embeds)
        assert button_labels(public.components) == ["What team-payments owns", "Details"]
        # Anyone in the channel can use the shared answer's buttons; the answer is theirs.
        theirs = await w.ben.click(public, label="What team-payments owns")
        assert theirs.ephemeral
        assert "What Payments Team owns" in embed_text(theirs.response.embeds)


# --------------------------------------------------------------------------- modals


async def test_a_form_round_trip_with_an_error_then_success(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        step1 = await w.ana.slash(w.channel, "newservice")
        assert step1.modal is not None
        assert step1.modal["title"] == "New service (1/2)"  # seven fields: two steps
        inputs = modal_inputs(step1)
        assert list(inputs) == [
            "Service name",
            "What it does",
            "Tier",
            "Page the owner at night?",
            "Owner",
        ]
        assert inputs["Service name"]["description"] == "lower case, digits and dashes"
        assert inputs["What it does"]["style"] == 2 and inputs["What it does"]["max_length"] == 500
        tier = inputs["Tier"]  # a choice is a select, its default preselected
        assert tier["type"] == 3
        assert [(o["value"], o["default"]) for o in tier["options"]] == [
            ("1", False),
            ("2", True),
            ("3", False),
        ]
        assert [o["label"] for o in inputs["Page the owner at night?"]["options"]] == ["Yes", "No"]
        owners = [o["value"] for o in inputs["Owner"]["options"]]  # 13 groups fit a select
        assert "group:default/team-payments" in owners and len(owners) == 13

        ids = {label: spec["custom_id"] for label, spec in inputs.items()}
        saved = await w.ana.submit_modal(
            step1,
            {
                ids["Service name"]: "Refund Robot",
                ids["What it does"]: "Retries failed refunds.",
                ids["Tier"]: ["1"],
                ids["Page the owner at night?"]: ["true"],
                ids["Owner"]: ["group:default/team-payments"],
            },
        )
        assert saved.response.content == "Step 1 of 2 saved."
        step2 = await w.ana.click(saved.response, label="Continue (2/2)")
        inputs2 = modal_inputs(step2)
        assert list(inputs2) == ["System", "Notes"]
        ids2 = {label: spec["custom_id"] for label, spec in inputs2.items()}
        failed = await w.ana.submit_modal(
            step2,
            {
                ids2["System"]: [inputs2["System"]["options"][0]["value"]],
                ids2["Notes"]: "",
            },
        )
        # The command's validation comes back as a private message with a button to fix it.
        assert failed.ephemeral
        assert "Service name: use lower case letters, digits and dashes" in embed_text(
            failed.response.embeds
        )
        again = await w.ana.click(failed.response, label="Fix and resubmit")
        kept = modal_inputs(again)
        assert kept["Service name"]["value"] == "Refund Robot"  # values kept
        assert kept["Service name"]["description"] == "⚠ use lower case letters, digits and dashes"
        assert kept["What it does"]["value"] == "Retries failed refunds."
        assert [o["value"] for o in kept["Tier"]["options"] if o["default"]] == ["1"]
        done = await w.ana.submit_modal(
            again,
            {
                ids["Service name"]: "refund-robot",
                ids["What it does"]: "Retries failed refunds.",
                ids["Tier"]: ["1"],
                ids["Page the owner at night?"]: ["true"],
                ids["Owner"]: ["group:default/team-payments"],
            },
        )
        # No step had errors left and every step was seen: the form is submitted.
        text = embed_text(done.response.embeds)
        assert "Created refund-robot" in text
        assert "origin=discord-test" in text  # the dialog's state made the round trip
        assert "group:default/team-payments" in text and "true" in text
        assert len(w.adapter.forms) == 0  # a submitted form is forgotten


async def test_a_form_after_a_defer_opens_from_a_button(make_app: AppFactory) -> None:
    app = discord_app(make_app, defer_ms=0)  # deferred: a modal can no longer be the answer
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "newservice")
        assert result.modal is None
        prompt = result.response
        assert prompt.ephemeral and prompt.content == "Describe the new service."
        opened = await w.ana.click(prompt, label="Open: New service")
        assert opened.modal is not None and opened.modal["title"] == "New service (1/2)"


async def test_an_expired_form_says_so(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        step1 = await w.ana.slash(w.channel, "newservice")
        ids = {label: spec["custom_id"] for label, spec in modal_inputs(step1).items()}
        saved = await w.ana.submit_modal(
            step1,
            {
                ids["Service name"]: "late",
                ids["What it does"]: "x",
                ids["Tier"]: ["2"],
                ids["Page the owner at night?"]: ["false"],
                ids["Owner"]: ["group:default/team-payments"],
            },
        )
        forms = w.adapter.forms
        forms.clock = lambda: 10.0**9  # sixteen minutes later, as far as the store knows
        late = await w.ana.click(saved.response, label="Continue (2/2)")
        assert late.modal is None
        assert late.response.content.startswith("This form has expired")
        assert len(forms) == 0


async def test_a_form_belongs_to_the_user_who_opened_it(make_app: AppFactory) -> None:
    app = discord_app(make_app, message_content=True)
    async with discord_world(app) as w:
        me = w.adapter.client.user
        assert me is not None
        await w.ana.send(w.channel, f"{me.mention} newservice")
        prompt = w.channel.last_message  # a mention cannot open a modal: it offers a button
        assert button_labels(prompt.components) == ["Open: New service"]
        refused = await w.ben.click(prompt, label="Open: New service")
        assert refused.modal is None
        assert refused.response.content.startswith("This form belongs to someone else")
        opened = await w.ana.click(prompt, label="Open: New service")
        assert opened.modal is not None and opened.modal["title"] == "New service (1/2)"


# ------------------------------------------------------------------------- mentions


async def test_a_mention_is_answered_in_the_channel(make_app: AppFactory) -> None:
    app = discord_app(make_app, message_content=True)
    async with discord_world(app) as w:
        me = w.adapter.client.user
        assert me is not None
        asked = await w.ana.send(w.channel, f"{me.mention} who owns payments-api")
        answer = w.channel.last_message
        assert answer.author.id == me.id
        assert answer.reference is not None and answer.reference.message_id == asked.id
        assert "Payments Team (group:default/team-payments)" in embed_text(answer.embeds)
        # Messages that do not mention the bot, and the bot's own, are left alone.
        await w.ana.send(w.channel, "whoowns payments-api")
        assert w.channel.last_message.author.id == w.ana.id


async def test_a_plain_language_mention_of_the_bots_role_is_understood(
    make_app: AppFactory,
) -> None:
    app = discord_app(make_app, message_content=True)
    async with discord_world(app) as w:
        guild = w.adapter.client.get_guild(w.guild.id)
        assert guild is not None
        (role,) = [r for r in guild.me.roles if r.managed]  # the bot's integration role
        await w.ana.send(w.channel, f"<@&{role.id}> who owns payments-api?")
        answer = w.channel.last_message
        assert answer.author.id == guild.me.id
        assert "Payments Team (group:default/team-payments)" in embed_text(answer.embeds)


async def test_without_message_content_the_bot_ignores_messages_but_slash_works(
    make_app: AppFactory,
) -> None:
    app = discord_app(make_app)  # message_content: false (the default)
    adapter = adapter_for(app)
    assert adapter is not None
    assert not adapter.client.intents.message_content
    assert not adapter.client.intents.guild_messages
    approved = discord.Intents.default()  # the portal has not approved message content
    async with discord_world(app, approved_intents=approved) as w:
        me = w.adapter.client.user
        assert me is not None
        await w.ana.send(w.channel, f"{me.mention} whoowns payments-api")
        assert w.channel.last_message.author.id == w.ana.id  # no answer
        result = await w.ana.slash(w.channel, "whoowns", entity="payments-api")
        assert "Payments Team" in embed_text(result.response.embeds)


# -------------------------------------------------------------------------- posting


async def test_a_scheduled_post_lands_in_the_channel(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        sender = poster(app)
        assert sender is w.adapter and sender.platform == "discord"
        report = Reply(
            title="Ownership gaps",
            sections=(
                Section(title="No owner", items=("component:default/legacy-dispatch-monolith",)),
            ),
            buttons=(Button("Who owns it", command="/whoowns legacy-dispatch-monolith"),),
            ephemeral=False,
        )
        await sender.post(str(w.channel.id), report)
        message = w.channel.last_message
        assert message.author.id == w.adapter.client.user.id
        assert embed_text(message.embeds).startswith("Ownership gaps")
        assert "legacy-dispatch-monolith" in embed_text(message.embeds)
        # The report's buttons work for whoever reads it.
        answer = await w.ben.click(message, label="Who owns it")
        assert "legacy-dispatch-monolith" in embed_text(answer.response.embeds)
        await sender.post(f"<#{w.channel.id}>", Reply(text="second"))
        assert w.channel.last_message.embeds[0].description == "second"


async def test_posting_to_a_bad_channel_is_a_clear_error(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        # The core's delivery errors: the scheduler reports a bad channel once, never retries it.
        with pytest.raises(ChannelNotFound, match="not a Discord channel id") as bad:
            await w.adapter.post("#team-payments", Reply(text="x"))
        assert bad.value.channel == "#team-payments"
        with pytest.raises(ChannelNotFound, match="channel 123456789012345678") as missing:
            await w.adapter.post("123456789012345678", Reply(text="x"))
        assert missing.value.channel == "123456789012345678"


# ----------------------------------------------------------------- users and limits


async def test_a_discord_user_maps_to_the_catalog_user_with_their_id(
    make_app: AppFactory, tmp_path: Path
) -> None:
    catalog = tmp_path / "people.yaml"
    catalog.write_text("")
    app = discord_app(
        make_app, sources=[{"type": "file", "name": "people", "target": str(catalog)}]
    )
    async with discord_world(app) as w:
        catalog.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "backstage.io/v1alpha1",
                    "kind": "User",
                    "metadata": {
                        "name": "ana",
                        "annotations": {"discord.com/user-id": str(w.ana.id)},
                    },
                    "spec": {"profile": {"email": "ana@example.com"}, "memberOf": []},
                }
            )
        )
        app.services.sync.run()
        mine = await w.ana.slash(w.channel, "whoami")
        assert (
            f"email=ana@example.com channel={w.channel.id}" in mine.response.embeds[0].description
        )
        theirs = await w.ben.slash(w.channel, "whoami")
        assert "email=None" in theirs.response.embeds[0].description


def _big_team_catalog(path: Path, count: int = 500) -> Path:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Group",
            "metadata": {"name": "team-big", "title": "Big Team"},
            "spec": {"type": "team", "children": []},
        },
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "User",
            "metadata": {"name": "big.boss"},
            "spec": {"profile": {"email": "boss@example.com"}, "memberOf": ["team-big"]},
        },
    ]
    for i in range(count):
        docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {
                    "name": f"service-{i:03d}",
                    "description": f"Service number {i}, which does a great many things. " * 3,
                },
                "spec": {"type": "service", "lifecycle": "production", "owner": "team-big"},
            }
        )
    path.write_text(yaml.safe_dump_all(docs))
    return path


async def test_a_team_owning_500_entities_arrives_paged_within_limits(
    make_app: AppFactory, tmp_path: Path, db_url: str
) -> None:
    catalog = _big_team_catalog(tmp_path / "big.yaml")
    app = discord_app(
        make_app, sources=[{"type": "file", "name": "big", "target": str(catalog)}], db_url=db_url
    )
    async with discord_world(app) as w:
        first = await w.ana.slash(w.channel, "whoowns", entity="team-big")
        assert_within_limits(first.response.embeds)
        text = embed_text(first.response.embeds)
        assert "Owns 500 entities directly." in text and "service-000" in text
        assert "460 more not shown" in text
        assert "More" in button_labels(first.response.components)
        second = await w.ana.click(first.response, label="More")
        assert_within_limits(second.response.embeds)
        assert "service-040" in embed_text(second.response.embeds)


async def test_an_answer_far_over_every_limit_is_summarised_not_rejected(
    make_app: AppFactory, tmp_path: Path
) -> None:
    catalog = _big_team_catalog(tmp_path / "big.yaml")
    app = discord_app(make_app, sources=[{"type": "file", "name": "big", "target": str(catalog)}])
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "everything", team="team-big")
        embeds = result.response.embeds  # simcord refuses a message over any limit (400)
        assert_within_limits(embeds)
        text = embed_text(embeds)
        assert re.search(r"… and \d+ more", text)
        assert "component:default/service-000" in text  # the list starts, then is summarised
        labels = button_labels(result.response.components)
        assert len(labels) == 25 and labels[-1] == "Share"
        assert "Try" in [f.name for e in embeds for f in e.fields]  # buttons past 25 as text


# ------------------------------------------------------ sync, sharding, CLI hooks


async def test_commands_sync_to_the_configured_server_on_start(make_app: AppFactory) -> None:
    app = discord_app(make_app, guild_id=str(GUILD_ID))
    adapter = adapter_for(app)
    assert adapter is not None
    async with simcord.run(adapter.client) as env:
        guild = env.create_guild("Acme Rides", id=GUILD_ID)
        channel = guild.create_text_channel("platform")
        ana = guild.add_member(env.create_user("ana"))
        await env.restart_bot()  # the bot starts (again) now that it is in the server
        puts = [r for r in env.http_requests if r.method == "PUT"]
        assert puts and puts[-1].path.endswith(f"/guilds/{GUILD_ID}/commands")
        assert {c["name"] for c in puts[-1].json} >= {"whoowns", "help"}
        result = await ana.slash(channel, "whoowns", entity="payments-api")
        assert "Payments Team" in embed_text(result.response.embeds)
        # Started again with the same tree, nothing is pushed ("changed" compares first).
        before = len([r for r in env.http_requests if r.method == "PUT"])
        await env.restart_bot()
        assert len([r for r in env.http_requests if r.method == "PUT"]) == before


async def test_commands_sync_globally_without_a_server(make_app: AppFactory) -> None:
    app = discord_app(make_app)
    async with discord_world(app) as w:
        puts = [r for r in w.env.http_requests if r.method == "PUT"]
        assert len(puts) == 1 and re.search(r"/applications/\d+/commands$", puts[0].path)


async def test_sharding_runs_an_auto_sharded_client(make_app: AppFactory) -> None:
    app = discord_app(make_app, sharding=True, shard_count=2)
    adapter = adapter_for(app)
    assert adapter is not None
    assert isinstance(adapter.client, discord.AutoShardedClient)
    async with simcord.run(adapter.client) as env:
        guild = env.create_guild("Second shard", shard_id=1)
        channel = guild.create_text_channel("platform")
        ana = guild.add_member(env.create_user("ana"))
        assert adapter.client.get_guild(guild.id).shard_id == 1
        result = await ana.slash(channel, "whoowns", entity="payments-api")
        assert "Payments Team" in embed_text(result.response.embeds)


def test_hooks_are_inactive_without_a_discord_section(make_app: AppFactory) -> None:
    app = make_app(sources=DEMO_SOURCES, platforms=[PLATFORM])
    assert poster(app) is None
    assert serve(app) is None


def test_serving_without_a_token_is_a_config_error(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    app = discord_app(make_app)
    with pytest.raises(ConfigError, match="DISCORD_TOKEN environment variable is not set"):
        serve(app)


def test_a_token_in_the_config_file_is_refused(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match=r"discord\.token is a secret: set the DISCORD_TOKEN"):
        make_app(sources=DEMO_SOURCES, discord={"token": "abc"})


def test_discord_sync_prints_the_tree_and_needs_a_token_to_push(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from adapters.cli import main

    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "catalog": {"sources": DEMO_SOURCES},
                "discord": {"guild_id": str(GUILD_ID)},
            }
        )
    )
    assert main(["--config", str(config), "discord-sync", "--print"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in printed] == [s.name for s in COMMANDS]
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert main(["--config", str(config), "discord-sync"]) == 2
    assert "DISCORD_TOKEN environment variable is not set" in capsys.readouterr().err


# ------------------------------------------------------------------------- hostile catalog


async def test_hostile_catalog_text_forms_no_links_or_mentions(
    make_app: AppFactory, tmp_path: Path
) -> None:
    catalog = tmp_path / "hostile.yaml"
    catalog.write_text(hostile_catalog())
    app = discord_app(make_app, sources=[{"type": "file", "name": "h", "target": str(catalog)}])
    async with discord_world(app) as w:
        for command, options in (
            ("describe", {"entity": "evil-svc"}),
            ("whoowns", {"entity": "evil-svc"}),
            ("search", {"query": "payments"}),
        ):
            result = await w.ana.slash(w.channel, command, **options)
            embeds = result.response.embeds
            assert embeds, command
            assert_within_limits(embeds)
            problems = [
                problem
                for embed in embeds
                for text, markdown in embed_strings(embed)
                for problem in (discord_problems(text, {HOSTILE_OK_URL}) if markdown else [])
            ]
            assert problems == [], command
            shown = embed_text(embeds)
            assert "\x1b" not in shown and "\u202e" not in shown
            assert "payments-api\u200b" not in shown  # the look-alike title is shown plain
        described = embed_text(
            (await w.ana.slash(w.channel, "describe", entity="evil-svc")).response.embeds
        )
        assert f"]({HOSTILE_OK_URL})" in described  # the one valid link is still a link


async def test_an_adapter_failure_is_apologised_for_with_the_error_id(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def not_a_reply(ctx: Context, args: Args) -> Any:
        return None  # a handler breaking its contract: the adapter fails on it

    broken = CommandSpec(name="broken", summary="Test only: returns no reply.", handler=not_a_reply)
    app = make_app(
        sources=DEMO_SOURCES,
        commands=[*COMMANDS, *EXTRA, broken],
        platforms=[PLATFORM],
        discord={},
    )
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "broken")
        text = result.response.content
        found = re.search(r"error id ([0-9a-f]{8})", text)
        assert found and "Sorry, something went wrong on my side" in text
        assert any(found.group(1) in r.getMessage() and r.exc_info for r in caplog.records)
        [error] = w.env.errors  # seen, and acknowledged: simcord re-raises the unseen ones
        assert "no attribute 'dialog'" in str(error)

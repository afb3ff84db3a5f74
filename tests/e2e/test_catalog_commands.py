"""/describe, /owns, /deps, /search, /here and plain-language phrases, through the console
adapter (and as Slack/Discord requests where the platform matters), on the demo catalog, on
Backstage's own example catalog, and on small catalogs written for one edge case each."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.console import Console, to_request
from bot.app import App
from bot.chat import ChatUser, Reply, Request
from tests.conftest import DEMO, AppFactory, shared_or_skip

BACKSTAGE = "https://backstage.acme-rides.example"
ANA_EMAIL = "ana.silva@acme-rides.example"
ANA_SLACK = "U0JK1EYY3"
ANA_DISCORD = "589860739419867561"
PAYMENTS_SLACK_CHANNEL = "C0FOGYR3XK"
PAYMENTS_DISCORD_CHANNEL = "941059834533996378"


def say(app: App, line: str) -> Reply:
    """A line typed at the console, answered as the console answers it."""
    return asyncio.run(app.dispatcher.dispatch(to_request(app, line)))


def chat(app: App, text: str, platform: str, user_id: str, **request: Any) -> Reply:
    """A message from a Slack or Discord user (no email: Discord shares none)."""
    user = ChatUser(platform, user_id, "someone", request.pop("email", None))
    return asyncio.run(
        app.dispatcher.dispatch(Request(text=text, user=user, platform=platform, **request))
    )


def follow(app: App, reply: Reply) -> list[Reply]:
    """Every page of a paged answer, by running each ``more`` command as the user would."""
    pages = [reply]
    while pages[-1].more:
        assert len(pages) < 50, "paging does not end"
        pages.append(say(app, pages[-1].more))
    return pages


def items(reply: Reply) -> list[str]:
    return [item for section in reply.sections for item in section.items]


def field(reply: Reply, label: str) -> str:
    for section in reply.sections:
        for f in section.fields:
            if f.label == label:
                return f.value
    raise AssertionError(f"no field {label!r} in {reply.to_text()}")


def write_catalog(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def demo(make_app: AppFactory, db_url: str) -> App:
    """The demo catalog on SQLite and PostgreSQL, a Backstage URL, and Ana at the console."""
    return make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        db_url=db_url,
        console={"user_email": ANA_EMAIL},
        backstage={"url": BACKSTAGE},
    )


@pytest.fixture
def examples(make_app: AppFactory) -> App:
    """Backstage's example catalog: its entities and its organisation (two entry files)."""
    root = shared_or_skip("data", "backstage-examples")
    return make_app(
        sources=[
            {"type": "file", "name": "examples", "target": str(root / "all.yaml")},
            {"type": "file", "name": "org", "target": str(root / "acme-corp.yaml")},
        ]
    )


# --------------------------------------------------------------------------- /describe


def test_describe_card_has_every_part(demo: App) -> None:
    reply = say(demo, "/describe payments-api")
    assert not reply.error
    assert reply.title and "component:default/payments-api" in reply.title
    assert reply.text and "idempotency keys" in reply.text
    assert field(reply, "Kind") == "Component"
    assert field(reply, "Type") == "service"
    assert field(reply, "Lifecycle") == "production"
    assert field(reply, "Owner") == "Payments Team (team-payments)"
    assert field(reply, "System") == "Checkout (checkout)"
    assert field(reply, "Domain") == "Finance (finance)"
    assert field(reply, "Tags") == "python, payments, pci"
    assert field(reply, "PagerDuty service") == "P1W103D"
    assert field(reply, "Depends on") == "3"
    assert field(reply, "Provides APIs") == "1"
    assert field(reply, "Consumes APIs") == "2"
    links = {link.title: link.url for link in reply.links}
    assert links["Docs"] == f"{BACKSTAGE}/docs/default/component/payments-api/"
    assert links["Source"] == "https://github.com/acme-rides/payments-api/"
    assert links["Backstage"] == f"{BACKSTAGE}/catalog/default/component/payments-api"
    buttons = {b.label: b.command for b in reply.buttons}
    assert buttons["Owner"] == "/whoowns component:default/payments-api"
    assert buttons["Dependencies"] == "/deps component:default/payments-api"
    if demo.dispatcher.command("docs") is not None:  # the docs answer in chat, else the page
        assert buttons["Docs"] == "/docs component:default/payments-api"
    else:
        assert next(b.url for b in reply.buttons if b.label == "Docs") == links["Docs"]
    assert "Not in the catalog" not in reply.to_text()  # a complete entry has no gaps


def test_describe_buttons_run_their_commands(demo: App) -> None:
    card = say(demo, "/describe payments-api")
    owner = say(demo, next(b.command for b in card.buttons if b.label == "Owner") or "")
    assert "Payments Team" in owner.to_text()
    deps = say(demo, next(b.command for b in card.buttons if b.label == "Dependencies") or "")
    assert deps.title == "Dependencies of Payments API"


def test_whoowns_details_button_opens_the_card(demo: App) -> None:
    who = say(demo, "/whoowns payments-api")
    details = next(b.command for b in who.buttons if b.label == "Details")
    assert details is not None
    card = say(demo, details)
    assert not card.error and field(card, "Kind") == "Component"


def test_describe_docs_link_needs_a_backstage_url(make_app: AppFactory) -> None:
    app = make_app(sources=[{"type": "file", "name": "demo", "target": str(DEMO)}])
    reply = say(app, "/describe payments-api")
    assert "Docs" not in {link.title for link in reply.links}
    docs = [b for b in reply.buttons if b.label == "Docs"]
    if app.dispatcher.command("docs") is not None:
        assert docs[0].command == "/docs component:default/payments-api"
    else:
        assert docs == []  # no docs command and no Backstage page to open


def test_describe_dangling_owner_and_gaps(demo: App) -> None:
    reply = say(demo, "/describe legacy-dispatch-monolith")
    assert field(reply, "Owner") == "team-legacy (not in the catalog)"
    gaps = next(s for s in reply.sections if s.title == "Not in the catalog").items
    assert "system (spec.system)" in gaps
    assert "docs (backstage.io/techdocs-ref annotation)" in gaps


def test_describe_group_and_user(demo: App) -> None:
    group = say(demo, "/describe team-mapping")
    assert field(group, "Members") == "none"
    assert field(group, "Slack") == "#team-mapping (C0Q1ZXOI65F)"
    assert {b.label for b in group.buttons} >= {"What it owns"}
    user = say(demo, "/describe ana.silva")
    assert field(user, "Member of") == "team-payments, team-risk"
    assert field(user, "Email") == ANA_EMAIL
    assert "No description" not in user.to_text()  # people rarely have one; not a gap


def test_describe_unknown_and_misspelt_names(demo: App) -> None:
    typo = say(demo, "/describe paymetns-leger")
    assert not typo.error
    assert typo.notes == (
        "nothing is named “paymetns-leger”; showing the closest match, "
        "component:default/payments-ledger",
    )
    nothing = say(demo, "/describe qqqqzzzz")
    assert nothing.error and "Nothing like “qqqqzzzz”" in (nothing.text or "")


def test_describe_ambiguous_name_lists_choices(demo: App) -> None:
    reply = say(demo, "/describe payments")
    assert reply.error
    commands = [b.command for b in reply.buttons]
    assert "/describe component:default/payments-api" in commands
    assert len(commands) > 1 and all(c and c.startswith("/describe ") for c in commands)
    chosen = say(demo, commands[0] or "")
    assert not chosen.error and field(chosen, "Kind")


def test_describe_entity_with_every_optional_field_missing(
    make_app: AppFactory, tmp_path: Path
) -> None:
    path = write_catalog(
        tmp_path,
        "bare.yaml",
        """\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: bare-service
        spec:
          type: service
          lifecycle: production
          owner: ghost-team
        ---
        apiVersion: backstage.io/v1alpha1
        kind: System
        metadata:
          name: bare-system
        spec:
          owner: ghost-team
        """,
    )
    app = make_app(sources=[{"type": "file", "name": "bare", "target": str(path)}])
    reply = say(app, "/describe bare-service")
    assert not reply.error
    text = reply.to_text()
    assert "None" not in text and "null" not in text
    assert reply.text == "No description."
    assert field(reply, "Owner") == "ghost-team (not in the catalog)"
    assert reply.links == ()
    gaps = next(s for s in reply.sections if s.title == "Not in the catalog").items
    assert gaps == (
        "description (metadata.description)",
        "system (spec.system)",
        "docs (backstage.io/techdocs-ref annotation)",
        "source repository (backstage.io/source-location or github.com/project-slug)",
        "on-call (pagerduty.com/service-id or opsgenie.com/team)",
    )
    assert "No relations to other entities." in text
    system = say(app, "/describe bare-system")
    assert not system.error and field(system, "Kind") == "System"
    # The rest of the commands cope with the bare entity as well.
    assert not say(app, "/deps bare-service --depth 3").error
    assert "bare-service" in say(app, "/search bare").to_text()


def test_describe_on_backstage_examples(examples: App) -> None:
    reply = say(examples, "/describe artist-lookup")
    assert field(reply, "Owner") == "team-a"
    assert field(reply, "System") == "artist-engagement-portal"
    assert field(reply, "Domain") == "Artists (artists)"
    assert field(reply, "Depends on") == "1"
    assert "Examples Users" in {link.title for link in reply.links}
    # The same user name in two namespaces: the default namespace wins, the other is reachable.
    other = say(examples, "/describe user:development/guest")
    assert field(other, "Namespace") == "development"
    dangling = say(examples, "/describe playback-order")
    assert field(dangling, "Owner") == "guest (not in the catalog)"


# --------------------------------------------------------------------------- /owns


def test_owns_group_grouped_by_kind_and_lifecycle(demo: App) -> None:
    reply = say(demo, "/owns team-payments")
    assert not reply.error
    titles = [s.title for s in reply.sections if s.items]
    assert titles[:3] == [
        "Components · production (6)",
        "Components · deprecated (1)",
        "APIs · production (2)",
    ]
    lines = items(reply)
    assert "Payments API (payments-api) — service" in lines
    assert not any("fraud-scorer" in line for line in lines)  # team-risk's
    assert reply.text == "Payments Team owns 14 entities directly."
    assert field(reply, "Members") == "4"


def test_owns_all_includes_child_groups(demo: App) -> None:
    direct = say(demo, "/owns money-and-platform")
    assert [i for i in items(direct) if "platform" in i] == ["platform"]
    assert any(b.command == "/owns group:default/money-and-platform --all" for b in direct.buttons)
    reply = say(demo, "/owns money-and-platform --all")
    lines = items(reply)
    assert "Payments API (payments-api) — service · via team-payments" in lines
    assert "Map Tiles Service (map-tiles-service) — service · via team-mapping" in lines
    assert reply.text and "Child groups (5) own 35 entities" in reply.text


def test_owns_all_survives_a_group_cycle(make_app: AppFactory, tmp_path: Path) -> None:
    path = write_catalog(
        tmp_path,
        "cycle.yaml",
        """\
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: alpha}
        spec: {type: team, parent: beta, children: [beta]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: beta}
        spec: {type: team, parent: alpha, children: [alpha]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: beta-thing}
        spec: {type: service, lifecycle: production, owner: beta}
        """,
    )
    app = make_app(sources=[{"type": "file", "name": "cycle", "target": str(path)}])
    reply = say(app, "/owns alpha --all")
    assert "beta-thing — service · via beta" in items(reply)
    assert [s for s in reply.sections if s.title == "Child groups (1)"]


def test_owns_group_with_no_members(demo: App) -> None:
    reply = say(demo, "/owns team-mapping")
    assert field(reply, "Members") == "none"
    assert "team-mapping has no members and no child groups" in reply.to_text()
    assert "Map Tiles Service (map-tiles-service) — service" in items(reply)


def test_owns_team_that_owns_nothing(demo: App) -> None:
    reply = say(demo, "/owns team-loyalty")
    assert not reply.error
    assert reply.text == "Loyalty Team owns nothing directly."
    assert field(reply, "Members") == "2"


def test_owns_user_lists_their_groups_and_what_those_own(demo: App) -> None:
    reply = say(demo, "/owns ana.silva")
    assert field(reply, "Member of") == "team-payments, team-risk"
    lines = items(reply)
    assert "Fraud Scorer (fraud-scorer) — service · via team-risk" in lines
    assert "Payments API (payments-api) — service · via team-payments" in lines
    lone = say(demo, "/owns devon.price")
    assert lone.text == "Devon Price owns 1 entity directly. They are in no group."


def test_owns_me_for_the_console_user_configured_by_email(demo: App) -> None:
    out = asyncio.run(Console(demo).answer("/owns me"))
    assert "you are user:default/ana.silva (matched by email ana.silva@acme-rides.example)" in out
    assert "What Ana Silva owns" in out
    assert "Fraud Scorer (fraud-scorer)" in out


def test_owns_me_fails_clearly_for_an_unknown_console_user(make_app: AppFactory) -> None:
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        console={"user_email": "nobody@acme-rides.example"},
    )
    reply = say(app, "/owns me")
    assert reply.error
    assert reply.text == (
        "No User in the catalog has the email nobody@acme-rides.example (spec.profile.email). "
        f"Set console.user_email in {app.services.settings.path} to your User's email, or add "
        "spec.profile.email: nobody@acme-rides.example to your User entity."
    )


def test_owns_me_without_a_console_email_says_what_to_set(make_app: AppFactory) -> None:
    app = make_app(sources=[{"type": "file", "name": "demo", "target": str(DEMO)}])
    reply = say(app, "what do I own?")
    assert reply.error
    assert "the console has no user email" in (reply.text or "")
    assert f"Set console.user_email in {app.services.settings.path}" in (reply.text or "")


def test_owns_me_by_platform_user_id(demo: App) -> None:
    slack = chat(demo, "/owns me", "slack", ANA_SLACK)
    assert "matched by slack.com/user-id U0JK1EYY3" in slack.to_text()
    discord = chat(demo, "/owns me", "discord", ANA_DISCORD)
    assert "What Ana Silva owns" in discord.to_text()
    unknown = chat(demo, "/owns me", "slack", "U0NOBODY")
    assert unknown.error
    assert unknown.text == (
        "I can't find you in the catalog: no User has slack.com/user-id: U0NOBODY. "
        'Add the annotation slack.com/user-id: "U0NOBODY" to your User entity '
        "(metadata.annotations)."
    )


def test_owns_defaults_to_the_channel_group(demo: App) -> None:
    slack = chat(demo, "/owns", "slack", ANA_SLACK, channel=PAYMENTS_SLACK_CHANNEL)
    assert slack.notes[0] == "this channel belongs to group:default/team-payments"
    assert slack.title == "What Payments Team owns"
    discord = chat(demo, "/owns", "discord", ANA_DISCORD, channel=PAYMENTS_DISCORD_CHANNEL)
    assert discord.title == "What Payments Team owns"
    # A Slack channel id means nothing on Discord.
    crossed = chat(demo, "/owns", "discord", ANA_DISCORD, channel=PAYMENTS_SLACK_CHANNEL)
    assert crossed.error and "is not mapped to a group" in (crossed.text or "")


def test_owns_defaults_to_the_console_channel(make_app: AppFactory) -> None:
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        console={"channel": "#team-risk"},
    )
    reply = say(app, "what do we own")
    assert reply.title == "What Risk & Safety Team owns"


def test_owns_without_a_subject_or_channel_says_how(demo: App) -> None:
    reply = say(demo, "/owns")
    assert reply.error
    assert (reply.text or "").startswith("Whose? Give a team or a person, or me")


def test_owns_unknown_and_fuzzy_names(demo: App) -> None:
    unknown = say(demo, "/owns qqqqzzzz")
    assert unknown.error
    fuzzy = say(demo, "/owns team-paymnts")
    assert fuzzy.notes[0].startswith("nothing is named “team-paymnts”")
    assert fuzzy.title == "What Payments Team owns"


def test_owns_long_lists_are_paged_not_cut(demo: App) -> None:
    first = say(demo, "/owns acme-rides --all")
    assert first.text == "Acme Rides owns nothing directly. Child groups (12) own 62 entities."
    assert first.more == "/owns group:default/acme-rides --page 2 --all"
    pages = follow(demo, first)
    assert len(pages) == 2
    owned = [
        line
        for page in pages
        for section in page.sections
        if not (section.title or "").startswith("Child groups")
        for line in section.items
    ]
    assert len(owned) == len(set(owned)) == 62
    assert "There is no page 9" in (say(demo, "/owns acme-rides --all --page 9").text or "")


def test_owns_on_backstage_examples(examples: App) -> None:
    reply = say(examples, "/owns team-a")
    lines = items(reply)
    assert "artist-lookup — service" in lines
    assert "artists-db — database" in lines
    # A department without members of its own, but with child groups: not a gap.
    dept = say(examples, "/owns infrastructure --all")
    assert "no members and no child groups" not in dept.to_text()
    assert "wayback-archive-ingestion — service · via team-d" in items(dept)
    user = say(examples, "/owns guest")
    assert "searcher — service" in items(user)
    assert field(user, "Member of") == "team-a"


# --------------------------------------------------------------------------- /deps


def test_deps_both_directions_and_apis(demo: App) -> None:
    reply = say(demo, "/deps payments-api")
    assert not reply.error
    sections = {s.title: s.items for s in reply.sections}
    down = sections["Depends on (4 direct)"]
    assert any(i.startswith("fraud-scorer (component · service · production)") for i in down)
    assert any(i.startswith("payments-db (resource · database)") for i in down)
    assert any("feature-flags-service" in i and "via API feature-flags-api" in i for i in down)
    up = sections["Depended on by (3 direct)"]
    assert any(i.startswith("rider-bff") and "via API payments-rest-api" in i for i in up)
    (provided,) = sections["Provides APIs (1)"]
    assert provided.endswith("consumed by payments-client-lib, payments-ui, rider-bff")
    consumed = sections["Consumes APIs (2)"]
    assert any("provided by fraud-scorer (team-risk)" in i for i in consumed)


def test_deps_depth_two_follows_the_chain(demo: App) -> None:
    reply = say(demo, "/deps payments-api --depth 2")
    down = next(s.items for s in reply.sections if (s.title or "").startswith("Depends on"))
    assert "\u2003↳ risk-rules-engine (component · service · production) · team-risk" in down
    assert reply.text and "within 2 levels" in reply.text


def test_deps_shows_a_cycle_once_and_terminates(demo: App) -> None:
    for depth in (1, 5):
        reply = say(demo, f"/deps fraud-scorer --depth {depth}")
        assert not reply.error
        assert reply.text and (
            "Dependency cycle: fraud-scorer → risk-rules-engine → fraud-scorer." in reply.text
        )
        lines = items(reply)
        assert any("↻ fraud-scorer: a cycle" in line for line in lines)
    # Reached from further away, the cycle is still reported.
    far = say(demo, "/deps payments-api --depth 3")
    assert (
        far.text and "Dependency cycle: fraud-scorer → risk-rules-engine → fraud-scorer" in far.text
    )


def test_deps_of_an_api_names_providers_and_consumers(demo: App) -> None:
    reply = say(demo, "/deps payments-rest-api")
    titles = [s.title for s in reply.sections]
    assert titles == ["Provided by (1 direct)", "Consumed by (3 direct)"]


def test_deps_of_an_isolated_entity_and_bad_depths(demo: App) -> None:
    reply = say(demo, "/deps legacy-dispatch-monolith")
    assert not reply.error
    assert "Depends on: nothing in the catalog." in (reply.text or "")
    assert "Depended on by: nothing in the catalog." in (reply.text or "")
    too_deep = say(demo, "/deps payments-api --depth 6")
    assert too_deep.error and too_deep.text == "--depth must be at most 5"
    assert say(demo, "/deps payments-api --depth 0").text == "--depth must be at least 1"
    unknown = say(demo, "/deps qqqqzzzz")
    assert unknown.error


def test_deps_long_answers_are_paged(make_app: AppFactory, tmp_path: Path) -> None:
    def component(name: str, **spec: Any) -> dict[str, Any]:
        spec = {"type": "service", "lifecycle": "production", "owner": "team-x", **spec}
        return {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name},
            "spec": spec,
        }

    docs = [component("core-lib", type="library")] + [
        component(f"user-{i:02d}", dependsOn=["component:core-lib"]) for i in range(55)
    ]
    path = tmp_path / "fan.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    app = make_app(sources=[{"type": "file", "name": "fan", "target": str(path)}])
    first = say(app, "/deps core-lib")
    assert first.more == "/deps component:default/core-lib --page 2"
    assert first.notes == ("15 more lines not shown",)
    pages = follow(app, first)
    names = [line.split(" ")[0] for page in pages for line in items(page)]
    assert names == [f"user-{i:02d}" for i in range(55)]


def test_deps_on_backstage_examples(examples: App) -> None:
    reply = say(examples, "/deps artist-lookup")
    down = items(reply)
    assert down == ["artists-db (resource · database) · team-a"]
    sub = say(examples, "/deps wayback-archive --depth 2")
    assert not sub.error


# --------------------------------------------------------------------------- /search


def test_search_ranks_names_first_and_pages(demo: App) -> None:
    reply = say(demo, "/search payments")
    assert not reply.error
    lines = items(reply)
    assert lines[0].startswith("payments-api (component · service · production) · team-payments")
    assert reply.text == "15 matches; showing 1–10."
    assert reply.more == "/search payments --page 2"
    second = say(demo, reply.more)
    assert second.text == "15 matches; showing 11–15."
    assert second.more is None
    assert not set(lines) & set(items(second))


def test_search_filters(demo: App) -> None:
    apis = items(say(demo, "/search pay kind:api"))
    assert [line.split(" ")[0] for line in apis] == [
        "payment-events",
        "payments-rest-api",
        "fraud-scoring-api",
    ]
    mine = items(say(demo, "/search owner:team-payments lifecycle:deprecated"))
    assert mine == [
        "payments-reconciler (component · service · deprecated) · team-payments — Payments "
        "Reconciler: Nightly batch job matching PSP settlement files against payments; "
        "superseded by payments-ledger."
    ]
    tagged = items(say(demo, "/search tag:pci"))
    assert [line.split(" ")[0] for line in tagged] == ["payments-api", "payments-db"]
    either = say(demo, "/search kind:domain,system owner:team-payments")
    assert [line.split(" ")[0] for line in items(either)] == ["checkout", "finance"]


def test_search_finds_annotations_and_descriptions(demo: App) -> None:
    by_pagerduty = items(say(demo, "/search P1W103D"))
    assert len(by_pagerduty) == 1 and by_pagerduty[0].startswith("payments-api")
    assert by_pagerduty[0].endswith("[matched in annotations]")
    by_text = [line.split(" ")[0] for line in items(say(demo, "/search idempotency"))]
    assert set(by_text) == {
        "payments-api",
        "payments-client-lib",
        "payments-rest-api",
        "payments-db",
    }


def test_search_corrects_typos_and_leaves_common_words_out(demo: App) -> None:
    reply = say(demo, "/search for the paymnts ledger")
    assert "nothing starts with “paymnts”; searched for “payments”" in reply.notes
    assert "common words left out: for, the" in reply.notes
    assert items(reply)[0].startswith("payments-ledger")


def test_a_double_dash_ends_the_options(demo: App) -> None:
    # "--depth" as a word to look for, not the option: after "--" words are taken as written.
    option = say(demo, "/search --depth")
    assert option.error and option.text and option.text.startswith("/search has no option")
    words = say(demo, "/search -- --depth")
    assert not words.error and words.text == "Nothing in the catalog matches “--depth”."
    assert not say(demo, "/whoowns -- payments-api").error


def test_search_unknown_filter_values_say_what_exists(demo: App) -> None:
    reply = say(demo, "/search kind:service")
    assert reply.error
    assert reply.text and reply.text.startswith("No entity has kind “service”. Try: type:service")
    owner = say(demo, "/search owner:team-paymnts")
    assert owner.text == "No entity has owner “team-paymnts”. Try: owner:team-payments."
    nothing = say(demo, "/search qqqqzzzz")
    assert not nothing.error and nothing.text == "Nothing in the catalog matches “qqqqzzzz”."
    assert say(demo, "/search kind:").error


def test_search_owner_me(demo: App) -> None:
    reply = say(demo, "/search owner:me kind:resource")
    assert [line.split(" ")[0] for line in items(reply)] == [
        "kyc-documents-bucket",
        "ledger-db",
        "payment-events-queue",
        "payments-db",
    ]
    assert reply.notes[0].startswith("owner:me is user:default/ana.silva and their groups")


def test_search_index_follows_the_catalog(make_app: AppFactory, tmp_path: Path) -> None:
    body = """\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {{name: {name}, description: {text}}}
        spec: {{type: service, lifecycle: production, owner: team-x}}
        """
    path = write_catalog(tmp_path, "one.yaml", body.format(name="alpha", text="Alpha widget"))
    app = make_app(sources=[{"type": "file", "name": "one", "target": str(path)}])
    assert items(say(app, "/search widget"))[0].startswith("alpha")
    write_catalog(tmp_path, "one.yaml", body.format(name="beta", text="Beta gadget"))
    app.services.sync.run()
    assert say(app, "/search widget").text == "Nothing in the catalog matches “widget”."
    assert items(say(app, "/search gadget"))[0].startswith("beta")


def test_search_on_backstage_examples(examples: App) -> None:
    reply = say(examples, "/search wayback kind:api")
    assert [line.split(" ")[0] for line in items(reply)] == ["wayback-archive", "wayback-search"]
    guests = [line.split(" ")[0] for line in items(say(examples, "/search guest kind:user"))]
    assert guests == ["guest", "development/guest"]


# --------------------------------------------------------------------------- /here


def test_here_shows_the_channel_mapping_and_the_user(demo: App) -> None:
    reply = chat(demo, "/here", "slack", ANA_SLACK, channel=PAYMENTS_SLACK_CHANNEL)
    assert field(reply, "Group") == "Payments Team (group:default/team-payments)"
    assert field(reply, "Matched by") == "slack.com/channel-id"
    assert field(reply, "You").startswith("Ana Silva (user:default/ana.silva), matched by")
    unmapped = chat(demo, "/here", "discord", ANA_DISCORD, channel="123")
    assert unmapped.text == "This channel is not mapped to a group."
    assert 'discord.com/channel-id: "123"' in unmapped.to_text()
    console = say(demo, "/here")
    assert "console.channel is not set" in field(console, "Channel")


def test_here_with_two_groups_on_one_channel(make_app: AppFactory, tmp_path: Path) -> None:
    path = write_catalog(
        tmp_path,
        "shared.yaml",
        """\
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: red, annotations: {slack.com/channel-id: C0SHARED}}
        spec: {type: team, children: []}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: blue, annotations: {slack.com/channel-id: C0SHARED}}
        spec: {type: team, children: []}
        """,
    )
    app = make_app(sources=[{"type": "file", "name": "shared", "target": str(path)}])
    here = chat(app, "/here", "slack", "U1", channel="C0SHARED")
    assert field(here, "Groups") == "group:default/blue, group:default/red"
    owns = chat(app, "/owns", "slack", "U1", channel="C0SHARED")
    assert owns.error
    assert [b.command for b in owns.buttons] == [
        "/owns group:default/blue",
        "/owns group:default/red",
    ]


# --------------------------------------------------------------------------- plain language


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ("who owns payments-api?", "Who owns Payments API"),
        ("@callboard what does team-payments own", "What Payments Team owns"),
        (
            "what is the payments api",
            "Payments API (payments-api) · component:default/payments-api",
        ),
        ("what depends on fraud-scorer?", "Dependencies of Fraud Scorer"),
        ("what breaks if payments-db goes down", "Dependencies of Payments database"),
        ("callboard, find ledger", "Search: ledger"),
        ("hey callboard, who is the owner of rider-bff please", "Who owns Rider BFF"),
        ("what do I own", "What Ana Silva owns"),
        ("hello", "Callboard"),
    ],
)
def test_phrases_map_to_commands(demo: App, line: str, title: str) -> None:
    reply = say(demo, line)
    assert not reply.error, reply.to_text()
    assert reply.title == title


def test_a_slack_mention_maps_too(demo: App) -> None:
    reply = chat(demo, "<@U0CALLBOARD> who owns payments-api?", "slack", ANA_SLACK, mention=True)
    assert reply.title == "Who owns Payments API"


def test_docs_phrase_goes_to_the_docs_command(demo: App) -> None:
    request = to_request(demo, "@callboard docs for payments-api")
    assert request.mention
    docs = "docs" if demo.dispatcher.command("docs") is not None else "describe"
    assert demo.dispatcher.split(request) == (docs, "payments-api")


def test_unmapped_sentences_get_help_not_silence(demo: App) -> None:
    for line in ("how are you", "I like trains", "@callboard please deploy payments-api"):
        reply = say(demo, line)
        assert reply.error
        assert reply.text and reply.text.startswith("I did not understand “")
        assert "/whoowns, /describe, /owns, /deps, /search" in reply.text
    typo = say(demo, "whoons payments-api")
    assert typo.text == "There is no /whoons command. Did you mean /whoowns?"

"""Name resolution and /whoowns as a person uses them: through the dispatcher, on the demo.

The demo catalog (config/demo/README.md) has `payments-api` (title "Payments API"), no entity
named `payments`, eight entities whose names start with `payments-`, and five deliberate
ownership gaps.
"""

from __future__ import annotations

import pytest

from bot.app import App
from bot.catalog.read import IndexEntry, NameIndex, SpokenName
from bot.chat import Reply
from bot.errors import Ambiguous, NotFound
from tests.conftest import ask

PAYMENTS_API = "component:default/payments-api"


def entry(ref: str, title: str | None = None) -> IndexEntry:
    kind, _, rest = ref.partition(":")
    return IndexEntry(ref, kind, rest.partition("/")[2], title)


def section_items(reply: Reply, title_start: str) -> list[str]:
    for section in reply.sections:
        if section.title and section.title.startswith(title_start):
            return list(section.items)
    raise AssertionError(f"no section {title_start!r} in {reply.to_text()}")


def field_values(reply: Reply) -> dict[str, str]:
    return {f.label: f.value for s in reply.sections for f in s.fields}


# --- The resolver on its own ------------------------------------------------------------


INDEX = NameIndex(
    [
        entry("component:default/payments-api", "Payments API"),
        entry("api:default/payments-api", "Payments REST API"),
        entry("component:ops/payments-api"),
        entry("component:default/ledger"),
        entry("component:ops/ledger"),
        entry("component:eu/billing"),
        entry("component:us/billing"),
        entry("group:default/team-payments", "Payments Team"),
    ]
)


@pytest.mark.parametrize(
    ("text", "ref", "how"),
    [
        ("component:default/payments-api", "component:default/payments-api", "ref"),
        ("Component:Default/Payments-API", "component:default/payments-api", "ref"),
        ("component:ops/payments-api", "component:ops/payments-api", "ref"),
        ("api:payments-api", "api:default/payments-api", "ref"),
        ("ops/payments-api", "component:ops/payments-api", "name"),
        # An exact name shared by kinds and namespaces: the component in `default` first.
        ("payments-api", "component:default/payments-api", "name"),
        ("PAYMENTS-API", "component:default/payments-api", "name"),
        ("  payments-api  ", "component:default/payments-api", "name"),
        ("ledger", "component:default/ledger", "name"),
        ("Payments REST API", "api:default/payments-api", "title"),
        ("payments team", "group:default/team-payments", "title"),
        ("payments_api", "component:default/payments-api", "title"),
        ("team-paymnets", "group:default/team-payments", "fuzzy"),
    ],
)
def test_full_ref_then_exact_name_then_title_then_fuzzy(text: str, ref: str, how: str) -> None:
    found = INDEX.resolve(text)
    assert (str(found.ref), found.how) == (ref, how)


def test_the_same_name_in_two_other_namespaces_is_ambiguous() -> None:
    with pytest.raises(Ambiguous) as caught:
        INDEX.resolve("billing")
    assert caught.value.candidates == ("component:eu/billing", "component:us/billing")
    assert str(caught.value) == "“billing” could mean several entities:"


def test_kinds_narrow_what_a_name_can_mean() -> None:
    assert str(INDEX.resolve("payments-api", ["api"]).ref) == "api:default/payments-api"
    with pytest.raises(NotFound, match="is a component, but this command takes group"):
        INDEX.resolve("component:default/ledger", ["group"])


def test_an_empty_name_asks_for_one() -> None:
    with pytest.raises(NotFound, match=r"Which entity\?"):
        INDEX.resolve("   ")


def test_a_ref_that_is_not_there_suggests_the_entities_with_its_name() -> None:
    with pytest.raises(NotFound) as caught:
        INDEX.resolve("group:payments-api")
    assert str(caught.value) == "There is no group:default/payments-api in the catalog."
    assert caught.value.suggestions[:3] == (
        "component:default/payments-api",
        "api:default/payments-api",
        "component:ops/payments-api",
    )


# --- /whoowns on the demo catalog, through the dispatcher ---------------------------------


def test_whoowns_payments_api_is_the_whole_answer(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns payments-api")
    assert not reply.error and reply.notes == ()
    assert reply.title == "Who owns Payments API"
    assert reply.text == "Payments API is owned by Payments Team (group:default/team-payments)."
    fields = field_values(reply)
    assert fields["Entity"] == PAYMENTS_API
    assert fields["Email"] == "team-payments@acme-rides.example"
    assert fields["Slack"] == "#team-payments (C0FOGYR3XK)"
    assert fields["Discord"] == "channel 941059834533996378"
    assert fields["Part of"] == "money-and-platform › acme-rides"
    assert fields["PagerDuty service"] == "P1W103D"
    assert fields["Opsgenie team"] == "payments"
    assert section_items(reply, "Members") == [
        "Ana Silva <ana.silva@acme-rides.example>",
        "Omar Haddad <omar.haddad@acme-rides.example>",
        "Tom Becker <tom.becker@acme-rides.example>",
        "Yuki Tanaka <yuki.tanaka@acme-rides.example>",
    ]
    assert ("Source", "https://github.com/acme-rides/payments-api/") in {
        (link.title, link.url) for link in reply.links
    }


def test_a_typo_finds_the_closest_match_and_says_so(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns paymnts-api")
    assert not reply.error
    assert field_values(reply)["Entity"] == PAYMENTS_API
    assert reply.notes == (
        f"nothing is named “paymnts-api”; showing the closest match, {PAYMENTS_API}",
    )
    assert reply.to_text().startswith("(nothing is named “paymnts-api”; showing the closest")


@pytest.mark.parametrize("text", ["Payments API", "payments api", "PAYMENTS API"])
def test_a_title_finds_the_entity_without_a_note(demo_app: App, text: str) -> None:
    reply = ask(demo_app, f"/whoowns {text}")
    assert not reply.error and reply.notes == ()
    assert field_values(reply)["Entity"] == PAYMENTS_API


def test_an_ambiguous_name_offers_the_candidates_as_buttons(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns payments")
    assert reply.error
    assert reply.text == "“payments” could mean several entities:"
    *candidates, hidden = section_items(reply, "Which one?")
    assert len(candidates) == 5
    # Nine names start with "payments": the four not shown are counted, with where to see them.
    assert hidden == "… and 4 more: /search payments"
    assert reply.more == "/search payments"
    assert candidates[0].startswith("payments-api")  # components first, then by name
    assert len(reply.buttons) == len(candidates)
    commands = [button.command for button in reply.buttons]
    assert f"/whoowns {PAYMENTS_API}" in commands
    assert all(c and c.startswith("/whoowns ") and ":default/payments" in c for c in commands)
    # Each button answers on its own.
    followed = ask(demo_app, f"/whoowns {PAYMENTS_API}")
    assert not followed.error and field_values(followed)["Entity"] == PAYMENTS_API


def test_an_unknown_name_says_nothing_like_it(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns zzzqqqxx")
    assert reply.error
    assert reply.text == "Nothing like “zzzqqqxx” in the catalog."
    assert reply.buttons == ()


def test_a_name_unlike_any_but_close_to_some_gets_suggestions(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns paymint-gateway")
    assert reply.error
    assert reply.text == "Nothing named “paymint-gateway”."
    suggested = [b.command for b in reply.buttons]
    assert "/whoowns component:default/api-gateway" in suggested
    assert 1 <= len(suggested) <= 5


@pytest.mark.parametrize(
    "text", [PAYMENTS_API, "Component:Default/Payments-API", "component:payments-api"]
)
def test_a_full_ref_answers_directly(demo_app: App, text: str) -> None:
    reply = ask(demo_app, f"/whoowns {text}")
    assert not reply.error and reply.notes == ()
    assert field_values(reply)["Entity"] == PAYMENTS_API


def test_a_ref_that_does_not_exist_names_what_does(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns group:payments-api")
    assert reply.error
    assert reply.text == "There is no group:default/payments-api in the catalog."
    assert reply.buttons[0].command == f"/whoowns {PAYMENTS_API}"


def test_asked_about_a_group_it_says_what_the_group_owns(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns team-payments")
    assert not reply.error
    assert reply.title == "What Payments Team owns"
    assert reply.text is not None and reply.text.endswith("Owns 14 entities directly.")
    assert field_values(reply)["Members"] == "4"
    assert field_values(reply)["Slack"] == "#team-payments (C0FOGYR3XK)"
    components = section_items(reply, "Component")
    assert "payments-api [production] — service" in components
    assert "payments-reconciler [deprecated] — service" in components
    assert section_items(reply, "API") == [
        "payment-events [production] — asyncapi",
        "payments-rest-api [production] — openapi",
    ]


def test_asked_about_a_user_it_says_what_they_own(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns user:devon.price")
    assert not reply.error
    assert reply.title == "What Devon Price owns"
    assert field_values(reply)["Member of"] == "no group"
    assert section_items(reply, "Component") == ["load-test-harness [experimental] — library"]


def test_a_team_that_owns_nothing_says_so(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns team-loyalty")
    assert not reply.error
    assert reply.text is not None
    assert reply.text.endswith("Loyalty Team owns nothing in the catalog.")


@pytest.mark.parametrize(
    ("name", "owner", "kind"),
    [
        ("legacy-dispatch-monolith", "group:default/team-legacy", "group"),
        ("city-launch-scripts", "user:default/marta.kowalski", "user"),
    ],
)
def test_an_owner_missing_from_the_catalog_is_said_plainly(
    demo_app: App, name: str, owner: str, kind: str
) -> None:
    reply = ask(demo_app, f"/whoowns {name}")
    assert not reply.error
    assert reply.text == (
        f"component:default/{name} is owned by {owner}, which is not in the catalog: an "
        f"ownership gap. Fix spec.owner in services/misc.yaml or add the {kind} to the catalog."
    )
    assert field_values(reply)["Entity"] == f"component:default/{name}"


def test_an_owner_team_without_members_is_said_plainly(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns map-tiles-service")
    assert not reply.error
    assert field_values(reply)["Owner"] == "Mapping Team (group:default/team-mapping)"
    members = next(s for s in reply.sections if s.title == "Members")
    assert members.text == "group:default/team-mapping has no members in the catalog."


def test_a_user_owner_is_shown_as_the_owner(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns load-test-harness")
    assert not reply.error
    assert reply.text == "Load test harness is owned by Devon Price (user:default/devon.price)."


def test_an_unknown_command_gets_did_you_mean(demo_app: App) -> None:
    reply = ask(demo_app, "/whoownz payments-api")
    assert reply.error
    assert reply.text is not None
    assert reply.text.startswith("There is no /whoownz command. Did you mean /whoowns")
    assert reply.buttons[0].command == "/help whoowns"


def test_whoowns_without_a_name_shows_its_usage(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns")
    assert reply.error
    assert reply.text == ("/whoowns needs <entity>. Usage: /whoowns <entity> [--page N] [--oncall]")


def test_did_you_mean_buttons_keep_the_rest_of_the_command(demo_app: App) -> None:
    """A suggestion replaces only the name that failed; options and other words stay."""
    reply = ask(demo_app, "/deps paymnts --depth 2")
    assert reply.error and reply.buttons
    for button in reply.buttons:
        assert button.command is not None
        assert button.command.startswith("/deps ") and button.command.endswith(" --depth 2")
    assert "/deps component:default/payments-api --depth 2" in [b.command for b in reply.buttons]


def test_one_or_two_characters_get_suggestions_not_a_guess(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns a")
    assert reply.error
    assert not any("closest match" in note for note in reply.notes)


# --- The index's shape at a million entities ----------------------------------------------


def test_an_entry_keeps_no_ref_string_and_a_name_held_once_is_held_alone() -> None:
    """A name one entity has is held as the entry itself, keyed by its fuzzy choice; a key
    several share holds a list; a ref is derived and looked up through the name."""
    api = INDEX.entry("api:default/payments-api")
    assert api is not None and api.ref == "api:default/payments-api"
    assert api.namespace is INDEX.entry("component:default/ledger").namespace  # type: ignore[union-attr]
    ops = IndexEntry("component:ops/ledger-ops", "component", "Ledger-Ops", None)
    dotted = IndexEntry("component:ops/ledger.ops", "component", "ledger.ops", None)
    index = NameIndex([ops, dotted, entry("component:default/ledger")])
    assert index.by_name["ledger"] is index.entry("component:default/ledger")
    assert index.by_name["ledger ops"] == [ops, dotted] and index.named("ledger-ops") == [ops]
    assert ops.ref == "component:ops/ledger-ops" and "component:ops/ledger-ops" in index
    assert index.entry("component:default/ledger-ops") is None and "nothing" not in index
    assert [e.ref for e in index.entries()] == [
        "component:ops/ledger-ops",
        "component:ops/ledger.ops",
        "component:default/ledger",
    ]
    assert len(INDEX) == 8 and len(list(INDEX.entries())) == 8
    with pytest.raises(ValueError, match="is not the ref of"):
        IndexEntry("component:default/other", "component", "ledger", None)


def test_a_dashed_lower_case_name_is_one_string_for_name_choice_and_key() -> None:
    spoken = IndexEntry.of(
        "component:default/payments--api-2", "component", "payments--api-2", None
    )
    written = IndexEntry.of("component:default/payments.api", "component", "payments.api", None)
    upper = IndexEntry.of("component:default/payments-api", "component", "Payments-API", None)
    assert isinstance(spoken, SpokenName) and spoken.name == "payments--api-2"
    assert type(written) is IndexEntry is type(upper)
    assert spoken == IndexEntry(
        "component:default/payments--api-2", "component", "payments--api-2", None
    )
    index = NameIndex([spoken, written, upper])
    key = next(k for k in index.by_name if k == "payments  api 2")
    assert key is index.choices[0] and key is index.by_name[key]._text  # type: ignore[union-attr]
    assert index.resolve("payments--api-2").ref.name == "payments--api-2"
    assert index.named("payments-api") == [upper] and index.named("payments.api") == [written]
    assert str(index.resolve("Payments-API").ref) == "component:default/payments-api"

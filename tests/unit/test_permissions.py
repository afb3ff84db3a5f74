"""Who is an admin: one check (``bot.permissions``) for admin commands and the scaffolder."""

from __future__ import annotations

from bot.audit import Requester
from bot.catalog.model import EntityRef
from bot.permissions import admin_refs, admin_refusal, is_admin

ANA = EntityRef("user", "default", "ana")
PLATFORM = EntityRef("group", "default", "team-platform")
SRE = EntityRef("group", "default", "sre")


def _ana(*groups: EntityRef) -> Requester:
    return Requester("slack", "U0ANA", "ana", ANA, groups)


def test_admins_are_refs_and_a_bare_name_is_a_group() -> None:
    assert admin_refs(["team-platform", "user:ana", "group:ops/sre", "bad:ref:x:"]) >= {
        "group:default/team-platform",
        "user:default/ana",
        "group:ops/sre",
    }
    assert admin_refs(["::"]) == frozenset()


def test_a_listed_user_or_a_member_of_a_listed_group_or_its_subgroups_is_an_admin() -> None:
    assert is_admin(_ana(), [], ["user:default/ana"])
    assert is_admin(_ana(SRE), {SRE, PLATFORM}, ["team-platform"])  # sre is a child of it
    assert not is_admin(_ana(SRE), {SRE}, ["team-platform"])
    nobody = Requester("slack", "U0X", "x", None, (), "not in the catalog")
    assert not is_admin(nobody, {PLATFORM}, ["team-platform"])


def test_a_refusal_says_why_and_the_console_is_the_operator() -> None:
    console = Requester("console", "tester", "tester", None, ())
    assert admin_refusal("/callboard sync", console, [], []) is None
    none = admin_refusal("/callboard sync", _ana(), [], [], "/etc/callboard.yaml")
    assert none is not None and "none are configured" in none and "/etc/callboard.yaml" in none
    unknown = Requester("slack", "U0X", "x", None, (), "no User has slack.com/user-id: U0X.")
    who = admin_refusal("/callboard sync", unknown, [], ["team-platform"])
    assert who is not None and who.endswith("no User has slack.com/user-id: U0X.")
    refused = admin_refusal("/callboard sync", _ana(SRE), {SRE}, ["team-platform"])
    assert refused == (
        "Only Callboard admins may run /callboard sync: team-platform (config `admins:`, "
        "members of sub-groups included). You are user:default/ana."
    )
    assert admin_refusal("/callboard sync", _ana(SRE), {SRE, PLATFORM}, ["team-platform"]) is None

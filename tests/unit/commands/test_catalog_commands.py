"""/whoowns, /describe, /owns, /deps, /search and /here over the memory stores."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

import pytest

from bot.chat import ChatUser, Reply
from commands import owns as owns_command
from tests.unit.commands.conftest import ANA_EMAIL, BACKSTAGE, MemoryBot, ask, covers

T = TypeVar("T")


def field(reply: Reply, label: str) -> str:
    for section in reply.sections:
        for f in section.fields:
            if f.label == label:
                return f.value
    raise AssertionError(f"no field {label!r} in {reply.to_text()}")


def items(reply: Reply) -> list[str]:
    return [i for s in reply.sections for i in s.items]


@covers("whoowns")
def test_whoowns_names_the_team_and_its_people(bot: MemoryBot) -> None:
    reply = ask(bot, "/whoowns payments-api")
    assert not reply.error
    assert reply.text == "Payments API is owned by Payments Team (group:default/team-payments)."
    text = reply.to_text()
    assert "Ana Silva <ana.silva@acme-rides.example>" in text
    assert "#team-payments (C0FOGYR3XK)" in text
    assert "Members (4)" in text


@covers("whoowns")
def test_whoowns_misspelt_suggests_and_ambiguous_lists(bot: MemoryBot) -> None:
    typo = ask(bot, "/whoowns paymnts-api")
    assert not typo.error
    assert typo.notes[0] == (
        "nothing is named “paymnts-api”; showing the closest match, component:default/payments-api"
    )
    many = ask(bot, "/whoowns payments")
    assert many.error
    commands = [b.command for b in many.buttons]
    assert "/whoowns component:default/payments-api" in commands
    assert many.more == "/search payments"
    missing = ask(bot, "/whoowns")
    assert missing.error
    assert missing.text == "/whoowns needs <entity>. Usage: /whoowns <entity> [--page N] [--oncall]"


@covers("describe")
def test_describe_card(bot: MemoryBot) -> None:
    reply = ask(bot, "/describe payments-api")
    assert not reply.error
    assert reply.title and "component:default/payments-api" in reply.title
    assert field(reply, "Owner") == "Payments Team (team-payments)"
    assert field(reply, "System") == "Checkout (checkout)"
    assert field(reply, "Domain") == "Finance (finance)"
    assert field(reply, "Tags") == "python, payments, pci"
    assert field(reply, "Depends on") == "3"
    links = {link.title: link.url for link in reply.links}
    assert links["Backstage"] == f"{BACKSTAGE}/catalog/default/component/payments-api"
    buttons = {b.label: b.command for b in reply.buttons}
    assert buttons["Owner"] == "/whoowns component:default/payments-api"


@covers("describe")
def test_describe_gaps_and_unknown_names(bot: MemoryBot) -> None:
    legacy = ask(bot, "/describe legacy-dispatch-monolith")
    assert field(legacy, "Owner") == "team-legacy (not in the catalog)"
    nothing = ask(bot, "/describe qqqqzzzz")
    assert nothing.error and "Nothing like “qqqqzzzz”" in (nothing.text or "")


@covers("owns")
def test_owns_team_user_and_me(bot: MemoryBot) -> None:
    team = ask(bot, "/owns team-payments")
    assert team.text == "Payments Team owns 14 entities directly."
    assert field(team, "Members") == "4"
    assert "Payments API (payments-api) — service" in items(team)
    me = ask(bot, "/owns me")
    assert me.notes[0] == (f"you are user:default/ana.silva (matched by email {ANA_EMAIL})")
    assert "Fraud Scorer (fraud-scorer) — service · via team-risk" in items(me)
    loyal = ask(bot, "/owns team-loyalty")
    assert loyal.text == "Loyalty Team owns nothing directly."


@covers("owns")
def test_owns_gathers_a_long_list_in_a_worker(
    bot: MemoryBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A department at a million entities owns thousands: looking each up and sorting them is
    # work for a worker thread, not the event loop. A short list stays on the loop (a hop
    # would cost more than the work), and both give the same answer.
    pool = bot.services.pool
    hops: list[str] = []
    submit = pool.submit

    def counting(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        # run_blocking submits context.run(fn, ...): the job is the partial's first argument
        job = fn.args[0] if isinstance(fn, functools.partial) else fn
        hops.append(getattr(job, "__name__", repr(job)))
        return submit(fn, *args, **kwargs)

    monkeypatch.setattr(pool, "submit", counting)
    on_loop = ask(bot, "/owns me --page 1")
    assert "_gathered" not in hops
    reads = list(hops)
    hops.clear()
    monkeypatch.setattr(owns_command, "GATHER_ON_LOOP_UP_TO", 5)
    in_worker = ask(bot, "/owns me --page 1")
    assert hops == [*reads, "_gathered"]
    assert in_worker == on_loop
    assert "Fraud Scorer (fraud-scorer) — service · via team-risk" in items(in_worker)


@covers("owns")
def test_owns_unknown_group_suggests(bot: MemoryBot) -> None:
    reply = ask(bot, "/owns team-nope")
    assert reply.error
    assert reply.text == "Nothing named “team-nope”."
    assert "/owns group:default/team-payments" in [b.command for b in reply.buttons]


@covers("deps")
def test_deps_both_directions_and_depth_limit(bot: MemoryBot) -> None:
    reply = ask(bot, "/deps payments-api")
    assert reply.title == "Dependencies of Payments API"
    assert reply.text == (
        "Payments API depends on 4 entities and 3 entities depend on it directly "
        "(through APIs too)."
    )
    assert any(i.startswith("payments-db (resource · database)") for i in items(reply))
    deep = ask(bot, "/deps payments-api --depth 9")
    assert deep.error and deep.text == "--depth must be at most 5"


@covers("search")
def test_search_ranks_filters_and_pages(bot: MemoryBot) -> None:
    reply = ask(bot, "/search kind:api")
    assert reply.text == "11 matches; showing 1–10."
    assert reply.more == "/search kind:api --page 2"
    assert reply.buttons[0].command == "/describe api:default/auth-api"
    last = ask(bot, "/search kind:api --page 2")
    assert last.more is None
    nothing = ask(bot, "/search zzzqqq")
    assert nothing.text == "Nothing in the catalog matches “zzzqqq”."
    assert nothing.notes == ("nothing in the catalog mentions “zzzqqq”",)


@covers("here")
def test_here_names_you_and_the_channel(bot: MemoryBot) -> None:
    console = ask(bot, "/here")
    assert field(console, "You") == (
        f"Ana Silva (user:default/ana.silva), matched by email {ANA_EMAIL}"
    )
    assert field(console, "Channel") == "none (console.channel is not set in the config)"
    slack = ChatUser("slack", "U0JK1EYY3", "ana")
    in_channel = ask(bot, "/here", user=slack, channel="C0FOGYR3XK")
    assert "group:default/team-payments" in in_channel.to_text()


class CountingPool(Executor):
    """The catalog's worker pool, counting the hops off the loop each answer takes."""

    def __init__(self, pool: Executor) -> None:
        self.pool = pool
        self.hops = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.hops += 1
        return self.pool.submit(fn, *args, **kwargs)


@covers("whoowns")
def test_whoowns_reads_the_catalog_in_one_hop_after_the_name(
    bot: MemoryBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each hop to a worker thread waits for the interpreter lock while a sync runs: the name
    # and its entity are one read, and the owner, its parents and its people another.
    catalog = bot.services.catalog
    counting = CountingPool(catalog.pool)  # type: ignore[attr-defined]
    monkeypatch.setattr(catalog, "pool", counting)
    for text, shown in (
        ("/whoowns payments-api", "Payments Team (group:default/team-payments)"),
        ("/whoowns paymnts-api", "Payments Team (group:default/team-payments)"),
        ("/whoowns team-payments", "payments-api"),  # what a team owns, and its people
        ("/whoowns ana.silva", "team-payments"),  # what a person owns, and their groups
    ):
        counting.hops = 0
        reply = ask(bot, text)
        assert not reply.error and shown in reply.to_text(), reply.to_text()
        assert counting.hops == 2, (text, counting.hops)
    assert "Members (4)" in ask(bot, "/whoowns payments-api").to_text()

"""/callboard sync, status and here through the dispatcher, and `callboard status` in a process.

The Slack adapter hands ``/callboard <words>`` to the dispatcher as that text, so these tests
send exactly that, as a console user (the operator) and as Slack users (admin or not).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.app import App
from bot.chat import ChatUser, Request
from bot.store.schema import audit_log
from tests.conftest import DEMO, AppFactory, ask

V1 = "backstage.io/v1alpha1"
CALLBOARD = Path(sys.executable).with_name("callboard")


def component(name: str, owner: str = "team-payments") -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "Component",
        "metadata": {"name": name},
        "spec": {"type": "service", "lifecycle": "production", "owner": owner},
    }


def write(path: Path, *docs: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n".join(yaml.safe_dump(d) for d in docs))


@pytest.fixture
def two_sources(make_app: AppFactory, tmp_path: Path) -> App:
    extra = tmp_path / "extra" / "catalog-info.yaml"
    write(extra, component("fare-estimator"))
    return make_app(
        sources=[
            {"type": "file", "name": "demo", "target": str(DEMO)},
            {"type": "file", "name": "extra", "target": str(extra)},
        ],
        admins=["group:default/team-payments"],
        console={"user_email": "ana.silva@acme-rides.example"},
    )


def slack(email: str | None, user_id: str = "U0TEST") -> ChatUser:
    return ChatUser("slack", user_id, "someone", email)


def test_callboard_alone_lists_its_subcommands(demo_app: App) -> None:
    text = ask(demo_app, "/callboard").to_text()
    assert "/callboard sync [source] [--force]" in text
    assert "/callboard status [source] [--page N]" in text
    assert "/callboard here" in text


def test_sync_replies_with_what_changed_per_source(two_sources: App, tmp_path: Path) -> None:
    write(
        tmp_path / "extra" / "catalog-info.yaml",
        component("fare-estimator", owner="team-risk"),
        component("surge-predictor"),
    )
    reply = ask(two_sources, "/callboard sync extra")
    text = reply.to_text()
    assert not reply.error
    assert "1 source synced: 1 ok." in text
    assert "+ component:default/surge-predictor" in text
    assert (
        "owner of component:default/fare-estimator: group:default/team-payments → "
        "group:default/team-risk" in text
    )
    assert "demo" not in text.split("1 source synced")[1]  # only the source asked for
    assert "1 added, 0 removed, 1 owner changes, 0 modified" in text
    everything = ask(two_sources, "/callboard sync").to_text()
    assert "2 sources synced: 2 ok." in everything and "Changes   none" in everything


def test_sync_of_an_unknown_source_suggests_the_closest(two_sources: App) -> None:
    reply = ask(two_sources, "/callboard sync exta")
    assert reply.error
    assert reply.text == (
        "There is no catalog source named exta (sources: demo, extra). Did you mean extra?"
    )


def test_a_misspelt_subcommand_gets_did_you_mean(demo_app: App) -> None:
    reply = ask(demo_app, "/callboard stauts")
    assert reply.error and "Did you mean /callboard status?" in (reply.text or "")


def test_status_shows_each_source_and_one_source_in_full(
    make_app: AppFactory, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    write(
        bad / "all.yaml",
        {
            "apiVersion": V1,
            "kind": "Location",
            "metadata": {"name": "all"},
            "spec": {"targets": [f"./c{i}.yaml" for i in range(30)]},
        },
    )
    for i in range(30):  # thirty files, each with an invalid tag
        doc = component(f"c{i}")
        doc["metadata"]["tags"] = ["Not Valid"]
        write(bad / f"c{i}.yaml", doc)
    app = make_app(
        sources=[
            {"type": "file", "name": "demo", "target": str(DEMO)},
            {"type": "file", "name": "bad", "target": str(bad / "all.yaml")},
            {"type": "file", "name": "gone", "target": str(tmp_path / "missing" / "all.yaml")},
        ]
    )
    overview = ask(app, "/callboard status")
    text = overview.to_text()
    assert overview.error
    assert "3 sources; failing: gone." in text
    assert "State         ok" in text and "State         failing" in text
    assert "Entities      105" in text  # the demo
    assert "does not exist" in text  # gone's last error
    assert "… 25 more: /callboard status bad" in text  # 5 shown in the overview
    shown_for_bad = text.split("\nbad:")[1].split("\ngone:")[0]
    assert "c0.yaml:1:" in shown_for_bad and "c29.yaml" not in shown_for_bad  # file order

    detail = ask(app, "/callboard status bad")
    assert detail.title == "Catalog source bad"
    assert "Problems 1–25 of 30, newest first" in detail.to_text()
    assert detail.more == "/callboard status bad --page 2"
    page2 = ask(app, "/callboard status bad --page 2")
    assert "Problems 26–30 of 30" in page2.to_text() and page2.more is None
    assert ask(app, "/callboard status bad --force").text == (
        "--force is for /callboard sync. Usage: /callboard status [source]"
    )


def test_admin_commands_need_an_admin_on_chat_platforms(two_sources: App) -> None:
    admin_user = slack("tom.becker@acme-rides.example")
    member = ask(two_sources, "/callboard sync", user=admin_user)
    assert not member.error  # tom is in team-payments, an admin group
    julia = slack("julia.moreno@acme-rides.example")
    refused = ask(two_sources, "/callboard status", user=julia)
    assert refused.error
    assert refused.text is not None and refused.text.startswith(
        "Only Callboard admins may run /callboard status: group:default/team-payments"
    )
    stranger = ask(two_sources, "/callboard sync", user=slack("who@example.com"))
    assert stranger.error and "cannot tell who you are in the catalog" in (stranger.text or "")
    # /callboard here is for everyone.
    here = ask(two_sources, "/callboard here", user=slack("who@example.com"))
    assert "Platform" in here.to_text()
    with two_sources.db.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.action, audit_log.c.result, audit_log.c.actor_ref).order_by(
                audit_log.c.id
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("callboard sync", "succeeded", "user:default/tom.becker"),
        ("callboard status", "refused", "user:default/julia.moreno"),
        ("callboard sync", "refused", None),
    ]


def test_with_no_admins_configured_the_refusal_says_how_to_add_them(demo_app: App) -> None:
    ana = slack("ana.silva@acme-rides.example")
    reply = ask(demo_app, "/callboard sync", user=ana)
    assert reply.error
    assert "none are configured: list catalog groups or users under `admins:`" in (reply.text or "")


def test_callboard_status_on_the_command_line(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog-info.yaml"
    write(catalog, component("fare-estimator"))
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
                "catalog": {"sources": [{"type": "file", "name": "one", "target": str(catalog)}]},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CALLBOARD), "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    never = run("status")  # a never-synced source fails monitoring, like a failing one
    assert never.returncode == 1 and "State         never synced" in never.stdout
    assert run("sync").returncode == 0
    ok = run("status", "one")
    assert ok.returncode == 0 and "one is ok." in ok.stdout and "Entities      1" in ok.stdout
    catalog.unlink()
    assert run("sync", "--source", "one").returncode == 1
    failing = run("status")
    assert failing.returncode == 1
    assert "1 source; failing: one." in failing.stdout
    assert "source one: catalog-info.yaml: file not found" in failing.stdout
    unknown = run("status", "two")
    assert unknown.returncode == 2 and "no source named two (sources: one)" in unknown.stderr
    typo = run("sync", "--source", "onr")  # the CLI suggests like the chat command does
    assert typo.returncode == 2 and "(sources: one). Did you mean one?" in typo.stderr


def test_a_subcommand_is_a_command_with_its_own_options(demo_app: App) -> None:
    sync = ask(demo_app, "/callboard sync --page 2")
    assert (
        sync.error
        and sync.text == "--page is for /callboard status. Usage: /callboard sync [source]"
    )
    assert demo_app.dispatcher.command("callboard sync") is not None
    help_text = ask(demo_app, "/help callboard").to_text()
    assert "sync [source] [--force] — sync now and show what changed" in help_text


@pytest.mark.parametrize("platform", ["console", "slack", "discord"])
def test_the_umbrella_routes_alike_on_every_platform(demo_app: App, platform: str) -> None:
    who = ChatUser(platform, "U0ANA", "ana", "ana.silva@acme-rides.example")
    request = Request(text="status demo", user=who, platform=platform, command="callboard")
    routed = demo_app.dispatcher.route(request)
    assert (routed.command, routed.text) == ("callboard status", "demo")
    other = demo_app.dispatcher.route(dataclasses.replace(request, text="whoowns payments-api"))
    assert (other.command, other.text) == ("whoowns", "payments-api")
    typed = demo_app.dispatcher.route(Request(text="/callboard here", user=who, platform=platform))
    assert (typed.command, typed.text) == ("callboard here", "")
    reply = ask(demo_app, "/callboard whoowns payments-api", user=who)
    assert "group:default/team-payments" in reply.to_text()

"""/docs, /report and /scaffold over the memory stores (the docs index built by the sync)."""

from __future__ import annotations

import asyncio

from bot.chat import ChatUser, DialogErrors, DialogSubmission
from tests.unit.commands.conftest import ANA_EMAIL, BACKSTAGE, MemoryBot, ask, covers

ANA = ChatUser("console", "tester", "tester", ANA_EMAIL)


@covers("docs")
def test_docs_lists_sites_and_one_entitys_contents(bot: MemoryBot) -> None:
    overview = ask(bot, "/docs")
    assert overview.title == "Docs"
    assert (overview.text or "").startswith("8 entities have TechDocs.")
    assert "payments-api: 5 pages" in " ".join(i for s in overview.sections for i in s.items)
    one = ask(bot, "/docs payments-api")
    assert one.title == "Payments API docs"
    contents = [i for s in one.sections for i in s.items]
    assert contents[0].startswith("Overview: What it does")
    assert f"{BACKSTAGE}/docs/default/component/payments-api/" in contents[0]


@covers("docs")
def test_docs_search_finds_sections_and_refuses_unknown_options(bot: MemoryBot) -> None:
    found = ask(bot, "/docs refund")
    assert found.title == "Docs matching “refund”"
    assert "payments-api › API usage › Creating a refund" in found.to_text()
    assert found.more == "/docs refund --page 2"
    bad = ask(bot, "/docs payments-api --search refund")
    assert bad.error
    assert bad.text == (
        "/docs has no option --search (options: --page, --problems). "
        "Usage: /docs [query] [--page N] [--problems]"
    )


@covers("report")
def test_report_menu_gaps_and_team_digest(bot: MemoryBot) -> None:
    menu = ask(bot, "/report")
    assert [b.command for b in menu.buttons] == [
        "/report ownership-gaps",
        "/report stale-docs",
        "/report changes",
        "/report digest",
    ]
    gaps = ask(bot, "/report ownership-gaps")
    assert gaps.title == "Ownership gaps"
    assert (gaps.text or "").startswith("6 ownership gaps in 105 entities.")
    assert "team-mapping: runs 1 entity (map-tiles-service) and has no on-call" in gaps.to_text()
    assert "legacy-dispatch-monolith: its owner team-legacy is not in the catalog" in gaps.to_text()
    digest = ask(bot, "/report digest team-payments")
    assert digest.title == "Digest: Payments Team (team-payments)"
    assert "payouts-service: in production without docs" in digest.to_text()
    unknown = ask(bot, "/report nope")
    assert unknown.error
    assert (unknown.text or "").startswith("There is no “nope” report.")


@covers("scaffold")
def test_scaffold_lists_templates_and_opens_a_dialog(bot: MemoryBot) -> None:
    listing = ask(bot, "/scaffold")
    assert listing.title == "Templates (1)"
    assert [b.command for b in listing.buttons] == ["/scaffold python-service"]
    unknown = ask(bot, "/scaffold nope")
    assert unknown.error
    assert unknown.text == "There is no template named “nope” (templates: python-service)."
    opened = ask(bot, "/scaffold python-service")
    assert opened.dialog is not None and opened.dialog.id == "scaffold:python-service"
    owner = next(f for f in opened.dialog.fields if f.name == "owner")
    assert owner.default == "group:default/team-payments"  # Ana's first team


@covers("scaffold")
def test_scaffold_dialog_refuses_bad_values_before_rendering(bot: MemoryBot) -> None:
    dialog = ask(bot, "/scaffold python-service").dialog
    assert dialog is not None

    def submit(**values: str) -> DialogErrors:
        filled = {f.name: f.default or "" for f in dialog.fields}
        filled.update(values)
        result = asyncio.run(
            bot.dispatcher.submit(
                DialogSubmission(dialog.id, filled, ANA, None, "console", dialog.state)
            )
        )
        assert isinstance(result, DialogErrors)
        return result

    assert submit(name="payments-api").errors == {
        "name": "“payments-api” is taken: component:default/payments-api is already in the catalog"
    }
    assert "Backstage's name rule" in submit(name="Bad Name!").errors["name"]
    assert (
        "template syntax is not allowed"
        in submit(name="fine-name", description="{{ cookiecutter.x }}").errors["description"]
    )

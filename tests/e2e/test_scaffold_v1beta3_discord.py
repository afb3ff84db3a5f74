"""A v1beta3 Template's form through Discord (simcord): the stepped modals built from
``spec.parameters``, a field refused with its message, then the native engine's dry run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import REPO, AppFactory
from tests.e2e.test_discord import (
    DEMO_SOURCES,
    discord_app,
    discord_world,
    embed_text,
    modal_inputs,
)
from tests.e2e.test_scaffold_discord import discord_user

FORMS = REPO / "tests" / "fixtures" / "v1beta3" / "forms"
ANSWERS = {
    "Component name": "discord-forms",
    "Owner (a team)": ["group:default/team-payments"],
    "Cloud": ["gcp"],
    "GCP project": "acme-forms-2",
    "Replicas": "12",
    "Contact": "ana@example.com",
}


async def test_a_v1beta3_form_through_discord_modals(make_app: AppFactory, tmp_path: Path) -> None:
    people = tmp_path / "people.yaml"
    people.write_text("")
    folder = tmp_path / "forms"
    shutil.copytree(FORMS, folder)
    app = discord_app(
        make_app,
        sources=[
            *DEMO_SOURCES,
            {"type": "file", "name": "people", "target": str(people)},
            {"type": "file", "name": "tpl", "target": str(folder / "template.yaml")},
        ],
    )
    async with discord_world(app) as w:
        discord_user(people, w.ana.id)
        app.services.sync.run()
        options: dict[str, Any] = {"template": "callboard-forms", "dry-run": True}
        step = await w.ana.slash(w.channel, "scaffold", **options)
        seen: list[str] = []
        hints: dict[str, Any] = {}
        for _ in range(10):
            assert step.modal is not None, step.response and embed_text(step.response.embeds)
            inputs = modal_inputs(step)
            seen.extend(inputs)
            hints.update({label: spec.get("description") for label, spec in inputs.items()})
            values = {
                spec["custom_id"]: ANSWERS.get(label, [] if "options" in spec else "")
                for label, spec in inputs.items()
            }
            saved = await w.ana.submit_modal(step, values)
            title = step.modal["title"]
            current, total = title.rsplit("(", 1)[1].rstrip(")").split("/")
            if current == total:
                break
            step = await w.ana.click(saved.response, label=f"Continue ({int(current) + 1}/{total})")
        assert "AWS region" in seen and "Why so many" in seen  # every field asked, none dropped
        assert hints["AWS region"] == "Only when cloud is aws."
        refused = embed_text(w.channel.last_message.embeds if w.channel.last_message else [])
        answer = saved.response
        text = embed_text(answer.embeds) if answer is not None else refused
        assert "must be at most 10" in text, text


async def test_a_field_the_modal_cannot_hold_is_named_before_it_opens(
    make_app: AppFactory, tmp_path: Path
) -> None:
    """A Discord modal shows fields only: a form that leaves a field out opens from a message
    naming it."""
    people = tmp_path / "people.yaml"
    people.write_text("")
    folder = tmp_path / "unasked"
    shutil.copytree(REPO / "tests" / "fixtures" / "v1beta3" / "unasked", folder)
    app = discord_app(
        make_app,
        sources=[
            *DEMO_SOURCES,
            {"type": "file", "name": "people", "target": str(people)},
            {"type": "file", "name": "tpl", "target": str(folder / "template.yaml")},
        ],
    )
    async with discord_world(app) as w:
        discord_user(people, w.ana.id)
        app.services.sync.run()
        options: dict[str, Any] = {"template": "callboard-unasked", "dry-run": True}
        result = await w.ana.slash(w.channel, "scaffold", **options)
        assert result.modal is None
        prompt = result.response
        assert prompt is not None
        assert (
            "Note: Layout (layout) is not asked here: it uses the form field AccordionField"
            in prompt.content.replace("\\", "")  # as Discord shows it (markdown escaped)
        )
        opened = await w.ana.click(prompt, label="Open: New Unasked fields")
        assert opened.modal is not None
        inputs = modal_inputs(opened)
        assert list(inputs) == ["Component name", "Owner (a team)"]
        values = {
            inputs["Component name"]["custom_id"]: "discord-unasked",
            inputs["Owner (a team)"]["custom_id"]: ["group:default/team-payments"],
        }
        done = await w.ana.submit_modal(opened, values)
        assert done.response is not None
        text = embed_text(done.response.embeds)
        assert "Dry run: discord-unasked from callboard-unasked" in text, text

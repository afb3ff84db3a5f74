"""/scaffold through Discord (simcord): the slash command opens the modal in steps, the modal
submits run it, and the project lands in a local bare repository and the catalog."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import AppFactory
from tests.e2e.test_discord import (
    DEMO_SOURCES,
    discord_app,
    discord_world,
    embed_text,
    modal_inputs,
    progress_edits,
)


def discord_user(path: Path, user_id: int) -> None:
    """A catalog User for the simcord member, in team-payments."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "User",
                "metadata": {
                    "name": "ana-on-discord",
                    "annotations": {"discord.com/user-id": str(user_id)},
                },
                "spec": {
                    "profile": {"email": "ana.discord@acme-rides.example"},
                    "memberOf": ["team-payments"],
                },
            }
        )
    )


async def test_scaffold_through_discord_modals(make_app: AppFactory, tmp_path: Path) -> None:
    people = tmp_path / "people.yaml"
    people.write_text("")
    app = discord_app(
        make_app, sources=[*DEMO_SOURCES, {"type": "file", "name": "people", "target": str(people)}]
    )
    async with discord_world(app) as w:
        discord_user(people, w.ana.id)
        app.services.sync.run()

        step1 = await w.ana.slash(w.channel, "scaffold", template="python-service")
        assert step1.modal is not None, step1.response and embed_text(step1.response.embeds)
        assert step1.modal["title"] == "New Python service (1/2)"
        inputs = modal_inputs(step1)
        assert list(inputs) == [
            "Component name",
            "Owner (a team)",
            "System (optional)",
            "What it does, in one sentence",
            "Python package name",
        ]
        owner = inputs["Owner (a team)"]
        assert [o["value"] for o in owner["options"] if o["default"]] == [
            "group:default/team-payments"
        ]
        ids = {label: spec["custom_id"] for label, spec in inputs.items()}
        saved = await w.ana.submit_modal(
            step1,
            {
                ids["Component name"]: "driver-payouts",
                ids["Owner (a team)"]: ["group:default/team-payments"],
                ids["System (optional)"]: ["system:default/checkout"],
                ids["What it does, in one sentence"]: "Pays drivers every week.",
                ids["Python package name"]: "",
            },
        )
        step2 = await w.ana.click(saved.response, label="Continue (2/2)")
        inputs2 = modal_inputs(step2)
        assert list(inputs2) == [
            "Python version",
            "HTTP port",
            "Lifecycle",
            "Serve Prometheus metrics on /metrics?",
        ]
        assert [o["label"] for o in inputs2["Lifecycle"]["options"]] == [
            "Experimental: new, may change",
            "Production: supported and on call",
        ]
        ids2 = {label: spec["custom_id"] for label, spec in inputs2.items()}
        values: dict[str, Any] = {
            ids2["Python version"]: ["3.12"],
            ids2["HTTP port"]: "8081",
            ids2["Lifecycle"]: ["production"],
            ids2["Serve Prometheus metrics on /metrics?"]: ["true"],
        }
        await w.ana.submit_modal(step2, values)
        # Each step edited the one private progress message in place...
        steps = [e.split(": ", 1)[1] for e in progress_edits(w.env) if "(python-service)" in e]
        assert steps == [
            "rendering the template…",
            "rendered 14 files; creating the repository…",
            f"pushing to file://{tmp_path}/var/git/driver-payouts.git…",
            "registering it in the catalog…",
            "done.",
        ]
        # ...and the answer, public, went to the channel.
        answer = w.channel.last_message
        assert not answer.flags.ephemeral
        text = embed_text(answer.embeds)
        assert "Created driver-payouts" in text, text
        assert "component:default/driver-payouts" in text

    bare = tmp_path / "var" / "git" / "driver-payouts.git"
    show = subprocess.run(
        ["git", f"--git-dir={bare}", "show", "main:catalog-info.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "owner: group:default/team-payments" in show and "lifecycle: production" in show
    assert app.services.reader.get("component:default/driver-payouts") is not None

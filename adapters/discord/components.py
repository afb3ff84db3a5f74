"""Buttons on Callboard's messages: run a command, share a lookup, open a form step.

Every button is a ``DynamicItem`` whose custom id carries what it needs (``cb:run:/whoowns
team-payments``, ``cb:share``, ``cb:open:<form>:<step>``), so buttons keep working after a
restart and no view has to be remembered per message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import discord
from discord import ui

from adapters.discord.render import BUTTON_LABEL_MAX, run_custom_id, truncate
from bot.chat import Button

SHARE_ID = "cb:share"
SHARE_LABEL = "Share"

_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
    "default": discord.ButtonStyle.secondary,
}


class ButtonHandler(Protocol):
    """What the buttons call back into (the adapter)."""

    async def run_button(self, interaction: discord.Interaction, command: str) -> None: ...

    async def share_button(self, interaction: discord.Interaction) -> None: ...

    async def open_form_button(
        self, interaction: discord.Interaction, token: str, page: int
    ) -> None: ...


def _handler(interaction: discord.Interaction) -> ButtonHandler:
    handler: ButtonHandler = getattr(interaction.client, "callboard")  # noqa: B009
    return handler


class RunButton(ui.DynamicItem[ui.Button[Any]], template=r"cb:run:(?P<command>.+)"):
    """Runs a Callboard command as the user who clicked."""

    def __init__(self, command: str, label: str = "Run", style: str = "default") -> None:
        custom_id = run_custom_id(command)
        if custom_id is None:
            raise ValueError(f"command too long for a button: {command!r}")
        super().__init__(
            ui.Button(
                label=truncate(label, BUTTON_LABEL_MAX),
                custom_id=custom_id,
                style=_STYLES.get(style, discord.ButtonStyle.secondary),
            )
        )
        self.command = command

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> RunButton:
        label = getattr(item, "label", None) or "Run"
        return cls(match["command"], label)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).run_button(interaction, self.command)


class ShareButton(ui.DynamicItem[ui.Button[Any]], template=r"cb:share"):
    """Posts the (ephemeral) message it sits on into the channel, for everyone."""

    def __init__(self) -> None:
        super().__init__(
            ui.Button(label=SHARE_LABEL, custom_id=SHARE_ID, style=discord.ButtonStyle.primary)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> ShareButton:
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).share_button(interaction)


class OpenFormButton(
    ui.DynamicItem[ui.Button[Any]], template=r"cb:open:(?P<token>[0-9a-f]{12}):(?P<page>\d{1,3})"
):
    """Opens (or reopens) one step of a form in progress."""

    def __init__(self, token: str, page: int, label: str) -> None:
        super().__init__(
            ui.Button(
                label=truncate(label, BUTTON_LABEL_MAX),
                custom_id=f"cb:open:{token}:{page}",
                style=discord.ButtonStyle.primary,
            )
        )
        self.token = token
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> OpenFormButton:
        return cls(match["token"], int(match["page"]), getattr(item, "label", None) or "Open")

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).open_form_button(interaction, self.token, self.page)


DYNAMIC_ITEMS = (RunButton, ShareButton, OpenFormButton)


def build_view(
    actions: Sequence[Button], *, share: bool = False, extra: Sequence[ui.Item[Any]] = ()
) -> ui.View | None:
    """A view of the reply's buttons (commands, links), then ``extra``, then Share."""
    view = ui.View(timeout=None)
    for action in actions:
        if action.command:
            view.add_item(RunButton(action.command, action.label, action.style))
        elif action.url:
            view.add_item(ui.Button(label=truncate(action.label, BUTTON_LABEL_MAX), url=action.url))
    for item in extra:
        view.add_item(item)
    if share:
        view.add_item(ShareButton())
    return view if view.children else None


def view_without_share(message: discord.Message) -> ui.View | None:
    """The buttons of ``message`` minus Share: what a shared copy carries."""
    view = ui.View(timeout=None)
    for row in message.components:
        for component in getattr(row, "children", ()):
            if not isinstance(component, discord.components.Button):
                continue
            if component.url:
                view.add_item(ui.Button(label=component.label or "Link", url=component.url))
            elif component.custom_id and component.custom_id.startswith("cb:run:"):
                command = component.custom_id[len("cb:run:") :]
                view.add_item(RunButton(command, component.label or "Run"))
    return view if view.children else None

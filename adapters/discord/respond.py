"""Where an answer goes: one interaction's response, or a reply to a mention.

Both implement the core's ``Progress`` port: a long-running command's steps show in one
message, edited in place, and the final answer takes that message's place. For an
interaction the progress message is the deferred ("thinking…") original response; for a
mention it is the bot's reply.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord import ui

from adapters.discord.render import content

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class InteractionResponder:
    """One interaction: the first response, a defer, progress edits, then follow-ups."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self._lock = asyncio.Lock()
        self._showing_progress = False  # the original response shows a progress line

    @property
    def responded(self) -> bool:
        return self.interaction.response.is_done()

    async def defer(self) -> None:
        """Start the "thinking…" message (private), unless something answered already."""
        async with self._lock:
            if not self.interaction.response.is_done():
                await self.interaction.response.defer(ephemeral=True, thinking=True)

    async def update(self, text: str) -> None:
        """``Progress.update``: show a step in the original response. Never raises."""
        try:
            await self.defer()
            async with self._lock:
                await self.interaction.edit_original_response(
                    content=content(text), embeds=[], view=None
                )
                self._showing_progress = True
        except discord.HTTPException:
            log.warning("could not show a progress step on Discord", exc_info=True)

    async def modal(self, modal: ui.Modal) -> None:
        await self.interaction.response.send_modal(modal)

    async def send(self, *, ephemeral: bool = True, **kwargs: Any) -> None:
        """Send a message: the response, in place of the progress line, or a follow-up."""
        kwargs["allowed_mentions"] = NO_MENTIONS
        async with self._lock:
            if not self.interaction.response.is_done():
                await self.interaction.response.send_message(ephemeral=ephemeral, **kwargs)
            elif self._showing_progress and ephemeral:
                # The progress message is private too: the answer replaces it.
                self._showing_progress = False
                await self.interaction.edit_original_response(
                    content=kwargs.get("content"),
                    embeds=kwargs.get("embeds", []),
                    view=kwargs.get("view"),
                    allowed_mentions=NO_MENTIONS,
                )
            else:
                # After a defer the first follow-up completes the "thinking…" message.
                await self.interaction.followup.send(ephemeral=ephemeral, **kwargs)

    async def replace(self, **kwargs: Any) -> None:
        """Edit the original response (which holds the answer) to show ``kwargs`` instead."""
        async with self._lock:
            await self.interaction.edit_original_response(
                content=kwargs.get("content"),
                embeds=kwargs.get("embeds", []),
                view=kwargs.get("view"),
                allowed_mentions=NO_MENTIONS,
            )

    async def discard_original(self) -> None:
        """Remove the private original response (it pointed at a public answer)."""
        try:
            await self.interaction.delete_original_response()
        except discord.HTTPException:
            log.info("could not remove the private original response", exc_info=True)


class MentionResponder:
    """A reply to a message that mentioned the bot; progress edits that same reply."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message
        self.sent: discord.Message | None = None

    async def update(self, text: str) -> None:
        """``Progress.update``: the reply shows the latest step. Never raises."""
        try:
            if self.sent is None:
                self.sent = await self.message.reply(
                    content(text), mention_author=False, allowed_mentions=NO_MENTIONS
                )
            else:
                await self.sent.edit(content=content(text))
        except discord.HTTPException:
            log.warning("could not show a progress step on Discord", exc_info=True)

    async def send(self, **kwargs: Any) -> None:
        if self.sent is not None:
            await self.sent.edit(
                content=kwargs.get("content"),
                embeds=kwargs.get("embeds", []),
                view=kwargs.get("view"),
                allowed_mentions=NO_MENTIONS,
            )
            return
        self.sent = await self.message.reply(
            mention_author=False, allowed_mentions=NO_MENTIONS, **kwargs
        )

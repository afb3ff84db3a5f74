"""The Discord adapter: interactions and mentions in, rendered replies out.

Same shape as every adapter: ``to_request`` (an interaction or message → ``Request``),
``render_reply`` (``Reply`` → embeds, see ``render.py``) and ``post`` (scheduled reports).
Slash commands answer within Discord's 3 seconds or ``defer()`` and follow up; lookups are
ephemeral with a Share button; dialogs become modals (``forms.py``).

Operations: ``not_ready`` is Discord's part of ``/readyz`` (``discord: not connected`` until
the gateway session is ready, and once the client is closed); ``stop`` (SIGTERM, within
``shutdown.grace_seconds``) answers new interactions and mentions with a short "restarting"
note, lets those in flight deliver their answers, then closes the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any

import discord
from discord import app_commands, ui

from adapters.delivery import form_prompt, start_within
from adapters.discord.components import (
    DYNAMIC_ITEMS,
    OpenFormButton,
    build_view,
    view_without_share,
)
from adapters.discord.forms import DialogModal, FormStore, PendingForm, error_lines
from adapters.discord.render import (
    ERROR_COLOR,
    RenderedReply,
    content,
    escape,
    plain,
    plain_text,
    render_reply,
    truncate,
)
from adapters.discord.respond import NO_MENTIONS, InteractionResponder, MentionResponder
from adapters.discord.tree import (
    Choices,
    SlashCommand,
    build_command,
    slash_commands,
)
from bot.app import SHUTTING_DOWN, App
from bot.catalog.read import KIND_PRIORITY, IndexEntry
from bot.chat import (
    ChatUser,
    DialogErrors,
    DialogField,
    DialogSubmission,
    Progress,
    Reply,
    Request,
)
from bot.dispatch import crash
from bot.errors import BotError, ChannelNotFound, DeliveryError, RateLimited
from bot.identity import Identity
from bot.platforms import DiscordSettings

log = logging.getLogger(__name__)

PLATFORM = "discord"
CHOICE_TEXT_MAX = 100
READY_TIMEOUT = 120.0
NOT_CONNECTED = "discord: not connected"
RESTARTING = "Callboard is restarting; ask again in a minute."


class DiscordError(BotError):
    """Discord refused or failed a call (posting, syncing, connecting)."""


class _CallboardHooks:
    """The client side: start-up and message events go to the adapter."""

    callboard: DiscordAdapter

    async def setup_hook(self) -> None:
        await self.callboard.setup()

    async def on_message(self, message: discord.Message) -> None:
        await self.callboard.on_message(message)


class CallboardClient(_CallboardHooks, discord.Client):
    """One gateway connection."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.callboard = adapter
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self)


class ShardedCallboardClient(_CallboardHooks, discord.AutoShardedClient):
    """Several shards in one process, for bots in many servers (``sharding: true``)."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.callboard = adapter
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self)


def intents(settings: DiscordSettings) -> discord.Intents:
    """Slash commands need only ``guilds``; mentions need message events and their content."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    if settings.message_content:
        wanted.guild_messages = True
        wanted.dm_messages = True
        wanted.message_content = True
    return wanted


class DiscordAdapter:
    """Callboard on Discord: the client, its command tree, forms in progress, and ``post``."""

    platform = PLATFORM

    def __init__(self, app: App, settings: DiscordSettings) -> None:
        self.app = app
        self.settings = settings
        self.forms = FormStore()
        options: dict[str, Any] = {
            "intents": intents(settings),
            "allowed_mentions": NO_MENTIONS,
        }
        self.client: CallboardClient | ShardedCallboardClient
        if settings.sharding:
            self.client = ShardedCallboardClient(self, shard_count=settings.shard_count, **options)
        else:
            self.client = CallboardClient(self, **options)
        self.guild = discord.Object(settings.guild_id) if settings.guild_id else None
        self.commands = slash_commands(app.dispatcher.commands)
        for slash in self.commands:
            self.client.tree.add_command(
                build_command(slash, self.run_slash, self), guild=self.guild
            )
        self.client.tree.on_error = self._tree_error  # type: ignore[method-assign]
        self.stopping = False  # set by ``stop``: new interactions get RESTARTING
        self._in_flight: set[asyncio.Task[Any]] = set()  # interactions being answered

    # ------------------------------------------------------------- operations

    def not_ready(self) -> list[str]:
        """Discord's part of ``/readyz`` (read from a worker thread: flags only)."""
        if self.stopping:
            return [SHUTTING_DOWN]
        if self.client.is_closed() or not self.client.is_ready():
            return [NOT_CONNECTED]
        return []

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """Count the current task as an interaction in flight until the block ends."""
        task = asyncio.current_task()
        if task is None:  # not in a task (cannot happen under discord.py); nothing to track
            yield
            return
        self._in_flight.add(task)
        try:
            yield
        finally:
            self._in_flight.discard(task)

    async def stop(self, grace_seconds: float) -> None:
        """Graceful shutdown: take no new work, let answers in flight be delivered (up to
        ``grace_seconds``); the connection stays for a scheduled post still going out
        (``close`` ends it)."""
        self.stopping = True
        running = {t for t in self._in_flight if not t.done()}
        log.info(
            "Discord: stopping; %d interactions in flight (up to %ss)",
            len(running),
            grace_seconds,
        )
        if running:
            _, late = await asyncio.wait(running, timeout=max(0.0, grace_seconds))
            if late:
                log.warning("Discord: %d interactions unfinished after the grace", len(late))

    async def close(self) -> None:
        """Close the gateway connection (``run`` returns)."""
        await self.client.close()

    # ---------------------------------------------------------------- lifecycle

    async def setup(self) -> None:
        """Runs once after login: persistent buttons, then the start-up command sync."""
        self.client.add_dynamic_items(*DYNAMIC_ITEMS)
        mode = self.settings.sync_on_start
        if mode == "never":
            return
        try:
            if mode == "always" or await self.tree_changed():
                await self.sync_commands()
        except DiscordError as exc:
            log.error("%s; slash commands may be out of date", exc)

    async def run(self, token: str) -> None:
        """Connect and serve until cancelled."""
        try:
            async with self.client:
                await self.client.start(token)
        except discord.LoginFailure as exc:
            raise DiscordError(
                "Discord refused the token in DISCORD_TOKEN (check it in the Developer Portal, "
                "Bot page)"
            ) from exc
        except discord.PrivilegedIntentsRequired as exc:
            raise DiscordError(
                "discord.message_content is on, but the Message Content intent is not enabled "
                "for this bot in the Developer Portal (Bot page, Privileged Gateway Intents)"
            ) from exc

    def command_payloads(self) -> list[dict[str, Any]]:
        """The command tree as Discord receives it on sync."""
        tree = self.client.tree
        return [c.to_dict(tree) for c in tree.get_commands(guild=self.guild)]

    async def tree_changed(self) -> bool:
        """Whether Discord's registered commands differ from the tree (a read, no create)."""
        try:
            registered = await self.client.tree.fetch_commands(guild=self.guild)
        except discord.HTTPException as exc:
            raise DiscordError(
                f"could not read the commands registered {self.scope}: {exc}"
            ) from exc
        ours = sorted(_comparable(p) for p in self.command_payloads())
        theirs = sorted(_comparable(dict(c.to_dict())) for c in registered)
        return ours != theirs

    async def sync_commands(self) -> list[app_commands.AppCommand]:
        """Push the command tree to Discord: to the configured server, or globally."""
        try:
            synced = await self.client.tree.sync(guild=self.guild)
        except discord.Forbidden as exc:
            raise DiscordError(
                f"Discord refused to register commands {self.scope} ({exc.text or exc.status}); "
                "is the bot in that server, invited with the applications.commands scope?"
            ) from exc
        except discord.HTTPException as exc:
            raise DiscordError(f"could not register commands {self.scope}: {exc}") from exc
        log.info("synced %d slash commands %s", len(synced), self.scope)
        return synced

    @property
    def scope(self) -> str:
        return f"in server {self.settings.guild_id}" if self.guild else "globally"

    # ------------------------------------------------------------- translation

    async def chat_user(self, user: discord.abc.User) -> ChatUser:
        """The Discord user; its catalog User (``discord.com/user-id``) lends the email."""
        email = await Identity(self.app.services.catalog).email_for(PLATFORM, str(user.id))
        return ChatUser(PLATFORM, str(user.id), user.display_name, email)

    async def to_request(
        self,
        who: discord.abc.User,
        channel_id: int | None,
        text: str,
        *,
        command: str | None = None,
        mention: bool = False,
        progress: Progress | None = None,
    ) -> Request:
        return Request(
            text=text,
            user=await self.chat_user(who),
            channel=str(channel_id) if channel_id else None,
            platform=PLATFORM,
            mention=mention,
            command=command,
            progress=progress,
        )

    # ---------------------------------------------------------- autocomplete

    async def entity_choices(self, current: str, kinds: Sequence[str]) -> Choices:
        """Up to 25 catalog entities for what was typed so far (misspellings welcome)."""
        try:
            # Off the event loop: autocomplete asks on every keystroke, and the first ask
            # after a catalog change may find the name index being rebuilt.
            return await self.app.services.offload(self._entity_choices, current, kinds)
        except Exception:
            log.exception("autocomplete: reading the catalog index failed")
            return []

    def _entity_choices(self, current: str, kinds: Sequence[str]) -> Choices:
        index = self.app.services.reader.index()
        wanted = tuple(k.lower() for k in kinds)
        if current.strip():
            entries = [e for e, _ in index.suggest(current, wanted, limit=25)]
        else:
            pool = [e for e in index.entries() if not wanted or e.kind in wanted]
            entries = sorted(pool, key=_browse_order)[:25]
        return [app_commands.Choice(name=_choice_name(e), value=_choice_value(e)) for e in entries]

    def word_choices(self, current: str, words: Sequence[tuple[str, str]]) -> Choices:
        """An umbrella command's subcommands (value: the word; name: its help line)."""
        typed = current.strip().lower()
        matches = [(w, line) for w, line in words if w.lower().startswith(typed)] or list(words)
        return [
            app_commands.Choice(name=truncate(line, CHOICE_TEXT_MAX), value=w[:CHOICE_TEXT_MAX])
            for w, line in matches[:25]
        ]

    # ------------------------------------------------------------ interactions

    async def run_slash(
        self, interaction: discord.Interaction, slash: SlashCommand, values: dict[str, Any]
    ) -> None:
        if await self._refused(interaction):
            return
        responder = InteractionResponder(interaction)
        with self._answering():
            request = await self.to_request(
                interaction.user,
                interaction.channel_id,
                slash.text(values),
                command=slash.spec.name,
                progress=responder,
            )
            await self._answer(responder, self.app.dispatcher.dispatch(request))

    async def run_button(self, interaction: discord.Interaction, command: str) -> None:
        if await self._refused(interaction):
            return
        responder = InteractionResponder(interaction)
        with self._answering():
            request = await self.to_request(
                interaction.user, interaction.channel_id, command, progress=responder
            )
            await self._answer(responder, self.app.dispatcher.dispatch(request))

    async def share_button(self, interaction: discord.Interaction) -> None:
        """Post the ephemeral answer for everyone; the private copy says it was shared."""
        source = interaction.message
        if source is None or not source.embeds:
            await interaction.response.send_message(
                "There is nothing to share here any more.", ephemeral=True
            )
            return
        await interaction.response.edit_message(content="Shared in the channel.", view=None)
        shared: dict[str, Any] = {
            "content": f"Shared by {interaction.user.mention}",
            "embeds": source.embeds,
        }
        await InteractionResponder(interaction).send(
            ephemeral=False, **_with_view(shared, view_without_share(source))
        )

    async def open_form_button(
        self, interaction: discord.Interaction, token: str, page: int
    ) -> None:
        form = self.forms.get(token)
        if form is None or page >= len(form.pages):
            await interaction.response.send_message(
                "This form has expired. Run the command again to start over.", ephemeral=True
            )
            return
        if form.user_id != interaction.user.id:
            await interaction.response.send_message(
                "This form belongs to someone else. Run the command to open your own.",
                ephemeral=True,
            )
            return
        await interaction.response.send_modal(await self._modal(form, page))

    async def form_step(
        self, interaction: discord.Interaction, form: PendingForm, page: int
    ) -> None:
        """A step was submitted: show the next one (via a button), or submit the form."""
        following = form.next_page(page)
        if following is not None:
            view = ui.View(timeout=None)
            view.add_item(
                OpenFormButton(
                    form.token, following, f"Continue ({following + 1}/{len(form.pages)})"
                )
            )
            await interaction.response.send_message(
                f"Step {page + 1} of {len(form.pages)} saved.", view=view, ephemeral=True
            )
            return
        if await self._refused(interaction):
            return  # the form stays open: submitted again after the restart, it runs
        responder = InteractionResponder(interaction)
        with self._answering():
            submission = DialogSubmission(
                dialog_id=form.dialog.id,
                values=dict(form.values),
                user=await self.chat_user(interaction.user),
                channel=form.channel,
                platform=PLATFORM,
                state=dict(form.dialog.state),
                progress=responder,
            )
            await self._answer(responder, self.app.dispatcher.submit(submission), form=form)

    async def _modal(self, form: PendingForm, page: int) -> DialogModal:
        # The pickers' choices come from the name index: read it in a worker thread first.
        pickers = await self.app.services.offload(
            lambda: {f.name: self.picker_options(f) for f in form.dialog.fields}
        )
        return DialogModal(form, page, self.form_step, lambda field: pickers.get(field.name))

    def picker_options(self, dialog_field: DialogField) -> list[tuple[str, str]] | None:
        """Entities an entity/group field can offer as a select (None: too many, type it)."""
        if dialog_field.kind not in ("entity", "group"):
            return None
        kinds = dialog_field.entity_kinds or (("group",) if dialog_field.kind == "group" else ())
        try:
            pool = [
                e
                for e in self.app.services.reader.index().entries()
                if not kinds or e.kind in kinds
            ]
        except Exception:
            log.exception("form: reading the catalog index failed")
            return None
        if not pool or len(pool) > 25:
            return None
        return [(e.ref, _choice_name(e)) for e in sorted(pool, key=_browse_order)]

    async def _refused(self, interaction: discord.Interaction) -> bool:
        """While stopping: say so (privately) instead of starting work; True when refused."""
        if not self.stopping:
            return False
        with contextlib.suppress(discord.HTTPException):
            await interaction.response.send_message(RESTARTING, ephemeral=True)
        return True

    async def _answer(
        self,
        responder: InteractionResponder,
        work: Awaitable[Reply | DialogErrors],
        *,
        form: PendingForm | None = None,
    ) -> None:
        """Answer within Discord's 3 seconds: directly when ready in time, else defer first."""
        task = await start_within(work, self.settings.defer_ms / 1000)
        if not task.done():
            await responder.defer()
        result = await task
        if isinstance(result, DialogErrors):
            await self._send_errors(responder, result, form)
            return
        if form is not None:
            self.forms.close(form.token)
        if result.dialog is not None:
            await self._open_dialog(responder, result)
            return
        in_original = await self._send_reply(responder, result)
        if result.later is not None:
            await self._update_later(responder, result, in_original)

    async def _update_later(
        self, responder: InteractionResponder, reply: Reply, in_original: bool
    ) -> None:
        """A reply's late part (``Reply.later``): the reply again, edited into the original
        interaction response when that holds it, else the addition as a private follow-up."""
        assert reply.later is not None
        update = await reply.later()
        if update is None:
            return
        try:
            if in_original:
                share = update.reply.ephemeral and not update.reply.error
                rendered = render_reply(update.reply, reserve_buttons=1 if share else 0)
                view = build_view(rendered.actions, share=share)
                await responder.replace(embeds=list(rendered.embeds), view=view)
                return
            addition = render_reply(update.addition())
            await responder.send(ephemeral=True, embeds=list(addition.embeds))
        except discord.HTTPException:
            log.warning("could not show the late part of a reply on Discord", exc_info=True)

    async def _open_dialog(self, responder: InteractionResponder, reply: Reply) -> None:
        assert reply.dialog is not None
        interaction = responder.interaction
        form = self.forms.open(reply.dialog, interaction.user.id, _channel(interaction))
        # A modal shows fields only: a form with notes (fields it leaves out) is opened from
        # a message that shows them.
        can_modal = (
            not reply.dialog.notes
            and not responder.responded
            and interaction.type
            in (discord.InteractionType.application_command, discord.InteractionType.component)
        )
        if can_modal:
            await responder.modal(await self._modal(form, 0))
            return
        # A modal must be the first response; after a defer or a modal, offer a button.
        view = ui.View(timeout=None)
        view.add_item(OpenFormButton(form.token, 0, f"Open: {reply.dialog.title}"))
        await responder.send(content=content(form_prompt(reply.dialog, reply.text)), view=view)

    async def _send_errors(
        self, responder: InteractionResponder, errors: DialogErrors, form: PendingForm | None
    ) -> None:
        if form is None:  # only form submissions return errors
            lines = [f"{name}: {message}" for name, message in errors.errors.items()]
            await responder.send(content=content("\n".join(lines)))
            return
        form.errors = dict(errors.errors)
        lines = error_lines(form, errors.errors)
        embed = discord.Embed(
            title=truncate(plain(f"Please fix: {form.dialog.title}"), 256),
            description=truncate("\n".join(f"• {escape(line)}" for line in lines), 4096),
            colour=ERROR_COLOR,
        )
        view = ui.View(timeout=None)
        view.add_item(OpenFormButton(form.token, form.first_error_page(), "Fix and resubmit"))
        await responder.send(embeds=[embed], view=view)

    async def _send_reply(self, responder: InteractionResponder, reply: Reply) -> bool:
        """Send the reply; True when it is the interaction's original response (the response
        itself, the deferred message it completed, or the progress message it replaced)."""
        share = reply.ephemeral and not reply.error
        rendered = render_reply(reply, reserve_buttons=1 if share else 0)
        view = build_view(rendered.actions, share=share)
        if responder.responded and not reply.ephemeral:
            # The deferred (or progress) message is private and cannot turn public: complete
            # it, post the answer for everyone, then remove the private one.
            await responder.send(content="Posted in the channel.")
            await self._send_rendered(responder, reply, rendered, view, ephemeral=False)
            await responder.discard_original()
            return False
        await self._send_rendered(responder, reply, rendered, view, ephemeral=reply.ephemeral)
        return True

    async def _send_rendered(
        self,
        responder: InteractionResponder,
        reply: Reply,
        rendered: RenderedReply,
        view: ui.View | None,
        *,
        ephemeral: bool,
    ) -> None:
        try:
            await responder.send(
                ephemeral=ephemeral, **_with_view({"embeds": list(rendered.embeds)}, view)
            )
        except discord.HTTPException as exc:
            if exc.status != 400:
                raise
            # Our renderer stays within the documented limits; if Discord still refuses the
            # embeds, the user gets the text rather than nothing.
            log.error("Discord refused a rendered reply (%s); sending it as text", exc)
            await responder.send(ephemeral=ephemeral, content=plain_text(reply))

    async def _tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        message = crash(f"discord command {interaction.command}", error).text or ""
        if interaction.is_expired() or interaction.type is discord.InteractionType.autocomplete:
            return
        try:
            if interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True)
            else:
                await interaction.response.send_message(message, ephemeral=True)
        except discord.HTTPException:
            log.exception("could not tell the user about the failure")

    # ---------------------------------------------------------------- mentions

    def mention_text(self, message: discord.Message) -> str | None:
        """The text after "@Callboard" when the message mentions the bot (or its role)."""
        me = self.client.user
        if me is None or message.author.bot:
            return None
        mine = message.guild.me.roles if message.guild is not None else []
        role_ids = {  # the bot's own (managed) role, which "@Callboard" often picks
            role.id
            for role in message.role_mentions
            if (role.tags is not None and role.tags.bot_id == me.id)
            or (role.managed and role in mine)
        }
        user_hit = any(user.id == me.id for user in message.mentions)
        if not user_hit and not role_ids:
            return None
        pattern = rf"<@!?{me.id}>" + "".join(rf"|<@&{r}>" for r in role_ids)
        return re.sub(pattern, " ", message.content).strip(" \t\n,:")

    async def on_message(self, message: discord.Message) -> None:
        """Answer "@Callboard who owns payments-api" in the channel, as a reply."""
        text = self.mention_text(message)
        if text is None:
            return
        responder = MentionResponder(message)
        if self.stopping:
            with contextlib.suppress(discord.HTTPException):
                await responder.send(content=RESTARTING)
            return
        with self._answering():
            await self._answer_mention(message, responder, text)

    async def _answer_mention(
        self, message: discord.Message, responder: MentionResponder, text: str
    ) -> None:
        request = await self.to_request(
            message.author, message.channel.id, text, mention=True, progress=responder
        )
        reply = await self.app.dispatcher.dispatch(request)
        if reply.dialog is not None:
            form = self.forms.open(reply.dialog, message.author.id, str(message.channel.id))
            view = ui.View(timeout=None)
            view.add_item(OpenFormButton(form.token, 0, f"Open: {reply.dialog.title}"))
            await responder.send(content=content(form_prompt(reply.dialog, reply.text)), view=view)
            return
        rendered = render_reply(reply)
        await responder.send(
            **_with_view({"embeds": list(rendered.embeds)}, build_view(rendered.actions))
        )
        if reply.later is not None:  # its late part: the same reply, edited again
            update = await reply.later()
            if update is not None:
                again = render_reply(update.reply)
                await responder.send(
                    **_with_view({"embeds": list(again.embeds)}, build_view(again.actions))
                )

    # ----------------------------------------------------------------- posting

    async def post(self, channel: str, reply: Reply) -> None:
        """Post a reply (a scheduled report) into a channel, by its id."""
        try:
            channel_id = channel_id_of(channel)
        except DiscordError as exc:
            raise ChannelNotFound(str(exc), channel) from exc
        if not self.client.is_ready():
            try:
                await asyncio.wait_for(self.client.wait_until_ready(), READY_TIMEOUT)
            except (TimeoutError, RuntimeError) as exc:
                raise DiscordError(
                    f"cannot post to Discord channel {channel_id}: not connected to Discord"
                ) from exc
        target = self.client.get_partial_messageable(channel_id)
        rendered = render_reply(reply)
        message = _with_view({"embeds": list(rendered.embeds)}, build_view(rendered.actions))
        # The core's delivery errors let the scheduler tell faults apart: a missing or forbidden
        # channel is reported once, a rate limit is retried, anything else is a failed post.
        where = str(channel_id)
        try:
            await target.send(allowed_mentions=NO_MENTIONS, **message)
        except discord.Forbidden as exc:
            raise ChannelNotFound(
                f"Discord refused a post to channel {channel_id}: the bot cannot see or write "
                "there (invite it, or give it Send Messages and Embed Links)",
                where,
            ) from exc
        except discord.NotFound as exc:
            raise ChannelNotFound(f"Discord channel {channel_id} does not exist", where) from exc
        except discord.RateLimited as exc:
            raise RateLimited(
                f"Discord rate-limited a post to channel {channel_id}",
                where,
                retry_after=exc.retry_after,
            ) from exc
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise RateLimited(
                    f"Discord rate-limited a post to channel {channel_id}", where
                ) from exc
            raise DeliveryError(
                f"posting to Discord channel {channel_id} failed: {exc}", where
            ) from exc


def channel_id_of(channel: str) -> int:
    """A channel id from ``123…``, ``<#123…>`` or ``discord:123…``."""
    text = channel.strip()
    match = re.fullmatch(r"(?:discord:)?(?:<#)?(\d{15,21})>?", text)
    if not match:
        raise DiscordError(f"{channel!r} is not a Discord channel id (a 15-21 digit number)")
    return int(match.group(1))


def _with_view(kwargs: dict[str, Any], view: ui.View | None) -> dict[str, Any]:
    if view is not None:
        kwargs["view"] = view
    return kwargs


def _channel(interaction: discord.Interaction) -> str | None:
    return str(interaction.channel_id) if interaction.channel_id else None


def _browse_order(entry: IndexEntry) -> tuple[int, str]:
    rank = KIND_PRIORITY.index(entry.kind) if entry.kind in KIND_PRIORITY else 99
    return rank, entry.name.lower()


def _choice_name(entry: IndexEntry) -> str:
    shown = plain(entry.title or entry.name)
    text = f"{shown} ({entry.ref})" if shown.lower() != entry.name.lower() else entry.ref
    return truncate(text, CHOICE_TEXT_MAX)


def _choice_value(entry: IndexEntry) -> str:
    if len(entry.ref) <= CHOICE_TEXT_MAX:
        return entry.ref
    return entry.name[:CHOICE_TEXT_MAX]


_COMPARED_OPTION_KEYS = (
    "type",
    "name",
    "description",
    "required",
    "autocomplete",
    "choices",
    "min_value",
    "max_value",
    "min_length",
    "max_length",
    "channel_types",
)


def _comparable(payload: dict[str, Any]) -> str:
    """The parts of a command payload that a sync would change (ids and versions aside)."""

    def option(o: dict[str, Any]) -> dict[str, Any]:
        out = {k: o.get(k) for k in _COMPARED_OPTION_KEYS}
        out["required"] = bool(out["required"])
        out["autocomplete"] = bool(out["autocomplete"])
        out["choices"] = out["choices"] or None
        out["channel_types"] = out["channel_types"] or None
        out["options"] = [option(x) for x in o.get("options") or []]
        return out

    summary = {
        "name": payload.get("name"),
        "description": payload.get("description"),
        "type": payload.get("type", 1),
        "options": [option(o) for o in payload.get("options") or []],
    }
    return json.dumps(summary, sort_keys=True, default=str)

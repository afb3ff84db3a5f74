"""Callboard on Slack: a Bolt ``AsyncApp`` that turns Slack payloads into requests and back.

Same shape as every adapter: ``to_request`` (payload → ``Request``), ``render_reply`` (in
``render.py``) and ``post`` (``SlackPoster``). The listeners translate, nothing more:

- slash commands (``/whoowns x``, and the umbrella ``/callboard whoowns x``) run the dispatcher
  with a deadline (``slack.ack_ms``); a reply ready in time is the ack itself, a slower one is
  acked empty at once and delivered through ``response_url``;
- ``app_mention`` and direct messages answer in a thread (or in the DM);
- buttons run their command as the clicking user; "Share in channel" reposts an answer
  publicly; entity pickers get their options from the catalog's fuzzy index;
- a ``Dialog`` becomes a modal (``views.open`` with the trigger), and its submission goes back
  to the dispatcher, with validation errors shown inline per field.

Bolt runs with ``process_before_response=True``: each listener acks before it returns, and
anything slower than the ack runs as a tracked background task (``drain`` awaits them).
Deliveries Slack retries (``X-Slack-Retry-Num``) are recognised by event id or trigger id
and processed once, across replicas: the first replica to see one claims it in the database
(``Services.deliveries``); a retry reaching any replica finds it claimed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.delivery import form_fallback, start_within
from adapters.slack import render
from adapters.slack.progress import SlackProgress, done_message
from adapters.slack.render import Message, RenderError
from adapters.slack.users import PLATFORM, SlackUsers
from bot.app import App
from bot.chat import (
    ChatPeople,
    ChatUser,
    Dialog,
    DialogErrors,
    DialogSubmission,
    Progress,
    Reply,
    Request,
    Section,
)
from bot.dispatch import crash
from bot.errors import BotError
from bot.identity import Identity
from bot.platforms import SlackSettings

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[Any]]
Tell = Callable[[Reply], Awaitable[None]]  # gives the user a reply after the ack
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def clean_text(text: str, bot_user_id: str | None = None) -> str:
    """Slack's markup → the words the user typed: no bot mention, no link brackets."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)
    return " ".join(render.unescape(text).split())


class SeenDeliveries:
    """Delivery keys seen lately, so a retried delivery is processed once (per process)."""

    def __init__(self, ttl_seconds: float = 3600.0, limit: int = 50_000) -> None:
        self.ttl = ttl_seconds
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str) -> bool:
        now = time.monotonic()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if at > now - self.ttl and len(self._seen) < self.limit:
                break
            del self._seen[oldest]
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


def delivery_key(body: Mapping[str, Any]) -> str | None:
    """What identifies one delivery: the event id, else the interaction's trigger id."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    if body.get("trigger_id"):
        return f"trigger:{body['trigger_id']}"
    return None


class SlackAdapter:
    """The Bolt app, its listeners, and the background deliveries they start."""

    platform = PLATFORM

    def __init__(
        self,
        app: App,
        settings: SlackSettings,
        client: AsyncWebClient,
        signing_secret: str,
        **bolt_options: Any,
    ) -> None:
        self.app = app
        self.settings = settings
        self.client = client
        self.users = SlackUsers(Identity(app.services.catalog), settings.user_cache_minutes * 60.0)
        self.deliveries = SeenDeliveries()
        self.deadline = settings.ack_ms / 1000.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.bolt = AsyncApp(
            client=client,
            signing_secret=signing_secret,
            process_before_response=True,
            logger=logging.getLogger("callboard.slack.bolt"),
            **bolt_options,
        )
        self._register()

    # ------------------------------------------------------------------ wiring

    def _register(self) -> None:
        bolt = self.bolt
        bolt.middleware(self._once)
        bolt.command(re.compile(r"^/"))(self.on_command)
        bolt.event("app_mention")(self.on_mention)
        bolt.event("message")(self.on_message)
        bolt.action(re.compile(f"^{re.escape(render.ACTION_RUN)}"))(self.on_run)
        bolt.action(render.ACTION_SHARE)(self.on_share)
        bolt.action(re.compile(f"^{re.escape(render.ACTION_URL)}"))(self.on_link)
        bolt.action(re.compile(f"^{re.escape(render.ACTION_PICK)}"))(self.on_pick)
        bolt.options(re.compile(f"^{re.escape(render.ACTION_PICK)}"))(self.on_suggest)
        bolt.view_submission(render.DIALOG_CALLBACK)(self.on_submit)

    async def _once(
        self, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Answer a delivery seen before with a bare 200: Slack stops retrying, nothing runs."""
        key = delivery_key(req.body)
        if key is not None and not await self._first_time(key):
            retry = (req.headers.get("x-slack-retry-num") or ["?"])[0]
            log.info("slack: delivery %s seen before (retry %s); not processed again", key, retry)
            return BoltResponse(status=200, body="")
        return await next()

    async def _first_time(self, key: str) -> bool:
        """Whether no replica has taken this delivery: this process's memory first, then the
        claim in the database (another replica may have got the first delivery). A database
        that cannot answer lets the delivery run (answered twice rather than never)."""
        if not self.deliveries.first_time(key):
            return False
        claims = self.app.services.deliveries
        if claims is None:
            return True
        try:
            return await claims.claim(f"slack:{key}", self.app.services.clock())
        except BotError:
            log.warning("slack: cannot claim delivery %s; processing it", key, exc_info=True)
            return True

    # ------------------------------------------------------------------ background tasks

    def spawn(
        self, coro: Coroutine[Any, Any, None], what: str, tell: Tell | None = None
    ) -> asyncio.Task[None]:
        """Run ``coro`` after the ack; a failure is logged with an id and ``tell`` gives the
        user the apology naming it (the ack has gone: nothing else would reach them)."""

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                apology = crash(f"slack: {what}")
                if tell is not None:
                    try:
                        await tell(apology)
                    except Exception:
                        log.exception("slack: could not tell the user that %s failed", what)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)
        return task

    def tell_url(self, response_url: str | None) -> Tell:
        """Tell the user through an interaction's ``response_url`` (ephemeral)."""

        async def tell(reply: Reply) -> None:
            await self._respond_all(response_url, render.render_reply(reply), "ephemeral")

        return tell

    def tell_user(self, client: AsyncWebClient, channel: str | None, user_id: str) -> Tell:
        """Tell the user in the channel they are in (ephemeral), else in a DM."""

        async def tell(reply: Reply) -> None:
            await self._post_to_user(client, channel, user_id, reply)

        return tell

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def drain(self) -> None:
        """Wait until every background delivery has finished (tests, shutdown)."""
        while self._tasks:
            await self._idle.wait()

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Let answers already on their way finish (a little while), then stop the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ translation

    async def user(self, client: AsyncWebClient, body: Mapping[str, Any]) -> ChatUser:
        user = body.get("user")
        if isinstance(user, Mapping):
            user_id, name = str(user.get("id") or ""), user.get("username") or user.get("name")
        else:
            user_id, name = str(body.get("user_id") or user or ""), body.get("user_name")
        return await self.users.get(client, user_id, _team_of(body), name)

    def to_request(
        self,
        text: str,
        user: ChatUser,
        channel: str | None,
        *,
        slash: str | None = None,
        progress: Progress | None = None,
        people: ChatPeople | None = None,
    ) -> Request:
        """A slash command (``slash`` is ``/whoowns``) or typed text (a mention, a DM)."""

        def make(text: str, command: str | None = None, mention: bool = False) -> Request:
            return Request(
                text=text,
                user=user,
                channel=channel,
                platform=PLATFORM,
                mention=mention,
                command=command,
                progress=progress,
                people=people,
            )

        if slash is None:
            return make(text, mention=True)
        # The dispatcher resolves the /callboard umbrella (its subcommands, other commands'
        # names); resolved here already, so the picker and "Share" see the real command.
        return self.app.dispatcher.route(make(text, command=slash.lstrip("/").lower()))

    @staticmethod
    def command_line(request: Request) -> str:
        """The request as one line, for buttons that run it again ("Share in channel")."""
        if request.command:
            return f"/{request.command} {request.text}".strip()
        return request.text.strip()

    def picker(self, request: Request) -> Message | None:
        """``/whoowns`` with nothing after it: offer an entity picker instead of an error."""
        if not request.command or request.text.strip():
            return None
        spec = self.app.dispatcher.command(request.command)
        if spec is None or not spec.args:
            return None
        first = spec.args[0]
        if first.kind != "entity" or not first.required:
            return None
        return render.picker_message(spec.name, first.kinds, spec.usage)

    async def answer(self, request: Request) -> Reply:
        return await self.app.dispatcher.dispatch(request)

    # ------------------------------------------------------------------ slash commands

    async def on_command(
        self, ack: Ack, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        text = render.unescape(str(body.get("text") or "")).strip()
        channel = body.get("channel_id")
        response_url = body.get("response_url")
        trigger_id = body.get("trigger_id")

        progress = SlackProgress(client, response_url=response_url)

        async def work() -> tuple[Request, Reply | Message]:
            user = await self.user(client, body)
            request = self.to_request(
                text,
                user,
                channel,
                slash=str(body.get("command")),
                progress=progress,
                people=self.users.people(client, _team_of(body)),
            )
            picker = self.picker(request)
            if picker is not None:
                return request, picker
            return request, await self.answer(request)

        async def guarded() -> tuple[Request, Reply | Message]:
            try:
                return await work()
            except Exception:  # the dispatcher never raises; this is the adapter failing
                anonymous = ChatUser(PLATFORM, str(body.get("user_id") or ""))
                request = Request(text=text, user=anonymous, platform=PLATFORM)
                return request, self.app.dispatcher.crash(f"slack {body.get('command')}")

        task = await start_within(guarded(), self.deadline)
        if not task.done():
            await ack()
            self.spawn(
                self._deliver_late(task, client, response_url, trigger_id, channel, progress),
                "a slow command",
                self.tell_url(response_url),
            )
            return
        progress.close()
        request, result = task.result()
        if isinstance(result, dict):  # the picker
            await ack(response_type="ephemeral", text=result["text"], blocks=result["blocks"])
            return
        reply = result
        if reply.dialog is not None:
            await ack()
            self.spawn(
                self._open_dialog(
                    client,
                    trigger_id,
                    reply.dialog,
                    channel,
                    response_url,
                    self.command_line(request),
                ),
                "opening a modal",
                self.tell_url(response_url),
            )
            return
        share = self.command_line(request)
        messages = render.render_reply(reply, share_command=share)
        response_type = "ephemeral" if reply.ephemeral else "in_channel"
        first, rest = messages[0], messages[1:]
        await ack(response_type=response_type, text=first["text"], blocks=first["blocks"])
        if rest:
            self.spawn(
                self._respond_all(response_url, rest, response_type),
                "a long reply",
                self.tell_url(response_url),
            )
        if reply.later is not None:
            self.spawn(
                self._update_by_url(reply, response_url, response_type, share, in_place=not rest),
                "a late part of a reply",
            )

    async def _deliver_late(
        self,
        task: asyncio.Task[tuple[Request, Reply | Message]],
        client: AsyncWebClient,
        response_url: str | None,
        trigger_id: str | None,
        channel: str | None,
        progress: SlackProgress,
    ) -> None:
        await progress.arm()  # the ack went out empty: show the command's steps from now
        request, result = await task
        progress.close()
        if isinstance(result, dict):
            await self._respond_all(response_url, [result], "ephemeral")
            return
        if result.dialog is not None:
            await self._open_dialog(
                client, trigger_id, result.dialog, channel, response_url, self.command_line(request)
            )
            return
        messages = render.render_reply(
            result,
            share_command=self.command_line(request),
            max_messages=render.MAX_MESSAGES - progress.posts,
        )
        # The answer takes the step message's place (an ephemeral one cannot turn public:
        # a public answer deletes it instead).
        response_type = "ephemeral" if result.ephemeral else "in_channel"
        await self._respond_all(
            response_url,
            messages,
            response_type,
            replace_first=progress.shown and result.ephemeral,
            delete_first=progress.shown and not result.ephemeral,
        )
        if result.later is not None:
            await self._update_by_url(
                result,
                response_url,
                response_type,
                self.command_line(request),
                in_place=len(messages) == 1 and result.ephemeral,
            )

    async def _update_by_url(
        self,
        reply: Reply,
        response_url: str | None,
        response_type: str,
        share_command: str | None,
        *,
        in_place: bool,
    ) -> None:
        """A reply's late part (``Reply.later``): the reply again, in place of the one message
        the slash command's ``response_url`` showed (``replace_original``); when it was more
        than one message, or a click's (whose ``replace_original`` would hit the clicked
        message), the addition below it."""
        assert reply.later is not None
        update = await reply.later()
        if update is None:
            return
        if in_place:
            messages = render.render_reply(update.reply, share_command=share_command)
            if len(messages) == 1:
                await self._respond_all(response_url, messages, response_type, replace_first=True)
                return
        addition = render.render_reply(update.addition())
        await self._respond_all(response_url, addition, response_type)

    async def _respond_all(
        self,
        response_url: str | None,
        messages: list[Message],
        response_type: str,
        *,
        replace_first: bool = False,
        delete_first: bool = False,
    ) -> None:
        """Post messages through ``response_url``, in order (Slack allows 5 per interaction)."""
        if not response_url:
            log.warning("slack: no response_url to deliver %d message(s) to", len(messages))
            return
        webhook = AsyncWebhookClient(response_url)
        for index, message in enumerate(messages):
            payload: dict[str, Any] = {**message, "response_type": response_type}
            if index == 0 and delete_first:
                payload["delete_original"] = True
            elif index == 0 and replace_first:
                payload["replace_original"] = True
            else:
                payload["replace_original"] = False
            response = await webhook.send_dict(payload)
            if response.status_code != 200:
                log.warning(
                    "slack: response_url answered %s: %s", response.status_code, response.body[:200]
                )
                return

    # ------------------------------------------------------------------ modals

    async def _open_dialog(
        self,
        client: AsyncWebClient,
        trigger_id: str | None,
        dialog: Dialog,
        channel: str | None,
        response_url: str | None,
        command_line: str,
    ) -> None:
        try:
            view = render.render_modal(dialog, render.dialog_metadata(dialog, channel))
        except RenderError as exc:
            await self._respond_all(
                response_url,
                [render.text_message(f"This form cannot be shown in Slack: {exc}.", error=True)],
                "ephemeral",
            )
            return
        try:
            if not trigger_id:
                raise SlackClientError("no trigger_id")
            await client.views_open(trigger_id=trigger_id, view=view)
        except (SlackApiError, SlackClientError) as exc:
            # The trigger is valid for 3 s and single-use; a button gives a fresh one.
            log.info("slack: views.open failed (%s); offering a button instead", _api_error(exc))
            reply = form_fallback(dialog, command_line)
            await self._respond_all(response_url, render.render_reply(reply), "ephemeral")

    async def on_submit(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        meta = render.parse_metadata(str(view.get("private_metadata") or ""))
        values = render.submitted_values((view.get("state") or {}).get("values") or {})
        names = render.dialog_field_names(view)
        channel = meta.get("channel")
        raw_state = meta.get("state")
        state: dict[str, Any] = raw_state if isinstance(raw_state, dict) else {}
        # Steps of a slow form go to the user's DM with the app (a message that can be edited).
        user_id = str((body.get("user") or {}).get("id") or "")
        progress = SlackProgress(client, channel=user_id or None)

        async def work() -> tuple[ChatUser, Reply | DialogErrors]:
            try:
                user = await self.user(client, body)
            except Exception:  # the adapter failing, not the command: say so, with an id
                anonymous = ChatUser(PLATFORM, str((body.get("user") or {}).get("id") or ""))
                return anonymous, self.app.dispatcher.crash("slack view_submission")
            submission = DialogSubmission(
                str(meta.get("id") or ""),
                values,
                user,
                channel,
                PLATFORM,
                {str(k): str(v) for k, v in state.items()},
                progress=progress,
            )
            return user, await self.app.dispatcher.submit(submission)

        task = await start_within(work(), self.deadline)
        if not task.done():
            await ack()  # closes the modal; the outcome is posted when ready
            self.spawn(
                self._submitted_late(task, client, channel, progress),
                "a slow form",
                self.tell_user(client, channel, user_id),
            )
            return
        progress.close()
        user, result = task.result()
        if isinstance(result, DialogErrors):
            await ack(response_action="errors", errors=render.field_errors(names, result.errors))
            return
        if result.dialog is not None:
            try:
                next_view = render.render_modal(
                    result.dialog, render.dialog_metadata(result.dialog, channel)
                )
            except RenderError as exc:
                await ack()
                await self._post_to_user(
                    client,
                    channel,
                    user.id,
                    Reply(text=f"The next form cannot be shown in Slack: {exc}.", error=True),
                )
                return
            await ack(response_action="update", view=next_view)
            return
        await ack()
        self.spawn(
            self._post_to_user(client, channel, user.id, result),
            "a form's answer",
            self.tell_user(client, channel, user.id),
        )

    async def _submitted_late(
        self,
        task: asyncio.Task[tuple[ChatUser, Reply | DialogErrors]],
        client: AsyncWebClient,
        channel: str | None,
        progress: SlackProgress,
    ) -> None:
        await progress.arm()
        user, result = await task
        progress.close()
        if isinstance(result, DialogErrors):
            lines = tuple(f"{name}: {message}" for name, message in result.errors.items())
            result = Reply(
                text="The form was not accepted:", error=True, sections=(Section(items=lines),)
            )
        elif result.dialog is not None:
            result = form_fallback(result.dialog, None)
        await self._post_to_user(client, channel, user.id, result, progress)

    async def _post_to_user(
        self,
        client: AsyncWebClient,
        channel: str | None,
        user_id: str,
        reply: Reply,
        progress: SlackProgress | None = None,
    ) -> None:
        """A form's outcome: ephemeral in the channel it came from (or a DM), else public.

        When the form showed its steps in a DM message, a private outcome takes that
        message's place; a public one is posted as usual and the step message says "done".
        """
        messages = render.render_reply(reply)
        if progress is not None and progress.shown:
            if reply.ephemeral:
                first, *rest = messages
                await progress.replace(first)
                for message in rest:
                    await client.chat_postMessage(channel=str(progress.channel), **message)
                return
            await progress.replace(done_message(reply))
        for message in messages:
            if channel and not reply.ephemeral:
                await client.chat_postMessage(channel=channel, **message)
                continue
            if channel:
                try:
                    await client.chat_postEphemeral(channel=channel, user=user_id, **message)
                    continue
                except SlackApiError as exc:  # not in that channel: say it in a DM instead
                    log.info(
                        "slack: postEphemeral to %s failed (%s); sending a DM",
                        channel,
                        _api_error(exc),
                    )
            await client.chat_postMessage(channel=user_id, **message)

    # ------------------------------------------------------------------ events

    async def on_mention(
        self,
        ack: Ack,
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        if event.get("bot_id"):
            return  # another bot mentioning us: answering could start a loop between bots
        self.spawn(
            self._converse(client, body, event, context.bot_user_id, thread=True),
            "a mention",
            self.tell_user(client, event.get("channel"), str(event.get("user") or "")),
        )

    async def on_message(
        self,
        ack: Ack,
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        direct = event.get("channel_type") == "im"
        from_person = not event.get("subtype") and not event.get("bot_id")
        if direct and from_person:
            self.spawn(
                self._converse(
                    client, body, event, context.bot_user_id, thread="thread_ts" in event
                ),
                "a direct message",
                self.tell_user(client, event.get("channel"), str(event.get("user") or "")),
            )

    async def _converse(
        self,
        client: AsyncWebClient,
        body: dict[str, Any],
        event: dict[str, Any],
        bot_user_id: str | None,
        *,
        thread: bool,
    ) -> None:
        channel = str(event.get("channel") or "")
        text = clean_text(str(event.get("text") or ""), bot_user_id)
        user = await self.users.get(
            client, str(event.get("user") or ""), str(body.get("team_id") or "")
        )
        thread_ts = (event.get("thread_ts") or event.get("ts")) if thread else None
        progress = SlackProgress(client, channel=channel, thread_ts=thread_ts, armed=True)
        people = self.users.people(client, str(body.get("team_id") or ""))
        request = self.to_request(text, user, channel, progress=progress, people=people)
        reply = await self.answer(request)
        progress.close()
        if reply.dialog is not None:  # a mention has no trigger_id: a button gets one
            reply = form_fallback(reply.dialog, text)
        messages = render.render_reply(reply)
        count = len(messages)
        shown: tuple[str, str] | None = None  # the answer's first message: channel, ts
        if progress.shown:  # the answer takes the step message's place
            await progress.replace(messages.pop(0))
            if progress.channel and progress.ts:
                shown = (progress.channel, progress.ts)
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        for message in messages:
            response = await client.chat_postMessage(
                channel=channel, unfurl_links=False, unfurl_media=False, **message, **extra
            )
            if shown is None and response.get("ts"):
                shown = (str(response.get("channel") or channel), str(response["ts"]))
        if reply.later is None:
            return
        update = await reply.later()
        if update is None:
            return
        # The answer again in place of its one message (chat.update), else the addition.
        again = render.render_reply(update.reply)
        if shown is not None and count == 1 and len(again) == 1:
            await client.chat_update(channel=shown[0], ts=shown[1], **again[0])
            return
        for message in render.render_reply(update.addition()):
            await client.chat_postMessage(channel=channel, **message, **extra)

    # ------------------------------------------------------------------ interactivity

    async def on_run(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """A button with a command: run it as the user who clicked."""
        await ack()
        self.spawn(
            self._run_clicked(client, body, str(action.get("value") or "")),
            "a button",
            self.tell_url(body.get("response_url")),
        )

    async def _run_clicked(
        self,
        client: AsyncWebClient,
        body: dict[str, Any],
        command: str,
        *,
        replace: bool = False,
    ) -> None:
        user = await self.user(client, body)
        channel = _channel_of(body)
        # A click's replace_original would hit the clicked message: steps go to a DM message.
        progress = SlackProgress(client, channel=user.id or None, armed=True)
        request = Request(
            text=command,
            user=user,
            channel=channel,
            platform=PLATFORM,
            mention=not command.startswith("/"),
            progress=progress,
            people=self.users.people(client, _team_of(body)),
        )
        reply = await self.answer(request)
        progress.close()
        if progress.shown:
            await progress.replace(done_message(reply))
        response_url = body.get("response_url")
        if reply.dialog is not None:
            await self._open_dialog(
                client, body.get("trigger_id"), reply.dialog, channel, response_url, command
            )
            return
        messages = render.render_reply(reply, share_command=command)
        response_type = "ephemeral" if reply.ephemeral else "in_channel"
        await self._respond_all(response_url, messages, response_type, replace_first=replace)
        if reply.later is not None:
            await self._update_by_url(
                reply,
                response_url,
                response_type,
                command,
                in_place=replace and len(messages) == 1,
            )

    async def on_share(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """ "Share in channel": the same question, answered for everyone to see."""
        await ack()
        self.spawn(
            self._share(client, body, str(action.get("value") or "")),
            "sharing",
            self.tell_url(body.get("response_url")),
        )

    async def _share(self, client: AsyncWebClient, body: dict[str, Any], command: str) -> None:
        user = await self.user(client, body)
        request = Request(text=command, user=user, channel=_channel_of(body), platform=PLATFORM)
        reply = await self.answer(request)
        if reply.error:
            await self._respond_all(
                body.get("response_url"),
                render.render_reply(reply),
                "ephemeral",
                replace_first=False,
            )
            return
        byline = f"Shared by <@{user.id}>" if re.fullmatch(r"[UW][A-Z0-9]+", user.id) else None
        messages = render.render_reply(reply, byline=byline)
        await self._respond_all(body.get("response_url"), messages, "in_channel", delete_first=True)

    async def on_link(self, ack: Ack) -> None:
        await ack()

    async def on_pick(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """An entity chosen in a message's picker: complete the command that asked for it."""
        await ack()
        block_id = str(action.get("block_id") or "")
        selected = (action.get("selected_option") or {}).get("value")
        if not block_id.startswith(render.PICK_RUN_BLOCK) or not selected:
            return  # a picker inside a modal: its value arrives with the submission
        command = block_id[len(render.PICK_RUN_BLOCK) :]
        self.spawn(
            self._run_clicked(client, body, f"/{command} {selected}", replace=True),
            "a picked entity",
            self.tell_url(body.get("response_url")),
        )

    async def on_suggest(self, ack: Ack, body: dict[str, Any]) -> None:
        """``block_suggestion``: the catalog's best matches for what was typed (≤ 100)."""
        kinds = render.kinds_of_action(str(body.get("action_id") or ""))
        query = str(body.get("value") or "")
        entries = await asyncio.to_thread(self._suggest, query, kinds)
        await ack(options=render.suggestion_options(entries))

    def _suggest(self, query: str, kinds: tuple[str, ...]) -> list[Any]:
        index = self.app.services.reader.index()
        found = [entry for entry, _ in index.suggest(query, kinds, limit=render.SUGGESTIONS)]
        exact = index.entry(query.strip().lower())
        if exact is not None and (not kinds or exact.kind in kinds) and exact not in found:
            found.insert(0, exact)
        return found


def _team_of(body: Mapping[str, Any]) -> str:
    """The workspace a payload comes from (``team_id``, or an interaction's ``team.id``)."""
    team = body.get("team")
    return str(team.get("id") if isinstance(team, Mapping) else body.get("team_id") or "")


def _channel_of(body: Mapping[str, Any]) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, Mapping) and channel.get("id"):
        return str(channel["id"])
    container = body.get("container")
    if isinstance(container, Mapping) and container.get("channel_id"):
        return str(container["channel_id"])
    return None


def _api_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return str(exc)

"""The platform-neutral half of delivering an answer: in time, else deferred; a form, else a button.

Slack wants an interaction acknowledged within 3 seconds, Discord wants a first response
within 3 seconds; both accept "later" (an empty ack, a defer) and a follow-up. So every
adapter starts the work, waits for it up to its deadline, and answers at once when it is done
or defers and follows up when it is not: ``start_within`` is that race.

A form (a ``Dialog``) opens only as the first answer to a fresh interaction (Slack's
``trigger_id`` is single-use and valid for 3 s, Discord's modal must be the first response),
and a mention or a DM has no such interaction at all. Then the user gets a message naming the
form and a button that opens it (a click is a fresh interaction): ``form_prompt`` and
``form_fallback`` are that message, rendered by each adapter like any reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from bot.chat import Button, Dialog, Reply

T = TypeVar("T")


async def start_within(work: Awaitable[T], seconds: float) -> asyncio.Task[T]:
    """Start ``work`` and wait for it up to ``seconds`` (0 or less: not at all).

    The task is returned either way: ``task.done()`` says whether to answer now or to defer
    (acknowledge empty, "thinking…") and deliver ``await task`` as a follow-up.
    """
    task: asyncio.Task[T] = asyncio.ensure_future(work)
    if seconds > 0 and not task.done():
        await asyncio.wait({task}, timeout=seconds)
    return task


def form_prompt(dialog: Dialog, text: str | None = None) -> str:
    """What the message standing in for a form says (the reply's own text, if it has one),
    and the form's notes (what it leaves out)."""
    lines = [text or f"Open the form “{dialog.title}” to continue."]
    lines.extend(f"Note: {note}" for note in dialog.notes)
    return "\n".join(lines)


def form_fallback(dialog: Dialog, command: str | None, text: str | None = None) -> Reply:
    """A form that cannot open here: a message naming it, with a button running ``command``
    again (its click opens the form). Without a command, the message says what to do."""
    if command is None:
        return Reply(text=form_prompt(dialog, text), error=True)
    return Reply(
        text=form_prompt(dialog, text),
        buttons=(Button("Open the form", command=command),),
    )

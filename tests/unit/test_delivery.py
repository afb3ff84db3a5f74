"""The platform-neutral delivery policy both chat adapters use (``adapters.delivery``)."""

from __future__ import annotations

import asyncio

from adapters.delivery import form_fallback, form_prompt, start_within
from bot.chat import Dialog

FORM = Dialog("feedback", "Feedback", ())


async def test_work_done_in_time_is_answered_at_once() -> None:
    async def quick() -> str:
        return "answer"

    task = await start_within(quick(), 60)  # a hang guard, not a timing: it returns at once
    assert task.done() and task.result() == "answer"


async def test_work_not_done_by_the_deadline_is_left_running_for_a_follow_up() -> None:
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "late answer"

    task = await start_within(slow(), 0.01)
    assert not task.done()  # the adapter defers now
    release.set()
    assert await asyncio.wait_for(task, 60) == "late answer"


async def test_no_deadline_means_defer_unless_already_done() -> None:
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    task = await start_within(slow(), 0)
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 60)


def test_a_form_that_cannot_open_becomes_a_button_running_the_command_again() -> None:
    reply = form_fallback(FORM, "/feedback")
    assert reply.text == "Open the form “Feedback” to continue."
    assert [(b.label, b.command) for b in reply.buttons] == [("Open the form", "/feedback")]
    assert not reply.error


def test_without_a_command_the_message_says_what_to_do() -> None:
    reply = form_fallback(FORM, None)
    assert reply.error and reply.buttons == ()
    assert form_prompt(FORM, "Fill this in first.") == "Fill this in first."

"""The console's rendering of search match marks and JSON."""

from __future__ import annotations

import json
import re

from adapters.console import render_reply
from bot.chat import MARK_CLOSE, MARK_OPEN, Reply

REPLY = Reply(title="Docs", text=f"keys are stored in {MARK_OPEN}idempotency{MARK_CLOSE} tables")


def test_matches_are_bold_on_a_terminal() -> None:
    text = render_reply(REPLY, terminal=True)
    assert "\033[1midempotency\033[0m" in text
    assert MARK_OPEN not in text and MARK_CLOSE not in text


def test_matches_are_starred_on_a_pipe() -> None:
    assert "in *idempotency* tables" in render_reply(REPLY, terminal=False)


def test_json_keeps_the_reply_as_it_is() -> None:
    data = json.loads(render_reply(REPLY, "json"))
    assert data["text"] == REPLY.text


HOSTILE = (
    "Term \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[2J\x07\x08\x9b31m\u202eexe"
)


def test_catalog_text_reaches_the_terminal_without_control_characters() -> None:
    from bot.chat import Field, Link, Section

    reply = Reply(
        title=HOSTILE,
        text=f"{MARK_OPEN}hit{MARK_CLOSE} {HOSTILE}",
        notes=(HOSTILE,),
        sections=(Section(title=HOSTILE, fields=(Field(HOSTILE, HOSTILE),), items=(HOSTILE,)),),
        links=(Link(HOSTILE, HOSTILE),),
    )
    for terminal in (True, False):
        text = render_reply(reply, terminal=terminal)
        # Only our own bold sequences, on a terminal.
        ours = text.replace("\033[1m", "").replace("\033[0m", "")
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", ours)
        assert "\u202e" not in text
        assert "]8;;http://evil.example" in text  # shown, harmless


async def test_posted_reports_and_progress_lines_are_cleaned_too() -> None:
    import io

    from adapters.console import ConsolePoster, ConsoleProgress

    out = io.StringIO()
    await ConsolePoster(out).post("#ops\x1b[2J", Reply(text=HOSTILE))
    await ConsoleProgress(out).update(HOSTILE)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()

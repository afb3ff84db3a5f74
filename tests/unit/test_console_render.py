"""The console's rendering of search match marks and JSON."""

from __future__ import annotations

import json

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

"""Hostile strings through every chat renderer: platform limits hold, no markup gets out.

Hypothesis builds replies whose every string (titles, descriptions, fields, list items, notes
echoing a user's query, link titles and URLs, annotations turned into links by the real
``source_links``) mixes markup of all three platforms with control and invisible characters.
For each, the Slack, Discord and console renderings are read back the way each platform
would read them (``tests.markup``): the only live links are catalog URLs that passed
``safe_url``; no mentions or broadcasts; no control characters on a terminal; every size
within the platform's limits.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from adapters import console
from adapters.discord import render as discord_render
from adapters.safe_text import safe_url
from adapters.slack import render as slack_render
from bot.catalog.model import Entity
from bot.chat import MARK_CLOSE, MARK_OPEN, Button, Field, Link, Reply, Section
from commands.common import source_links
from tests.markup import (
    discord_problems,
    embed_strings,
    mrkdwn_objects,
    slack_problems,
    terminal_problems,
)

FUZZ = settings(
    max_examples=80,
    deadline=None,  # no timing assertions: a slow CI runner must not fail the test
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PIECES = [
    "[", "]", "(", ")", "\\", "\\\\", "<", ">", "|", "||", "&", "&amp;", "&lt;", ";", "`", "```",
    "*", "**", "_", "~~", "#", "# ", "-# ", "- ", "1. ", "> ", ">>> ", "\n", "\t", " ", ":",
    "@here", "@channel", "@everyone", "@Everyone", "<!here>", "<!channel>", "<!subteam^S1>",
    "<@U0ANA>", "<@123456789012345678>", "<@&42>", "<#C1|general>", "<t:1:R>", "</help:1>",
    "<:e:1>", "<https://evil.example/a|click>", "[x](https://evil.example/b)",
    "\\[x](https://evil.example/c)", "https://evil.example/d_(e)", "https://ok.example/a_b",
    "http://", "javascript:", "\x1b", "\x1b]8;;https://evil.example\x1b\\", "\x1b[2J", "\x07",
    "\x08", "\r", "\x00", "\x7f", "\x9b", "\x85", "\u202e", "\u2066", "\u200b", "\u200d", "\u200c",
    "\ufeff", "\u2028", "\u00ad", "\U000e0041", "é", "ü", "\u05d0", "\U0001f468", "\ud800",
    MARK_OPEN, MARK_CLOSE, "payments-api", "x" * 40,
]  # fmt: skip

hostile = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=25).map(
    "".join
)
long_hostile = st.one_of(
    hostile,
    st.builds(
        lambda piece, n: piece * n,
        st.sampled_from(["&", "<", "[", "\\", "@here "]),
        st.integers(0, 3000),
    ),
)
urls = st.one_of(
    st.sampled_from(
        [
            "https://ok.example/docs",
            "https://ok.example/x) [Runbook](https://evil.example/",
            "https://ok.example/a|<https://evil.example/|b>",
            "https://payments.example@evil.example/",
            "javascript:alert(1)",
            "mailto:a@example.com",
            "https://ok.example/\u202egnp.exe",
            "https://bücher.example/ü?a=(1)&b=<2>#|",
        ]
    ),
    st.builds(
        lambda a, b: f"https://{a}.example/{b}",
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
        hostile,
    ),
    hostile,
)


@st.composite
def replies(draw: st.DrawFn) -> Reply:
    def sections() -> tuple[Section, ...]:
        return tuple(
            Section(
                title=draw(st.none() | hostile),
                text=draw(st.none() | long_hostile),
                fields=tuple(
                    Field(draw(hostile), draw(long_hostile), draw(st.booleans()))
                    for _ in range(draw(st.integers(0, 12)))
                ),
                items=tuple(draw(st.lists(hostile, max_size=40)))
                + tuple(draw(st.lists(long_hostile, max_size=3))),
            )
            for _ in range(draw(st.integers(0, 4)))
        )

    return Reply(
        title=draw(st.none() | hostile),
        text=draw(st.none() | long_hostile),
        notes=tuple(draw(st.lists(long_hostile, max_size=12))),  # e.g. a user's query echoed
        sections=sections(),
        links=tuple(Link(draw(hostile), draw(urls)) for _ in range(draw(st.integers(0, 8)))),
        buttons=tuple(
            Button(draw(hostile), url=draw(urls))
            if draw(st.booleans())
            else Button(draw(hostile), command="/describe " + draw(hostile))
            for _ in range(draw(st.integers(0, 4)))
        ),
        more=draw(st.none() | st.just("/search x --page 2")),
        error=draw(st.booleans()),
    )


@st.composite
def entity_replies(draw: st.DrawFn) -> Reply:
    """A reply built by the real command helpers from an entity with hostile annotations."""
    entity = Entity.from_document(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "evil-svc",
                "title": draw(hostile),
                "description": draw(long_hostile),
                "annotations": {
                    "backstage.io/source-location": draw(st.sampled_from(["url:", "file:", ""]))
                    + draw(urls),
                    "github.com/project-slug": draw(hostile),
                    "backstage.io/view-url": draw(urls),
                },
                "links": [{"url": draw(urls), "title": draw(hostile)} for _ in range(3)],
            },
            "spec": {"owner": "team-a"},
        }
    )
    return Reply(
        title=entity.title,
        text=entity.description,
        links=tuple(source_links(entity)),
    )


def allowed_urls(reply: Reply) -> set[str]:
    """The links a renderer may emit: the reply's own URLs, as ``safe_url`` accepts them."""
    raw = [link.url for link in reply.links] + [b.url for b in reply.buttons if b.url]
    allowed = {u for u in (safe_url(r) for r in raw) if u is not None}
    for url in allowed:  # and those are plain http(s) URLs, whatever safe_url says
        assert re.fullmatch(r"https?://[a-z0-9._-]+(:\d+)?(/[A-Za-z0-9\-._~:/?#!$&*+,;=%@]*)?", url)
    return allowed


def check_slack(reply: Reply, allowed: set[str]) -> None:
    messages = slack_render.render_reply(reply, share_command="/describe x", byline="by <@U0ANA>")
    assert 1 <= len(messages) <= slack_render.MAX_MESSAGES
    parent, thread = slack_render.render_thread(reply)  # scheduled digests
    for message in [*messages, parent, *thread]:
        blocks = message["blocks"]
        assert 0 < len(blocks) <= slack_render.BLOCKS_PER_MESSAGE
        for block in blocks:
            parsed = Block.parse(block)
            assert parsed is not None and parsed.to_dict() == block  # slack_sdk's limits
        for obj in mrkdwn_objects(blocks):
            assert len(obj["text"]) <= slack_render.SECTION_TEXT
            users = ["U0ANA"] if obj["text"] == "by <@U0ANA>" else []
            problems = slack_problems(obj["text"], bool(obj.get("verbatim")), allowed, users)
            assert problems == [], obj
        text = message["text"]
        assert len(text) <= slack_render.FALLBACK_TEXT
        assert slack_problems(text, False, set()) == [], text
        assert not terminal_problems(str(_plain_texts(blocks)))


def _plain_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "plain_text" else []
        return own + [t for v in node.values() for t in _plain_texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _plain_texts(v)]
    return []


def check_discord(reply: Reply, allowed: set[str]) -> None:
    out = discord_render.render_reply(reply, reserve_buttons=1)
    embeds = out.embeds
    assert 1 <= len(embeds) <= discord_render.EMBEDS_MAX
    assert sum(len(e) for e in embeds) <= discord_render.MESSAGE_EMBED_TOTAL_MAX
    for embed in embeds:
        assert len(embed.title or "") <= discord_render.TITLE_MAX
        assert len(embed.description or "") <= discord_render.DESCRIPTION_MAX
        assert len(embed.footer.text or "") <= discord_render.FOOTER_MAX
        assert len(embed.fields) <= discord_render.FIELDS_MAX
        for f in embed.fields:
            assert 1 <= len(f.name or "") <= discord_render.FIELD_NAME_MAX
            assert 1 <= len(f.value or "") <= discord_render.FIELD_VALUE_MAX
        for text, markdown in embed_strings(embed):
            assert not terminal_problems(text)
            if markdown:
                assert discord_problems(text, allowed) == [], text
    for action in out.actions:
        assert action.command or action.url in allowed
    for text in (discord_render.plain_text(reply), discord_render.content(reply.text or "")):
        assert len(text) <= discord_render.CONTENT_MAX
        assert discord_problems(text, set()) == [], text


def check_console(reply: Reply) -> None:
    for terminal in (True, False):
        assert terminal_problems(console.render_reply(reply, terminal=terminal)) == []


@FUZZ
@given(replies())
def test_hostile_replies_render_safely_on_every_platform(reply: Reply) -> None:
    allowed = allowed_urls(reply)
    check_slack(reply, allowed)
    check_discord(reply, allowed)
    check_console(reply)


@FUZZ
@given(entity_replies())
def test_hostile_annotations_become_links_only_when_valid(reply: Reply) -> None:
    allowed = allowed_urls(reply)
    check_slack(reply, allowed)
    check_discord(reply, allowed)
    check_console(reply)

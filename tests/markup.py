"""Oracles for rendered chat text: what a platform would turn into links, mentions or controls.

Used by the hostile-catalog tests and the renderer fuzz test. Each reads rendered output the
way its platform does (simplified towards suspicion: anything that might be markup counts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

# ------------------------------------------------------------------------------- Discord

# Discord markdown: a backslash before any ASCII punctuation makes it literal.
_DISCORD_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_MASKED_LINK = re.compile(r"\[([^\[\]\n]*)\]\(([^()\s]*)\)")
# Characters that are markup wherever they appear unescaped (outside our own links).
_DISCORD_MARKUP = re.compile(r"[\[\]()<>|`]")
_BROADCAST = re.compile(r"@(everyone|here)", re.IGNORECASE)


def discord_live(text: str) -> str:
    """``text`` with escaped characters blanked out: what Discord may still parse."""
    return _DISCORD_ESCAPED.sub("\x00", text)


def discord_problems(text: str, allowed_urls: Iterable[str]) -> list[str]:
    """Live markup in one rendered Discord string that the renderer should not have let out."""
    allowed = set(allowed_urls)
    live = discord_live(text)
    links = _MASKED_LINK.findall(live)
    problems = [f"masked link to {url!r}" for _, url in links if url not in allowed]
    # A checked URL may hold "@here" (github.com/@here): it is a link target, not a mention.
    rest = _MASKED_LINK.sub(lambda m: m.group(1), live)
    problems += [f"unescaped {m.group()!r} in {text!r}" for m in _DISCORD_MARKUP.finditer(rest)]
    problems += [f"broadcast {m.group()!r}" for m in _BROADCAST.finditer(rest)]
    return problems


def embed_strings(embed: Any) -> Iterator[tuple[str, bool]]:
    """Every string of an embed (discord.Embed or its dict), and whether markdown applies."""
    data = embed if isinstance(embed, dict) else embed.to_dict()
    yield data.get("title") or "", False
    yield data.get("description") or "", True
    yield (data.get("footer") or {}).get("text") or "", False
    for f in data.get("fields") or ():
        yield f.get("name") or "", True
        yield f.get("value") or "", True


# --------------------------------------------------------------------------------- Slack

_SLACK_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(?!(?:amp|lt|gt);)")
_SLACK_BROADCAST = re.compile(r"@(here|channel|everyone)|<!", re.IGNORECASE)


def mrkdwn_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every mrkdwn text object in a message's blocks."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            yield node
        for value in node.values():
            yield from mrkdwn_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from mrkdwn_objects(item)


def slack_problems(
    text: str, verbatim: bool, allowed_urls: Iterable[str], users: Iterable[str] = ()
) -> list[str]:
    """Live markup in one mrkdwn string that the renderer should not have let out."""
    allowed = set(allowed_urls)
    known = {f"@{u}" for u in users}
    problems: list[str] = []
    for token in _SLACK_TOKEN.findall(text):
        target, _, _label = token.partition("|")
        url = target.replace("&amp;", "&")
        if url not in allowed and target not in known:
            problems.append(f"live token <{token}>")
    rest = _SLACK_TOKEN.sub("", text)
    if "<" in rest or ">" in rest:
        problems.append(f"unbalanced markup in {text!r}")
    if _ENTITY.search(text):
        problems.append(f"a bare or cut entity in {text!r}")
    if not verbatim and _SLACK_BROADCAST.search(text):
        problems.append(f"a broadcast Slack may parse (verbatim false) in {text!r}")
    return problems


# ------------------------------------------------------------------------------ terminal

_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_problems(text: str) -> list[str]:
    """Control characters in console output, apart from our own bold on and off."""
    ours = text.replace("\x1b[1m", "").replace("\x1b[0m", "")
    return [f"control {m.group()!r}" for m in _TERMINAL_CONTROL.finditer(ours)]


# ----------------------------------------------------------------------- hostile catalog

ESC = "\x1b"
HOSTILE_TEXT = (
    "[a] [payments-api](https://evil.example/two) and \\[x](https://evil.example/three) "
    "<!here> @here @everyone <@U0ANA> <https://evil.example/four|click> `code` ||spoiler|| "
    f"{ESC}]8;;https://evil.example/five{ESC}\\term{ESC}]8;;{ESC}\\ {ESC}[2J bell\x07 "
    "rtl \u202etxt.exe &amp; &lt;b&gt; # not a heading"
)
# The only URL of the hostile entity that is a link anywhere: everything else is text.
HOSTILE_OK_URL = "https://ok.example/docs"


def hostile_catalog() -> str:
    """A catalog file (YAML) whose service and team carry hostile text everywhere."""
    import yaml

    service = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": "evil-svc",
            "title": "payments-api\u200b",
            "description": HOSTILE_TEXT,
            "annotations": {
                "backstage.io/source-location": (
                    "url:https://ok.example/x) [Runbook](https://evil.example/six"
                ),
                "github.com/project-slug": "acme/x) [GH](https://evil.example/seven",
                "backstage.io/view-url": "javascript:alert(1)//https://ok.example",
            },
            "links": [
                {"url": HOSTILE_OK_URL, "title": "Docs](https://evil.example/eight) [x"},
                {"url": "https://ok.example/\u202egnp.exe", "title": "rtl \u202etxt.exe"},
                {"url": "https://payments.example@evil.example/nine", "title": "Payments"},
            ],
        },
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-evil"},
    }
    team = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Group",
        "metadata": {"name": "team-evil", "title": HOSTILE_TEXT[:200]},
        "spec": {"type": "team", "children": [], "profile": {"displayName": "@here team"}},
    }
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in (service, team))


def discord_visible(text: str) -> str:
    """What Discord shows for escaped text: escapes and our zero-width spaces dropped."""
    return _DISCORD_ESCAPED.sub(r"\1", text).replace("@\u200b", "@")

"""``Reply`` → Discord embeds and buttons, always within Discord's limits.

One reply becomes one message: a head embed (title, notes, text, untitled fields, links) and
one embed per titled section. Fixed parts (titles, texts, fields) are capped per element;
list items are the elastic part and share what is left of the 6000-character message budget
fairly, so a section of 500 lines is summarised ("… and 460 more") instead of crowding out
the sections after it. Nothing a command returns can make Discord reject the message.

Every string from a command or the catalog goes through ``escape``: control and invisible
characters are removed (``adapters.safe_text.clean``), then every character Discord markdown
gives a meaning is backslash-escaped: ``\\ [ ] ( ) < > * _ ~ | ` `` everywhere, and ``#``,
``-``, ``+`` and ``1.`` at the start of a line; ``@everyone`` and ``@here`` get a zero-width
space after the ``@``. So catalog text cannot form masked links, mentions (``<@…>``), custom
emoji, timestamps, headings or spoilers. Bare ``http(s)`` URLs made only of plain URL
characters are left as they are (Discord links them, showing exactly where they go). The
only masked links are the reply's links, with URLs checked and encoded by
``adapters.safe_text.safe_url``; other URLs are shown as escaped text. Limits are applied to
the escaped text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import discord

from adapters.safe_text import clean, safe_url, with_mentions
from bot.chat import Button, MentionText, Reply, Section, render_marks

# Discord's limits (discord-api-docs, resources/message; resources/channel embed limits).
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBEDS_MAX = 10
MESSAGE_EMBED_TOTAL_MAX = 6000
CONTENT_MAX = 2000
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
COMPONENTS_MAX = 25  # buttons per message: 5 rows of 5

COLOR = discord.Colour(0x5865F2)
ERROR_COLOR = discord.Colour(0xED4245)
BLANK = "\u200b"  # Discord rejects empty field names and values
ELLIPSIS = "…"
SAFETY = 40  # head-room under the 6000 total, for the "… and N more" tails


@dataclass
class _Plan:
    """One embed before budgeting: fixed lead lines, elastic items, fields, footer."""

    title: str | None = None
    lead: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    fields: list[tuple[str, str, bool]] = field(default_factory=list)
    footer: str | None = None


@dataclass(frozen=True)
class RenderedReply:
    """What one message carries: embeds, the reply's actions, and what was left out."""

    embeds: tuple[discord.Embed, ...]
    actions: tuple[Button, ...]  # command buttons and link buttons, in reply order
    omitted: int = 0  # list lines not shown (a "… and N more" tail says so in the message)

    @property
    def total(self) -> int:
        return sum(len(e) for e in self.embeds)


# One of our masked links: an escaped title, then a URL that safe_url encoded.
_OUR_LINK = re.compile(r"\[(?:\\.|[^\\\[\]\n])*\]\([^()\s]*\)")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut.

    A cut never ends inside one of our ``[title](url)`` links: the link goes whole.
    """
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = limit - 1
    if "](" in text:
        for match in _OUR_LINK.finditer(text):
            if match.start() >= cut:
                break
            if cut < match.end():
                cut = match.start()
                break
    return text[:cut] + ELLIPSIS


LINK_URL_MAX = 512  # link buttons; the same cap keeps masked links short in fields
# A bare URL of plain URL characters: kept as is (escaping would change where it goes).
_BARE_URL = r"https?://[A-Za-z0-9\-._~:/?#!$&*+,;=%]+"
_INLINE = re.compile(rf"(?P<url>{_BARE_URL})|(?P<char>[\\`*_~|<>\[\]()])")
_LINE_START = re.compile(r"^([ \t]*)(?:([#+-])|(\d+)\.)", re.MULTILINE)
_BROADCAST = re.compile(r"@(?=everyone|here)", re.IGNORECASE)


def _escape_char(match: re.Match[str]) -> str:
    return match["url"] or "\\" + match["char"]


def _escape_line_start(match: re.Match[str]) -> str:
    indent, mark, number = match.groups()
    return f"{indent}\\{mark}" if mark else f"{indent}{number}\\."


def escape(text: str) -> str:
    """Untrusted text shown literally: no markup, links or mentions; search matches in bold."""
    text = _BROADCAST.sub("@\u200b", clean(text))
    text = _LINE_START.sub(_escape_line_start, _INLINE.sub(_escape_char, text))
    return render_marks(text, "**", "**")


DISCORD = "discord"  # the platform whose mentions ``rich`` renders
_USER_ID = re.compile(r"[0-9]{15,21}")  # a snowflake


def mention(user_id: str) -> str | None:
    """``<@id>`` for a Discord user id (a snowflake; any other shape is not one: None)."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else None


def rich(text: str) -> str:
    """``escape``, with a ``MentionText``'s Discord mentions as ``<@id>``. Broadcasts are
    defused again over the whole: an ``@`` ending one text part cannot meet ``everyone``."""
    if not isinstance(text, MentionText):
        return escape(text)
    return _BROADCAST.sub("@\u200b", with_mentions(text, DISCORD, escape, mention))


def plain(text: str) -> str:
    """Untrusted text where Discord shows no markdown (embed titles, footers, button labels)."""
    return render_marks(clean(text), "", "")


def link(title: str, url: str | None) -> str:
    """``[title](url)`` for a checked URL, else the title and URL as escaped text."""
    safe = safe_url(url, LINK_URL_MAX)
    title = " ".join(clean(title).split())  # a masked link's title is one line
    shown = escape(truncate(title or url or "", 200))
    if safe is None:
        return f"{shown}: {escape(url)}" if url and title and url != title else shown
    return f"[{shown}]({safe})"


def content(text: str) -> str:
    """Untrusted text as message content: escaped, then cut to Discord's 2000 characters."""
    return truncate(escape(text), CONTENT_MAX)


def _url_ok(url: str | None) -> bool:
    return safe_url(url, LINK_URL_MAX) is not None


def run_custom_id(command: str) -> str | None:
    """The custom id of a button running ``command``, or None when it does not fit."""
    custom_id = f"cb:run:{command.strip()}"
    return custom_id if len(custom_id) <= CUSTOM_ID_MAX else None


def render_reply(reply: Reply, *, reserve_buttons: int = 0) -> RenderedReply:
    """Render one reply as one message; ``reserve_buttons`` keeps room for the adapter's own."""
    plans = [_Plan(title=plain(reply.title) if reply.title else None)]
    head = plans[0]
    head.lead.extend(f"*{escape(note)}*" for note in reply.notes)
    if reply.text:
        head.lead.append(escape(reply.text))
    for section in reply.sections:
        _add_section(plans, section)

    actions, stray = _actions(reply, COMPONENTS_MAX - reserve_buttons)
    links = [link(item.title, item.url) for item in reply.links]
    links.extend(link(b.label, b.url) for b in stray if b.url and not b.command)
    if links:
        head.fields.append(("Links", _joined(links, FIELD_VALUE_MAX), False))
    commands = [f"{b.label}: {b.command}" for b in stray if b.command]
    if commands:
        head.fields.append(("Try", _joined([escape(c) for c in commands], FIELD_VALUE_MAX), False))
    if reply.more and not any(b.command == reply.more for b in actions):
        plans[-1].footer = plain(f"More: {reply.more}")

    plans = _fit_counts(plans)
    omitted = _budget(plans)
    color = ERROR_COLOR if reply.error else COLOR
    embeds = [_embed(p, color) for p in plans if _has_content(p)]
    if not embeds:
        embeds = [discord.Embed(description=ELLIPSIS, colour=color)]
    _enforce_total(embeds)
    return RenderedReply(tuple(embeds), tuple(actions), omitted)


def _add_section(plans: list[_Plan], section: Section) -> None:
    """A titled section starts an embed; an untitled one joins the last (after a blank line
    between two lists), unless the last has fields, which must stay below its text."""
    last = plans[-1]
    if section.title:
        plan = _Plan(title=plain(section.title))
        plans.append(plan)
    elif last.fields:
        plan = _Plan()
        plans.append(plan)
    else:
        plan = last
        if plan.items and section.items:
            plan.items.append(BLANK)
    if section.text:
        if plan.items:
            plan.items.append(escape(section.text))
        else:
            plan.lead.append(escape(section.text))
    plan.items.extend(f"• {rich(item)}" for item in section.items)
    plan.fields.extend(
        (escape(f.label) or BLANK, rich(f.value) or BLANK, f.inline) for f in section.fields
    )


def _actions(reply: Reply, room: int) -> tuple[list[Button], list[Button]]:
    """The buttons that fit as components; the rest (and unusable ones) as text."""
    wanted = list(reply.buttons)
    if reply.more:
        wanted.append(Button("More", command=reply.more, style="primary"))
    actions: list[Button] = []
    stray: list[Button] = []
    for button in wanted:
        usable = (button.command and run_custom_id(button.command)) or (
            not button.command and _url_ok(button.url)
        )
        if usable and len(actions) < room:
            # Discord refuses an empty label; a label may be empty once cleaned.
            label = plain(button.label).strip() or ("Run" if button.command else "Open")
            url = None if button.command else safe_url(button.url, LINK_URL_MAX)
            actions.append(replace(button, label=label, url=url))
        else:
            stray.append(button)
    return actions, stray


def _joined(lines: Sequence[str], limit: int) -> str:
    """Lines joined within ``limit``, ending in "… and N more" when some do not fit."""
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        left = len(lines) - index
        tail = len(f"\n{ELLIPSIS} and {left} more")
        cost = len(line) + (1 if out else 0)
        if used + cost + (tail if left > 1 else 0) > limit:
            out.append(f"{ELLIPSIS} and {left} more")
            break
        out.append(line)
        used += cost
    return "\n".join(out)


def _has_content(plan: _Plan) -> bool:
    return bool(plan.title or plan.lead or plan.items or plan.fields or plan.footer)


def _fit_counts(plans: list[_Plan]) -> list[_Plan]:
    """At most 25 fields per embed and 10 embeds per message; overflow folds into fields."""
    out: list[_Plan] = []
    for plan in plans:
        fields = plan.fields
        plan.fields = fields[:FIELDS_MAX]
        out.append(plan)
        rest = fields[FIELDS_MAX:]
        while rest:
            name = f"{plan.title} (continued)" if plan.title else None
            out.append(_Plan(title=name, fields=rest[:FIELDS_MAX]))
            rest = rest[FIELDS_MAX:]
    if len(out) <= EMBEDS_MAX:
        return out
    kept, extra = out[: EMBEDS_MAX - 1], out[EMBEDS_MAX - 1 :]
    folded = _Plan()
    dropped = 0
    for plan in extra:
        body = "\n".join([*plan.lead, *plan.items])
        if plan.title or body:
            entries = [(plan.title or BLANK, truncate(body, FIELD_VALUE_MAX) or BLANK, False)]
        else:
            entries = []
        for entry in [*entries, *plan.fields]:
            if len(folded.fields) < FIELDS_MAX - 1:
                folded.fields.append(entry)
            else:
                dropped += 1
    if dropped:
        folded.fields.append((BLANK, f"{ELLIPSIS} and {dropped} more parts not shown", False))
    folded.footer = extra[-1].footer
    return [*kept, folded]


def _cap_fixed(plan: _Plan) -> None:
    if plan.title:
        plan.title = truncate(plan.title, TITLE_MAX)
    if plan.lead:
        lead = truncate("\n".join(plan.lead), DESCRIPTION_MAX)
        plan.lead = [lead]
    plan.fields = [
        (truncate(n, FIELD_NAME_MAX), truncate(v, FIELD_VALUE_MAX), inline)
        for n, v, inline in plan.fields
    ]
    if plan.footer:
        plan.footer = truncate(plan.footer, FOOTER_MAX)


def _fixed_size(plan: _Plan) -> int:
    size = len(plan.title or "") + len(plan.footer or "")
    size += sum(len(line) for line in plan.lead) + max(len(plan.lead) - 1, 0)
    size += sum(len(n) + len(v) for n, v, _ in plan.fields)
    return size


def _budget(plans: list[_Plan]) -> int:
    """Cap fixed parts, then share the rest of the message budget among the item lists."""
    for plan in plans:
        _cap_fixed(plan)
    budget = MESSAGE_EMBED_TOTAL_MAX - SAFETY
    tails = sum(len(f"\n{ELLIPSIS} and {len(p.items)} more") for p in plans if p.items)
    wanted = sum(min(sum(len(i) + 1 for i in p.items), DESCRIPTION_MAX) for p in plans if p.items)
    # When fixed parts and lists compete, the lists keep up to half of the message.
    _shrink_fixed(plans, budget - max(min(wanted, budget // 2), tails))
    left = budget - sum(_fixed_size(p) for p in plans)
    shares = _water_fill(_list_needs(plans), left)
    return sum(_keep_items(plans[index], share) for index, share in shares.items())


def _list_needs(plans: list[_Plan]) -> dict[int, int]:
    """What each plan's item list needs, within what its description can hold."""
    needs: dict[int, int] = {}
    for index, plan in enumerate(plans):
        if not plan.items:
            continue
        separator = 1 if plan.lead else 0
        room = DESCRIPTION_MAX - _fixed_size_lead(plan) - separator
        need = sum(len(i) for i in plan.items) + len(plan.items) - 1 + separator
        needs[index] = max(min(need, room), 0)
    return needs


def _water_fill(needs: dict[int, int], left: int) -> dict[int, int]:
    """Each list gets what it needs or a fair share of ``left``, whichever is smaller."""
    shares: dict[int, int] = {}
    pending = dict(needs)
    while pending:
        fair = max(left, 0) // len(pending)
        satisfied = {i: n for i, n in pending.items() if n <= fair}
        if not satisfied:
            for i in pending:
                shares[i] = fair
            break
        for i, n in satisfied.items():
            shares[i] = n
            left -= n
            del pending[i]
    return shares


def _keep_items(plan: _Plan, share: int) -> int:
    """Keep the items that fit ``share`` (then "… and N more"); how many were left out."""
    separator = 1 if plan.lead else 0
    kept: list[str] = []
    used = separator
    rest = sum(len(i) + 1 for i in plan.items)  # what the items not yet kept would take
    for position, item in enumerate(plan.items):
        if used + rest - (0 if kept else 1) <= share:
            kept.extend(plan.items[position:])  # everything left fits
            break
        remaining = len(plan.items) - position
        cost = len(item) + (1 if kept else 0)
        if used + cost + len(f"\n{ELLIPSIS} and {remaining - 1} more") > share:
            break
        kept.append(item)
        used += cost
        rest -= len(item) + 1
    dropped = len(plan.items) - len(kept)
    if dropped:
        while kept and kept[-1] == BLANK:
            kept.pop()
        kept.append(f"{ELLIPSIS} and {dropped} more")
    plan.items = kept
    # With no room left for the items, their "… and N more" still needs some.
    items = sum(len(i) for i in kept) + len(kept) - 1
    lead = "\n".join(plan.lead)
    if kept and lead and len(lead) + 1 + items > DESCRIPTION_MAX:
        room = DESCRIPTION_MAX - items - 1
        plan.lead = [truncate(lead, room)] if room > 1 else []
    return dropped


def _fixed_size_lead(plan: _Plan) -> int:
    return sum(len(line) for line in plan.lead) + max(len(plan.lead) - 1, 0)


def _shrink_fixed(plans: list[_Plan], target: int) -> None:
    """Shorten texts and field values in proportion until the fixed parts fit ``target``."""
    for _ in range(8):
        total = sum(_fixed_size(p) for p in plans)
        if total <= target:
            return
        elastic = sum(_fixed_size_lead(p) + sum(len(v) for _, v, _ in p.fields) for p in plans)
        if elastic <= len(plans):
            break
        ratio = max(target - (total - elastic), 0) / elastic
        for plan in plans:
            if plan.lead:
                lead = "\n".join(plan.lead)
                plan.lead = [truncate(lead, max(int(len(lead) * ratio), 1))]
            plan.fields = [
                (name, truncate(value, max(int(len(value) * ratio), 1)), inline)
                for name, value, inline in plan.fields
            ]
    # Only names and titles are left (hundreds of fields): drop fields, then shorten titles.
    while sum(_fixed_size(p) for p in plans) > target:
        victim = max(plans, key=_fixed_size)
        if victim.fields:
            victim.fields.pop()
        elif victim.title and len(victim.title) > 1:
            victim.title = truncate(victim.title, len(victim.title) // 2)
        else:
            return


def _embed(plan: _Plan, color: discord.Colour) -> discord.Embed:
    description_lines = [*plan.lead, *plan.items]
    description = "\n".join(description_lines) or None
    embed = discord.Embed(title=plan.title or None, description=description, colour=color)
    for name, value, inline in plan.fields:
        embed.add_field(name=name or BLANK, value=value or BLANK, inline=inline)
    if plan.footer:
        embed.set_footer(text=plan.footer)
    return embed


def _enforce_total(embeds: list[discord.Embed]) -> None:
    """Last line of defence: trim until the message total is within 6000 characters."""
    while sum(len(e) for e in embeds) > MESSAGE_EMBED_TOTAL_MAX:
        over = sum(len(e) for e in embeds) - MESSAGE_EMBED_TOTAL_MAX
        embed = max(embeds, key=len)
        if embed.description and len(embed.description) > 1:
            keep = max(len(embed.description) - over - 1, 1)
            embed.description = truncate(embed.description, keep)
        elif embed.fields:
            embed.remove_field(len(embed.fields) - 1)
        elif embed.title:
            embed.title = truncate(embed.title, max(len(embed.title) - over, 1))
        else:
            embeds.remove(embed)


def plain_text(reply: Reply) -> str:
    """The reply as message content (≤ 2000): the fallback when embeds cannot be sent."""
    return content(reply.to_text())

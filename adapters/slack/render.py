"""Block Kit rendering: ``Reply`` → Slack messages, ``Dialog`` → a modal, within Slack's limits.

Every block is built with ``slack_sdk.models`` and serialised with ``to_dict()``, which checks
Slack's per-element limits (section text 3000, 10 fields, header 150, 25 actions, button text
75, option text 75 and value 150, modal title 24, metadata 3000, 100 blocks per modal). On top
of those, a message holds at most 50 blocks; long replies are split across messages, and when
even ``max_messages`` messages cannot hold them the rest is summarised as "and N more".

Every string from a command or the catalog is plain text: control and invisible characters
are removed (``adapters.safe_text.clean``), ``&``, ``<`` and ``>`` are escaped, so catalog
content cannot form links or mentions (``<!channel>``), and every mrkdwn object holding it is
``verbatim: true``, so Slack does not parse ``@here``, channel names or bare URLs in it
either. The only links are the reply's links and link buttons, with URLs checked and encoded
by ``adapters.safe_text.safe_url``. Limits apply to escaped text: truncation and splitting
never cut an ``&amp;`` entity or a ``<url|title>`` link in half.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    ExternalDataSelectElement,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from adapters.safe_text import clean, safe_url, with_mentions
from bot.catalog.read import IndexEntry
from bot.chat import Button, Dialog, DialogField, Reply, Section, render_marks

# Slack's limits (docs.slack.dev/reference/block-kit; chat.postMessage).
BLOCKS_PER_MESSAGE = 50
BLOCKS_PER_MODAL = 100
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS_PER_SECTION = 10
HEADER_TEXT = 150
CONTEXT_TEXT = 2000
CONTEXT_ELEMENTS = 10
ACTIONS_PER_BLOCK = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTON_URL = 3000
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS_PER_SELECT = 100
SUGGESTIONS = 100
MODAL_TITLE = 24
MODAL_METADATA = 3000
INPUT_LABEL = 2000
INPUT_TEXT = 3000
ID_LENGTH = 255
FALLBACK_TEXT = 3000  # the notification text; chat.postMessage truncates far above this
# Our own ceiling per message: 50 blocks of 3000 characters would be legal but unreadable,
# and keeps every message far from Slack's message size limits.
MESSAGE_CHARS = 12_000
LINK_URL = 2000  # a link inside mrkdwn; with its title it stays far below a section's 3000
LINK_TITLE = 200
# A slash command's ack plus at most 4 response_url posts (Slack allows 5 in 30 minutes).
MAX_MESSAGES = 5

# action_id prefixes the interactivity handlers route on (a suffix keeps them unique).
ACTION_RUN = "callboard:run"  # value: a command to run as the clicking user
ACTION_SHARE = "callboard:share"  # value: the command whose answer to post in the channel
ACTION_URL = "callboard:url"  # link buttons: Slack still sends block_actions; ack only
ACTION_PICK = "callboard:pick"  # external_select fed by the catalog; suffix: kinds, comma-joined
PICK_RUN_BLOCK = "callboard:pickrun:"  # block_id of a message picker: the command to complete
FIELD_BLOCK = "field:"  # block_id of a dialog input: "field:<name>"
DIALOG_CALLBACK = "callboard:dialog"

Message = dict[str, Any]
SLACK = "slack"  # the platform whose mentions ``mrkdwn`` renders


class RenderError(Exception):
    """A dialog that no Slack modal can hold (too many fields, too much state)."""


def escape(text: str) -> str:
    """Untrusted text for mrkdwn: cleaned; ``&``, ``<`` and ``>`` (its markup) escaped."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """Plain text as mrkdwn: escaped, and search-match marks (⟦ ⟧) shown in bold; a
    ``MentionText``'s Slack mentions as ``<@U…>``."""
    return with_mentions(text, SLACK, _mrkdwn_text, mention)


def _mrkdwn_text(text: str) -> str:
    return render_marks(escape(text), "*", "*")


_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


def mention(user_id: str) -> str | None:
    """``<@U…>`` for a Slack user id (an id of any other shape is not one: None)."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else None


def plain(text: str) -> str:
    """Plain text for plain_text objects and notifications: cleaned, match marks dropped."""
    return render_marks(clean(text), "", "")


def md(text: str) -> MarkdownTextObject:
    """A mrkdwn object for text holding catalog or user text: Slack parses only our markup."""
    return MarkdownTextObject(text=text, verbatim=True)


def unescape(text: str) -> str:
    """Slack escapes ``&``, ``<`` and ``>`` in the text it sends; undo that."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def truncate(text: str, limit: int) -> str:
    """Plain text cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_cut(text: str, at: int) -> int:
    """The last position ≤ ``at`` that is not inside an entity (``&amp;``) or a ``<…>`` link.

    Every ``&`` and ``<`` in escaped mrkdwn is ours (an entity, a link, a mention), so the
    nearest one before ``at`` without its closing ``;`` or ``>`` marks an unfinished token.
    """
    at = min(at, len(text))
    amp = text.rfind("&", max(at - 5, 0), at)  # the longest entity, &amp;, has 5 characters
    if amp != -1 and text.find(";", amp, at) == -1:
        at = amp
    lt = text.rfind("<", 0, at)
    if lt != -1 and text.find(">", lt, at) == -1:
        at = lt
    return at


def truncate_mrkdwn(text: str, limit: int) -> str:
    """Escaped mrkdwn cut to ``limit`` characters without breaking an entity or a link."""
    if len(text) <= limit:
        return text
    return text[: safe_cut(text, limit - 1)] + "…"


def chunks(text: str, limit: int) -> Iterator[str]:
    """Split at line breaks into pieces of at most ``limit`` characters (long lines are cut).

    A long line is cut at a space where there is one, never inside an entity or a link.
    """
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                yield "\n".join(current)
                current, size = [], 0
            cut = line.rfind(" ", 0, limit)
            cut = safe_cut(line, cut if cut > limit // 2 else limit)
            if cut <= 0:  # one token longer than the limit: cut it rather than loop
                cut = limit
            yield line[:cut]
            line = line[cut:].lstrip(" ")
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            yield "\n".join(current)
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    if current and any(current):
        yield "\n".join(current)


@dataclass
class _Piece:
    """One block and how many list lines it carries (for "and N more")."""

    block: Block
    lines: int = 0
    chars: int = 0
    keep_with_next: bool = False  # a section title stays with its first block


@dataclass
class _Layout:
    head: list[_Piece] = field(default_factory=list)  # title, notes, text
    body: list[_Piece] = field(default_factory=list)  # sections and links
    actions: list[_Piece] = field(default_factory=list)


def _mrkdwn_sections(text: str, lines: int = 0, limit: int = SECTION_TEXT) -> list[_Piece]:
    out = []
    for part in chunks(text, limit):
        count = part.count("\n") + 1 if lines else 0
        out.append(_Piece(SectionBlock(text=md(part)), count, len(part)))
    return out


def _link(title: str, url: str) -> str:
    """``<url|title>`` for a checked URL, else the title and URL as escaped text."""
    safe = safe_url(url, LINK_URL)
    title = " ".join(plain(title).split())  # a link's title is one line
    shown = escape(truncate(title or url, LINK_TITLE)).replace("|", "¦")
    if safe is None:
        return f"{shown}: {escape(url)}" if url and title and url != title else shown
    return f"<{escape(safe)}|{shown}>"


def _button(button: Button, index: int) -> ButtonElement | None:
    style = button.style if button.style in ("primary", "danger") else None
    # Slack refuses an empty button text; a label may be empty once cleaned.
    label = truncate(plain(button.label).strip(), BUTTON_TEXT) or ("Open" if button.url else "Run")
    if button.command and len(button.command) <= BUTTON_VALUE:
        return ButtonElement(
            text=label, action_id=f"{ACTION_RUN}:{index}", value=button.command, style=style
        )
    url = safe_url(button.url, BUTTON_URL)
    if url is not None:
        return ButtonElement(text=label, action_id=f"{ACTION_URL}:{index}", url=url, style=style)
    return None


def _layout(reply: Reply, share_command: str | None, byline: str | None = None) -> _Layout:
    layout = _Layout()
    layout.head.extend(_head(reply, byline))
    for section in reply.sections:
        layout.body.extend(_section(section))
    if reply.links:
        line = " · ".join(_link(link.title, link.url) for link in reply.links)
        layout.body.extend(_mrkdwn_sections(line))
    elements, leftover = _buttons(reply, share_command)
    if leftover:
        layout.body.extend(_mrkdwn_sections("\n".join(escape(x) for x in leftover)))
    for start in range(0, len(elements), ACTIONS_PER_BLOCK):
        layout.actions.append(_Piece(ActionsBlock(elements=elements[start : start + 25])))
    return layout


def _head(reply: Reply, byline: str | None) -> list[_Piece]:
    """The byline, the title (a header, or bold when longer than a header holds), the notes
    and the text."""
    head: list[_Piece] = []
    if byline:  # our own mrkdwn ("shared by <@U…>"), not user text
        head.append(
            _Piece(
                ContextBlock(elements=[MarkdownTextObject(text=truncate(byline, CONTEXT_TEXT))]),
                chars=len(byline),
            )
        )
    title = plain(reply.title) if reply.title else None
    if title and len(title) <= HEADER_TEXT:
        head.append(
            _Piece(HeaderBlock(text=PlainTextObject(text=title, emoji=False)), chars=len(title))
        )
    elif title:  # longer than a header holds: keep every word, in bold
        head.extend(_mrkdwn_sections(f"*{escape(plain(title))}*"))
    if reply.notes:
        notes = [f"_{truncate_mrkdwn(escape(plain(n)), CONTEXT_TEXT - 2)}_" for n in reply.notes]
        for start in range(0, len(notes), CONTEXT_ELEMENTS):
            group = notes[start : start + CONTEXT_ELEMENTS]
            head.append(
                _Piece(
                    ContextBlock(elements=[md(n) for n in group]),
                    chars=sum(map(len, group)),
                )
            )
    if reply.text:
        text = mrkdwn(reply.text)
        head.extend(_mrkdwn_sections(f":warning: {text}" if reply.error else text))
    return head


def _section(section: Section) -> list[_Piece]:
    """One section: its title leads the first block that follows it (text, fields or list)."""
    body: list[_Piece] = []
    title_text = f"*{escape(plain(section.title))}*" if section.title else ""
    if section.text:
        lead = f"{title_text}\n{mrkdwn(section.text)}" if title_text else mrkdwn(section.text)
        body.extend(_mrkdwn_sections(lead))
        title_text = ""
    inline: list[str] = []
    for f in section.fields:
        shown = f"*{escape(plain(f.label))}*\n{mrkdwn(f.value)}"
        if f.inline and len(shown) <= FIELD_TEXT:
            inline.append(shown)
            continue
        if inline:
            body.extend(_field_blocks(inline, title_text))
            inline, title_text = [], ""
        lead = f"{title_text}\n{shown}" if title_text else shown
        body.extend(_mrkdwn_sections(lead, lines=1))
        title_text = ""
    if inline:
        body.extend(_field_blocks(inline, title_text))
        title_text = ""
    if section.items:
        body.extend(_items(section.items, title_text))
    elif title_text:  # a title alone
        body.extend(_mrkdwn_sections(title_text))
    return body


def _items(items: Sequence[str], title_text: str) -> list[_Piece]:
    """A bulleted list; a title still unplaced leads its first block (or travels with it)."""
    bullets = "\n".join(f"• {mrkdwn(item)}" for item in items)
    pieces = _mrkdwn_sections(bullets, lines=1)
    if not title_text:
        return pieces
    first = pieces[0]
    text = f"{title_text}\n{first.block.text.text}"  # type: ignore[attr-defined]
    if len(text) <= SECTION_TEXT:
        pieces[0] = _Piece(SectionBlock(text=md(text)), first.lines, len(text))
    else:
        pieces.insert(
            0,
            _Piece(SectionBlock(text=md(title_text)), chars=len(title_text), keep_with_next=True),
        )
    return pieces


def _buttons(reply: Reply, share_command: str | None) -> tuple[list[ButtonElement], list[str]]:
    """The reply's buttons, "Show more" and "Share in channel"; what a button cannot carry
    (a command or URL too long) as text lines instead."""
    elements: list[ButtonElement] = []
    leftover: list[str] = []
    for index, button in enumerate(reply.buttons):
        element = _button(button, index)
        if element is None:
            leftover.append(f"{button.label}: {button.command or button.url}")
        else:
            elements.append(element)
    if reply.more:
        if len(reply.more) <= BUTTON_VALUE:
            elements.append(
                ButtonElement(text="Show more", action_id=f"{ACTION_RUN}:more", value=reply.more)
            )
        else:
            leftover.append(f"More: {reply.more}")
    shareable = share_command and reply.ephemeral and not reply.error and reply.dialog is None
    if shareable and share_command and len(share_command) <= BUTTON_VALUE:
        elements.append(
            ButtonElement(text="Share in channel", action_id=ACTION_SHARE, value=share_command)
        )
    return elements, leftover


def _field_blocks(fields: Sequence[str], title_text: str) -> list[_Piece]:
    out = []
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        group = fields[start : start + FIELDS_PER_SECTION]
        text = md(title_text) if title_text and start == 0 else None
        out.append(
            _Piece(
                SectionBlock(text=text, fields=[md(f) for f in group]),
                lines=len(group),
                chars=sum(map(len, group)) + len(title_text),
            )
        )
    return out


def _pack(pieces: Sequence[_Piece], reserve_blocks: int = 0) -> list[list[_Piece]]:
    """Fill messages in order: at most 50 blocks and ``MESSAGE_CHARS`` characters each."""
    messages: list[list[_Piece]] = [[]]
    size = 0
    i = 0
    while i < len(pieces):
        # A section title travels with the block after it.
        group = [pieces[i]]
        while group[-1].keep_with_next and i + len(group) < len(pieces):
            group.append(pieces[i + len(group)])
        group_chars = sum(p.chars for p in group)
        current = messages[-1]
        if current and (
            len(current) + len(group) > BLOCKS_PER_MESSAGE - reserve_blocks
            or size + group_chars > MESSAGE_CHARS
        ):
            messages.append([])
            size = 0
        messages[-1].extend(group)
        size += group_chars
        i += len(group)
    return messages


_BROADCAST = re.compile(r"@(?=here|channel|everyone)", re.IGNORECASE)


def _fallback(reply: Reply) -> str:
    """The notification text (mrkdwn too, so escaped: no mentions from catalog content).

    It has no ``verbatim`` switch, so ``@here``, ``@channel`` and ``@everyone`` get a
    zero-width space after the ``@`` (``clean`` removed any that the text held).
    """
    parts = [p for p in (reply.title, reply.text) if p]
    text = "\n".join(parts) if parts else reply.to_text()
    text = _BROADCAST.sub("@\u200b", escape(plain(text or "")))
    if not text.strip():  # nothing left once cleaned; Slack refuses an empty text
        text = "Callboard"
    return truncate_mrkdwn(text, FALLBACK_TEXT)


def _message(text: str, pieces: Iterable[_Piece]) -> Message:
    return {"text": text, "blocks": [p.block.to_dict() for p in pieces]}


def render_reply(
    reply: Reply,
    *,
    share_command: str | None = None,
    max_messages: int = MAX_MESSAGES,
    byline: str | None = None,
) -> list[Message]:
    """One or more messages (``text`` + ``blocks``) showing everything in ``reply``.

    ``share_command`` adds "Share in channel" to an ephemeral answer; ``byline`` is a context
    line of Callboard's own mrkdwn on top. Past ``max_messages`` the remaining lines are
    summarised as "…and N more", and "Show more" (``reply.more``) stays on the last message.
    """
    layout = _layout(reply, share_command, byline)
    pieces = layout.head + layout.body
    reserve = len(layout.actions) + 1  # the actions, and room for an "and N more" line
    messages = _pack(pieces, reserve)
    if len(messages) > max_messages:
        kept = messages[:max_messages]
        dropped = [p for m in messages[max_messages:] for p in m]
        hidden = sum(p.lines for p in dropped) or len(dropped)
        unit = "more lines" if any(p.lines for p in dropped) else "more blocks"
        hint = " (use Show more, or narrow the question)" if reply.more else ""
        note = ContextBlock(elements=[md(f"_…and {hidden} {unit} not shown here{hint}._")])
        kept[-1].append(_Piece(note))
        messages = kept
    messages[-1].extend(layout.actions)
    base = _fallback(reply)
    out = []
    for index, group in enumerate(messages):
        text = base if index == 0 else truncate_mrkdwn(f"{base} (continued)", FALLBACK_TEXT)
        if group:
            out.append(_message(text, group))
    if not out:
        out.append({"text": base, "blocks": _mrkdwn_block_dicts(base)})
    return out


def _mrkdwn_block_dicts(text: str) -> list[dict[str, Any]]:
    return [p.block.to_dict() for p in _mrkdwn_sections(text)]


def render_thread(reply: Reply) -> tuple[Message, list[Message]]:
    """A digest: a short parent message, and its details as thread replies (when long)."""
    whole = render_reply(reply, max_messages=1_000)
    if len(whole) == 1:
        return whole[0], []
    head = Reply(
        title=reply.title, text=reply.text, notes=reply.notes, error=reply.error, ephemeral=False
    )
    parent, *rest = render_reply(head, max_messages=1_000)
    note = ContextBlock(elements=[md("_Details in the thread._")])
    if len(parent["blocks"]) < BLOCKS_PER_MESSAGE:
        parent = {**parent, "blocks": [*parent["blocks"], note.to_dict()]}
    details = Reply(
        sections=reply.sections,
        links=reply.links,
        buttons=reply.buttons,
        more=reply.more,
        ephemeral=False,
    )
    base = _fallback(reply)
    thread = [*rest, *render_reply(details, max_messages=1_000)]
    details_text = truncate_mrkdwn(f"{base} (details)", FALLBACK_TEXT)
    return parent, [{**m, "text": details_text} for m in thread]


def text_message(text: str, *, error: bool = False) -> Message:
    """A one-off message: a notice, an error."""
    return render_reply(Reply(text=text, error=error))[0]


# ----------------------------------------------------------------------------- pickers


def pick_action_id(kinds: Sequence[str]) -> str:
    return f"{ACTION_PICK}:{','.join(kinds)}"[:ID_LENGTH]


def kinds_of_action(action_id: str) -> tuple[str, ...]:
    _, _, suffix = action_id.partition(f"{ACTION_PICK}:")
    return tuple(k for k in suffix.split(",") if k)


def entity_option(entry: IndexEntry) -> Option:
    shown = plain(entry.title or entry.name)
    return Option(
        text=truncate(f"{shown} ({entry.kind})", OPTION_TEXT),
        value=entry.ref[:OPTION_VALUE],
        description=truncate(entry.ref, OPTION_TEXT),
    )


def suggestion_options(entries: Iterable[IndexEntry]) -> list[dict[str, Any]]:
    """``block_suggestion`` options: at most 100, each within Option's limits."""
    return [entity_option(e).to_dict() for e in list(entries)[:SUGGESTIONS]]


def picker_message(command: str, kinds: Sequence[str], usage: str) -> Message:
    """A message asking for an entity: pick one and ``/<command> <entity>`` runs."""
    what = " or ".join(kinds) if kinds else "entity"
    blocks = [
        SectionBlock(
            text=md(f"Which {escape(what)}? Start typing a name. (Usage: `{escape(usage)}`)")
        ),
        ActionsBlock(
            block_id=f"{PICK_RUN_BLOCK}{command}"[:ID_LENGTH],
            elements=[
                ExternalDataSelectElement(
                    action_id=pick_action_id(kinds),
                    placeholder=PlainTextObject(
                        text=f"Choose {'an' if what[0] in 'aeiou' else 'a'} {what}"[:150]
                    ),
                    min_query_length=1,
                )
            ],
        ),
    ]
    return {"text": f"Which {what}?", "blocks": [b.to_dict() for b in blocks]}


# ----------------------------------------------------------------------------- modals


def dialog_metadata(dialog: Dialog, channel: str | None, thread_ts: str | None = None) -> str:
    """What comes back with the submission: the dialog id, its state, where it was opened."""
    data: dict[str, Any] = {"id": dialog.id, "state": dict(dialog.state)}
    if channel:
        data["channel"] = channel
    if thread_ts:
        data["thread_ts"] = thread_ts
    return json.dumps(data, separators=(",", ":"))


def parse_metadata(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _input(field_: DialogField) -> InputBlock:
    block_id = f"{FIELD_BLOCK}{field_.name}"
    if len(block_id) > ID_LENGTH:
        raise RenderError(f"dialog field name {field_.name[:40]}… is longer than Slack allows")
    label = PlainTextObject(text=truncate(plain(field_.label) or field_.name, INPUT_LABEL))
    hint_text = plain(field_.hint or "").strip()
    hint = PlainTextObject(text=truncate(hint_text, INPUT_LABEL)) if hint_text else None
    optional = not field_.required
    element: Any
    kind = field_.kind
    if kind == "choice" and field_.choices and _static_ok(field_.choices):
        options = [
            Option(text=truncate(plain(lbl or v) or v, OPTION_TEXT), value=v)
            for v, lbl in field_.choices
        ]
        initial = next((o for o in options if o.value == field_.default), None)
        element = StaticSelectElement(action_id="value", options=options, initial_option=initial)
    elif kind == "boolean":
        yes = Option(text="Yes", value="true")
        initial_options = [yes] if (field_.default or "").lower() in ("true", "yes", "1") else None
        element = CheckboxesElement(
            action_id="value", options=[yes], initial_options=initial_options
        )
        optional = True  # an unchecked box is an answer ("false"), not a missing one
    elif kind in ("entity", "group"):
        kinds = ("group",) if kind == "group" else field_.entity_kinds
        initial = None
        if field_.default:
            initial = Option(
                text=truncate(field_.default, OPTION_TEXT), value=field_.default[:OPTION_VALUE]
            )
        element = ExternalDataSelectElement(
            action_id=pick_action_id(kinds),
            min_query_length=1,
            initial_option=initial,
            placeholder=PlainTextObject(text="Type a name"),
        )
    else:
        if kind == "choice" and field_.choices:  # too many or too long for a menu
            listed = ", ".join(v for v, _ in field_.choices)
            hint = PlainTextObject(text=truncate(f"One of: {listed}", INPUT_LABEL))
        max_length = min(field_.max_length or INPUT_TEXT, INPUT_TEXT)
        element = PlainTextInputElement(
            action_id="value",
            multiline=kind == "multiline",
            initial_value=(field_.default or None) and field_.default[:max_length],
            max_length=max_length,
        )
    return InputBlock(block_id=block_id, label=label, element=element, hint=hint, optional=optional)


def _static_ok(choices: Sequence[tuple[str, str]]) -> bool:
    return len(choices) <= OPTIONS_PER_SELECT and all(len(v) <= OPTION_VALUE for v, _ in choices)


def render_modal(dialog: Dialog, metadata: str) -> dict[str, Any]:
    """The modal for a dialog: one input block per field (block_id ``field:<name>``)."""
    if not dialog.fields:
        raise RenderError(f"dialog {dialog.id} has no fields")
    notes = _modal_notes(dialog.notes)
    if len(dialog.fields) + len(notes) > BLOCKS_PER_MODAL:
        raise RenderError(
            f"dialog {dialog.id} has {len(dialog.fields)} fields; a Slack modal holds "
            f"{BLOCKS_PER_MODAL - len(notes)}"
        )
    if len(metadata) > MODAL_METADATA:
        raise RenderError(
            f"dialog {dialog.id} carries {len(metadata)} characters of state; a Slack modal "
            f"carries {MODAL_METADATA}"
        )
    view = View(
        type="modal",
        callback_id=DIALOG_CALLBACK,
        title=PlainTextObject(text=truncate(plain(dialog.title) or "Callboard", MODAL_TITLE)),
        submit=PlainTextObject(text=truncate(dialog.submit_label or "Submit", MODAL_TITLE)),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[*notes, *[_input(f) for f in dialog.fields]],
    )
    return view.to_dict()


def _modal_notes(notes: Sequence[str]) -> list[ContextBlock]:
    """A form's notes (what it leaves out) above its fields, as context lines."""
    shown = [f"_{truncate_mrkdwn(escape(plain(n)), CONTEXT_TEXT - 2)}_" for n in notes]
    return [
        ContextBlock(elements=[md(n) for n in shown[start : start + CONTEXT_ELEMENTS]])
        for start in range(0, len(shown), CONTEXT_ELEMENTS)
    ]


def submitted_values(state: Mapping[str, Any]) -> dict[str, str]:
    """Field name → value, from a ``view_submission``'s ``view.state.values``."""
    values: dict[str, str] = {}
    for block_id, actions in state.items():
        if not block_id.startswith(FIELD_BLOCK) or not isinstance(actions, Mapping):
            continue
        name = block_id[len(FIELD_BLOCK) :]
        for action in actions.values():
            values[name] = _action_value(action)
    return values


def _action_value(action: Mapping[str, Any]) -> str:
    kind = action.get("type")
    if kind == "checkboxes":
        return "true" if action.get("selected_options") else "false"
    if kind in ("static_select", "external_select"):
        selected = action.get("selected_option") or {}
        return str(selected.get("value") or "")
    value = action.get("value")
    return "" if value is None else str(value)


def field_errors(dialog_fields: Sequence[str], errors: Mapping[str, str]) -> dict[str, str]:
    """``DialogErrors`` by field name → Slack's ``errors`` by block_id.

    An error on a name the modal does not show goes on the first field, named, so that no
    message is lost.
    """
    out: dict[str, str] = {}
    for name, message in errors.items():
        if name in dialog_fields:
            key = f"{FIELD_BLOCK}{name}"
            text = message
        else:
            key = f"{FIELD_BLOCK}{dialog_fields[0]}" if dialog_fields else f"{FIELD_BLOCK}{name}"
            text = f"{name}: {message}"
        out[key] = truncate(f"{out[key]} {text}" if key in out else text, INPUT_LABEL)
    return out


def dialog_field_names(view: Mapping[str, Any]) -> list[str]:
    """The field names of a submitted modal, in order (from its blocks' ids)."""
    names = []
    for block in view.get("blocks") or ():
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(FIELD_BLOCK):
            names.append(block_id[len(FIELD_BLOCK) :])
    return names

"""What crosses the line between a chat platform and the core: requests, replies, dialogs.

Adapters turn a platform payload into one ``Request`` and render one ``Reply`` (Block Kit,
embeds, console text). Nothing here knows a platform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

# Matched words in reply text (docs search snippets) sit between these two characters, which
# read fine as plain text; adapters may render them as bold with ``render_marks``.
MARK_OPEN = "\u27e6"  # ⟦
MARK_CLOSE = "\u27e7"  # ⟧


def render_marks(text: str, open_: str, close: str) -> str:
    """Replace the match marks in ``text`` with a platform's own (``*``, ``**``, ``<b>``)."""
    return text.replace(MARK_OPEN, open_).replace(MARK_CLOSE, close)


@dataclass(frozen=True)
class ChatUser:
    """Who asked: their id on the platform, and what the platform tells us about them."""

    platform: str  # "console", "slack", "discord"
    id: str
    name: str | None = None
    email: str | None = None


class Progress(Protocol):
    """One message showing how far a long-running command got, updated in place.

    An adapter passes one in ``Request.progress`` or ``DialogSubmission.progress``; the
    command calls ``update`` with a short status line at each step ("rendering the template…")
    and returns its final ``Reply`` as usual, which the adapter shows in place of the progress
    message where the platform allows (Slack: ``chat.update`` of the message the first update
    posted, or ``response_url`` with ``replace_original``; Discord: edit the original
    interaction response; the console: print each line). ``update`` must not raise.
    """

    async def update(self, text: str) -> None: ...


class ChatPeople(Protocol):
    """Who an email address is on the request's platform, for mentions (an adapter's: Slack's
    ``users.lookupByEmail``). ``None``: nobody, or the platform could not say; never raises."""

    async def user_id_for_email(self, email: str) -> str | None: ...


@dataclass(frozen=True)
class Mention:
    """A chat user to mention on ``platform``; ``shown`` is how everyone else sees them (the
    console, logs, another platform, or an id the renderer refuses): their name and email."""

    platform: str
    user_id: str
    shown: str


class MentionText(str):
    """Text holding mentions, for a field's value or a list item.

    As a ``str`` it is its plain form, each mention shown by its ``shown`` text: the console,
    logs and ``to_text`` need nothing more. Renderers that can mention read ``parts`` and turn
    each ``Mention`` of their platform into their own mention markup, escaping the rest as
    usual. Only code builds one: catalog text stays text, so it can never mention anyone.
    """

    parts: tuple[str | Mention, ...]

    def __new__(cls, *parts: str | Mention) -> MentionText:
        text = "".join(p.shown if isinstance(p, Mention) else p for p in parts)
        self = super().__new__(cls, text)
        self.parts = tuple(parts)
        return self

    def __reduce__(self) -> tuple[type[MentionText], tuple[str | Mention, ...]]:
        return (MentionText, self.parts)


@dataclass(frozen=True)
class Request:
    """One thing a user asked, as text (``/whoowns payments-api`` or ``whoowns payments-api``)."""

    text: str
    user: ChatUser
    channel: str | None = None
    platform: str = "console"
    mention: bool = False  # the bot was @-mentioned: try plain-language phrases first
    command: str | None = None  # set when the platform already split off the command name
    # Nobody reads the reply before it is posted (a scheduled report): a name that matches
    # nothing exactly is refused, never guessed.
    unattended: bool = False
    # Where a long-running command shows how far it got (see ``Progress``); None: nowhere.
    progress: Progress | None = field(default=None, compare=False, repr=False)
    # Who an email is on this platform, for mentions (see ``ChatPeople``); None: not asked.
    people: ChatPeople | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Field:
    """A label and a value (rendered as a two-column field where the platform has them)."""

    label: str
    value: str  # a ``MentionText`` when it names people to mention
    inline: bool = True


@dataclass(frozen=True)
class Section:
    """A titled block of a reply: a paragraph, fields, and/or a bulleted list."""

    title: str | None = None
    text: str | None = None
    fields: tuple[Field, ...] = ()
    items: tuple[str, ...] = ()  # an item is a ``MentionText`` when it names people to mention


@dataclass(frozen=True)
class Link:
    """A hyperlink shown with the reply."""

    title: str
    url: str


@dataclass(frozen=True)
class Button:
    """An action: ``command`` runs a command as the clicking user; ``url`` opens a page."""

    label: str
    command: str | None = None
    url: str | None = None
    style: Literal["default", "primary", "danger"] = "default"


FieldKind = Literal["text", "multiline", "choice", "boolean", "entity", "group"]


@dataclass(frozen=True)
class DialogField:
    """One input of a dialog. ``entity``/``group`` fields are pickers fed by the fuzzy resolver."""

    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = True
    default: str | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    hint: str | None = None
    max_length: int | None = None
    entity_kinds: tuple[str, ...] = ()  # for entity pickers: which kinds to offer
    secret: bool = False  # a password: never shown back (no prefill, no echo)


@dataclass(frozen=True)
class Dialog:
    """A form to fill in; ``id`` routes its submission back to the command that opened it."""

    id: str
    title: str
    fields: tuple[DialogField, ...]
    submit_label: str = "Submit"
    state: Mapping[str, str] = field(default_factory=dict)  # carried through the round trip
    notes: tuple[str, ...] = ()  # shown with the form: what it leaves out, and why


@dataclass(frozen=True)
class DialogSubmission:
    """The values a user entered in a dialog."""

    dialog_id: str
    values: Mapping[str, str]
    user: ChatUser
    channel: str | None = None
    platform: str = "console"
    state: Mapping[str, str] = field(default_factory=dict)
    progress: Progress | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DialogErrors:
    """Validation errors per field name; the platform shows them inline and keeps the values."""

    errors: Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    """Platform-neutral rich content, with a plain-text rendering for logs and the console."""

    title: str | None = None
    text: str | None = None
    sections: tuple[Section, ...] = ()
    links: tuple[Link, ...] = ()
    buttons: tuple[Button, ...] = ()
    notes: tuple[str, ...] = ()  # context lines: "showing the closest match to ..."
    ephemeral: bool = True  # lookups are private until shared
    error: bool = False
    dialog: Dialog | None = None  # when set, the platform opens this dialog
    more: str | None = None  # a command that shows the next page of a long answer
    # A part that missed its budget (the on-call line): adapters show this reply at once, then
    # await ``later`` and show its ``Update`` in place of the reply (see ``Update``).
    later: Callable[[], Awaitable[Update | None]] | None = field(
        default=None, compare=False, repr=False
    )

    def settled(self) -> Reply:
        """This reply without its late part (what the late part's update replaces it with)."""
        return Reply(**{**self.__dict__, "later": None})

    def with_notes(self, *notes: str) -> Reply:
        return Reply(**{**self.__dict__, "notes": self.notes + tuple(notes)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        """The reply as plain text: the console's rendering and every adapter's fallback."""
        out: list[str] = []
        for note in self.notes:
            out.append(f"({note})")
        if self.title:
            out.append(self.title)
            out.append("=" * min(len(self.title), 78))
        if self.text:
            out.append(self.text)
        for section in self.sections:
            out.append("")
            if section.title:
                end = "" if section.title.endswith((":", "?", "!", ".")) else ":"
                out.append(f"{section.title}{end}")
            if section.text:
                out.append(section.text)
            width = max((len(f.label) for f in section.fields), default=0)
            for f in section.fields:
                value = f.value.replace("\n", "\n" + " " * (width + 4))
                out.append(f"  {f.label.ljust(width)}  {value}")
            for item in section.items:
                out.append(f"  - {item}")
        if self.links:
            out.append("")
            out.append("Links:")
            for link in self.links:
                out.append(f"  {link.title}: {link.url}")
        if self.buttons:
            out.append("")
            actions = [
                f"[{b.label}: {b.command}]" if b.command else f"[{b.label}: {b.url}]"
                for b in self.buttons
            ]
            out.append("  ".join(actions))
        if self.more:
            out.append("")
            out.append(f"(more: {self.more})")
        if self.dialog:
            out.append("")
            out.append(f"[dialog: {self.dialog.title}]")
        return "\n".join(out).strip("\n")


@dataclass(frozen=True)
class Update:
    """A reply's late part arrived: ``reply`` goes in place of the one shown (Slack
    ``chat.update`` or ``response_url`` with ``replace_original``, Discord's edit of the
    interaction response); ``added`` says what changed in one line, for where a message
    cannot change (the console prints it below the reply)."""

    reply: Reply
    added: str  # a ``MentionText`` when it names people to mention

    def addition(self) -> Reply:
        """The change as a reply of its own, for where the first cannot be replaced."""
        return Reply(sections=(Section(items=(self.added,)),))

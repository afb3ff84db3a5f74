"""``Dialog`` → Discord modals: five inputs per modal, longer dialogs in steps, values kept.

Discord has no field-level error response and a modal cannot answer a modal, so a form lives
here between interactions: after a step, or after the command returned ``DialogErrors``, the
user gets an ephemeral message with a button that opens the next (or the same) step again,
its inputs filled with what they typed and each error shown under its field.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import ui

from adapters.discord.render import truncate
from bot.chat import Dialog, DialogField

FIELDS_PER_MODAL = 5
MODAL_TITLE_MAX = 45
LABEL_MAX = 45
LABEL_DESCRIPTION_MAX = 100
TEXT_INPUT_MAX = 4000
PLACEHOLDER_MAX = 100
SELECT_OPTIONS_MAX = 25
OPTION_TEXT_MAX = 100
FORM_TTL_SECONDS = 15 * 60  # an interaction token lives 15 minutes; forms do too
FORMS_KEPT = 1000

YES_NO = (("true", "Yes"), ("false", "No"))


@dataclass
class PendingForm:
    """A dialog being filled in by one user: its steps, the values so far, the errors."""

    token: str
    dialog: Dialog
    user_id: int
    channel: str | None
    created: float
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seen: int = 0  # steps submitted at least once

    @property
    def pages(self) -> tuple[tuple[DialogField, ...], ...]:
        fields = self.dialog.fields
        return tuple(
            fields[i : i + FIELDS_PER_MODAL] for i in range(0, len(fields), FIELDS_PER_MODAL)
        ) or ((),)

    def title(self, page: int) -> str:
        count = len(self.pages)
        step = f" ({page + 1}/{count})" if count > 1 else ""
        return truncate(self.dialog.title, MODAL_TITLE_MAX - len(step)) + step

    def next_page(self, after: int) -> int | None:
        """The step to show after ``after``: an unseen one, or one with errors; else None."""
        for page in range(after + 1, len(self.pages)):
            if page >= self.seen or any(f.name in self.errors for f in self.pages[page]):
                return page
        return None

    def first_error_page(self) -> int:
        for page, fields in enumerate(self.pages):
            if any(f.name in self.errors for f in fields):
                return page
        return 0

    def label(self, name: str) -> str:
        return next((f.label for f in self.dialog.fields if f.name == name), name)


class FormStore:
    """Forms in progress, by token; old ones expire (their interaction tokens have too)."""

    def __init__(
        self,
        ttl: float = FORM_TTL_SECONDS,
        limit: int = FORMS_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self._forms: OrderedDict[str, PendingForm] = OrderedDict()

    def open(self, dialog: Dialog, user_id: int, channel: str | None) -> PendingForm:
        self._expire()
        while len(self._forms) >= self.limit:
            self._forms.popitem(last=False)
        token = secrets.token_hex(6)
        form = PendingForm(token, dialog, user_id, channel, self.clock())
        form.values.update({f.name: f.default for f in dialog.fields if f.default is not None})
        self._forms[token] = form
        return form

    def get(self, token: str) -> PendingForm | None:
        self._expire()
        return self._forms.get(token)

    def close(self, token: str) -> None:
        self._forms.pop(token, None)

    def __len__(self) -> int:
        return len(self._forms)

    def _expire(self) -> None:
        cutoff = self.clock() - self.ttl
        for token in [t for t, f in self._forms.items() if f.created < cutoff]:
            del self._forms[token]


# (value, label) pairs a picker field offers, or None when there are too many for a select.
PickerOptions = Callable[[DialogField], Sequence[tuple[str, str]] | None]
SubmitHandler = Callable[[discord.Interaction, PendingForm, int], Awaitable[None]]


class DialogModal(ui.Modal):
    """One step of a form: up to five inputs, filled with the values kept so far."""

    def __init__(
        self, form: PendingForm, page: int, on_step: SubmitHandler, pickers: PickerOptions
    ) -> None:
        super().__init__(
            title=form.title(page),
            custom_id=f"cb:form:{form.token}:{page}",
            timeout=FORM_TTL_SECONDS,
        )
        self.form = form
        self.page = page
        self.on_step = on_step
        self.inputs: list[tuple[DialogField, ui.TextInput[Any] | ui.Select[Any]]] = []
        for index, dialog_field in enumerate(form.pages[page]):
            # A secret is never sent back to Discord, not even to reopen the form.
            current = "" if dialog_field.secret else form.values.get(dialog_field.name, "")
            component = _component(dialog_field, current, f"f{index}", pickers(dialog_field))
            note = form.errors.get(dialog_field.name)
            description = f"⚠ {note}" if note else dialog_field.hint
            self.add_item(
                ui.Label(
                    text=truncate(dialog_field.label, LABEL_MAX),
                    description=truncate(description, LABEL_DESCRIPTION_MAX)
                    if description
                    else None,
                    component=component,
                )
            )
            self.inputs.append((dialog_field, component))

    def entered(self) -> dict[str, str]:
        """The values of this step, by field name."""
        out: dict[str, str] = {}
        for dialog_field, component in self.inputs:
            if isinstance(component, ui.TextInput):
                out[dialog_field.name] = component.value.strip()
            else:
                out[dialog_field.name] = component.values[0] if component.values else ""
        return out

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.form.values.update(self.entered())
        self.form.seen = max(self.form.seen, self.page + 1)
        for name in self.entered():
            self.form.errors.pop(name, None)
        await self.on_step(interaction, self.form, self.page)


def _component(
    dialog_field: DialogField,
    current: str,
    custom_id: str,
    picks: Sequence[tuple[str, str]] | None,
) -> ui.TextInput[Any] | ui.Select[Any]:
    options: Sequence[tuple[str, str]] | None = None
    if dialog_field.kind == "boolean":
        options = YES_NO
        current = _boolean(current)
    elif dialog_field.kind == "choice" and 0 < len(dialog_field.choices) <= SELECT_OPTIONS_MAX:
        options = dialog_field.choices
    elif dialog_field.kind in ("entity", "group") and picks:
        options = picks[:SELECT_OPTIONS_MAX]
    if options and all(len(v) <= OPTION_TEXT_MAX for v, _ in options):
        return ui.Select(
            custom_id=custom_id,
            options=[
                discord.SelectOption(
                    label=truncate(label or value, OPTION_TEXT_MAX),
                    value=value,
                    default=value == current,
                )
                for value, label in options
            ],
            min_values=1 if dialog_field.required else 0,
            max_values=1,
            required=dialog_field.required,
        )
    placeholder = None
    if dialog_field.kind == "choice" and dialog_field.choices:
        placeholder = "one of: " + ", ".join(v for v, _ in dialog_field.choices)
    elif dialog_field.kind in ("entity", "group"):
        placeholder = "a name, title or ref"
    limit = min(max(dialog_field.max_length or TEXT_INPUT_MAX, 1), TEXT_INPUT_MAX)
    return ui.TextInput(
        custom_id=custom_id,
        style=discord.TextStyle.paragraph
        if dialog_field.kind == "multiline"
        else discord.TextStyle.short,
        default=current[:limit] or None,
        required=dialog_field.required,
        max_length=limit,
        placeholder=truncate(placeholder, PLACEHOLDER_MAX) if placeholder else None,
    )


def _boolean(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "y", "1", "on"):
        return "true"
    if lowered in ("false", "no", "n", "0", "off"):
        return "false"
    return ""


def error_lines(form: PendingForm, errors: Mapping[str, str]) -> list[str]:
    """One line per error, naming the field by its label."""
    return [f"{form.label(name)}: {message}" for name, message in errors.items()]

"""Callboard's one error tree.

    BotError                      anything Callboard raises on purpose
    ├── UserError                 shown to the chat user verbatim
    │   ├── NotFound              no entity (or command) by that name; carries suggestions
    │   ├── Ambiguous             several entities match equally; carries the candidates
    │   ├── BadArguments          the command's arguments do not parse
    │   └── PermissionDenied      the user may not do this, and the text says why
    ├── ConfigError               the configuration is invalid (names key and file)
    ├── CatalogError              a catalog file or entity is unusable (names file and line)
    ├── SourceError               a catalog source could not be read as a whole
    └── StoreError                the database refused or failed

Only the dispatcher turns exceptions into replies: a ``UserError`` becomes its text, anything
else is logged with a traceback and an id, and the user sees a short apology naming that id.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error Callboard raises on purpose."""


class UserError(BotError):
    """A problem with what the user asked; the message is shown to them as is."""


class NotFound(UserError):
    """Nothing matched the name the user gave."""

    def __init__(self, message: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.suggestions = suggestions


class Ambiguous(UserError):
    """Several things matched the name equally well."""

    def __init__(self, message: str, candidates: tuple[str, ...]) -> None:
        super().__init__(message)
        self.candidates = candidates


class BadArguments(UserError):
    """The arguments of a command do not parse; the message says how to call it."""


class PermissionDenied(UserError):
    """The user may not do this; the message says why."""


class ConfigError(BotError):
    """The configuration is invalid; the message names the key and the file."""


class CatalogError(BotError):
    """A catalog file or entity is unusable; the message names the file and line."""


class SourceError(BotError):
    """A catalog source could not be read as a whole (its last good entities are kept)."""


class StoreError(BotError):
    """The database refused or failed an operation."""

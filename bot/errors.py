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
    ├── StoreError                the database refused or failed
    ├── GitError                  a git command failed (its text scrubbed of secrets)
    └── DeliveryError             a poster could not post a scheduled report into a channel
        ├── ChannelNotFound       unknown, archived or closed to the bot: retrying cannot help
        └── RateLimited           the platform still says "slow down"; nothing was posted

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
        self.query: str | None = None  # the text that found nothing, set by the resolver


class Ambiguous(UserError):
    """Several things matched the name equally well."""

    def __init__(self, message: str, candidates: tuple[str, ...], total: int = 0) -> None:
        super().__init__(message)
        self.candidates = candidates
        self.total = max(total, len(candidates))  # how many matched, shown or not
        self.query: str | None = None  # the text that matched several, set by the resolver


class BadArguments(UserError):
    """The arguments of a command do not parse; the message says how to call it."""


class PermissionDenied(UserError):
    """The user may not do this; the message says why."""


class GitError(BotError):
    """A git command failed, is missing, or ran out of time; the text is scrubbed of secrets.

    ``stderr`` is all of git's error output (scrubbed too), for callers that explain it.
    """

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode


class ConfigError(BotError):
    """The configuration is invalid; the message names the key and the file."""


class CatalogError(BotError):
    """A catalog file or entity is unusable; the message names the file and line."""


class SourceError(BotError):
    """A catalog source could not be read as a whole (its last good entities are kept)."""


class StoreError(BotError):
    """The database refused or failed an operation."""


class DeliveryError(BotError):
    """A ``Poster`` could not post into a channel; the message names the channel and why.

    Posters (``App.posters``) raise this family so the scheduler can tell faults apart without
    knowing any platform: ``ChannelNotFound`` is recorded and reported once, ``RateLimited`` is
    retried with backoff, any other ``DeliveryError`` is recorded as a failed delivery.
    """

    def __init__(self, message: str, channel: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel


class ChannelNotFound(DeliveryError):
    """The channel does not exist, is archived, or the bot may not post there.

    Slack: ``channel_not_found``, ``is_archived``, ``not_in_channel``; Discord: Unknown
    Channel (404) or Missing Access (403). Retrying cannot help until someone fixes it.
    """


class RateLimited(DeliveryError):
    """The platform rate-limited the post and the poster's own retries are spent.

    Raise it only when nothing of the reply was posted, so that a retry cannot post twice.
    """

    def __init__(
        self, message: str, channel: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, channel)
        self.retry_after = retry_after

"""Logging: the ``logging`` config section, text or JSON lines, and no secret in any line.

```yaml
logging:
  format: json        # text (default): "time LEVEL logger: message"; json: one object a line
```

A JSON line holds ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``message``, then whatever is bound for the request (``request_id``, ``platform``, ``command``,
``user_id`` hashed: ``bot.logcontext``), then the record's own ``extra=`` fields
(``duration_ms`` by convention), then ``exc`` (the traceback) when there is one.

Every record passes ``RedactingFilter`` first, whatever the format: the values of the secrets
this process holds (the platform tokens of ``bot.hardening``, the source tokens of
``bot.catalog.remote``) and the credentials in URLs are replaced by ``***`` in the message,
its arguments, the traceback and the extra fields, so a token logged by mistake is not
written; so is anything shaped like a Slack token (``xoxb-…``, ``xapp-…``), such as the bot
token of a workspace installed through OAuth, which the process never held at start.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from bot import hardening, logcontext
from bot.catalog.remote import scrub
from bot.config import Section

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "***"
_MIN_SECRET_LENGTH = 6  # shorter values would blank out ordinary words
# Tokens the process never held in its environment but may meet: a Slack workspace's bot token
# from an OAuth install (slack_sdk logs the oauth.v2.access response at DEBUG), app tokens.
_TOKEN_SHAPED = re.compile(r"\b(?:xox[abeoprs]|xapp)-[A-Za-z0-9-]{4,}")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


@dataclass(frozen=True)
class LoggingSettings:
    """How log lines are written."""

    format: LogFormat = "text"


def parse_logging(sec: Section) -> LoggingSettings:
    """Read the ``logging`` section (text when it is absent)."""
    raw = sec.str("format", "text") or "text"
    value = raw.strip().lower()
    if value == "json":
        return LoggingSettings(format="json")
    if value == "text":
        return LoggingSettings(format="text")
    raise sec.error("format", f"must be text or json, found {raw!r}")


class Redactor:
    """Replaces every secret value the process holds, and URL credentials, with ``***``."""

    def __init__(self, secrets: Callable[[], Iterable[str]] = hardening.secret_values) -> None:
        self._secrets = secrets

    def __call__(self, text: str) -> str:
        values = sorted(
            (v for v in self._secrets() if len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True
        )
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        return scrub(_TOKEN_SHAPED.sub(REDACTED, text))


class RedactingFilter(logging.Filter):
    """Renders each record's message (and traceback) with the secrets redacted, in place.

    Installed on the handler, it runs before any formatter; it never drops a record.
    """

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it; keep the raw parts
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request fields, extras, exc."""

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(logcontext.current())
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if key == "user_id" and isinstance(value, str):
                value = logcontext.hash_user(value)
            line[key] = _jsonable(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # The filter has redacted the parts already; this catches a formatter used without it.
        return self.redact(json.dumps(line, ensure_ascii=False, default=str))


# Marks the handler this module installs, so configuring again replaces it.
_HANDLER_NAME = "callboard"


def make_handler(fmt: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler writing ``fmt`` lines, secrets redacted."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    redact = Redactor()
    handler.addFilter(RedactingFilter(redact))
    if fmt == "json":
        handler.setFormatter(JsonFormatter(redact))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(
    fmt: LogFormat = "text", *, verbose: bool = False, stream: TextIO | None = None
) -> logging.Handler | None:
    """Log to stderr in ``fmt`` at INFO (``verbose``) or WARNING; None when left as it was.

    Like ``logging.basicConfig``, this does nothing when the root logger already has handlers
    someone else installed (a test runner's capture, an embedding application); a handler an
    earlier call installed is replaced (the CLI configures text at start, then the config
    file's format once it is loaded).
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    if len(ours) != len(root.handlers):
        return None
    for old in ours:
        root.removeHandler(old)
        old.close()
    handler = make_handler(fmt, stream)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    return handler

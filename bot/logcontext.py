"""What a log line is about: the request, platform, command and user, set once per request.

The dispatcher (or an adapter) binds these for the duration of one request; every log record
made meanwhile, in this task or in anything it awaits, carries them (the JSON log format writes
them as fields, ``bot.logsetup``). Context variables follow ``asyncio`` tasks, and
``asyncio.to_thread`` copies them into its worker, so blocking work run off the loop logs with
the same fields.

```python
with bound(request_id=req.id, platform=req.platform, command=spec.name, user_id=req.user.id):
    reply = await handler(ctx)
```

A single record can add or override fields with ``extra=``, e.g.
``log.info("answered", extra={"duration_ms": 12.5})``. User ids are never written as they are:
``hash_user`` turns them into a short stable digest (the same user, the same digest), enough to
follow one user through the logs without naming them.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from contextvars import ContextVar, Token

# The fields, in the order the JSON formatter writes them.
FIELDS = ("request_id", "platform", "command", "user_id")

request_id: ContextVar[str | None] = ContextVar("callboard_request_id", default=None)
platform: ContextVar[str | None] = ContextVar("callboard_platform", default=None)
command: ContextVar[str | None] = ContextVar("callboard_command", default=None)
user_id: ContextVar[str | None] = ContextVar("callboard_user_id", default=None)

_VARS: dict[str, ContextVar[str | None]] = {
    "request_id": request_id,
    "platform": platform,
    "command": command,
    "user_id": user_id,
}


def hash_user(user: str) -> str:
    """A short, stable digest of a user id (the same id, the same digest; not reversible)."""
    return hashlib.sha256(b"callboard-user:" + user.encode("utf-8")).hexdigest()[:16]


def current() -> dict[str, str]:
    """The fields bound now (only those set), the user id already hashed."""
    found: dict[str, str] = {}
    for name, var in _VARS.items():
        value = var.get()
        if value is not None:
            found[name] = hash_user(value) if name == "user_id" else value
    return found


@contextlib.contextmanager
def bound(
    *,
    request_id: str | None = None,
    platform: str | None = None,
    command: str | None = None,
    user_id: str | None = None,
) -> Iterator[None]:
    """Set the given fields for the ``with`` block (``None`` leaves a field as it was)."""
    given = {
        "request_id": request_id,
        "platform": platform,
        "command": command,
        "user_id": user_id,
    }
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    for name, value in given.items():
        if value is not None:
            var = _VARS[name]
            tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)

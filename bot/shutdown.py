"""The ``shutdown`` config section: how long ``callboard run`` lets work in flight finish.

```yaml
shutdown:
  grace_seconds: 20   # default; keep it under Kubernetes' terminationGracePeriodSeconds
```

On SIGTERM ``callboard run`` stops accepting requests (``/readyz`` answers 503, the listener
closes, Discord tells new interactions to ask again), lets requests and answers in flight
finish while a scheduled run in progress finishes (posting through the still-open chat
connections), then closes those connections (``App.stop``), all within ``grace_seconds``; what
is still running then is cancelled. The database is closed and the process exits 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Section


@dataclass(frozen=True)
class ShutdownSettings:
    grace_seconds: int = 20


def parse_shutdown(sec: Section) -> ShutdownSettings:
    return ShutdownSettings(
        grace_seconds=sec.int("grace_seconds", ShutdownSettings.grace_seconds, minimum=0)
    )

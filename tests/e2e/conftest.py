"""Every e2e test's log, as the process would write it, scanned for the test secrets.

For each test the root logger gets the handler ``callboard run`` installs (``bot.logsetup``:
JSON lines, secrets redacted) at DEBUG, writing to memory; afterwards every line must parse as
JSON and no test token or signing secret may appear in any of them, whichever library logged.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logsetup import make_handler
from tests.e2e.slack_fake import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET
from tests.oncall_fakes import OG_KEY, PD_TOKEN

# The secrets the e2e tests give the bot (tests/e2e/test_logs.py scans its own processes):
# Slack's, and the on-call providers' (PagerDuty token, Opsgenie key).
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, "xoxb-2222-second-workspace", PD_TOKEN, OG_KEY)


@pytest.fixture(autouse=True)
def _no_secret_in_the_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = make_handler("json", stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    for line in text.splitlines():
        json.loads(line)  # one object a line
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"test secrets in the log: {leaked}"

"""Logs: `logging.format` in the config, JSON lines that parse, and no secret in any line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import hardening, logcontext
from bot.bootstrap import load_settings
from bot.catalog.remote import remember_secret
from bot.errors import ConfigError
from bot.logsetup import LoggingSettings, configure_logging, make_handler

TOKEN = "xoxb-test-0123456789-ABCDEFGHIJKLMNOPQRSTUVWX"
SIGNING = "8f14e45fceea167a5a36dedd4bea2543"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test tokens in the environment, read the way the adapters read them."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING)
    hardening.secret("SLACK_SIGNING_SECRET")  # moved out of os.environ into the store
    yield
    hardening.forget()


def logger_to(fmt: str, name: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    log = logging.getLogger(f"callboard.test.{name}")
    log.handlers[:] = [make_handler("json" if fmt == "json" else "text", out)]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log, out


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "callboard.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_the_format_defaults_to_text_and_json_is_read(tmp_path: Path) -> None:
    plain = load_settings(write_config(tmp_path, "catalog: {}\n"))
    assert plain.section("logging", LoggingSettings).format == "text"
    json_conf = load_settings(write_config(tmp_path, "logging:\n  format: json\n"))
    assert json_conf.section("logging", LoggingSettings).format == "json"


def test_a_bad_format_is_an_error_naming_the_key_and_the_choices(tmp_path: Path) -> None:
    path = write_config(tmp_path, "logging:\n  format: yaml\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "logging.format" in message
    assert "text or json" in message
    assert "'yaml'" in message
    assert str(path) in message


def test_an_unknown_logging_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key logging\.colour"):
        load_settings(write_config(tmp_path, "logging:\n  colour: true\n"))


def test_json_lines_parse_and_carry_the_request_fields(secrets: None) -> None:
    log, out = logger_to("json", "fields")
    log.info("outside any request")
    with logcontext.bound(
        request_id="r-1", platform="slack", command="whoowns", user_id="U0123ABCD"
    ):
        log.info("answered %s", "payments-api", extra={"duration_ms": 12.5})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3
    first, answered, failed = lines
    assert first["message"] == "outside any request"
    assert "request_id" not in first
    assert first["level"] == "INFO"
    assert first["logger"] == "callboard.test.fields"
    assert first["time"].endswith("Z")
    assert answered["message"] == "answered payments-api"
    assert answered["request_id"] == "r-1"
    assert answered["platform"] == "slack"
    assert answered["command"] == "whoowns"
    assert answered["duration_ms"] == 12.5
    assert answered["user_id"] == logcontext.hash_user("U0123ABCD")
    assert "U0123ABCD" not in out.getvalue()
    assert failed["level"] == "ERROR"
    assert "ValueError: boom" in failed["exc"]


async def test_the_fields_follow_a_task_and_a_thread(secrets: None) -> None:
    log, out = logger_to("json", "tasks")

    def in_thread() -> None:
        log.warning("from a worker thread")

    with logcontext.bound(request_id="r-2", command="docs"):
        await asyncio.create_task(asyncio.sleep(0))
        await asyncio.to_thread(in_thread)
    log.warning("after")
    worker, after = (json.loads(line) for line in out.getvalue().splitlines())
    assert (worker["request_id"], worker["command"]) == ("r-2", "docs")
    assert "request_id" not in after


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_token_logged_by_mistake_is_never_written(secrets: None, fmt: str) -> None:
    remember_secret("ghp_sourcetoken123456")  # a source token (bot.catalog.remote)
    log, out = logger_to(fmt, f"leak_{fmt}")
    log.error("token is %s", TOKEN)
    log.warning("signing secret %s and %s", SIGNING, "ghp_sourcetoken123456")
    log.info("cloning https://user:%s@git.example/repo.git", "hunter2-pass")
    log.info("in the extras", extra={"command": f"/whoowns {TOKEN}"})
    try:
        raise RuntimeError(f"the API said no to {TOKEN}")
    except RuntimeError:
        log.exception("call failed")
    try:
        raise RuntimeError("with the secret in a local")
    except RuntimeError:
        log.error("stack", stack_info=True)
    text = out.getvalue()
    for secret in (TOKEN, SIGNING, "ghp_sourcetoken123456", "hunter2-pass"):
        assert secret not in text
    assert "***" in text
    if fmt == "json":
        for line in text.splitlines():
            json.loads(line)
    else:
        assert "RuntimeError: the API said no to ***" in text


def test_configure_leaves_a_foreign_handler_alone_and_replaces_its_own() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        root.handlers[:] = []
        first = configure_logging("text", stream=io.StringIO())
        assert first is not None and root.handlers == [first]
        out = io.StringIO()
        second = configure_logging("json", verbose=True, stream=out)
        assert root.handlers == [second]
        assert root.level == logging.INFO
        logging.getLogger("callboard.test.configure").info("hello")
        assert json.loads(out.getvalue())["message"] == "hello"
        root.handlers[:] = [logging.NullHandler()]
        assert configure_logging("json") is None
        assert len(root.handlers) == 1
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_a_slack_token_the_process_never_held_is_redacted_too() -> None:
    from bot.logsetup import Redactor

    redact = Redactor(lambda: ())
    line = "body: {'access_token': 'xoxb-2222-second-workspace', 'app': 'xapp-1-A0X-123'}"
    assert redact(line) == "body: {'access_token': '***', 'app': '***'}"
    assert redact("the xoxb- prefix alone, and mixbox-words, stay") == (
        "the xoxb- prefix alone, and mixbox-words, stay"
    )

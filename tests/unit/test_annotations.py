"""Every annotation key is spelled once, in ``bot.annotations``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot import annotations

ROOT = Path(__file__).resolve().parents[2]
# An annotation key: a domain, a slash, a lower-case name (not an apiVersion like v1alpha1).
KEY = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+/[a-z][a-z0-9-]*[a-z]$")
API_VERSION = re.compile(r"/v\d+(alpha|beta)?\d*$")


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and KEY.match(node.value)
        and not API_VERSION.search(node.value)
    ]


def test_no_module_but_bot_annotations_spells_an_annotation_key() -> None:
    home = ROOT / "bot" / "annotations.py"
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for package in ("bot", "commands", "adapters")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != home
        for line, value in _literals(path)
    ]
    assert found == []


def test_the_home_holds_the_keys_the_others_read() -> None:
    spelled = {value for _, value in _literals(ROOT / "bot" / "annotations.py")}
    assert {
        "slack.com/user-id",
        "discord.com/user-id",
        "slack.com/channel-id",
        "slack.com/bot-notify",
        "discord.com/channel-id",
        "backstage.io/techdocs-ref",
        "backstage.io/techdocs-entity",
        "backstage.io/managed-by-location",
    } <= spelled
    assert annotations.USER_ID_ANNOTATIONS["slack"] == annotations.SLACK_USER_ID
    assert annotations.CHANNEL_ANNOTATIONS["slack"][0] == annotations.SLACK_CHANNEL_ID

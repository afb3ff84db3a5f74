"""“Did you mean” for words that are not entities: one scorer, one threshold, one phrasing."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.suggest import close_matches, did_you_mean, hint

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["whoowns", "owns", "deps", "describe", "docs", "search", "help", "here", "report"]


def test_a_typed_typo_or_partial_word_finds_its_word() -> None:
    assert close_matches("whoons", COMMANDS)[0] == "whoowns"
    assert close_matches("descr", COMMANDS)[0] == "describe"
    assert close_matches("WHOOWNZ", COMMANDS)[0] == "whoowns"  # case is ignored


def test_a_word_said_in_a_sentence_must_be_spelled_close() -> None:
    assert close_matches("how", COMMANDS) != []  # typed, a partial match is offered
    assert close_matches("how", COMMANDS, sentence=True) == []
    assert close_matches("whoons", COMMANDS, sentence=True) == ["whoowns"]


def test_nothing_close_offers_nothing() -> None:
    assert close_matches("zzzz", COMMANDS) == []
    assert hint("zzzz", COMMANDS) == ""


def test_one_phrasing_for_one_two_or_three_words() -> None:
    assert did_you_mean(["extra"]) == " Did you mean extra?"
    assert did_you_mean(["a", "b"], "/") == " Did you mean /a or /b?"
    assert did_you_mean(["a", "b", "c"], "/callboard ") == (
        " Did you mean /callboard a, /callboard b or /callboard c?"
    )
    assert did_you_mean([]) == ""


def test_no_other_module_scores_words_its_own_way() -> None:
    """rapidfuzz and difflib are imported by bot.suggest and the catalog's name index only."""
    allowed = {ROOT / "bot" / "suggest.py"}
    found = []
    for package in ("bot", "commands", "adapters"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path in allowed or path.is_relative_to(ROOT / "bot" / "catalog"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(n.split(".")[0] in ("rapidfuzz", "difflib") for n in names):
                    found.append(str(path.relative_to(ROOT)))
    assert found == []

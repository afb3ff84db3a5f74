"""“Did you mean”: the closest of a few known words (commands, reports, sources, templates).

One scorer and one threshold for every word that is not a catalog entity (entities have their
own name index in ``bot.catalog.read``). A typed word matches with rapidfuzz's ``WRatio`` at
60, which forgives a typo and a partial word; a word said in a sentence to the bot ("how are
you", "I like…") must be spelled close (plain ``ratio`` at 75), because the first word of a
sentence is rarely a typo of a command. Case is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from rapidfuzz import fuzz, process, utils

CUTOFF: Final = 60  # WRatio, for a word typed as a command, option or name
SENTENCE_CUTOFF: Final = 75  # plain ratio, for the first word of a sentence said to the bot
LIMIT: Final = 3


def close_matches(
    word: str, choices: Iterable[str], *, sentence: bool = False, limit: int = LIMIT
) -> list[str]:
    """The known words closest to ``word``, best first, only those close enough to offer."""
    scorer, cutoff = (fuzz.ratio, SENTENCE_CUTOFF) if sentence else (fuzz.WRatio, CUTOFF)
    return [
        match
        for match, _score, _ in process.extract(
            word.strip(),
            list(choices),
            scorer=scorer,
            processor=utils.default_process,
            limit=limit,
            score_cutoff=cutoff,
        )
    ]


def did_you_mean(close: Sequence[str], prefix: str = "") -> str:
    """`` Did you mean a, b or c?`` (with its leading space), or "" when nothing is close.

    ``prefix`` goes before each word (``"/"`` for a command, ``"/callboard "`` for a
    subcommand).
    """
    if not close:
        return ""
    shown = [f"{prefix}{word}" for word in close]
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    return f" Did you mean {listed}?"


def hint(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """``did_you_mean`` of ``close_matches``: the sentence to append to a "no such" message."""
    return did_you_mean(close_matches(word, choices), prefix)

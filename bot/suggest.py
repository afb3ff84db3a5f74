"""“Did you mean”: the closest of a few known words (commands, reports, sources, templates).

One scorer and one threshold for every word that is not a catalog entity (entities have their
own name index in ``bot.catalog.read``). A typed word matches with rapidfuzz's ``WRatio`` at
60, which forgives a typo and a partial word; a word said in a sentence to the bot ("how are
you", "I like…") must be spelled close (plain ``ratio`` at 75), because the first word of a
sentence is rarely a typo of a command. Case is ignored.

``NearNames`` serves the entity name index of a large catalog: which of a million names are
worth scoring against a misspelt one.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
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


# --------------------------------------------------------------------------- entity names

FULL_SCAN_MAX: Final = 100_000
"""Up to this many names and titles the name index scores every one for a misspelt name
(about 10 ms for 100,000 on the 2-core bench machine; a 43,000-entity catalog has fewer, so
its suggestions are as before); above it, ``NearNames`` picks the few worth scoring."""
NEAR_WINDOW: Final = 64  # names taken on each side of a text in each sorted order
PROBE_HITS: Final = 4  # names taken per one-edit variant (those starting with it)
MAX_PROBED_CHARS: Final = 48  # a longer text has no one-edit variants probed
MAX_ALPHABET: Final = 40  # letters tried after one start (added or changed)
MAX_WORDS: Final = 8  # words of a text corrected against the vocabulary
WORD_CUTOFF: Final = 75.0  # plain ratio of a misspelt word to the vocabulary word it means
MAX_CANDIDATES: Final = 2048
PREFIX_WALK: Final = 4096  # names looked at for those of the wanted kinds sharing a prefix

Sorter = Callable[[Iterable[int], Callable[[int], str]], Sequence[int]]
STEP: Final = 8_192  # items handled in one C call when an index is updated (a few ms)


def _remapped(
    order: array[int],
    kept: bytes,
    moved: Sequence[int],
    fresh: Sequence[int],
    key: Callable[[int], str],
) -> array[int]:
    """``order`` (old choice indexes sorted by ``key``) without the choices not ``kept``, each
    at its ``moved`` index, with ``fresh`` (new indexes, above every survivor's, sorted by
    ``key``) merged in after the equal ones: the order a stable sort of them all gives."""
    out = array("I")
    for at in range(0, len(order), STEP):  # in slices: each is one C call
        part = order[at : at + STEP]
        out.extend(map(moved.__getitem__, itertools.compress(part, map(kept.__getitem__, part))))
    if not fresh:
        return out
    merged = array("I")
    at = 0
    for idx in fresh:
        place = bisect.bisect_right(out, key(idx), lo=at, key=key)
        merged.extend(out[at:place])
        merged.append(idx)
        at = place
    merged.extend(out[at:])
    return merged


class NearNames:
    """Where a misspelt name's likely targets are, in a catalog too large to score them all.

    ``choices`` are processed texts (``utils.default_process``). Kept: their indexes sorted by
    text and by reversed text (two compact arrays, 8 bytes a choice) and the vocabulary of
    their words. ``candidates`` returns the few choices worth scoring (at most
    ``MAX_CANDIDATES``) in time that grows with the text, not with the catalog:

    * the text's neighbours in both orders: the names sharing its longest prefix and its
      longest suffix (a typo near one end leaves the other intact);
    * every one-edit variant of the text (a letter dropped, added, changed or two swapped),
      found when some name is it or starts with it: the typo undone;
    * the same for the text with each misspelt word replaced by the closest vocabulary word
      (two typos in two words).

    ``sort`` sorts indexes by a key without holding the GIL for the whole sort (the index is
    built in a worker thread while the event loop answers).
    """

    def __init__(self, choices: Sequence[str], sort: Sorter) -> None:
        self.choices = choices
        self.forward = array("I", sort(range(len(choices)), choices.__getitem__))
        self.backward = array("I", sort(range(len(choices)), self._reversed))
        # How many choices hold each word (not only which): an update can tell a word gone.
        # Only the updates use it, each handing it on to the next (``updated``).
        counts: dict[str, int] = {}
        get = counts.get
        for choice in choices:
            for word in choice.split():
                counts[word] = get(word, 0) + 1
        words = list(counts)  # sorted in steps: a million words are one long C call
        self.vocabulary = [words[i] for i in sort(range(len(words)), words.__getitem__)]
        self._counts: dict[str, int] | None = counts

    def updated(
        self,
        choices: Sequence[str],
        kept: bytes,
        moved: Sequence[int],
        start: int,
        gone: Iterable[str],
        sort: Sorter,
    ) -> NearNames:
        """These names for ``choices``: this one's choices where ``kept`` (one byte per old
        choice) says so, now at ``moved[i]`` (old index to new, in the same order), then new
        ones from ``start`` on; ``gone`` are the texts of the choices dropped.

        A new ``NearNames`` equal to one built on ``choices`` (ties in text order by index,
        as there): the sorted orders are this one's remapped in slices (each a C call of a
        few milliseconds at a million choices) with the new choices merged in by bisection,
        not sorted again. This one answers as it did (readers use it), but hands its word
        counts on: an update of it again builds the new one whole.
        """
        near = NearNames.__new__(NearNames)
        near.choices = choices
        fresh = range(start, len(choices))
        near.forward = _remapped(
            self.forward, kept, moved, sort(fresh, choices.__getitem__), choices.__getitem__
        )
        near.backward = _remapped(
            self.backward, kept, moved, sort(fresh, near._reversed), near._reversed
        )
        counts = self._counts
        if counts is None:  # handed on already, or an update of it failed half-way
            return NearNames(choices, sort)
        # The word counts are handed on, not copied (a dict of a million words is a long C
        # call to copy, and to grow): no answer reads them, and only the newest is updated.
        self._counts = None
        dropped: set[str] = set()
        for choice in gone:
            for word in choice.split():
                left = counts[word] - 1
                if left:
                    counts[word] = left
                else:
                    del counts[word]
                    dropped.add(word)
        added: set[str] = set()
        for idx in fresh:
            for word in choices[idx].split():
                held = counts.get(word, 0)
                if not held:
                    added.add(word)  # new, or dropped above (then in the vocabulary already)
                counts[word] = held + 1
        removed = {word for word in dropped if word not in counts}
        kept_words: Iterable[str] = self.vocabulary
        if removed:
            kept_words = (w for w in self.vocabulary if w not in removed)
        near.vocabulary = list(heapq.merge(kept_words, sorted(added - dropped)))
        near._counts = counts
        return near

    def _reversed(self, idx: int) -> str:
        return self.choices[idx][::-1]

    def candidates(self, text: str) -> list[int]:
        """Indexes of the choices worth scoring against ``text`` (processed), nearest first."""
        found: dict[int, None] = {}
        for probe in dict.fromkeys((text, self._corrected(text))):
            self._neighbours(probe, found)
            if len(probe) <= MAX_PROBED_CHARS:
                for variant in self._variants(probe, self._known_prefix(probe)):
                    self._starting(variant, PROBE_HITS, found)
                    if len(found) >= MAX_CANDIDATES:
                        return list(found)
        return list(found)[:MAX_CANDIDATES]

    def starting(self, text: str, limit: int, keep: Callable[[int], bool]) -> list[int]:
        """Up to ``limit`` choices that start with ``text`` and that ``keep`` accepts, in text
        order (at most ``PREFIX_WALK`` looked at)."""
        out: list[int] = []
        choices = self.choices
        start = bisect.bisect_left(self.forward, text, key=choices.__getitem__)
        for idx in self.forward[start : start + PREFIX_WALK]:
            if not choices[idx].startswith(text):
                break
            if keep(idx):
                out.append(idx)
                if len(out) >= limit:
                    break
        return out

    def _neighbours(self, text: str, found: dict[int, None]) -> None:
        for order, key, probe in (
            (self.forward, self.choices.__getitem__, text),
            (self.backward, self._reversed, text[::-1]),
        ):
            at = bisect.bisect_left(order, probe, key=key)
            found.update(dict.fromkeys(order[max(0, at - NEAR_WINDOW) : at + NEAR_WINDOW]))

    def _starting(self, text: str, limit: int, found: dict[int, None]) -> None:
        choices = self.choices
        start = bisect.bisect_left(self.forward, text, key=choices.__getitem__)
        for idx in self.forward[start : start + limit]:
            if not choices[idx].startswith(text):
                break
            found[idx] = None

    def _known_prefix(self, text: str) -> int:
        """The length of the longest start of ``text`` that some choice starts with."""
        at = bisect.bisect_left(self.forward, text, key=self.choices.__getitem__)
        longest = 0
        for idx in self.forward[max(0, at - 1) : at + 1]:
            choice = self.choices[idx]
            same = 0
            for a, b in zip(text, choice, strict=False):
                if a != b:
                    break
                same += 1
            longest = max(longest, same)
        return longest

    def _variants(self, text: str, known: int) -> Iterator[str]:
        """``text`` and its one-edit variants that some choice may start with, each once.

        An edit after the first ``known`` characters leaves a start no choice has; a letter
        added or changed after ``head`` is one that some choice has after ``head``.
        """
        seen = {text}
        yield text
        for i in range(min(len(text), known) + 1):
            head, tail = text[:i], text[i:]
            candidates = [head + tail[1:]] if tail else []  # a letter dropped
            if len(tail) > 1:
                candidates.append(head + tail[1] + tail[0] + tail[2:])  # two swapped
            for ch in self._next_letters(head):
                candidates.append(head + ch + tail)  # a letter added
                if tail:
                    candidates.append(head + ch + tail[1:])  # a letter changed
            for variant in candidates:
                if variant and variant not in seen:
                    seen.add(variant)
                    yield variant

    def _next_letters(self, head: str) -> list[str]:
        """The letters that follow ``head`` in the choices that start with it (at most
        ``MAX_ALPHABET``), one bisection each."""
        order, choices, key = self.forward, self.choices, self.choices.__getitem__
        at = bisect.bisect_left(order, head, key=key)
        out: list[str] = []
        while at < len(order) and len(out) < MAX_ALPHABET:
            choice = choices[order[at]]
            if not choice.startswith(head):
                break
            if len(choice) == len(head):
                at += 1
                continue
            letter = choice[len(head)]
            out.append(letter)
            if ord(letter) >= sys.maxunicode:
                break
            at = bisect.bisect_left(order, head + chr(ord(letter) + 1), key=key)
        return out

    def _known(self, word: str) -> bool:
        """Is ``word`` in the vocabulary (a bisection: no set of a million words beside it)?"""
        at = bisect.bisect_left(self.vocabulary, word)
        return at < len(self.vocabulary) and self.vocabulary[at] == word

    def _corrected(self, text: str) -> str:
        """``text`` with each word missing from the vocabulary replaced by its closest one."""
        words = text.split()
        if not words or len(words) > MAX_WORDS:
            return text
        out = []
        for word in words:
            if len(word) < 3 or self._known(word):
                out.append(word)
                continue
            best = process.extractOne(
                word, self.vocabulary, scorer=fuzz.ratio, score_cutoff=WORD_CUTOFF
            )
            out.append(best[0] if best is not None else word)
        return " ".join(out)

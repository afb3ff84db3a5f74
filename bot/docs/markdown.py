"""Markdown pages as MkDocs sees them: front matter, title, sections at headings, plain text.

Headings follow Python-Markdown (what MkDocs renders with): an ATX heading starts at column 0
(``#Title`` counts, as in Python-Markdown), a setext heading underlines a paragraph line with
``===`` or ``---``, and nothing inside fenced code is a heading. Anchors are the ids
Python-Markdown's ``toc`` extension gives (``slugify`` then ``unique``: ``rolling-back``,
``rolling-back_1``), or the explicit ``{#id}`` of ``attr_list``. ``tests/unit/test_docs_markdown``
checks them against Python-Markdown itself.

Each section keeps its plain text without markup: link and image text stay, URLs, HTML tags
and formatting marks go, code stays (people search for commands). Text before the first
heading becomes a section titled with the page title and no anchor.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from bot.chat import MARK_CLOSE, MARK_OPEN

_ATX = re.compile(r"^(#{1,6})(.*?)#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_FENCE_CLOSE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*$")
_CODE_LINE = "\x01"  # marks a line of fenced code: kept verbatim in the plain text
_ATTR_ID = re.compile(r"\s*\{:?\s*(?:[^}]*\s)?#([\w:.-]+)[^}]*\}\s*$")
_ATTR_ANY = re.compile(r"\s*\{:?[^}]*\}\s*$")
_FRONT = re.compile(r"\A-{3}[ \t]*\n(.*?\n)(?:\.{3}|-{3})[ \t]*(?:\n|\Z)", re.S)
_IDCOUNT = re.compile(r"^(.*)_([0-9]+)$")

# Inline markup, applied in order.
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)|!\[([^\]]*)\]\[[^\]]*\]")
_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)|\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^>\s]+)>")
_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
_CODE = re.compile(r"(`+)(.+?)\1", re.S)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_EM_UNDER = re.compile(r"(?<![\w])_(?=\S)(.+?)(?<=\S)_(?![\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_MARK = re.compile(r"==(?=\S)(.+?)(?<=\S)==")
_LINKDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$")
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_ADMONITION = re.compile(r'^\s*(?:!!!|\?\?\?\+?)\s*[\w-]+(?:\s+"([^"]*)")?\s*$')
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HR = re.compile(r"^\s*(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,})$")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~])")  # backslash escapes
_STASHED = re.compile(r"\x00(\d+)\x00")
_MARKUP_CHARS = frozenset("`*_[]<>&\\~=!")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class ParsedSection:
    """One section of a page: its heading (level 0 for text before the first heading)."""

    title: str
    anchor: str  # "" for the intro before the first heading
    level: int
    text: str  # plain text, paragraphs separated by newlines


@dataclass(frozen=True)
class ParsedPage:
    """A Markdown page split at its headings."""

    title: str | None  # front-matter title, else the first level-1 heading, else None
    sections: tuple[ParsedSection, ...]
    word_count: int


def slugify(value: str, separator: str = "-") -> str:
    """Python-Markdown's ``toc`` slug: ASCII-folded, punctuation dropped, spaces to ``-``."""
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(rf"[{re.escape(separator)}\s]+", separator, value)


def unique(anchor: str, used: set[str]) -> str:
    """Make ``anchor`` unique on its page the way Python-Markdown does (``_1``, ``_2``...)."""
    while anchor in used or not anchor:
        m = _IDCOUNT.match(anchor)
        anchor = f"{m.group(1)}_{int(m.group(2)) + 1}" if m else f"{anchor}_1"
    used.add(anchor)
    return anchor


def inline_text(text: str) -> str:
    """Inline Markdown to plain text: keep what a reader reads, drop marks, URLs and tags."""
    if not _MARKUP_CHARS.intersection(text):
        return clean(text)  # most prose has no markup at all: skip the patterns
    if "<!--" in text:
        text = _COMMENT.sub(" ", text)
    codes: list[str] = []

    def keep(literal: str) -> str:
        codes.append(literal)
        return f"\x00{len(codes) - 1}\x00"

    if "`" in text:  # code keeps its characters: no emphasis inside
        text = _CODE.sub(lambda m: keep(m.group(2).strip()), text)
    if "\\" in text:  # an escaped character is itself, never markup
        text = _ESCAPE.sub(lambda m: keep(m.group(1)), text)
    if "[" in text:
        text = _IMAGE.sub(lambda m: m.group(1) or m.group(2) or "", text)
        text = _LINK.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    if "<" in text:
        text = _AUTOLINK.sub(r"\1", text)
        text = _TAG.sub("", text)
    for mark, pattern in (("**", _STRONG), ("__", _STRONG), ("~~", _STRIKE), ("==", _MARK)):
        if mark in text:
            text = pattern.sub(lambda m: m.group(m.lastindex or 1), text)
    if "*" in text:
        text = _EM_STAR.sub(r"\1", text)
    if "_" in text:
        text = _EM_UNDER.sub(r"\1", text)
    if codes:
        text = _STASHED.sub(lambda m: codes[int(m.group(1))], text)
    if "&" in text:
        text = html.unescape(text)
    return clean(text)


def clean(text: str) -> str:
    """Collapse spaces and drop the snippet mark characters, which are ours alone."""
    return _SPACES.sub(" ", text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")).strip()


def split_front_matter(source: str) -> tuple[dict[str, Any], str, int]:
    """YAML front matter (as MkDocs reads it), the rest of the page, and its first line number."""
    m = _FRONT.match(source)
    if not m:
        return {}, source, 0
    try:
        meta = yaml.load(m.group(1), Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        meta = None
    if not isinstance(meta, dict):
        return {}, source, 0
    return meta, source[m.end() :], m.group(0).count("\n")


def _heading_text(raw: str) -> tuple[str, str | None]:
    """A heading's plain text and its explicit ``{#id}``, if ``attr_list`` syntax gives one."""
    explicit: str | None = None
    m = _ATTR_ID.search(raw)
    if m:
        explicit = m.group(1)
        raw = raw[: m.start()]
    else:
        raw = _ATTR_ANY.sub("", raw)
    return inline_text(raw.strip()), explicit


def _body_line(line: str) -> str | None:
    """One body line of prose to plain text; ``None`` for lines that carry no text."""
    if _LINKDEF.match(line) or _TABLE_RULE.match(line) or _HR.match(line):
        return None
    m = _ADMONITION.match(line)
    if m:
        return m.group(1) or None
    line = _QUOTE.sub("", line)
    line = _LIST.sub("", line)
    if "|" in line:
        line = line.strip().strip("|").replace("|", " ")
    return line


def parse_page(source: str, fallback_title: str | None = None) -> ParsedPage:
    """Split a page at its headings; each section gets MkDocs's anchor and plain text."""
    meta, body, _offset = split_front_matter(source.replace("\r\n", "\n").replace("\r", "\n"))
    meta_title = meta.get("title")
    lines = body.split("\n")
    used: set[str] = set()
    sections: list[tuple[str, str, int, list[str]]] = []  # title, anchor, level, raw text lines
    current: list[str] = []
    first_h1: str | None = None
    fence: str | None = None
    prose: list[str] = []  # lines of the current paragraph, for setext headings

    def open_section(raw_title: str, level: int) -> None:
        nonlocal current, first_h1
        title, explicit = _heading_text(raw_title)
        anchor = unique(explicit, used) if explicit else unique(slugify(title), used)
        if level == 1 and first_h1 is None:
            first_h1 = title
        current = []
        sections.append((title, anchor, level, current))

    intro = current
    for line in lines:
        if fence is not None:
            closing = _FENCE_CLOSE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                fence = None
                current.append("")
                continue
            current.append(_CODE_LINE + line)
            continue
        m = _FENCE.match(line)
        if m:
            fence = m.group(1)
            prose = []
            current.append("")
            continue
        m = _ATX.match(line)
        if m:
            open_section(m.group(2), len(m.group(1)))
            prose = []
            continue
        if prose and _SETEXT.match(line) and not _LIST.match(prose[-1]):
            # The paragraph line above is a heading; it was already added to the text.
            title_line = prose[-1]
            if current and current[-1] == title_line:
                current.pop()
            open_section(title_line, 1 if line.strip().startswith("=") else 2)
            prose = []
            continue
        if line.strip():
            prose.append(line)
        else:
            prose = []
        current.append(line)

    title = meta_title if isinstance(meta_title, str) and meta_title.strip() else first_h1
    page_title = title or fallback_title or ""
    out: list[ParsedSection] = []
    words = 0
    intro_text = _plain(intro)
    if intro_text:
        out.append(ParsedSection(page_title, "", 0, intro_text))
        words += len(_WORD.findall(intro_text))
    for sec_title, anchor, level, raw in sections:
        text = _plain(raw)
        words += len(_WORD.findall(sec_title)) + len(_WORD.findall(text))
        out.append(ParsedSection(sec_title, anchor, level, text))
    return ParsedPage(title, _with_outlines(out), words)


def _with_outlines(sections: list[ParsedSection]) -> tuple[ParsedSection, ...]:
    """A heading with no text of its own (``## Alerts`` over ``### ...``) gets the titles of
    its subsections as its text, so a hit on it shows what it holds."""
    out = list(sections)
    for i, section in enumerate(sections):
        if section.text or section.level == 0:
            continue
        children: list[str] = []
        depth: int | None = None
        for child in sections[i + 1 :]:
            if child.level <= section.level:
                break
            depth = depth or child.level
            if child.level == depth:
                children.append(child.title)
        if children:
            out[i] = ParsedSection(
                section.title, section.anchor, section.level, " · ".join(children)
            )
    return tuple(out)


def _plain(lines: Iterable[str]) -> str:
    """Body lines to plain text: one line per paragraph; fenced code kept as written."""
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            text = inline_text(" ".join(current))
            if text:
                paragraphs.append(text)
            current.clear()

    for raw in lines:
        if raw.startswith(_CODE_LINE):
            flush()
            code = clean(raw[1:])
            if code:
                paragraphs.append(code)
            continue
        line = _body_line(raw)
        if line is None or not line.strip():
            flush()
            continue
        current.append(line.strip())
    flush()
    return "\n".join(paragraphs)


def title_from_path(path: str) -> str:
    """MkDocs's title for a page that names none: from the file name (``index`` is the home)."""
    parts = path.rsplit("/", 2)
    stem = parts[-1].rsplit(".", 1)[0]
    if stem.lower() in ("index", "readme"):
        if len(parts) == 1:
            return "Home"
        stem = parts[-2]
    words = stem.replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words == words.lower() else words

"""Untrusted text and URLs made safe to show, shared by every chat renderer.

Catalog text (titles, descriptions, link titles, annotations) and what users type are
untrusted. Each adapter escapes them for its own markup in its ``render`` module; before
that, all of them pass through here:

- ``clean`` removes what no chat or terminal should receive from a catalog: C0 and C1 control
  characters (ESC opens terminal sequences: hyperlink spoofing, screen clears; BEL, backspace
  and carriage return overwrite what was shown) except newline and tab, lone surrogates, and
  invisible format characters (Unicode category Cf: bidi overrides and isolates such as
  U+202E, zero-width spaces, the BOM, soft hyphens, tag characters), which make one name look
  like another. Zero-width joiners between two non-ASCII characters stay (emoji sequences,
  Indic and Persian scripts need them).
- ``with_mentions`` renders a ``bot.chat.MentionText`` (a field or item naming people): its
  text parts escaped by the platform's own ``escape``, each mention of that platform in the
  platform's markup only when the id has the platform's id shape, anything else by its plain
  ``shown`` text, escaped. A plain ``str`` (all catalog text) is only ever escaped.
- ``safe_url`` accepts only absolute ``http``/``https`` URLs with a host and no credentials,
  and percent-encodes every character that could end or extend chat link markup (spaces,
  quotes, ``()[]<>|\\``, non-ASCII); hosts are IDNA-encoded, so look-alike Unicode hosts show as
  ``xn--``. Anything else is not a link: renderers show it as escaped text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from bot.chat import Mention, MentionText

# Unicode 14 category Cf (format), without U+200C/U+200D, which ``clean`` treats apart.
# tests/unit/test_safe_text.py checks this list against ``unicodedata``.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
# C0 but newline and tab, DEL, C1; surrogates; format characters; Hangul fillers (blank).
_REMOVE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{_FORMAT}\u115f\u1160\u3164\uffa0]")
# A joiner is kept only between two non-ASCII characters.
_STRAY_JOINER = re.compile(r"(?<![^\x00-\x7f])[\u200c\u200d]|[\u200c\u200d](?![^\x00-\x7f])")
_SEPARATORS = re.compile("[\u2028\u2029]")

URL_MAX = 2000
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?\.?")
_NOT_HEX_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 3986 characters kept as they are: unreserved, ``%``, and the delimiters links need.
# Quotes, parentheses, brackets, ``<>|\\``, backticks, spaces and non-ASCII are encoded.
_SAFE_PATH = "-._~%!$&*+,;=:@/"
_SAFE_QUERY = _SAFE_PATH + "?"


def clean(text: str) -> str:
    """``text`` without control, surrogate and invisible format characters (see module doc)."""
    text = _REMOVE.sub("", text)
    if "\u200c" in text or "\u200d" in text:
        text = _STRAY_JOINER.sub("", text)
    if "\u2028" in text or "\u2029" in text:
        text = _SEPARATORS.sub("\n", text)
    return text


def safe_url(url: object, limit: int = URL_MAX) -> str | None:
    """``url`` as an encoded ``http(s)`` URL that no chat markup can break out of, or None.

    Refused: other schemes, no host, user info (``https://good.example@evil.example``), IPv6
    literals (their brackets are link markup on Discord), a bad port, whitespace, control or
    invisible characters anywhere, more than ``limit`` characters once encoded.
    """
    if not isinstance(url, str) or not url or len(url) > limit:
        return None
    if clean(url) != url or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if "@" in parts.netloc or "[" in parts.netloc or parts.hostname is None:
        return None
    host = _host(parts.hostname)
    if host is None:
        return None
    netloc = host if port is None else f"{host}:{port}"
    path = quote(_NOT_HEX_ESCAPE.sub("%25", parts.path), safe=_SAFE_PATH)
    out = f"{parts.scheme.lower()}://{netloc}{path}"
    if parts.query:
        out += "?" + quote(_NOT_HEX_ESCAPE.sub("%25", parts.query), safe=_SAFE_QUERY)
    if parts.fragment:
        out += "#" + quote(_NOT_HEX_ESCAPE.sub("%25", parts.fragment), safe=_SAFE_QUERY)
    return out if len(out) <= limit else None


def _host(hostname: str) -> str | None:
    try:
        host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return host if _HOST.fullmatch(host) else None


def with_mentions(
    text: str, platform: str, escape: Callable[[str], str], mention: Callable[[str], str | None]
) -> str:
    """``text`` escaped with ``escape``; for a ``MentionText``, each ``Mention`` on
    ``platform`` is ``mention(user_id)`` (None: an id the platform never issues, shown as
    text). Adjacent text parts are escaped together, so escaping sees whole runs of text."""
    if not isinstance(text, MentionText):
        return escape(text)
    out: list[str] = []
    run: list[str] = []
    for part in text.parts:
        if isinstance(part, Mention):
            shown = mention(part.user_id) if part.platform == platform else None
            if shown is None:
                run.append(part.shown)
                continue
            if run:
                out.append(escape("".join(run)))
                run = []
            out.append(shown)
        else:
            run.append(part)
    if run:
        out.append(escape("".join(run)))
    return "".join(out)

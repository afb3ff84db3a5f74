"""The shared defences for untrusted text and URLs (``adapters.safe_text``)."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from adapters.safe_text import _FORMAT, clean, safe_url

ESC = "\x1b"


def test_terminal_and_control_sequences_lose_their_control_characters() -> None:
    hostile = f"Term {ESC}]8;;http://evil.example{ESC}\\click{ESC}]8;;{ESC}\\ {ESC}[2J\x07\x08x\ry"
    shown = clean(hostile)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", shown)
    # What was hidden is now visible text, not behaviour.
    assert "]8;;http://evil.example" in shown and "[2J" in shown


def test_newlines_and_tabs_stay() -> None:
    assert clean("a\n\tb") == "a\n\tb"


def test_bidi_overrides_and_zero_width_characters_are_removed() -> None:
    assert clean("payments-api\u200b") == "payments-api"
    assert clean("rtl \u202etxt.exe") == "rtl txt.exe"
    assert clean("\ufeffa\u2066b\u2069\u00adc\U000e0041") == "abc"


def test_joiners_stay_inside_emoji_and_scripts_only() -> None:
    family = "\U0001f468\u200d\U0001f469"
    assert clean(family) == family
    assert clean("payments\u200d-api\u200c") == "payments-api"


def test_the_format_list_is_every_format_character() -> None:
    if unicodedata.unidata_version != "14.0.0":  # the list is Unicode 14 (Python 3.11)
        pytest.skip(f"Unicode {unicodedata.unidata_version}")
    removed = re.compile(f"[{_FORMAT}]")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) == "Cf" and char not in "\u200c\u200d":
            assert removed.match(char), hex(code)


@pytest.mark.parametrize(
    "url",
    [
        "url:https://ok.example/x) [Runbook](https://evil.example/",
        "https://ok.example/x) [Runbook](https://evil.example/",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "mailto:someone@example.com",
        "https://payments.example@evil.example/",
        "https://ok.example/\u202egnp.exe",
        "https://ok.example/a\nb",
        "https:///nohost",
        "https://ok.example:99999/",
        "https://[::1]/",
        "//ok.example/x",
        "",
    ],
)
def test_only_clean_http_urls_are_links(url: str) -> None:
    assert safe_url(url) is None


def test_urls_are_encoded_so_no_markup_can_end_them() -> None:
    assert safe_url("https://ok.example/a_b(c)[d]<e>|f'g\"h`i\\j?q=(1)#x|y") == (
        "https://ok.example/a_b%28c%29%5Bd%5D%3Ce%3E%7Cf%27g%22h%60i%5Cj?q=%281%29#x%7Cy"
    )
    assert safe_url("https://github.com/acme/payments-api/tree/main/") == (
        "https://github.com/acme/payments-api/tree/main/"
    )
    assert safe_url("HTTP://Bücher.Example/ü?a=1&b=%41%zz") == (
        "http://xn--bcher-kva.example/%C3%BC?a=1&b=%41%25zz"
    )
    assert safe_url("https://ok.example/" + "a" * 3000) is None

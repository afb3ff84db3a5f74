"""One paging rule for commands and reports (``bot.paging``)."""

from __future__ import annotations

from bot.chat import Reply, Section
from bot.paging import page_lines, page_reply, page_sections

SECTIONS = (
    Section(title="Components", items=tuple(f"c{i}" for i in range(5))),
    Section(title="APIs", items=tuple(f"a{i}" for i in range(3))),
)


def test_a_page_spans_sections_and_repeats_the_heading() -> None:
    first, left = page_sections(SECTIONS, 1, 4)
    assert [(s.title, s.items) for s in first] == [("Components", ("c0", "c1", "c2", "c3"))]
    assert left == 4
    second, left = page_sections(SECTIONS, 2, 4)
    assert [(s.title, s.items) for s in second] == [
        ("Components", ("c4",)),
        ("APIs", ("a0", "a1", "a2")),
    ]
    assert left == 0
    assert page_sections(SECTIONS, 3, 4) == ([], 0)


def test_lines_are_rendered_only_when_on_the_page() -> None:
    rendered: list[int] = []

    def render(n: int) -> str:
        rendered.append(n)
        return f"#{n}"

    lines = [("Small", n) for n in range(3)] + [("Big", n) for n in range(100, 1100)]
    second, left = page_lines(lines, 2, 4, render)
    assert [(s.title, s.items) for s in second] == [("Big", ("#101", "#102", "#103", "#104"))]
    assert left == len(lines) - 8 and rendered == [101, 102, 103, 104]
    flat = [(s.title, item) for s in SECTIONS for item in s.items]
    assert page_lines(flat, 2, 4, str) == page_sections(SECTIONS, 2, 4)


def test_a_report_pages_its_items_as_a_command_does() -> None:
    reply = Reply(title="Gaps", text="summary", sections=(Section(text="lead"), *SECTIONS))
    for page in (1, 2):
        paged = page_reply(reply, page, 4, "/report gaps")
        items = [s for s in paged.sections if s.items]
        assert items == page_sections(SECTIONS, page, 4)[0]
    one = page_reply(reply, 1, 4, "/report gaps")
    assert one.sections[0].text == "lead" and one.more == "/report gaps --page 2"
    assert one.notes == ("4 more not shown",)
    two = page_reply(reply, 2, 4, "/report gaps")
    assert two.title == "Gaps (page 2)" and two.text is None and two.more is None

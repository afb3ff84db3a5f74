"""Paging long lists: ``size`` list items a page, across sections, headings repeated.

Commands (``/owns``, ``/whoowns``) and reports (``/report …``) page the same way, so a page
means the same thing everywhere and ``--page N`` continues where the last page stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from bot.chat import Reply, Section

T = TypeVar("T")


def page_sections(sections: Sequence[Section], page: int, size: int) -> tuple[list[Section], int]:
    """Page ``page`` (from 1) of the sections' list items, and how many items come after it.

    A heading is repeated on every page its items reach; sections keep only their items.
    """
    flat = [(s.title, item) for s in sections for item in s.items]
    return page_lines(flat, page, size, str)


def page_lines(
    lines: Sequence[tuple[str | None, T]], page: int, size: int, render: Callable[[T], str]
) -> tuple[list[Section], int]:
    """``page_sections`` over ``(heading, line)`` pairs whose lines are rendered only when on
    the page (``render``): ``/owns --all`` lists thousands, and shows forty."""
    start = (page - 1) * size
    out: list[Section] = []
    for title, line in lines[start : start + size]:
        item = render(line)
        if out and out[-1].title == title:
            out[-1] = Section(title=title, items=(*out[-1].items, item))
        else:
            out.append(Section(title=title, items=(item,)))
    return out, max(0, len(lines) - start - size)


def page_reply(reply: Reply, page: int, size: int, more: str) -> Reply:
    """Page a reply's list items (``size`` per page); the rest is behind ``more --page N``.

    Sections without items (summaries, fields) stay on the first page, as do the text and
    the buttons; a later page's title says which page it is.
    """
    listed = [s for s in reply.sections if s.items]
    total = sum(len(s.items) for s in listed)
    if total <= size and page == 1:
        return reply
    shown, left = page_sections(listed, page, size)
    leading = [s for s in reply.sections if not s.items] if page == 1 else []
    title = reply.title
    if title and page > 1:
        title = f"{title} (page {page})"
    return Reply(
        title=title,
        text=reply.text if page == 1 else None,
        sections=(*leading, *shown),
        links=reply.links,
        buttons=reply.buttons if page == 1 else (),
        notes=reply.notes + ((f"{left} more not shown",) if left else ()),
        ephemeral=reply.ephemeral,
        more=f"{more} --page {page + 1}" if left else None,
    )

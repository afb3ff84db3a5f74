"""Docs parsing units: anchors against Python-Markdown itself, plain text, mkdocs.yml, queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.chat import MARK_CLOSE, MARK_OPEN
from bot.docs.links import docs_link, fill, github_anchor, page_url
from bot.docs.markdown import inline_text, parse_page, slugify, title_from_path, unique
from bot.docs.mkdocs import docs_dir_error, parse_mkdocs
from bot.docs.search import Term, parse_query

REPO = Path(__file__).resolve().parents[2]
DEMO_DOCS = sorted((REPO / "config" / "demo" / "services").glob("*/docs/*.md"))

TRICKY = """\
Intro text before any heading, with a [link](https://example.com) and `code`.

# Payments API

## Rolling back
## Rolling back
## Rolling back_1
## `deployctl rollback` & friends
## Ünïcödé façade — naïve
## What's new in v2.1?
## **Bold** and _emphasis_ and [a link](x.md)
## snake_case_name stays
## Explicit id {#custom-id}
##No space after hashes
### Closing hashes ###

```bash
# not a heading: a shell comment in a fence
make deploy
```

Setext heading
--------------

Another setext
==============

    # indented: code, not a heading
"""


def markdown_ids(source: str) -> list[tuple[int, str, str]]:
    """(level, id, name) of every heading, as Python-Markdown's toc extension makes them."""
    markdown = pytest.importorskip("markdown", reason="Python-Markdown (a dev extra) is absent")
    md = markdown.Markdown(extensions=["toc", "fenced_code", "attr_list", "tables"])
    md.convert(source)
    out: list[tuple[int, str, str]] = []

    def walk(tokens: list[dict[str, object]]) -> None:
        for token in tokens:
            out.append((int(token["level"]), str(token["id"]), str(token["name"])))  # type: ignore[call-overload]
            walk(token["children"])  # type: ignore[arg-type]

    walk(md.toc_tokens)  # type: ignore[attr-defined]
    return out


def our_ids(source: str) -> list[tuple[int, str]]:
    return [(s.level, s.anchor) for s in parse_page(source).sections if s.level > 0]


@pytest.mark.parametrize("path", DEMO_DOCS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_anchors_match_python_markdown_on_the_demo_docs(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert our_ids(source) == [(level, anchor) for level, anchor, _ in markdown_ids(source)]


def test_anchors_match_python_markdown_on_tricky_headings() -> None:
    expected = markdown_ids(TRICKY)
    assert our_ids(TRICKY) == [(level, anchor) for level, anchor, _ in expected]
    # The cases that matter, spelled out.
    anchors = [a for _, a in our_ids(TRICKY)]
    assert anchors[:4] == ["payments-api", "rolling-back", "rolling-back_1", "rolling-back_2"]
    assert "deployctl-rollback-friends" in anchors
    assert "unicode-facade-naive" in anchors
    assert "custom-id" in anchors
    assert "not-a-heading" not in " ".join(anchors)


def test_sections_keep_plain_text_without_markup() -> None:
    page = parse_page(TRICKY)
    intro = page.sections[0]
    assert (intro.level, intro.anchor) == (0, "")
    assert intro.text == "Intro text before any heading, with a link and code."
    bold = next(s for s in page.sections if s.anchor == "bold-and-emphasis-and-a-link")
    assert bold.title == "Bold and emphasis and a link"
    closing = next(s for s in page.sections if s.anchor == "closing-hashes")
    assert "# not a heading: a shell comment in a fence" in closing.text  # code is searchable
    assert "make deploy" in closing.text
    assert page.title == "Payments API"  # the first level-1 heading


@pytest.mark.parametrize(
    ("markdown_text", "plain"),
    [
        ("Plain words only.", "Plain words only."),
        ("R&amp;D uses <b>bold</b> tags", "R&D uses bold tags"),
        ("\\*not emphasis\\* and ~~gone~~ and ==marked==", "*not emphasis* and gone and marked"),
        ("snake_case_name and __strong__", "snake_case_name and strong"),
        (
            "see <https://example.com/x> or ![diagram](d.png)",
            "see https://example.com/x or diagram",
        ),
        ("`a*b*c` keeps its stars", "a*b*c keeps its stars"),
    ],
)
def test_inline_markup_becomes_plain_text(markdown_text: str, plain: str) -> None:
    assert inline_text(markdown_text) == plain


def test_front_matter_title_wins_and_is_not_text() -> None:
    page = parse_page("---\ntitle: Release notes\ntags: [x]\n---\n# Changes\n\nFixed it.\n")
    assert page.title == "Release notes"
    assert [s.anchor for s in page.sections] == ["changes"]
    assert "tags" not in page.sections[0].text


def test_mark_characters_never_reach_the_index() -> None:
    page = parse_page(f"# T\n\nBrackets {MARK_OPEN}like these{MARK_CLOSE} are ours.\n")
    assert MARK_OPEN not in page.sections[0].text and MARK_CLOSE not in page.sections[0].text


def test_a_heading_without_text_lists_its_subsections() -> None:
    page = parse_page("# Runbook\n\n## Alerts\n\n### High errors\n\nx\n\n### Backlog\n\ny\n")
    alerts = next(s for s in page.sections if s.anchor == "alerts")
    assert alerts.text == "High errors · Backlog"
    assert page.sections[0].text == "Alerts"


def test_word_count_counts_words_of_headings_and_text() -> None:
    assert parse_page("# Two words\n\nthree more words\n").word_count == 5


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("index.md", "Home"),
        ("guides/index.md", "Guides"),
        ("on-call.md", "On call"),
        ("API_usage.md", "API usage"),
    ],
)
def test_titles_from_file_names_follow_mkdocs(path: str, title: str) -> None:
    assert title_from_path(path) == title


def test_slugify_and_unique_are_python_markdowns() -> None:
    markdown = pytest.importorskip("markdown")
    from markdown.extensions.toc import slugify as md_slugify
    from markdown.extensions.toc import unique as md_unique

    for text in ["Hello, World!", "  spaced  out ", "Ça va — très bien", "a_b-c d", "!!!"]:
        assert slugify(text) == md_slugify(text, "-")
    ours: set[str] = set()
    theirs: set[str] = set()
    for anchor in ["x", "x", "x_1", "", ""]:
        assert unique(anchor, ours) == md_unique(anchor, theirs)
    assert markdown is not None


# --- mkdocs.yml -----------------------------------------------------------------------------


def test_mkdocs_nav_is_flattened_with_titles_sections_and_no_external_links() -> None:
    config, problems = parse_mkdocs(
        b"""site_name: Payments
nav:
  - Home: index.md
  - Guides:
      - Setup: guides/setup.md
      - guides/deploy.md
  - Status: https://status.example
  - ./faq.md
markdown_extensions:
  - pymdownx.emoji:
      emoji_index: !!python/name:material.extensions.emoji.twemoji
extra:
  token: !ENV SOME_TOKEN
""",
        "mkdocs.yml",
    )
    assert problems == []
    assert config is not None
    assert config.site_name == "Payments" and config.docs_dir == "docs"
    assert [(e.title, e.path, e.depth, e.section) for e in config.nav or ()] == [
        ("Home", "index.md", 0, None),
        ("Setup", "guides/setup.md", 1, "Guides"),
        (None, "guides/deploy.md", 1, "Guides"),
        (None, "faq.md", 0, None),
    ]


@pytest.mark.parametrize("value", ["/etc", "../x", "..", "docs/../../x", "C:\\docs", "\\\\host\\s"])
def test_docs_dir_may_not_be_absolute_or_climb_out(value: str) -> None:
    assert docs_dir_error(value) is not None
    config, problems = parse_mkdocs(f"site_name: x\ndocs_dir: '{value}'\n".encode(), "mkdocs.yml")
    assert config is not None and config.docs_dir == ""  # refused: nothing of it is read
    assert problems and problems[0].level == "error" and "docs_dir" in problems[0].message


@pytest.mark.parametrize("value", ["docs", "site/docs", "./docs", "docs/../pages"])
def test_relative_docs_dirs_are_fine(value: str) -> None:
    assert docs_dir_error(value) is None


def test_broken_mkdocs_yml_is_an_error_with_its_line() -> None:
    config, problems = parse_mkdocs(b"site_name: x\nnav:\n  - Home: [unclosed\n", "m.yml")
    assert config is None
    assert problems[0].level == "error" and problems[0].line is not None
    assert "invalid YAML" in problems[0].message


# --- queries and links ------------------------------------------------------------------------


def test_query_language() -> None:
    q = parse_query('payments-api "roll back" idempot* the refunds')
    assert q.terms == (
        Term(("payments", "api")),
        Term(("roll", "back")),
        Term(("idempot",), prefix=True),
        Term(("refunds",)),
    )
    assert q.dropped == ("the",)
    assert parse_query("the of and").empty


def test_links_follow_techdocs_mkdocs_and_github_shapes() -> None:
    assert page_url("index.md") == "" and page_url("runbook.md") == "runbook"
    assert page_url("guides/index.md") == "guides" and page_url("a/b.md") == "a/b"
    assert (
        fill(
            "{backstage}/docs/{name}/{page}/#{anchor}",
            {
                "backstage": "https://bs.example",
                "name": "x",
                "page": "",
                "anchor": "",
            },
        )
        == "https://bs.example/docs/x/"
    )
    assert github_anchor("What's new in v2.1?") == "whats-new-in-v21"


def test_a_link_never_escapes_the_repository() -> None:
    from bot.catalog.model import Entity

    entity = Entity.from_document(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "x", "annotations": {"github.com/project-slug": "o/x"}},
            "spec": {},
        }
    )
    common = {"pattern": None, "backstage_url": None, "techdocs_ref": "dir:.", "anchor": ""}
    assert docs_link(entity, repo_path=".", docs_dir="docs", page="a.md", **common) == (
        "https://github.com/o/x/blob/HEAD/docs/a.md"
    )
    assert docs_link(entity, repo_path="../..", docs_dir="docs", page="a.md", **common) is None

"""Catalog YAML parsing: Backstage's reading rules, and hostile input turned into problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from bot.catalog import yamlload
from bot.catalog.yamlload import MAX_DEPTH, MAX_EXPANDED_NODES, parse_documents

GOOD = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: service
  lifecycle: production
  owner: team-a
"""


def yaml_text(text: str) -> bytes:
    return textwrap.dedent(text).encode()


def names(parsed: yamlload.Parsed) -> list[str]:
    return [doc.data["metadata"]["name"] for doc in parsed.documents]


def messages(parsed: yamlload.Parsed) -> list[str]:
    return [str(p) for p in parsed.problems]


# --- Backstage's reading rules ----------------------------------------------------------


def test_multi_document_files_give_every_document_with_its_line() -> None:
    text = GOOD.format(name="a") + "---\n" + GOOD.format(name="b") + "---\n" + GOOD.format(name="c")
    parsed = parse_documents(text.encode(), "multi.yaml")
    assert names(parsed) == ["a", "b", "c"]
    assert [doc.line for doc in parsed.documents] == [1, 10, 19]
    assert parsed.problems == []
    assert parsed.complete


def test_null_documents_are_skipped() -> None:
    # A trailing `---`, an empty document and an explicit `~` are all ignored, as in Backstage.
    text = "---\n" + GOOD.format(name="a") + "---\n---\n~\n---\n" + GOOD.format(name="b") + "---\n"
    parsed = parse_documents(text.encode(), "nulls.yaml")
    assert names(parsed) == ["a", "b"]
    assert parsed.problems == []


def test_an_empty_file_has_no_documents_and_no_problems() -> None:
    parsed = parse_documents(b"", "empty.yaml")
    assert (parsed.documents, parsed.problems, parsed.complete) == ([], [], True)


@pytest.mark.parametrize(
    ("document", "type_name"),
    [("- a\n- b\n", "array"), ("just text\n", "string"), ("42\n", "number"), ("true\n", "boolean")],
)
def test_a_non_object_document_is_a_problem_at_its_line(document: str, type_name: str) -> None:
    text = GOOD.format(name="a") + "---\n" + document + "---\n" + GOOD.format(name="b")
    parsed = parse_documents(text.encode(), "mixed.yaml")
    assert names(parsed) == ["a", "b"]
    assert messages(parsed) == [f"mixed.yaml:10: Expected object at root, got {type_name}"]


def test_a_syntax_error_costs_its_document_and_marks_the_parse_incomplete() -> None:
    # As Backstage's parser, which reads each document on its own: the documents before and
    # after the broken one are kept.
    text = (
        GOOD.format(name="a") + "---\nmetadata: [unclosed\nspec: {}\n---\n" + GOOD.format(name="c")
    )
    parsed = parse_documents(text.encode(), "broken.yaml")
    assert names(parsed) == ["a", "c"]
    assert [d.line for d in parsed.documents] == [1, text.split("\n").index("---", 10) + 2]
    assert not parsed.complete
    [problem] = parsed.problems
    assert (problem.file, problem.line, problem.level) == ("broken.yaml", 11, "error")
    assert problem.message.startswith("YAML error: ")
    assert "flow sequence" in problem.message


def test_merge_keys_are_not_applied() -> None:
    parsed = parse_documents(
        yaml_text(
            """
            base: &base {owner: team-a}
            spec:
              <<: *base
              type: service
            """
        ),
        "merge.yaml",
    )
    [doc] = parsed.documents
    assert doc.data["spec"] == {"<<": {"owner": "team-a"}, "type": "service"}


def test_a_repeated_key_skips_its_document_like_backstage() -> None:
    # Backstage's parser says "Map keys must be unique"; libyaml alone keeps the last value.
    text = GOOD.format(name="twice") + "  owner: team-b\n---\n" + GOOD.format(name="after")
    parsed = parse_documents(text.encode(), "dup.yaml")
    assert names(parsed) == ["after"]
    [problem] = parsed.problems
    assert (problem.file, problem.line) == ("dup.yaml", 9)
    assert "duplicate key 'owner'" in problem.message
    assert not parsed.complete  # the file keeps what it held before
    assert parse_documents(b"a: {x: 1}\nb: {x: 1}\n", "ok.yaml").problems == []


def test_scalars_are_read_as_yaml_1_2_like_backstage() -> None:
    parsed = parse_documents(
        yaml_text(
            """
            a: yes
            b: no
            c: on
            d: off
            e: true
            f: False
            g: 2024-01-01
            h: 2024-01-01T10:00:00Z
            i: 42
            j: "42"
            k: ~
            """
        ),
        "scalars.yaml",
    )
    assert parsed.documents[0].data == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": "off",
        "e": True,
        "f": False,
        "g": "2024-01-01",
        "h": "2024-01-01T10:00:00Z",
        "i": 42,
        "j": "42",
        "k": None,
    }


def test_a_byte_order_mark_is_accepted() -> None:
    parsed = parse_documents(b"\xef\xbb\xbf" + GOOD.format(name="bom").encode(), "bom.yaml")
    assert names(parsed) == ["bom"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: *nowhere\n", "found undefined alias"),
        ("a: &x 1\nb: &x 2\n", "found duplicate anchor"),
        ("? [a, b]\n: c\n", "found unhashable key"),
    ],
)
def test_malformed_yaml_is_a_problem_not_an_exception(text: str, message: str) -> None:
    parsed = parse_documents(text.encode(), "bad.yaml")
    assert parsed.documents == []
    assert not parsed.complete
    [problem] = parsed.problems
    assert problem.message.startswith("YAML error: ")
    assert message in problem.message


# --- Hostile input ------------------------------------------------------------------------


def test_binary_data_is_refused_before_parsing() -> None:
    parsed = parse_documents(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "logo.yaml"
    )
    assert parsed.documents == []
    assert messages(parsed) == ["logo.yaml: binary data: not a YAML text file"]


def test_text_that_is_not_utf8_is_a_problem_with_its_line() -> None:
    parsed = parse_documents(b"a: 1\nb: 2\nc: caf\xe9\n", "latin1.yaml")
    assert parsed.documents == []
    [problem] = parsed.problems
    assert (problem.line, problem.message) == (3, "not valid UTF-8 (invalid continuation byte)")


def billion_laughs(levels: int = 10) -> str:
    lines = ['lol0: &lol0 "lol"']
    for i in range(1, levels):
        refs = ", ".join([f"*lol{i - 1}"] * 10)
        lines.append(f"lol{i}: &lol{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_skipped_and_the_other_documents_are_kept() -> None:
    # Ten levels of ten aliases each: 10^9 nodes once expanded.
    text = (
        GOOD.format(name="before")
        + "---\n"
        + billion_laughs()
        + "---\n"
        + GOOD.format(name="after")
    )
    parsed = parse_documents(text.encode(), "lol.yaml")
    assert names(parsed) == ["before", "after"]
    [problem] = parsed.problems
    assert problem.line == 10
    assert problem.message == (
        f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through aliases "
        "(an alias bomb?); skipped"
    )


def test_ordinary_anchor_reuse_is_fine() -> None:
    parsed = parse_documents(
        yaml_text(
            """
            apiVersion: backstage.io/v1alpha1
            kind: Component
            metadata:
              name: reuse
              labels: &labels {tier: gold}
              annotations:
                a: &slug acme/reuse
                b: *slug
            spec:
              type: service
              lifecycle: production
              owner: team-a
              extra: *labels
            """
        ),
        "reuse.yaml",
    )
    assert parsed.problems == []
    assert parsed.documents[0].data["spec"]["extra"] == {"tier": "gold"}


@pytest.mark.parametrize(
    "text",
    ["a: &r [1, *r]\n", "metadata: &m\n  name: x\n  self: *m\n"],
    ids=["sequence", "mapping"],
)
def test_a_recursive_alias_is_skipped(text: str) -> None:
    # A document that contains itself would hang or crash anything that walks it (JSON, sync).
    parsed = parse_documents((text + "---\n" + GOOD.format(name="ok")).encode(), "loop.yaml")
    assert names(parsed) == ["ok"]
    assert messages(parsed) == [
        "loop.yaml:1: an alias refers to the node that contains it (a recursive document); skipped"
    ]


def deep_flow(depth: int) -> str:
    return "spec: " + "[" * depth + "]" * depth + "\n"


def deep_block_mapping(depth: int) -> str:
    return "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "leaf\n"


def deep_block_sequence(depth: int) -> str:
    return "spec:\n" + "- " * depth + "leaf\n"


def deep_mixed_flow(depth: int) -> str:
    return "spec: " + "{a: [" * (depth // 2) + "1" + "]}" * (depth // 2) + "\n"


@pytest.mark.parametrize(
    ("deep", "depth"),
    [
        (deep_flow, MAX_DEPTH + 1),
        (deep_block_mapping, MAX_DEPTH + 1),
        (deep_block_sequence, MAX_DEPTH + 1),
        (deep_mixed_flow, MAX_DEPTH + 2),
        (deep_flow, 100_000),  # 200 kB; libyaml's own composer dies of it (C stack overflow)
        (deep_mixed_flow, 100_000),
        (deep_block_sequence, 50_000),
        (deep_block_mapping, 1_500),  # 1 MB of indentation
    ],
    ids=lambda v: v.__name__ if callable(v) else str(v),
)
def test_nesting_too_deep_stops_the_parse_without_crashing(
    deep: Callable[[int], str], depth: int
) -> None:
    text = GOOD.format(name="before") + "---\n" + deep(depth) + "---\n" + GOOD.format(name="x")
    parsed = parse_documents(text.encode(), "deep.yaml")
    # Like a syntax error: the documents before are kept, the parse is incomplete (so sync keeps
    # what the file held before), and the problem names the line where the depth ran out.
    assert names(parsed) == ["before"]
    assert not parsed.complete
    [problem] = parsed.problems
    assert problem.file == "deep.yaml"
    assert problem.line is not None and problem.line >= 10
    assert problem.message == (
        f"nesting deeper than {MAX_DEPTH} levels; the rest of the file is not read"
    )


def test_nesting_up_to_the_limit_is_accepted() -> None:
    parsed = parse_documents(deep_flow(MAX_DEPTH - 10).encode(), "ok.yaml")
    assert parsed.problems == []
    value = parsed.documents[0].data["spec"]
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    assert depth == MAX_DEPTH - 10


def test_the_flat_composer_reads_exactly_what_libyaml_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Files that might nest deeply are composed from events by our own code; it must agree
    # with libyaml's composer on everything a catalog file can hold.
    text = yaml_text(
        """
        apiVersion: backstage.io/v1alpha1
        kind: API
        metadata:
          name: flat
          title: 'Quoted: title'
          description: >
            Folded
            text
          labels: &l {tier: "1", on: yes}
          annotations: {a: *l}
          tags: [a, b, c]
        spec:
          type: openapi
          lifecycle: production
          owner: team-a
          definition: |
            openapi: 3.0.0
            info: {title: x}
          numbers: [1, 1.5, 0x1f, .inf, -3]
          when: 2024-01-01
          ? complex
          : key
          <<: {merge: no}
          explicit: !!str 123
          empty:
          nested:
            - - a
              - b
            - {c: [d, {e: f}]}
        ---
        second: document
        ...
        ---
        - not an object
        """
    )
    expected = parse_documents(text, "flat.yaml")
    monkeypatch.setattr(yamlload, "SAFE_COMPOSE_DEPTH", -1)
    assert parse_documents(text, "flat.yaml") == expected
    assert len(expected.documents) == 2
    assert messages(expected) == ["flat.yaml:35: Expected object at root, got array"]


# --- The direct path: values built from events, identical to the full path ---------------

DIRECT_SAMPLES = [
    "a: 1\nb: 0x1F\nc: 0o17\nd: 1_000\ne: 1:30\nf: -0\ng: +12\n",
    "a: 1.5\nb: .inf\nc: -.Inf\nd: .nan\ne: 1e3\nf: 6.8523015e+5\n",
    "a: true\nb: False\nc: yes\nd: on\ne: off\nf: NO\ng: TRUE\n",
    "a: ~\nb: null\nc:\nd: Null\ne: ''\n",
    "a: 2024-01-01\nb: 2001-12-14t21:59:43.10-05:00\n",
    "a: '123'\nb: \"true\"\nc: 'null'\nd: \"\\u00e9t\\u00e9\"\n",
    "text: |\n  line one\n  line two\nfolded: >\n  folded\n  text\n",
    "flow: {a: [1, 2, {b: c}], d: []}\nempty: {}\n",
    "<<: merged-key-kept\n1: int key\n2.5: float key\n~: null key\n",
    "list:\n  - a: 1\n    b: [x, y]\n  - - nested\n    - deeper\n",
    "---\nkind: A\n---\n---\nkind: B\n...\n",
    "# only a comment\n",
    "- a top-level list\n",
    "plain scalar document\n",
    "a: =\n",  # the YAML 1.1 value tag: no constructor, as libyaml's path says
    "a: !!str 5\n",
    "a: !custom x\n",
    "? [complex, key]\n: value\n",
    "a: 1\na: 2\n",
    "1: one\ntrue: also one\n",
    "a: [unclosed\n",
    "a: b: c\n",
    "k\u00e9y: v\u00e4lue \U0001f600\n",
]


def _full_path(text: str) -> list[tuple[object, int]] | str:
    loader = yamlload._Loader(text)
    try:
        return [(loader.construct_document(n), line) for n, line in yamlload._compose(loader)]
    except Exception as exc:
        return type(exc).__name__
    finally:
        loader.dispose()


def _same(a: object, b: object) -> bool:
    """Equal, with equal types all the way down (1 == True == 1.0 would hide a difference)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


@pytest.mark.parametrize("text", DIRECT_SAMPLES)
def test_the_direct_path_builds_exactly_what_the_full_path_builds_or_steps_aside(
    text: str,
) -> None:
    loader = yamlload._Loader(text)
    try:
        direct: list[tuple[object, int]] | None = yamlload._construct_direct(loader)
    except Exception:
        direct = None  # unusual or broken: parse_documents takes the full path
    finally:
        loader.dispose()
    full = _full_path(text)
    if direct is not None:
        assert isinstance(full, list)
        assert _same(direct, full), (direct, full)
    # And parse_documents, whichever path it took, agrees with the full path.
    parsed = parse_documents(text.encode(), "f.yaml")
    if isinstance(full, list):
        objects = [(v, line) for v, line in full if isinstance(v, dict)]
        assert _same([(d.data, d.line) for d in parsed.documents], objects)


def test_the_direct_path_steps_aside_for_everything_it_does_not_build() -> None:
    for text in ("a: !!str 5\n", "a: !custom x\n", "? [k]\n: v\n", "a: 1\na: 2\n",
                 "1: x\ntrue: y\n", "a: =\n"):  # fmt: skip
        loader = yamlload._Loader(text)
        with pytest.raises(yamlload._Unusual):
            yamlload._construct_direct(loader)
        loader.dispose()
    assert parse_documents(b"a: 1\na: 2\n", "f.yaml").problems[0].message == (
        "duplicate key 'a' (map keys must be unique); document skipped"
    )


def test_the_direct_path_agrees_with_the_full_path_on_real_catalogs() -> None:
    from tests.conftest import REPO, SHARED

    files = sorted((REPO / "config").rglob("*.yaml"))
    files += sorted((SHARED / "data").rglob("*.yaml")) if SHARED.exists() else []
    checked = 0
    for path in files:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        if "&" in text:
            continue  # anchors always take the guarded full path
        loader = yamlload._Loader(text)
        try:
            direct = yamlload._construct_direct(loader)
        except Exception:
            continue
        finally:
            loader.dispose()
        assert _same(direct, _full_path(text)), path
        checked += 1
    # The demo's files alone, or with ../shared's upstream catalogs beside them.
    assert checked >= (40 if SHARED.exists() else 20)


def test_a_number_pyyaml_cannot_read_costs_its_document_not_the_file() -> None:
    # An explicit !!int on text that is no integer.
    text = (
        "kind: Component\nmetadata:\n  name: a\n  annotations: {x: !!int 0b_}\n"
        "---\nkind: Component\nmetadata:\n  name: b\n"
    )
    parsed = parse_documents(text.encode(), "f.yaml")
    assert [d.data["metadata"]["name"] for d in parsed.documents] == ["b"]
    assert not parsed.complete  # the file keeps what it held before
    (problem,) = parsed.problems
    assert (problem.file, problem.line) == ("f.yaml", 1)
    assert problem.message == ("a value cannot be read (not an integer: '0b_'); document skipped")


def test_a_deep_document_is_reported_as_too_deep_whatever_libyaml_refuses_first() -> None:
    # libyaml 0.2.5 builds stop at 1,000 flow levels in their scanner, with their own words,
    # before the events reach our depth check; older builds do not. The depth is counted here
    # from tokens, so the answer is Callboard's either way.
    from bot.catalog.yamlload import _too_deep_line

    deep = "name: x\nspec: " + "[" * 5_000 + "]" * 5_000 + "\n"
    assert _too_deep_line(deep, None) == 2
    assert _too_deep_line(deep, 1) is None  # the limit is passed after the line libyaml named
    block = "".join(f"{' ' * i}k{i}:\n" for i in range(MAX_DEPTH + 5)) + " " * 300 + "v: 1\n"
    assert _too_deep_line(block, None) == MAX_DEPTH + 1
    assert _too_deep_line("a: [[[1]]]\nb: 'unterminated\n", None) is None  # another mistake
    shallow = "a: [[[1]]]\n" * 400
    assert _too_deep_line(shallow, None) is None


# The YAML 1.2 core schema, as Backstage's parser (the `yaml` package, its default) reads plain
# scalars: text -> the value. Where YAML 1.1 differs, the comment says what 1.1 made of it.
YAML_12_CORE = {
    "2:30": "2:30",  # 1.1: 150 (sexagesimal)
    "1_000": "1_000",  # 1.1: 1000
    "0b101": "0b101",  # 1.1: 5
    "012": 12,  # 1.1: 10 (octal)
    "0o17": 15,  # 1.1: a string
    "0x1F": 31,
    "1e3": 1000.0,  # 1.1: a string (its floats need a dot)
    "-1.5E-2": -0.015,
    ".5": 0.5,
    "1.": 1.0,
    "+12": 12,
    "-0": 0,
    ".inf": float("inf"),
    "-.Inf": float("-inf"),
    "yes": "yes",  # 1.1: True
    "off": "off",  # 1.1: False
    "True": True,
    "FALSE": False,
    "~": None,
    "Null": None,
    "2024-01-01": "2024-01-01",  # 1.1: a date
    "0x": "0x",
    "0o8": "0o8",
    "1e": "1e",
    "+0x1F": "+0x1F",
    "1.2.3": "1.2.3",
    "._5": "._5",
}


@pytest.mark.parametrize(("text", "expected"), list(YAML_12_CORE.items()))
def test_plain_scalars_are_read_by_the_yaml_12_core_schema(text: str, expected: object) -> None:
    doc = f"kind: Component\nmetadata:\n  name: a\n  annotations:\n    v: {text}\n"
    for path in ("fast", "full"):
        # The fast path builds values from events; an anchor sends a file down the full path.
        body = doc if path == "fast" else doc + "  labels: &l {}\n"
        parsed = parse_documents(body.encode(), "f.yaml")
        assert parsed.problems == [], path
        value = parsed.documents[0].data["metadata"]["annotations"]["v"]
        assert value == expected and type(value) is type(expected), (path, value)


def test_nan_is_a_float_by_the_yaml_12_core_schema() -> None:
    parsed = parse_documents(b"a: .NaN\n", "f.yaml", objects_only=False)
    value = parsed.documents[0].data["a"]
    assert isinstance(value, float) and value != value


def test_an_unknown_tag_is_a_warning_and_the_value_is_kept() -> None:
    text = (
        "kind: Component\nmetadata:\n  name: a\n  description: !Sub 'arn:${AWS::Region}'\n"
        "  labels: !Labels {team: x}\n  tags: !Tags [a, b]\n"
        "  annotations: {cmd: !python/object:os.system echo}\n"
    )
    parsed = parse_documents(text.encode(), "f.yaml")
    [doc] = parsed.documents
    assert parsed.complete
    meta = doc.data["metadata"]
    assert meta["description"] == "arn:${AWS::Region}"
    assert meta["labels"] == {"team": "x"} and meta["tags"] == ["a", "b"]
    assert meta["annotations"] == {"cmd": "echo"}  # never a Python object
    assert [(p.level, p.line) for p in parsed.problems] == [("warning", n) for n in (4, 5, 6, 7)]
    assert all("!" in p.message and p.file == "f.yaml" for p in parsed.problems)


def test_every_syntax_error_of_a_file_is_reported_with_its_line_up_to_a_cap() -> None:
    broken = "metadata: [unclosed\nspec: {}\n"
    text = "---\n".join([GOOD.format(name="a"), broken, GOOD.format(name="b"), "a: b: c\n", broken])
    lines = text.split("\n")
    parsed = parse_documents(text.encode(), "many.yaml")
    assert names(parsed) == ["a", "b"]
    assert not parsed.complete
    assert [d.line for d in parsed.documents] == [1, lines.index("---", 10) + 2]
    assert [p.level for p in parsed.problems] == ["error"] * 3
    assert all(p.message.startswith("YAML error: ") for p in parsed.problems)
    # Each error is on a line of its own document.
    starts = [i + 1 for i, line in enumerate(lines) if line == "---"]
    at = [p.line or 0 for p in parsed.problems]
    assert at == sorted(at) and len({sum(s <= a for s in starts) for a in at}) == 3

    many = "---\n".join([broken] * (yamlload.MAX_YAML_ERRORS + 5) + [GOOD.format(name="z")])
    capped = parse_documents(many.encode(), "many.yaml")
    assert names(capped) == []
    assert len(capped.problems) == yamlload.MAX_YAML_ERRORS + 1
    assert capped.problems[-1].message == (
        f"{yamlload.MAX_YAML_ERRORS} YAML errors; the rest of the file is not read"
    )


@pytest.mark.parametrize(
    ("ending", "expected"),
    [("|\n  hello", "hello\n"), (">\n  hello\n  there", "hello there\n"), ("|-\n  hi", "hi"),
     ("plain", "plain"), ("'quoted'", "quoted"), ("|\n  hello\n", "hello\n")],
)  # fmt: skip
def test_a_block_scalar_ending_the_file_keeps_its_line_break(ending: str, expected: str) -> None:
    # Backstage's parser gives `|` and `>` their final line break even when the file has no
    # final newline; libyaml alone would not.
    parsed = parse_documents(f"a: 1\nb: {ending}".encode(), "f.yaml")
    assert parsed.documents[0].data["b"] == expected

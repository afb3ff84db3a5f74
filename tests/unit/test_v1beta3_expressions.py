"""``${{ }}`` expressions rendered as Backstage (Nunjucks) renders them, in Jinja's sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from bot.scaffold.v1beta3 import expressions as ex

CTX: dict[str, Any] = {
    "parameters": {
        "name": "checkout-api",
        "tags": ["python", "core"],
        "empty": [],
        "obj": {},
        "count": 3,
        "ratio": 2.5,
        "whole": 4.0,
        "flag": False,
        "repoUrl": "github.com?owner=acme&repo=checkout-api",
        "owner": "group:default/team-payments",
        "nested": {"items": "an items key", "inner": {"list": ["a", "b"]}},
    },
    "steps": {"publish": {"output": {"remoteUrl": "https://example.com/r"}}},
    "user": {"ref": "user:default/ana"},
}


def value(source: str, ctx: dict[str, Any] | None = None) -> Any:
    env = ex.environment()
    return ex.render_tree(env, {"v": source}, ctx or CTX).get("v", "<dropped>")


def text(source: str, values: dict[str, Any] | None = None, **kw: Any) -> str:
    return ex.render_string(ex.environment(**kw), source, values or CTX)


def test_a_sole_interpolation_keeps_its_type() -> None:
    assert value("${{ parameters.tags }}") == ["python", "core"]
    assert value("${{ parameters.count }}") == 3
    assert value("${{ parameters.flag }}") is False
    assert value("${{ parameters.nested.inner }}") == {"list": ["a", "b"]}
    assert value("${{ parameters.name }}") == "checkout-api"


def test_anything_around_an_interpolation_makes_a_string() -> None:
    assert value(" ${{ parameters.count }}") == " 3"
    assert value("${{ parameters.count }}${{ parameters.count }}") == "33"
    assert value("n=${{ parameters.tags }}") == "n=python,core"


def test_an_undefined_value_drops_its_key() -> None:
    assert value("${{ parameters.missing }}") == "<dropped>"
    assert value("${{ parameters.missing.deeper.still }}") == "<dropped>"
    assert value("[${{ parameters.missing }}]") == "[]"


def test_values_print_as_javascript_prints_them() -> None:
    assert text("${{ true }} ${{ parameters.flag }} ${{ null }}|") == "true false |"
    assert text("${{ parameters.tags }} ${{ parameters.obj }}") == "python,core [object Object]"
    assert text("${{ parameters.whole }} ${{ parameters.ratio }} ${{ 10 / 4 }}") == "4 2.5 2.5"
    assert text("${{ 2.5 | round }} ${{ 2.4 | round }}") == "3 2"


def test_javascript_truthiness_inside_templates() -> None:
    assert text("{% if parameters.empty %}yes{% endif %}") == "yes"
    assert text("{% if parameters.obj %}yes{% endif %}") == "yes"
    assert text("{% if parameters.missing %}yes{% else %}no{% endif %}") == "no"


def test_the_step_if_rule_is_backstages_is_truthy() -> None:
    assert ex.is_truthy([]) is False
    assert ex.is_truthy({}) is True
    assert ex.is_truthy("false") is True
    assert ex.is_truthy(0) is False


def test_strict_equality_and_object_literals() -> None:
    assert value("${{ parameters.count === 3 }}") is True
    assert value("${{ parameters.name !== 'checkout-api' }}") is False
    assert value("${{ 'a === b' }}") == "a === b"
    assert value("${{ {kind: 'x', n: 1} }}") == {"kind": "x", "n": 1}


def test_plus_joins_a_string_with_anything() -> None:
    assert value("${{ parameters.name + '-' + parameters.count }}") == "checkout-api-3"


def test_javascript_members_of_strings_and_lists() -> None:
    assert value("${{ parameters.name.length }}") == 12
    assert value("${{ parameters.name.toUpperCase() }}") == "CHECKOUT-API"
    assert value("${{ parameters.name.split('-') }}") == ["checkout", "api"]
    assert value("${{ parameters.tags.includes('core') }}") is True
    assert value("${{ parameters.tags.length }}") == 2


def test_a_mapping_key_shadows_a_python_method() -> None:
    assert value("${{ parameters.nested.items }}") == "an items key"
    assert value("${{ parameters.obj.keys }}") == "<dropped>"


def test_parse_repo_url() -> None:
    assert value("${{ parameters.repoUrl | parseRepoUrl }}") == {
        "host": "github.com",
        "owner": "acme",
        "repo": "checkout-api",
    }
    assert value("${{ parameters.repoUrl | projectSlug }}") == "acme/checkout-api"
    with pytest.raises(ex.ExpressionError, match="No matching integration"):
        ex.parse_repo_url("git.example.com?owner=a&repo=b", ex.DEFAULT_INTEGRATIONS)
    with pytest.raises(ex.ExpressionError, match="missing owner"):
        ex.parse_repo_url("github.com?repo=b", ex.DEFAULT_INTEGRATIONS)
    assert ex.parse_repo_url("git.example.com?owner=a&repo=b", {"git.example.com": "github"})


def test_parse_entity_ref_and_pick() -> None:
    assert value("${{ parameters.owner | parseEntityRef }}") == {
        "kind": "group",
        "namespace": "default",
        "name": "team-payments",
    }
    assert value("${{ parameters.owner | parseEntityRef | pick('name') }}") == "team-payments"
    assert value("${{ 'money' | parseEntityRef({ defaultKind: 'system' }) }}") == {
        "kind": "system",
        "namespace": "default",
        "name": "money",
    }
    with pytest.raises(ex.ExpressionError, match="missing or empty kind"):
        ex.parse_entity_ref("team-a")
    assert value("${{ parameters.nested | pick('inner.list[1]') }}") == "b"


def test_nunjucks_builtins_that_differ_from_jinja() -> None:
    assert text("${{ parameters.tags | dump }}") == '["python","core"]'
    assert text("${{ {'a': [1]} | dump(2) }}") == '{\n  "a": [\n    1\n  ]\n}'
    assert text("${{ 'hello big world' | title }}") == "Hello Big World"
    assert text("${{ 'a\nb' | indent(2) }}") == "a\n  b"
    assert text("${{ 'the quick brown fox' | truncate(12) }}") == "the quick..."
    assert text("${{ parameters.tags | string }}") == "python,core"
    assert text("${{ parameters.missing | default('x') }}") == "x"


def test_a_failing_leaf_is_kept_as_written_and_reported() -> None:
    seen: list[str] = []
    env = ex.environment()
    out = ex.render_tree(
        env, {"v": "${{ 'nohost' | parseRepoUrl }}"}, CTX, lambda s, why: seen.append(why)
    )
    assert out == {"v": "${{ 'nohost' | parseRepoUrl }}"}
    assert seen and "No matching integration" in seen[0]


def test_user_input_is_data_never_template_code() -> None:
    ctx = {"parameters": {"name": "${{ secrets.token }}{% for x in range(10**9) %}{% endfor %}"}}
    assert value("${{ parameters.name }}", ctx) == ctx["parameters"]["name"]
    assert text("x ${{ values.name }}", {"values": ctx["parameters"]}).startswith("x ${{ secrets")


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(ex.ExpressionError):
        text("${{ ''.__class__.__mro__[1].__subclasses__() }}", compat=True)
    assert value("${{ parameters.name.__class__ }}") == "<dropped>"


def test_cookiecutter_compat_uses_double_braces_and_jsonify() -> None:
    out = text(
        "{{ cookiecutter.tags | jsonify }} ${{ x }}", {"cookiecutter": {"tags": ["a"]}}, compat=True
    )
    assert out == '["a"] $'  # in compat mode ``{{ x }}`` is the interpolation


def test_a_files_own_newlines_are_kept() -> None:
    assert text("a\r\n${{ parameters.count }}\r\n") == "a\r\n3\r\n"
    assert text("{% if true %}a{% endif %}\r\nb\r\n") == "a\r\nb\r\n"
    assert text("no tags\r\n") == "no tags\r\n"


def test_interpolation_only_text_renders_as_the_full_engine_does() -> None:
    cases = [
        "${{ parameters.tags }} and ${{ '}}' }} and ${{ parameters.missing }}|",
        "${{ parameters.count === 3 }} ${{ {a: 1} | dump }} ${{ parameters.name | upper }}",
        "x ${{- parameters.count }} y",
    ]
    env = ex.environment()
    for source in cases:
        full = env.from_string(ex._strict_equality(source)).render(ex._context(CTX))
        assert text(source) == full
    with pytest.raises(ex.ExpressionError):
        text("unclosed ${{ parameters.count ")

"""Backstage entity validation: each rule with valid and invalid cases, plus parity with the
upstream JSON schemas over the shared example catalog."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.catalog.validation import (
    is_valid_namespace,
    is_valid_object_name,
    is_valid_tag,
    validate_entity,
)

NAME_EXPECTATION = (
    "a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], "
    "at most 63 characters in total"
)
TAG_EXPECTATION = (
    "a string of sequences of [a-z0-9:+#] separated by [-], at most 63 characters in total"
)
NAMESPACE_EXPECTATION = (
    "a string that is sequences of [a-z0-9] separated by [-], at most 63 characters in total"
)
PREFIX_SUFFIX = "a valid prefix and/or suffix"
V1 = "backstage.io/v1alpha1"

SPECS: dict[str, dict[str, Any]] = {
    "Component": {"type": "service", "lifecycle": "production", "owner": "team-a"},
    "API": {
        "type": "openapi",
        "lifecycle": "production",
        "owner": "team-a",
        "definition": "openapi: 3.0.0",
    },
    "Resource": {"type": "database", "owner": "team-a"},
    "System": {"owner": "team-a"},
    "Domain": {"owner": "team-a"},
    "Group": {"type": "team", "children": []},
    "User": {"memberOf": []},
    "Location": {},
    "Template": {"type": "service", "steps": [{"action": "fetch:template"}]},
    "AiResource": {"type": "prompt", "lifecycle": "production", "owner": "team-a"},
}
API_VERSIONS = {"Template": "scaffolder.backstage.io/v1beta3"}


def entity(kind: str = "Component", /, **overrides: Any) -> dict[str, Any]:
    """A valid entity of ``kind``; keyword arguments replace root fields (None deletes)."""
    doc: dict[str, Any] = {
        "apiVersion": API_VERSIONS.get(kind, V1),
        "kind": kind,
        "metadata": {"name": "thing"},
        "spec": copy.deepcopy(SPECS[kind]),
    }
    for key, value in overrides.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def with_meta(**fields: Any) -> dict[str, Any]:
    return entity(metadata={"name": "thing", **fields})


def with_spec(kind: str, **fields: Any) -> dict[str, Any]:
    doc = entity(kind)
    doc["spec"].update(fields)
    return doc


def without_spec(kind: str, field: str) -> dict[str, Any]:
    doc = entity(kind)
    del doc["spec"][field]
    return doc


def not_valid(path: str, expected: str, value: str) -> str:
    return f'"{path}" is not valid; expected {expected} but found "{value}"'


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_a_minimal_entity_of_each_kind_is_valid(kind: str) -> None:
    assert validate_entity(entity(kind)) == []


# --- Names, namespaces, tags ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a", "Z", "7", "a-b_c.d", "CamelCase", "a" * 63, "a--b", "a__b", "1.2.3"]
)
def test_valid_object_names(name: str) -> None:
    assert is_valid_object_name(name)
    assert validate_entity(entity(metadata={"name": name})) == []


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "_a", "a.", "a b", "a" * 64, "a/b", "a:b", "ä", "a\n", "a@b"]
)
def test_invalid_object_names(name: str) -> None:
    assert not is_valid_object_name(name)
    assert validate_entity(entity(metadata={"name": name})) == [
        not_valid("metadata.name", NAME_EXPECTATION, name)
    ]


def test_the_documented_name_message() -> None:
    assert validate_entity(entity(metadata={"name": "invalid component"})) == [
        '"metadata.name" is not valid; expected a string that is sequences of [a-zA-Z0-9] '
        "separated by any of [-_.], at most 63 characters in total but found "
        '"invalid component"'
    ]


@pytest.mark.parametrize("namespace", ["default", "a", "a-b", "a--b", "x1", "0", "n" * 63])
def test_valid_namespaces(namespace: str) -> None:
    assert is_valid_namespace(namespace)
    assert validate_entity(with_meta(namespace=namespace)) == []


@pytest.mark.parametrize(
    "namespace", ["", "Default", "a_b", "a.b", "-a", "a-", "a b", "n" * 64, "ä"]
)
def test_invalid_namespaces(namespace: str) -> None:
    assert not is_valid_namespace(namespace)
    assert validate_entity(with_meta(namespace=namespace)) == [
        not_valid("metadata.namespace", NAMESPACE_EXPECTATION, namespace)
    ]


@pytest.mark.parametrize(
    "tag", ["go", "java", "c++", "c#", "k8s:prod", "a-b", "a-b-c", "1", "t" * 63, ":", "+#"]
)
def test_valid_tags(tag: str) -> None:
    assert is_valid_tag(tag)
    assert validate_entity(with_meta(tags=["ok", tag])) == []


@pytest.mark.parametrize(
    "tag",
    ["", "Go", "JAVA", "a--b", "-a", "a-", "go 1.15.3", "a.b", "a_b", "t" * 64, "a/b", "ü"],
)
def test_invalid_tags(tag: str) -> None:
    assert not is_valid_tag(tag)
    assert validate_entity(with_meta(tags=["ok", tag])) == [
        not_valid("metadata.tags[1]", TAG_EXPECTATION, tag)
    ]


def test_tags_must_be_a_list_of_strings() -> None:
    assert validate_entity(with_meta(tags="go")) == ['"metadata.tags" must be an array, found str']
    assert validate_entity(with_meta(tags=["go", 1])) == [
        '"metadata.tags[1]" must be a string, found int'
    ]


@pytest.mark.parametrize("value", [None, 5, ["a"], {"a": 1}])
def test_public_predicates_reject_non_strings(value: Any) -> None:
    assert not is_valid_object_name(value)
    assert not is_valid_namespace(value)
    assert not is_valid_tag(value)


# --- Envelope: apiVersion, kind, root fields --------------------------------------------------


@pytest.mark.parametrize(
    "api_version", ["v1", "my-company.net/v1", "a.b.c/V1beta2", "example.com/" + "v" * 63]
)
def test_valid_but_foreign_api_versions_only_fail_the_kind_check(api_version: str) -> None:
    assert validate_entity(entity(apiVersion=api_version)) == [
        "No processor recognized the entity component:default/thing as valid, "
        "possibly caused by a foreign kind or apiVersion"
    ]


@pytest.mark.parametrize(
    "api_version",
    [
        "",
        "a/b/c",
        "Backstage.io/v1alpha1",
        "backstage.io/",
        "/v1",
        "backstage.io/v1-alpha1",
        "1.0",
        "example.com/" + "v" * 64,
        "exa_mple.com/v1",
    ],
)
def test_invalid_api_versions(api_version: str) -> None:
    problems = validate_entity(entity(apiVersion=api_version))
    assert problems[0] == not_valid("apiVersion", PREFIX_SUFFIX, api_version)
    assert problems[1].startswith("No processor recognized the entity component:default/thing")


@pytest.mark.parametrize("api_version", ["backstage.io/v1alpha1", "backstage.io/v1beta1"])
def test_builtin_kinds_accept_both_backstage_api_versions(api_version: str) -> None:
    assert validate_entity(entity(apiVersion=api_version)) == []


@pytest.mark.parametrize("kind", ["My-Kind", "1Kind", "K" * 64, "Kind_A", ""])
def test_invalid_kinds(kind: str) -> None:
    problems = validate_entity(entity("Component") | {"kind": kind})
    assert problems[0] == not_valid(
        "kind",
        "a string that is a sequence of [a-zA-Z][a-z0-9A-Z], at most 63 characters in total",
        kind,
    )
    assert problems[1].startswith(f"No processor recognized the entity {kind.lower()}:")


@pytest.mark.parametrize("kind", ["Widget", "component", "COMPONENT", "Environment"])
def test_foreign_kinds_are_not_recognised(kind: str) -> None:
    doc = entity("Component") | {"kind": kind}
    doc["metadata"] = {"name": "My-Thing", "namespace": "team-x"}
    assert validate_entity(doc) == [
        f"No processor recognized the entity {kind.lower()}:team-x/my-thing as valid, "
        "possibly caused by a foreign kind or apiVersion"
    ]


@pytest.mark.parametrize(
    ("kind", "api_version"),
    [
        ("Component", "backstage.io/v1beta2"),
        ("Template", "backstage.io/v1alpha1"),
        ("Template", "scaffolder.backstage.io/v1beta2"),
        ("AiResource", "backstage.io/v1beta1"),
        ("Component", "scaffolder.backstage.io/v1beta3"),
    ],
)
def test_a_known_kind_with_a_foreign_api_version_is_not_recognised(
    kind: str, api_version: str
) -> None:
    assert validate_entity(entity(kind, apiVersion=api_version)) == [
        f"No processor recognized the entity {kind.lower()}:default/thing as valid, "
        "possibly caused by a foreign kind or apiVersion"
    ]


@pytest.mark.parametrize("field", ["relations", "status", "foo", "Spec"])
def test_foreign_root_fields(field: str) -> None:
    assert validate_entity(entity() | {field: []}) == [f"Unknown field {field}"]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("apiVersion", '"apiVersion" is required'),
        ("kind", '"kind" is required'),
        ("metadata", '"metadata" is required'),
        ("spec", '"spec" is required for kind Component'),
    ],
)
def test_required_root_fields(field: str, expected: str) -> None:
    assert validate_entity(entity(**{field: None})) == [expected]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("apiVersion", 1, '"apiVersion" must be a string, found int'),
        ("kind", ["Component"], '"kind" must be a string, found list'),
        ("metadata", "thing", '"metadata" must be an object, found str'),
        ("spec", ["x"], '"spec" must be an object, found list'),
        ("spec", None, '"spec" must be an object, found null'),
    ],
)
def test_root_field_types(field: str, value: Any, expected: str) -> None:
    doc = entity()
    doc[field] = value
    assert validate_entity(doc) == [expected]


@pytest.mark.parametrize("doc", [[], "Component", None, 5])
def test_a_document_that_is_not_an_object(doc: Any) -> None:
    problems = validate_entity(doc)
    assert len(problems) == 1
    assert problems[0].startswith("Entity must be an object, found ")


# --- Metadata -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, '"metadata.name" is required'),
        ({"name": 5}, '"metadata.name" must be a string, found int'),
        ({"name": None}, '"metadata.name" must be a string, found null'),
        ({"name": "a", "namespace": None}, '"metadata.namespace" must be a string, found null'),
        ({"name": "a", "namespace": 1}, '"metadata.namespace" must be a string, found int'),
        ({"name": "a", "uid": ""}, '"metadata.uid" must not be empty'),
        ({"name": "a", "etag": 3}, '"metadata.etag" must be a string, found int'),
    ],
)
def test_metadata_identity_fields(metadata: dict[str, Any], expected: str) -> None:
    assert validate_entity(entity(metadata=metadata)) == [expected]


@pytest.mark.parametrize("title", ["Payments API", "x", " "])
def test_valid_titles(title: str) -> None:
    assert validate_entity(with_meta(title=title)) == []


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("", '"metadata.title" must not be empty'),
        (5, '"metadata.title" must be a string, found int'),
        (None, '"metadata.title" must be a string, found null'),
        (["a"], '"metadata.title" must be a string, found list'),
    ],
)
def test_invalid_titles(title: Any, expected: str) -> None:
    assert validate_entity(with_meta(title=title)) == [expected]


@pytest.mark.parametrize(
    ("description", "ok"), [("", True), ("One line.", True), (5, False), (True, False)]
)
def test_descriptions(description: Any, ok: bool) -> None:
    problems = validate_entity(with_meta(description=description))
    expected = f'"metadata.description" must be a string, found {type(description).__name__}'
    assert problems == ([] if ok else [expected])


@pytest.mark.parametrize(
    "key", ["a", "product_name", "backstage.io/custom", "a.b-c.io/x.y", "example.com/" + "k" * 63]
)
@pytest.mark.parametrize("mapping", ["labels", "annotations"])
def test_valid_label_and_annotation_keys(mapping: str, key: str) -> None:
    assert validate_entity(with_meta(**{mapping: {key: "value"}})) == []


@pytest.mark.parametrize(
    "key",
    ["a/b/c", "/a", "a/", "", "my key", "Example.com/a", "ex_ample.com/a", "-a", "k" * 64, "a:b"],
)
@pytest.mark.parametrize("mapping", ["labels", "annotations"])
def test_invalid_label_and_annotation_keys(mapping: str, key: str) -> None:
    assert validate_entity(with_meta(**{mapping: {key: "value"}})) == [
        not_valid(f"metadata.{mapping}.{key}", PREFIX_SUFFIX, key)
    ]


@pytest.mark.parametrize("mapping", ["labels", "annotations"])
def test_non_string_keys_are_reported(mapping: str) -> None:
    assert validate_entity(with_meta(**{mapping: {1: "value"}})) == [
        f'"metadata.{mapping}.1" key must be a string, found int'
    ]


@pytest.mark.parametrize("value", ["", "music", "go1.15.3", "Mixed_Case-1", "v" * 63])
def test_valid_label_values(value: str) -> None:
    assert validate_entity(with_meta(labels={"category": value})) == []


@pytest.mark.parametrize("value", ["Random value Generator", "-x", "x.", "v" * 64, "a/b"])
def test_invalid_label_values(value: str) -> None:
    assert validate_entity(with_meta(labels={"category": value})) == [
        not_valid("metadata.labels.category", NAME_EXPECTATION, value)
    ]


@pytest.mark.parametrize(
    ("value", "type_name"), [(5, "int"), (True, "bool"), (None, "null"), (1.5, "float")]
)
def test_label_values_must_be_strings(value: Any, type_name: str) -> None:
    assert validate_entity(with_meta(labels={"k": value})) == [
        f'"metadata.labels.k" must be a string, found {type_name}'
    ]


@pytest.mark.parametrize(
    "value", ["", "dir:.", "https://x.example/a b?c", "Any Text: at all / really", "v" * 500]
)
def test_valid_annotation_values(value: str) -> None:
    assert validate_entity(with_meta(annotations={"backstage.io/techdocs-ref": value})) == []


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(5, "int"), (True, "bool"), (None, "null"), (["a"], "list"), ({"a": "b"}, "dict")],
)
def test_annotation_values_must_be_strings(value: Any, type_name: str) -> None:
    assert validate_entity(with_meta(annotations={"foo": value})) == [
        f'"metadata.annotations.foo" must be a string, found {type_name}'
    ]


def test_an_int_annotation_from_yaml_fails() -> None:
    doc = yaml.load(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata: {name: a, annotations: {foo: 42}}\n"
        "spec: {type: service, lifecycle: production, owner: me}\n",
        Loader=yaml.CSafeLoader,
    )
    assert validate_entity(doc) == ['"metadata.annotations.foo" must be a string, found int']


@pytest.mark.parametrize("mapping", ["labels", "annotations"])
def test_labels_and_annotations_must_be_objects(mapping: str) -> None:
    assert validate_entity(with_meta(**{mapping: ["a"]})) == [
        f'"metadata.{mapping}" must be an object, found list'
    ]


@pytest.mark.parametrize(
    "link",
    [
        {"url": "https://admin.example.org"},
        {"url": "http://localhost:7007/api", "title": "Admin", "icon": "dashboard"},
        {"url": "mailto:team@example.com", "type": "runbook"},
        {"url": "https://example.com/a b?c#d"},
        {"url": "https://例え.jp/パス"},
        {"url": "slack://channel?team=T1&id=C1"},
        {"url": "https://x.example", "title": " a "},
    ],
)
def test_valid_links(link: dict[str, Any]) -> None:
    assert validate_entity(with_meta(links=[link])) == []


URL_EXPECTATION = "a string that is a valid url"


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ({}, '"metadata.links[0].url" is required'),
        ({"title": "x"}, '"metadata.links[0].url" is required'),
        ({"url": 5}, '"metadata.links[0].url" must be a string, found int'),
        ({"url": "not a url"}, not_valid("metadata.links[0].url", URL_EXPECTATION, "not a url")),
        ({"url": "/docs/a"}, not_valid("metadata.links[0].url", URL_EXPECTATION, "/docs/a")),
        ({"url": ""}, not_valid("metadata.links[0].url", URL_EXPECTATION, "")),
        ({"url": "http://"}, not_valid("metadata.links[0].url", URL_EXPECTATION, "http://")),
        (
            {"url": "https://exa mple.com"},
            not_valid("metadata.links[0].url", URL_EXPECTATION, "https://exa mple.com"),
        ),
        (
            {"url": "https://host:99999/"},
            not_valid("metadata.links[0].url", URL_EXPECTATION, "https://host:99999/"),
        ),
        (
            {"url": "http://999.1.1.1/"},
            not_valid("metadata.links[0].url", URL_EXPECTATION, "http://999.1.1.1/"),
        ),
        (
            {"url": "https://x.example", "title": ""},
            not_valid("metadata.links[0].title", "a non empty string", ""),
        ),
        (
            {"url": "https://x.example", "title": "   "},
            not_valid("metadata.links[0].title", "a non empty string", "   "),
        ),
        (
            {"url": "https://x.example", "icon": " "},
            not_valid("metadata.links[0].icon", "a non empty string", " "),
        ),
        (
            {"url": "https://x.example", "icon": 1},
            '"metadata.links[0].icon" must be a string, found int',
        ),
        ({"url": "https://x.example", "type": ""}, '"metadata.links[0].type" must not be empty'),
        (
            {"url": "https://x.example", "type": 1},
            '"metadata.links[0].type" must be a string, found int',
        ),
    ],
)
def test_invalid_links(link: dict[str, Any], expected: str) -> None:
    assert validate_entity(with_meta(links=[link])) == [expected]


def test_links_must_be_a_list_of_objects() -> None:
    assert validate_entity(with_meta(links={"url": "https://x"})) == [
        '"metadata.links" must be an array, found dict'
    ]
    assert validate_entity(with_meta(links=[{"url": "https://x"}, "https://y"])) == [
        '"metadata.links[1]" must be an object, found str'
    ]


def test_unknown_metadata_fields_are_allowed() -> None:
    assert validate_entity(with_meta(generation=3, custom={"any": ["thing"]})) == []


# --- Kinds: required spec fields and types ----------------------------------------------------

REQUIRED = [
    ("Component", "type"),
    ("Component", "lifecycle"),
    ("Component", "owner"),
    ("API", "type"),
    ("API", "lifecycle"),
    ("API", "owner"),
    ("API", "definition"),
    ("Resource", "type"),
    ("Resource", "owner"),
    ("System", "owner"),
    ("Domain", "owner"),
    ("Group", "type"),
    ("Group", "children"),
    ("User", "memberOf"),
    ("Template", "type"),
    ("Template", "steps"),
    ("AiResource", "type"),
    ("AiResource", "lifecycle"),
    ("AiResource", "owner"),
]


@pytest.mark.parametrize(("kind", "field"), REQUIRED)
def test_required_spec_fields(kind: str, field: str) -> None:
    assert validate_entity(without_spec(kind, field)) == [
        f'"spec.{field}" is required for kind {kind}'
    ]


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_spec_is_required_for_every_known_kind(kind: str) -> None:
    assert validate_entity(entity(kind, spec=None)) == [f'"spec" is required for kind {kind}']


STRING_FIELDS = [
    ("Component", "type"),
    ("Component", "lifecycle"),
    ("Component", "owner"),
    ("Component", "system"),
    ("Component", "subcomponentOf"),
    ("API", "type"),
    ("API", "owner"),
    ("API", "system"),
    ("API", "definition"),
    ("Resource", "type"),
    ("Resource", "owner"),
    ("Resource", "system"),
    ("System", "owner"),
    ("System", "domain"),
    ("System", "type"),
    ("Domain", "owner"),
    ("Domain", "subdomainOf"),
    ("Domain", "type"),
    ("Group", "type"),
    ("Group", "parent"),
    ("Location", "type"),
    ("Location", "target"),
    ("Template", "type"),
    ("Template", "owner"),
    ("Template", "lifecycle"),
    ("AiResource", "owner"),
    ("AiResource", "system"),
]

LIST_FIELDS = [
    ("Component", "providesApis"),
    ("Component", "consumesApis"),
    ("Component", "dependsOn"),
    ("Resource", "dependsOn"),
    ("Group", "children"),
    ("Group", "members"),
    ("User", "memberOf"),
    ("Location", "targets"),
]


@pytest.mark.parametrize(("kind", "field"), STRING_FIELDS)
def test_string_spec_fields(kind: str, field: str) -> None:
    assert validate_entity(with_spec(kind, **{field: "x"})) == []
    assert validate_entity(with_spec(kind, **{field: 5})) == [
        f'"spec.{field}" must be a string, found int'
    ]
    assert validate_entity(with_spec(kind, **{field: ["x"]})) == [
        f'"spec.{field}" must be a string, found list'
    ]
    assert validate_entity(with_spec(kind, **{field: ""})) == [f'"spec.{field}" must not be empty']


@pytest.mark.parametrize(("kind", "field"), LIST_FIELDS)
def test_string_list_spec_fields(kind: str, field: str) -> None:
    assert validate_entity(with_spec(kind, **{field: []})) == []
    assert validate_entity(with_spec(kind, **{field: ["a", "group:b/c"]})) == []
    assert validate_entity(with_spec(kind, **{field: "a"})) == [
        f'"spec.{field}" must be an array, found str'
    ]
    assert validate_entity(with_spec(kind, **{field: ["a", 1]})) == [
        f'"spec.{field}[1]" must be a string, found int'
    ]
    assert validate_entity(with_spec(kind, **{field: [""]})) == [
        f'"spec.{field}[0]" must not be empty'
    ]


@pytest.mark.parametrize("kind", ["Group", "User"])
def test_group_and_user_profiles(kind: str) -> None:
    profile = {"displayName": "A", "email": "a@example.com", "picture": "https://x/p.png"}
    assert validate_entity(with_spec(kind, profile=profile)) == []
    assert validate_entity(with_spec(kind, profile={})) == []
    assert validate_entity(with_spec(kind, profile="A")) == [
        '"spec.profile" must be an object, found str'
    ]
    assert validate_entity(with_spec(kind, profile={"email": 1, "displayName": ""})) == [
        '"spec.profile.email" must be a string, found int',
        '"spec.profile.displayName" must not be empty',
    ]


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_unknown_spec_fields_are_allowed(kind: str) -> None:
    assert validate_entity(with_spec(kind, apiConsumedBy=["x"], extra={"a": 1})) == []


def test_a_component_with_every_optional_field() -> None:
    doc = with_spec(
        "Component",
        system="audio",
        subcomponentOf="parent",
        providesApis=["a"],
        consumesApis=["b"],
        dependsOn=["resource:db"],
    )
    assert validate_entity(doc) == []


# --- API: mcp-server --------------------------------------------------------------------------

MCP_SPEC = {
    "type": "mcp-server",
    "lifecycle": "experimental",
    "owner": "team-a",
    "remotes": [{"type": "streamable-http", "url": "http://localhost:7007/api/mcp"}],
}


@pytest.mark.parametrize("api_version", ["backstage.io/v1alpha1", "backstage.io/v1beta1"])
def test_an_mcp_server_api_needs_no_definition(api_version: str) -> None:
    assert validate_entity(entity("API", apiVersion=api_version, spec=dict(MCP_SPEC))) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"remotes": None}, '"spec.remotes" is required for kind API of type mcp-server'),
        ({"owner": None}, '"spec.owner" is required for kind API of type mcp-server'),
        ({"remotes": []}, '"spec.remotes" must have at least 1 item'),
        ({"remotes": "http://x"}, '"spec.remotes" must be an array, found str'),
        (
            {"remotes": [{"type": "sse"}]},
            '"spec.remotes[0].url" is required for kind API of type mcp-server',
        ),
        ({"remotes": [{"type": "sse", "url": ""}]}, '"spec.remotes[0].url" must not be empty'),
        ({"remotes": ["http://x"]}, '"spec.remotes[0]" must be an object, found str'),
    ],
)
def test_invalid_mcp_server_apis(change: dict[str, Any], expected: str) -> None:
    spec: dict[str, Any] = dict(MCP_SPEC)
    for key, value in change.items():
        if value is None:
            del spec[key]
        else:
            spec[key] = value
    assert validate_entity(entity("API", spec=spec)) == [expected]


def test_an_mcp_server_with_a_definition_too_is_still_valid() -> None:
    assert validate_entity(entity("API", spec=MCP_SPEC | {"definition": "x"})) == []


# --- Location ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"type": "url", "target": "https://github.com/o/r/blob/main/catalog-info.yaml"},
        {"targets": ["./a.yaml", "./b.yaml"]},
        {"type": "file", "target": "./x.yaml", "presence": "optional"},
        {"presence": "required"},
    ],
)
def test_valid_locations(spec: dict[str, Any]) -> None:
    assert validate_entity(entity("Location", spec=spec)) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"presence": "sometimes"}, '"spec.presence" must be one of "required", "optional"'),
        ({"presence": True}, '"spec.presence" must be a string, found bool'),
        ({"target": ""}, '"spec.target" must not be empty'),
        ({"targets": "./a.yaml"}, '"spec.targets" must be an array, found str'),
        ({"targets": [None]}, '"spec.targets[0]" must be a string, found null'),
        ({"type": 1}, '"spec.type" must be a string, found int'),
    ],
)
def test_invalid_locations(spec: dict[str, Any], expected: str) -> None:
    problems = validate_entity(entity("Location", spec=spec))
    assert len(problems) == 1
    assert problems[0].startswith(expected)


# --- Template ---------------------------------------------------------------------------------


def test_a_full_template_is_valid() -> None:
    spec = {
        "owner": "team-a",
        "lifecycle": "experimental",
        "type": "service",
        "parameters": [
            {"title": "Name", "required": ["name"], "properties": {"name": {"type": "string"}}},
            {"backstage:permissions": {"tags": ["secret"]}},
        ],
        "secrets": {"schema": {"type": "object"}},
        "presentation": {"buttonLabels": {"createButtonText": "Go"}},
        "EXPERIMENTAL_recovery": {"EXPERIMENTAL_strategy": "startOver"},
        "formDecorators": [{"id": "x", "input": {}}],
        "steps": [
            {"id": "fetch", "name": "Fetch", "action": "fetch:template", "input": {"url": "."}},
            {"action": "publish:github", "if": "${{ parameters.publish }}"},
            {"action": "catalog:register", "if": False},
        ],
        "output": {
            "links": [{"title": "Repo", "url": "${{ steps.publish.output.remoteUrl }}"}],
            "text": [{"title": "Note", "content": ""}],
            "custom": "anything",
        },
    }
    assert validate_entity(entity("Template", spec=spec)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"steps": {"action": "x"}}, '"spec.steps" must be an array, found dict'),
        ({"steps": [{"name": "x"}]}, '"spec.steps[0].action" is required for kind Template'),
        ({"steps": [{"action": 1}]}, '"spec.steps[0].action" must be a string, found int'),
        (
            {"steps": [{"action": "x", "if": 1}]},
            '"spec.steps[0].if" must be a string or a boolean, found int',
        ),
        ({"steps": [{"action": "x", "input": []}]}, '"spec.steps[0].input" must be an object'),
        ({"parameters": "x"}, '"spec.parameters" must be an object or an array, found str'),
        ({"parameters": ["x"]}, '"spec.parameters[0]" must be an object, found str'),
        (
            {"parameters": {"backstage:permissions": {"tags": [1]}}},
            '"spec.parameters.backstage:permissions.tags[0]" must be a string, found int',
        ),
        ({"output": {"custom": 1}}, '"spec.output.custom" must be a string, found int'),
        ({"output": {"links": [{"url": ""}]}}, '"spec.output.links[0].url" must not be empty'),
        ({"output": {"text": [{"content": 1}]}}, '"spec.output.text[0].content" must be a'),
        ({"secrets": []}, '"spec.secrets" must be an object, found list'),
        ({"formDecorators": [{"id": 1}]}, '"spec.formDecorators[0].id" must be a string'),
        (
            {"presentation": {"buttonLabels": {"backButtonText": 1}}},
            '"spec.presentation.buttonLabels.backButtonText" must be a string',
        ),
    ],
)
def test_invalid_templates(change: dict[str, Any], expected: str) -> None:
    problems = validate_entity(entity("Template", spec=SPECS["Template"] | change))
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_an_empty_step_list_is_valid() -> None:
    assert validate_entity(entity("Template", spec={"type": "service", "steps": []})) == []


# --- AiResource -------------------------------------------------------------------------------

AI_BASE = {"lifecycle": "production", "owner": "team-a"}


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "skill", "disciplines": ["web"], "allowedTools": "Read", "compatibility": "x"},
        {"type": "rule", "category": "architecture", "rationale": "Because."},
        {"type": "plugin", "skills": ["airesource:default/a"], "version": "1.0.0"},
        {"type": "marketplace", "plugins": []},
        {"type": "prompt"},
    ],
)
def test_valid_ai_resources(spec: dict[str, Any]) -> None:
    assert validate_entity(entity("AiResource", spec=AI_BASE | spec)) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "rule", "category": "a"}, '"spec.rationale" is required for kind AiResource'),
        ({"type": "rule", "rationale": "b"}, '"spec.category" is required for kind AiResource'),
        ({"type": "plugin"}, '"spec.skills" is required for kind AiResource of type plugin'),
        ({"type": "marketplace"}, '"spec.plugins" is required for kind AiResource'),
        ({"type": "skill", "allowedTools": ["Read"]}, '"spec.allowedTools" must be a string'),
        ({"type": "skill", "compatibility": "c" * 501}, '"spec.compatibility" must be at most 500'),
        ({"type": "skill", "agents": "claude"}, '"spec.agents" must be an array, found str'),
        ({"type": "plugin", "skills": [], "version": 1}, '"spec.version" must be a string'),
        ({"type": 3}, '"spec.type" must be a string, found int'),
    ],
)
def test_invalid_ai_resources(spec: dict[str, Any], expected: str) -> None:
    problems = validate_entity(entity("AiResource", spec=AI_BASE | spec))
    assert len(problems) == 1
    assert problems[0].startswith(expected)


# --- Placeholders ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["$text", "$json", "$yaml"])
def test_an_unresolved_placeholder_is_accepted_where_a_string_is_wanted(key: str) -> None:
    placeholder = {key: "./openapi.yaml"}
    assert validate_entity(with_spec("API", definition=placeholder)) == []
    assert validate_entity(with_spec("Component", dependsOn=[placeholder])) == []
    assert validate_entity(with_meta(description=placeholder, title=placeholder)) == []
    assert validate_entity(with_meta(annotations={"a": placeholder})) == []


@pytest.mark.parametrize(
    "value",
    [
        {"$text": "./a.yaml", "other": 1},
        {"$foo": "./a.yaml"},
        {"text": "./a.yaml"},
        {},
    ],
)
def test_other_objects_are_not_placeholders(value: dict[str, Any]) -> None:
    assert validate_entity(with_spec("API", definition=value)) == [
        '"spec.definition" must be a string, found dict'
    ]


def test_placeholders_do_not_stand_in_for_names_tags_or_arrays() -> None:
    placeholder = {"$text": "./name.txt"}
    assert validate_entity(entity(metadata={"name": placeholder})) == [
        '"metadata.name" must be a string, found dict'
    ]
    assert validate_entity(with_meta(tags=[placeholder])) == [
        '"metadata.tags[0]" must be a string, found dict'
    ]
    assert validate_entity(with_spec("Group", children=placeholder)) == [
        '"spec.children" must be an array, found dict'
    ]


# --- Collecting everything ---------------------------------------------------------------------


def test_every_problem_of_an_entity_is_reported() -> None:
    doc = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": "bad name",
            "namespace": "Team_A",
            "tags": ["ok", "Bad", "go 1.15.3"],
            "labels": {"a/b/c": "x"},
            "annotations": {"port": 8080},
            "links": [{"url": "nope"}],
        },
        "spec": {"type": "service", "owner": 5},
        "relations": [],
    }
    assert validate_entity(doc) == [
        "Unknown field relations",
        not_valid("metadata.name", NAME_EXPECTATION, "bad name"),
        not_valid("metadata.namespace", NAMESPACE_EXPECTATION, "Team_A"),
        not_valid("metadata.labels.a/b/c", PREFIX_SUFFIX, "a/b/c"),
        '"metadata.annotations.port" must be a string, found int',
        not_valid("metadata.tags[1]", TAG_EXPECTATION, "Bad"),
        not_valid("metadata.tags[2]", TAG_EXPECTATION, "go 1.15.3"),
        not_valid("metadata.links[0].url", URL_EXPECTATION, "nope"),
        '"spec.lifecycle" is required for kind Component',
        '"spec.owner" must be a string, found int',
    ]


def test_validation_does_not_modify_the_document() -> None:
    doc = with_meta(tags=["Bad"], links=[{"url": "x"}])
    before = copy.deepcopy(doc)
    validate_entity(doc)
    assert doc == before


# --- Parity with the shared example catalog and the upstream JSON schemas -----------------------

SHARED = Path(__file__).resolve().parents[3] / "shared"
EXAMPLES = SHARED / "data" / "backstage-examples"
SCHEMAS = SHARED / "data" / "backstage-schemas"
SCAFFOLDER_EXAMPLES = SHARED / "data" / "scaffolder-examples"
PLACEHOLDER_APIS = {"petstore-webhook", "spotify", "wayback-archive", "wayback-search"}


def require_shared() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is not present: {SHARED} (parity tests need the example catalog)")


def load_entities(paths: Iterator[Path], root: Path) -> list[tuple[str, dict[str, Any]]]:
    entities: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(paths):
        with path.open(encoding="utf-8") as f:
            for i, doc in enumerate(yaml.load_all(f, Loader=yaml.CSafeLoader)):
                # Placeholder targets (the *.oas.yaml files) are not entities.
                if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                    entities.append((f"{path.relative_to(root)}#{i}", doc))
    return entities


@cache
def example_entities() -> list[tuple[str, dict[str, Any]]]:
    require_shared()
    return load_entities(EXAMPLES.rglob("*.yaml"), EXAMPLES)


@cache
def template_entities() -> list[tuple[str, dict[str, Any]]]:
    require_shared()
    return load_entities(SCAFFOLDER_EXAMPLES.rglob("template.yaml"), SCAFFOLDER_EXAMPLES)


@cache
def schema_validator(schema_id: str) -> Any:
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    resources = []
    for path in sorted(SCHEMAS.rglob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], DRAFT7.create_resource(contents)))
    registry: Registry[Any] = Registry().with_resources(resources)
    return jsonschema.Draft7Validator(registry.contents(schema_id), registry=registry)


SCHEMA_IDS = {
    "Component": "ComponentV1alpha1",
    "API": "ApiV1alpha1",
    "Resource": "ResourceV1alpha1",
    "System": "SystemV1alpha1",
    "Domain": "DomainV1alpha1",
    "Group": "GroupV1alpha1",
    "User": "UserV1alpha1",
    "Location": "LocationV1alpha1",
    "AiResource": "AiResourceV1alpha1",
    "Template": "TemplateV1beta3",
}


def schema_id_for(doc: dict[str, Any]) -> str:
    """The kind schema Backstage picks: by kind, then by spec.type for API and AiResource."""
    kind = doc["kind"]
    spec = doc.get("spec")
    spec_type = spec.get("type") if isinstance(spec, dict) else None
    if kind == "API" and spec_type == "mcp-server":
        return "ApiV1alpha1McpServer"
    if kind == "AiResource" and spec_type in {"skill", "rule", "plugin", "marketplace"}:
        return f"AiResourceV1alpha1{str(spec_type).capitalize()}"
    return SCHEMA_IDS[kind]


def schema_valid(doc: dict[str, Any]) -> bool:
    return bool(schema_validator(schema_id_for(doc)).is_valid(doc))


def has_placeholder(value: Any) -> bool:
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in {"$text", "$json", "$yaml"}:
            return True
        return any(has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholder(v) for v in value)
    return False


@pytest.mark.shared
def test_the_example_catalog_has_the_documented_entities() -> None:
    entities = example_entities()
    assert len(entities) == 68
    kinds = sorted({doc["kind"] for _, doc in entities})
    assert kinds == [
        "API",
        "AiResource",
        "Component",
        "Domain",
        "Group",
        "Location",
        "Resource",
        "System",
        "User",
    ]


@pytest.mark.shared
def test_the_invalid_example_component_names_its_name_and_tag() -> None:
    invalid = [doc for key, doc in example_entities() if "invalid-component" in key]
    assert len(invalid) == 1
    problems = validate_entity(invalid[0])
    assert problems == [
        not_valid("metadata.name", NAME_EXPECTATION, "invalid component"),
        not_valid("metadata.tags[1]", TAG_EXPECTATION, "go 1.15.3"),
    ]
    # The JSON schemas do not check name formats, so they accept it.
    assert schema_valid(invalid[0])


@pytest.mark.shared
def test_every_other_example_agrees_with_the_json_schemas() -> None:
    disagreements: dict[str, tuple[list[str], bool]] = {}
    for key, doc in example_entities():
        if "invalid-component" in key:
            continue
        ours = validate_entity(doc)
        theirs = schema_valid(doc)
        if (ours == []) != theirs:
            disagreements[doc["metadata"]["name"]] = (ours, theirs)
    # The only disagreements: the four `$text` definitions, which we accept and the schema rejects.
    assert set(disagreements) == PLACEHOLDER_APIS
    assert all(ours == [] and not theirs for ours, theirs in disagreements.values())


@pytest.mark.shared
def test_the_scaffolder_example_templates_agree_with_the_json_schema() -> None:
    templates = template_entities()
    assert len(templates) == 3
    for _, doc in templates:
        assert validate_entity(doc) == []
        assert schema_valid(doc)


def mutations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, replacement) pairs: every node set to 42, None and "", every mapping key deleted."""
    if path:
        for replacement in (42, None, ""):
            yield path, replacement
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), DELETE
            yield from mutations(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from mutations(item, (*path, i))


DELETE = object()


def mutated(doc: dict[str, Any], path: tuple[Any, ...], replacement: Any) -> dict[str, Any]:
    copied = copy.deepcopy(doc)
    parent: Any = copied
    for step in path[:-1]:
        parent = parent[step]
    if replacement is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return copied


def parity_cases() -> list[tuple[str, dict[str, Any]]]:
    if not SHARED.is_dir():
        return []
    return [
        (key, doc)
        for key, doc in example_entities() + template_entities()
        if "invalid-component" not in key and not has_placeholder(doc)
    ]


PARITY_CASES = parity_cases() or [("no-shared-folder", {})]


@pytest.mark.shared
@pytest.mark.parametrize(("key", "doc"), PARITY_CASES, ids=[key for key, _ in PARITY_CASES])
def test_mutated_examples_agree_with_the_json_schemas(key: str, doc: dict[str, Any]) -> None:
    """Break each example in every way a schema can see; our verdict must match the schema's."""
    require_shared()
    disagreements = []
    for path, replacement in mutations({"metadata": doc["metadata"], "spec": doc["spec"]}):
        broken = mutated(doc, path, replacement)
        ours = validate_entity(broken)
        theirs = schema_valid(broken)
        if (ours == []) != theirs:
            disagreements.append((path, replacement, ours, theirs))
    assert disagreements == []

"""Entity refs and relations, by Backstage's rules (reference/backstage-catalog.md §3 and §4).

The expected values are written out from the reference tables, not computed from the code's
own field list, so a wrong default kind or a missing reverse relation fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.catalog.model import (
    CANONICAL,
    REVERSE,
    Entity,
    EntityRef,
    Relation,
    canonical,
    derive_relations,
)
from bot.errors import CatalogError
from bot.store.memory.catalog import MemoryCatalogRows

V1 = "backstage.io/v1alpha1"


def make(kind: str, spec: dict[str, Any], namespace: str | None = None, name: str = "x") -> Entity:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    api_version = "scaffolder.backstage.io/v1beta3" if kind == "Template" else V1
    doc = {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}
    return Entity.from_document(doc, "catalog-info.yaml", 1)


def ref(text: str) -> EntityRef:
    kind, _, rest = text.partition(":")
    namespace, _, name = rest.partition("/")
    return EntityRef(kind, namespace, name)


def pairs(entity: Entity) -> set[tuple[str, str, str]]:
    relations, problems = derive_relations(entity)
    assert problems == []
    return {(str(r.source), r.type, str(r.target)) for r in relations}


# --- §3.1 parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The reference table: an entity in namespace `ops`, field `owner` (default kind Group).
        ("team-a", "group:ops/team-a"),
        ("user:jane", "user:ops/jane"),
        ("default/team-a", "group:default/team-a"),
        ("group:default/team-a", "group:default/team-a"),
        ("a:b:c", "a:ops/b:c"),
        # A `/` before the first `:` means there is no kind.
        ("ns/na:me", "group:ns/na:me"),
        # Only the first `/` splits: the rest belongs to the name.
        ("user:ns/a/b", "user:ns/a/b"),
    ],
)
def test_parse_follows_the_reference_table(text: str, expected: str) -> None:
    assert str(EntityRef.parse(text, "Group", "ops")) == expected


def test_a_b_c_has_kind_a_and_name_b_c() -> None:
    parsed = EntityRef.parse("a:b:c", "group", "ops")
    assert (parsed.kind, parsed.namespace, parsed.name) == ("a", "ops", "b:c")


@pytest.mark.parametrize("text", [":x", "a:", "ns/", "/x", "a:/x", "a:ns/", ""])
def test_an_empty_part_is_an_error_in_backstage_words(text: str) -> None:
    with pytest.raises(CatalogError) as caught:
        EntityRef.parse(text, "group")
    assert str(caught.value) == (
        f'Entity reference "{text}" was not on the form [<kind>:][<namespace>/]<name>'
    )


def test_a_missing_kind_without_a_default_is_an_error() -> None:
    with pytest.raises(CatalogError) as caught:
        EntityRef.parse("payments-db")
    assert str(caught.value) == (
        'Entity reference "payments-db" had missing or empty kind '
        '(e.g. did not start with "component:" or similar)'
    )


def test_a_missing_namespace_is_default_unless_another_is_given() -> None:
    assert str(EntityRef.parse("component:payments-api")) == "component:default/payments-api"
    assert str(EntityRef.parse("component:payments-api", None, "ops")) == (
        "component:ops/payments-api"
    )


def test_refs_are_canonical_lower_case_and_compare_case_insensitively() -> None:
    mixed = EntityRef.parse("Component:Default/Payments-API")
    assert str(mixed) == "component:default/payments-api"
    assert mixed == EntityRef.parse("component:default/payments-api")
    assert mixed == EntityRef.make("COMPONENT", "DEFAULT", "payments-api")
    assert len({mixed, EntityRef.parse("component:payments-api")}) == 1


def test_a_non_string_ref_is_an_error_not_a_crash() -> None:
    with pytest.raises(CatalogError, match="must be a string, got int"):
        EntityRef.parse(42, "group")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("full", "default_kind", "short"),
    [
        ("group:default/team-a", "group", "team-a"),
        ("group:ops/team-a", "group", "ops/team-a"),
        ("user:default/jane", "group", "user:jane"),
        ("component:default/x", None, "component:x"),
    ],
)
def test_short_form_parses_back_to_the_same_ref(
    full: str, default_kind: str | None, short: str
) -> None:
    parsed = EntityRef.parse(full)
    assert parsed.short(default_kind) == short
    assert EntityRef.parse(short, default_kind) == parsed


# --- §3.2 default kind per field, §3.3 the referring entity's namespace --------------------


@pytest.mark.parametrize(
    ("kind", "field", "value", "expected_target"),
    [
        ("Component", "owner", "t", "group:ops/t"),
        ("API", "owner", "t", "group:ops/t"),
        ("Resource", "owner", "t", "group:ops/t"),
        ("System", "owner", "t", "group:ops/t"),
        ("Domain", "owner", "t", "group:ops/t"),
        ("Template", "owner", "t", "group:ops/t"),
        ("Component", "system", "s", "system:ops/s"),
        ("API", "system", "s", "system:ops/s"),
        ("Resource", "system", "s", "system:ops/s"),
        ("Component", "subcomponentOf", "c", "component:ops/c"),
        ("Component", "providesApis", ["a"], "api:ops/a"),
        ("Component", "consumesApis", ["a"], "api:ops/a"),
        ("System", "domain", "d", "domain:ops/d"),
        ("Domain", "subdomainOf", "d", "domain:ops/d"),
        ("Group", "parent", "g", "group:ops/g"),
        ("Group", "children", ["g"], "group:ops/g"),
        ("Group", "members", ["u"], "user:ops/u"),
        ("User", "memberOf", ["g"], "group:ops/g"),
        ("AiResource", "dependsOn", ["s"], "airesource:ops/s"),
        ("AiResource", "skills", ["s"], "airesource:ops/s"),
    ],
)
def test_default_kind_per_field_and_the_entitys_own_namespace(
    kind: str, field: str, value: Any, expected_target: str
) -> None:
    entity = make(kind, {field: value}, namespace="ops")
    targets = {target for source, _, target in pairs(entity) if source == str(entity.ref)}
    assert targets == {expected_target}


def test_an_explicit_kind_or_namespace_wins_over_the_defaults() -> None:
    entity = make("Component", {"owner": "user:default/guest"}, namespace="ops")
    assert ("component:ops/x", "ownedBy", "user:default/guest") in pairs(entity)


def test_owner_guest_means_a_group_so_a_user_owner_must_say_user() -> None:
    # reference §3.3: `owner: guest` is group:<ns>/guest, never user:<ns>/guest.
    assert ("component:default/x", "ownedBy", "group:default/guest") in pairs(
        make("Component", {"owner": "guest"})
    )


def test_ref_objects_take_the_field_defaults() -> None:
    entity = make(
        "Component",
        {"owner": {"name": "team-a"}, "dependsOn": [{"kind": "Resource", "name": "db"}]},
        namespace="ops",
    )
    assert pairs(entity) >= {
        ("component:ops/x", "ownedBy", "group:ops/team-a"),
        ("component:ops/x", "dependsOn", "resource:ops/db"),
    }


# --- §4 every relation pair, both directions ---------------------------------------------


RELATION_TABLE = [
    # (source kind, spec field, value, forward, reverse, target)
    ("Component", "owner", "team-a", "ownedBy", "ownerOf", "group:default/team-a"),
    ("API", "owner", "team-a", "ownedBy", "ownerOf", "group:default/team-a"),
    ("Resource", "owner", "team-a", "ownedBy", "ownerOf", "group:default/team-a"),
    ("System", "owner", "team-a", "ownedBy", "ownerOf", "group:default/team-a"),
    ("Domain", "owner", "team-a", "ownedBy", "ownerOf", "group:default/team-a"),
    ("Template", "owner", "team-a", "ownedBy", "ownerOf", "group:default/team-a"),
    ("Component", "subcomponentOf", "big", "partOf", "hasPart", "component:default/big"),
    ("Component", "providesApis", ["a"], "providesApi", "apiProvidedBy", "api:default/a"),
    ("Component", "consumesApis", ["a"], "consumesApi", "apiConsumedBy", "api:default/a"),
    ("Component", "dependsOn", ["resource:db"], "dependsOn", "dependencyOf", "resource:default/db"),
    ("Resource", "dependsOn", ["resource:db"], "dependsOn", "dependencyOf", "resource:default/db"),
    (
        "Component",
        "dependencyOf",
        ["component:y"],
        "dependencyOf",
        "dependsOn",
        "component:default/y",
    ),
    (
        "Resource",
        "dependencyOf",
        ["component:y"],
        "dependencyOf",
        "dependsOn",
        "component:default/y",
    ),
    ("Component", "system", "sys", "partOf", "hasPart", "system:default/sys"),
    ("API", "system", "sys", "partOf", "hasPart", "system:default/sys"),
    ("Resource", "system", "sys", "partOf", "hasPart", "system:default/sys"),
    ("System", "domain", "dom", "partOf", "hasPart", "domain:default/dom"),
    ("Domain", "subdomainOf", "dom", "partOf", "hasPart", "domain:default/dom"),
    ("User", "memberOf", ["g"], "memberOf", "hasMember", "group:default/g"),
    ("Group", "parent", "g", "childOf", "parentOf", "group:default/g"),
    ("Group", "children", ["g"], "parentOf", "childOf", "group:default/g"),
    ("Group", "members", ["u"], "hasMember", "memberOf", "user:default/u"),
    ("AiResource", "owner", "team-a", "ownedBy", "ownerOf", "group:default/team-a"),
    ("AiResource", "system", "sys", "partOf", "hasPart", "system:default/sys"),
    ("AiResource", "dependsOn", ["s"], "dependsOn", "dependencyOf", "airesource:default/s"),
    ("AiResource", "skills", ["s"], "hasPart", "partOf", "airesource:default/s"),
    ("AiResource", "plugins", ["p"], "hasPart", "partOf", "airesource:default/p"),
]


@pytest.mark.parametrize(
    ("kind", "field", "value", "forward", "reverse", "target"),
    RELATION_TABLE,
    ids=[f"{row[0]}.{row[1]}" for row in RELATION_TABLE],
)
def test_every_relation_pair_in_both_directions(
    kind: str, field: str, value: Any, forward: str, reverse: str, target: str
) -> None:
    entity = make(kind, {field: value})
    source = str(entity.ref)
    # Derived as the entity states it; kept once, in the pair's canonical direction.
    assert pairs(entity) == {(source, forward, target)}
    stored = canonical(source, forward, target)
    assert stored[1] in CANONICAL
    assert stored in {(source, forward, target), (target, reverse, source)}
    # Read both ways (the memory store; tests/integration/test_store.py for SQL).
    rows = MemoryCatalogRows([entity])
    assert rows.relation_pairs([source]) == [(source, forward, target)]
    assert rows.relation_pairs([target]) == [(target, reverse, source)]


def test_the_relation_vocabulary_is_backstages_and_pairs_reverse_each_other() -> None:
    assert set(REVERSE) == {
        "ownedBy", "ownerOf", "consumesApi", "apiConsumedBy", "providesApi", "apiProvidedBy",
        "dependsOn", "dependencyOf", "parentOf", "childOf", "memberOf", "hasMember", "partOf",
        "hasPart",
    }  # fmt: skip
    for forward, reverse in REVERSE.items():
        assert REVERSE[reverse] == forward
    # One of each pair is stored; the other is derived from it.
    assert len(CANONICAL) == 7 and all(REVERSE[t] not in CANONICAL for t in CANONICAL)
    assert canonical("group:default/g", "ownerOf", "component:default/x") == (
        "component:default/x", "ownedBy", "group:default/g",
    )  # fmt: skip
    assert canonical("a", "ownedBy", "b") == ("a", "ownedBy", "b")
    assert canonical("a", "customType", "b") == ("a", "customType", "b")  # no known reverse


def test_a_full_component_emits_one_pair_per_ref() -> None:
    entity = make(
        "Component",
        {
            "type": "service",
            "lifecycle": "production",
            "owner": "team-a",
            "system": "checkout",
            "providesApis": ["pay", "refund"],
            "consumesApis": ["fraud"],
            "dependsOn": ["resource:db", "component:auth"],
        },
    )
    relations, problems = derive_relations(entity)
    assert problems == []
    assert len(relations) == 7
    assert Relation(entity.ref, "dependsOn", ref("component:default/auth")) in relations


def test_fields_that_do_not_belong_to_the_kind_make_no_relations() -> None:
    # `owner` is not a ref field of a Group, and unknown spec fields are ignored (§2).
    assert pairs(make("Group", {"type": "team", "children": [], "owner": "x"})) == set()
    assert pairs(make("Component", {"owner": "t", "apiConsumedBy": ["a"]})) == {
        ("component:default/x", "ownedBy", "group:default/t"),
    }


def test_a_dangling_ref_still_makes_its_relations() -> None:
    # Nothing checks that the target exists: the ownership gap is kept for reports (§3.3).
    entity = make("Component", {"owner": "nobody-at-all"})
    assert pairs(entity) == {
        ("component:default/x", "ownedBy", "group:default/nobody-at-all"),
    }
    assert MemoryCatalogRows([entity]).relation_pairs(["group:default/nobody-at-all"]) == [
        ("group:default/nobody-at-all", "ownerOf", "component:default/x")
    ]


@pytest.mark.parametrize("field", ["dependsOn", "dependencyOf"])
def test_a_bare_name_in_dependson_is_a_problem_on_the_entity(field: str) -> None:
    entity = make("Component", {"owner": "t", field: ["artists-db", "resource:ok-db"]})
    relations, problems = derive_relations(entity)
    assert problems == [
        f'"spec.{field}": Entity reference "artists-db" had missing or empty kind '
        '(e.g. did not start with "component:" or similar)'
    ]
    # The good refs of the same entity still resolve.
    assert {r.type for r in relations} >= {"ownedBy", field}
    assert all(r.target.name != "artists-db" for r in relations)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"owner": 42}, '"spec.owner" must hold entity refs, found int'),
        ({"owner": {"kind": "group"}}, '"spec.owner" has an entity ref object with no name'),
        ({"dependsOn": [{"name": "db"}]}, "has no kind"),
        ({"owner": "group:"}, "was not on the form"),
    ],
)
def test_unusable_refs_are_problems_not_crashes(spec: dict[str, Any], message: str) -> None:
    _, problems = derive_relations(make("Component", spec))
    assert len(problems) == 1
    assert message in problems[0]


# --- Entity -------------------------------------------------------------------------------


def test_entity_from_document_keeps_case_and_reads_profile() -> None:
    doc = {
        "apiVersion": V1,
        "kind": "Group",
        "metadata": {
            "name": "Team-Payments",
            "namespace": "Money",
            "annotations": {"slack.com/channel-id": "C1"},
            "links": [{"url": "https://x.example", "title": "Wiki"}, {"title": "no url"}],
        },
        "spec": {
            "type": "team",
            "children": [],
            "profile": {"displayName": "Payments", "email": "p@x.example"},
        },
    }
    entity = Entity.from_document(doc, "org.yaml", 7)
    assert str(entity.ref) == "group:money/team-payments"
    assert (entity.kind, entity.name, entity.namespace) == ("Group", "Team-Payments", "Money")
    assert entity.display_name == "Payments"
    assert entity.email == "p@x.example"
    assert entity.annotations == {"slack.com/channel-id": "C1"}
    assert [link.url for link in entity.links] == ["https://x.example"]
    assert (entity.source_file, entity.source_line) == ("org.yaml", 7)


def test_display_name_prefers_title_then_profile_then_name() -> None:
    assert make("User", {"memberOf": []}, name="jo").display_name == "jo"
    blank = make("User", {"memberOf": [], "profile": {"displayName": "  "}}, name="jo")
    assert blank.display_name == "jo"
    doc = {
        "apiVersion": V1,
        "kind": "User",
        "metadata": {"name": "jo", "title": "Jo T."},
        "spec": {"memberOf": [], "profile": {"displayName": "Jo"}},
    }
    assert Entity.from_document(doc).display_name == "Jo T."

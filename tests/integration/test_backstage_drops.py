"""The drop rule (bot.catalog.fidelity) against a real Backstage catalog backend.

The same file tree is read by the upstream catalog backend (``../shared/peers/backstage``) and
by Callboard. Backstage shows what Callboard keeps minus what Callboard's warnings say
Backstage would not show: no more, no less. Skipped, with the reason, without ../shared,
node, npm or PostgreSQL.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.catalog.fidelity import DROP_PREFIX
from bot.store.schema import entities, problems
from tests.backstage_peer import backstage_peer, wait_until_settled
from tests.conftest import AppFactory

V1 = "backstage.io/v1alpha1"


def doc(kind: str, name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": kind, "metadata": {"name": name}, "spec": spec or {}}


def component(name: str) -> dict[str, Any]:
    return doc("Component", name, {"type": "service", "lifecycle": "production", "owner": "a"})


def location(name: str, *targets: str) -> dict[str, Any]:
    return doc("Location", name, {"targets": list(targets)})


def dump(*docs: dict[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def _tree(root: Path) -> None:
    """A Location tree with one broken target two levels down, one failing the entry's own
    step beside a nested Location, and one clean branch."""
    files = {
        "all.yaml": dump(location("all", "./teams.yaml", "./services.yaml", "./clean.yaml")),
        "teams.yaml": dump(doc("Group", "a", {"type": "team", "children": []}),
                           location("teams", "./team-b.yaml")),
        "team-b.yaml": dump(doc("Group", "b", {"type": "team", "children": []})),
        "services.yaml": dump(location("services", "./svc-1.yaml", "./svc-2.yaml",
                                       "./nested.yaml")),
        "svc-1.yaml": dump(component("svc-1")),
        "svc-2.yaml": dump(component("svc-2"), component("svc-3")) + "---\nspec: [broken\n",
        "nested.yaml": dump(location("nested", "./deep.yaml")),
        "deep.yaml": dump(component("deep")),
        "clean.yaml": dump(location("clean", "./clean-1.yaml", "./gone.yaml")),
        "clean-1.yaml": dump(component("clean-1")),
    }  # fmt: skip
    # YAML 1.2 probes (issue: Backstage reads YAML by the 1.2 core schema), each in a file of
    # its own behind a Location of its own, so a refused one costs nothing else.
    probes = {
        "sexagesimal": "2:30", "underscored": "1_000", "binary": "0b101", "octal": "0o17",
        "exponent": "1e3", "yes-word": "yes", "leading-zero": "012",
    }  # fmt: skip
    targets = []
    for name, value in probes.items():
        entity = dump(component(f"probe-{name}")).replace(
            "spec:", f"  annotations:\n    probe/value: {value}\nspec:", 1
        )
        files[f"probe-{name}.yaml"] = entity
        files[f"loc-{name}.yaml"] = dump(location(f"loc-{name}", f"./probe-{name}.yaml"))
        targets.append(f"./loc-{name}.yaml")
    files["probe-tag.yaml"] = dump(component("probe-tag")).replace(
        "spec:", "  description: !Sub 'arn:${AWS::Region}'\nspec:", 1
    )
    files["loc-tag.yaml"] = dump(location("loc-tag", "./probe-tag.yaml"))
    targets.append("./loc-tag.yaml")
    files["probes.yaml"] = dump(location("probes", *targets))
    files["all.yaml"] = dump(
        location("all", "./teams.yaml", "./services.yaml", "./clean.yaml", "./probes.yaml")
    )
    for name, text in files.items():
        (root / name).write_text(text)


def _served_owners(url: str) -> dict[str, str | None]:
    """Every entity the peer serves (Locations aside) and the owner Backstage worked out."""
    query = f"{url}/api/catalog/entities/by-query?limit=1000"
    with urllib.request.urlopen(query, timeout=30) as response:
        items = json.load(response)["items"]
    out: dict[str, str | None] = {}
    for e in items:
        if e["kind"] == "Location":
            continue
        meta = e["metadata"]
        ref = f"{e['kind']}:{meta.get('namespace', 'default')}/{meta['name']}".lower()
        owned = [r["targetRef"] for r in e.get("relations", []) if r["type"] == "ownedBy"]
        out[ref] = owned[0] if owned else None
    return out


def _served(url: str) -> set[str]:
    return set(_served_owners(url))


@pytest.fixture(scope="module")
def peer_and_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("drops")
    _tree(root)
    # At least the Groups a and b and their Locations; then wait for it to settle.
    with backstage_peer(root / "all.yaml", 4, (7101, 7179)) as url:
        wait_until_settled(lambda: _served(url))
        yield url, root


def test_backstage_shows_what_callboard_keeps_minus_what_it_warns_of(
    make_app: AppFactory, peer_and_tree: tuple[str, Path]
) -> None:
    url, root = peer_and_tree
    app = make_app(sources=[{"type": "file", "name": "tree", "target": str(root / "all.yaml")}])
    with app.db.engine.connect() as conn:
        kept = set(conn.execute(select(entities.c.ref)).scalars())
        warned = [
            m
            for m in conn.execute(select(problems.c.message)).scalars()
            if m.startswith(DROP_PREFIX)
        ]
    dropped = {ref for m in warned for ref in re.findall(r"[a-z]+:default/[a-z0-9-]+", m)}
    served = _served(url)
    assert served == {r for r in kept if not r.startswith("location:")} - dropped
    with app.db.engine.connect() as conn:
        rows = conn.execute(select(entities.c.ref, entities.c.owner_ref)).all()
    owners = {row.ref: row.owner_ref for row in rows}
    assert {ref: owners[ref] for ref in served} == _served_owners(url)
    # The cases the tree was written for, as the real backend decided them: services.yaml's
    # step fails on svc-2.yaml (nested.yaml's deep.yaml goes with it), clean.yaml's on the
    # missing gone.yaml; the teams' branch is whole.
    assert {"group:default/a", "group:default/b"} <= served
    assert not {"component:default/svc-1", "component:default/deep"} & served
    assert "component:default/clean-1" not in served
    assert len(warned) == 2
    # YAML 1.2: strings where 1.1 saw numbers are fine there and here; 0o17, 1e3 and 012 are
    # numbers, which an annotation may not be; an unknown tag is ignored, its value kept.
    probes = {r for r in kept if r.startswith("component:default/probe-")}
    assert probes & served == {
        f"component:default/probe-{n}"
        for n in ("sexagesimal", "underscored", "binary", "yes-word", "tag")
    }


def test_in_backstage_fidelity_callboard_stores_what_backstage_shows(
    make_app: AppFactory, peer_and_tree: tuple[str, Path]
) -> None:
    url, root = peer_and_tree
    source = {"type": "file", "name": "tree", "target": str(root / "all.yaml")}
    app = make_app(catalog={"sources": [source], "fidelity": "backstage"})
    with app.db.engine.connect() as conn:
        rows = conn.execute(select(entities.c.ref, entities.c.owner_ref)).all()
    owners = {row.ref: row.owner_ref for row in rows if not row.ref.startswith("location:")}
    assert owners == _served_owners(url)

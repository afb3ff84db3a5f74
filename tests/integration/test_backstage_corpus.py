"""Backstage's own example catalog, one Location per file, read by the real catalog backend
(``../shared/peers``) and by Callboard: the same entities, owners and relations.

Every entity file of ``../shared/data/backstage-examples`` (real upstream data) is registered
behind a Location of its own, so that one file's trouble costs only that file, in both. The
one known difference: three APIs whose ``$text`` points at a remote URL, which Backstage
cannot fetch offline (it refuses them) and Callboard keeps, unresolved, with a warning.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.catalog.model import CANONICAL, REVERSE
from bot.store.schema import entities, relations
from tests.backstage_peer import backstage_peer, wait_until_settled
from tests.conftest import AppFactory, shared_or_skip

REMOTE_PLACEHOLDERS = {
    "api:default/spotify",
    "api:default/wayback-archive",
    "api:default/wayback-search",
}


def _served(url: str) -> list[dict[str, Any]]:
    query = f"{url}/api/catalog/entities/by-query?limit=1000"
    with urllib.request.urlopen(query, timeout=30) as response:
        items: list[dict[str, Any]] = json.load(response)["items"]
    return [e for e in items if e["kind"] != "Location"]


def _ref(e: dict[str, Any]) -> str:
    meta = e["metadata"]
    return f"{e['kind']}:{meta.get('namespace', 'default')}/{meta['name']}".lower()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    examples = shared_or_skip("data", "backstage-examples")
    root = tmp_path_factory.mktemp("corpus") / "examples"
    shutil.copytree(examples, root)
    wrappers = []
    for path in sorted(root.rglob("*.yaml")):
        text = path.read_text()
        if "kind: Location" in text or path.name == "invalid-component.yaml":
            continue  # Locations would register files twice; the invalid one is tested apart
        rel = path.relative_to(root).as_posix()
        name = f"wrap-{len(wrappers)}"
        (root / f"{name}.yaml").write_text(
            yaml.safe_dump(
                {"apiVersion": "backstage.io/v1alpha1", "kind": "Location",
                 "metadata": {"name": name}, "spec": {"targets": [f"./{rel}"]}}
            )
        )  # fmt: skip
        wrappers.append(f"./{name}.yaml")
    (root / "corpus.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": "backstage.io/v1alpha1", "kind": "Location",
             "metadata": {"name": "corpus"}, "spec": {"targets": wrappers}}
        )
    )  # fmt: skip
    with backstage_peer(root / "corpus.yaml", 20, (7181, 7259)) as url:
        wait_until_settled(lambda: sorted(json.dumps(e, sort_keys=True) for e in _served(url)))
        yield url, root


@pytest.mark.parametrize("fidelity", ["lenient", "backstage"])
def test_the_examples_one_location_per_file_match_the_real_backstage(
    make_app: AppFactory, corpus: tuple[str, Path], fidelity: str
) -> None:
    url, root = corpus
    source = {"type": "file", "name": "corpus", "target": str(root / "corpus.yaml")}
    app = make_app(
        catalog={
            "sources": [source],
            "fidelity": fidelity,
            # As a Backstage file location: a relative $text fails its entity there.
            "relative_placeholders": "drop",
        }
    )
    served = _served(url)
    with app.db.engine.connect() as conn:
        rows = conn.execute(select(entities.c.ref, entities.c.owner_ref)).all()
        rels = conn.execute(
            select(relations.c.source_ref, relations.c.type, relations.c.target_ref,
                   relations.c.emitter_ref)
        ).all()  # fmt: skip
    owners = {r.ref: r.owner_ref for r in rows if not r.ref.startswith("location:")}
    truth = {
        _ref(e): next((r["targetRef"] for r in e["relations"] if r["type"] == "ownedBy"), None)
        for e in served
    }
    assert len(truth) >= 40
    assert set(owners) - set(truth) == REMOTE_PLACEHOLDERS
    assert {ref: owners[ref] for ref in truth} == truth
    # What the three extra APIs emit (ownerOf on their group, apiProvidedBy...) is ours only.
    # Each stored once (canonical direction), read both ways.
    both_ways = [(r.source_ref, r.type, r.target_ref, r.emitter_ref) for r in rels] + [
        (r.target_ref, REVERSE[r.type], r.source_ref, r.emitter_ref)
        for r in rels
        if r.type in CANONICAL
    ]
    ours = {
        (source, rel_type, target)
        for source, rel_type, target, emitter in both_ways
        if source in truth and emitter not in REMOTE_PLACEHOLDERS
    }
    theirs = {(_ref(e), r["type"], r["targetRef"]) for e in served for r in e["relations"]}
    assert ours == theirs


@pytest.fixture(scope="module")
def real_layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The examples as they are laid out: all.yaml and acme-corp.yaml, with their Locations."""
    examples = shared_or_skip("data", "backstage-examples")
    root = tmp_path_factory.mktemp("layout") / "examples"
    shutil.copytree(examples, root)
    (root / "both.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": "backstage.io/v1alpha1", "kind": "Location",
             "metadata": {"name": "both"},
             "spec": {"targets": ["./all.yaml", "./acme-corp.yaml"]}}
        )
    )  # fmt: skip
    with backstage_peer(root / "both.yaml", 20, (7181, 7259)) as url:
        wait_until_settled(lambda: sorted(json.dumps(e, sort_keys=True) for e in _served(url)))
        yield url, root


def test_the_real_layout_in_backstage_fidelity_matches_the_real_backstage(
    make_app: AppFactory, real_layout: tuple[str, Path]
) -> None:
    url, root = real_layout
    source = {"type": "file", "name": "layout", "target": str(root / "both.yaml")}
    app = make_app(
        catalog={"sources": [source], "fidelity": "backstage", "relative_placeholders": "drop"}
    )
    with app.db.engine.connect() as conn:
        rows = conn.execute(select(entities.c.ref, entities.c.owner_ref)).all()
    owners = {r.ref: r.owner_ref for r in rows if not r.ref.startswith("location:")}
    truth = {
        _ref(e): next((r["targetRef"] for r in e["relations"] if r["type"] == "ownedBy"), None)
        for e in _served(url)
    }
    assert len(truth) >= 40
    assert set(owners) - set(truth) == REMOTE_PLACEHOLDERS
    assert {ref: owners[ref] for ref in truth} == truth

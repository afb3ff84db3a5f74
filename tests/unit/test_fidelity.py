"""The rule for what a default Backstage drops of a file tree (bot.catalog.fidelity)."""

from __future__ import annotations

from bot.catalog.fidelity import Drop, FileFacts, backstage_drops


def facts(*entities: str, children: tuple[str, ...] = (), blocking: str | None = None) -> FileFacts:
    return FileFacts(children, entities, blocking)


def test_a_clean_tree_drops_nothing() -> None:
    files = {
        "all.yaml": facts(children=("a.yaml", "b.yaml")),
        "a.yaml": facts("component:default/a"),
        "b.yaml": facts("component:default/b", children=("c.yaml",)),
        "c.yaml": facts("component:default/c"),
    }
    assert backstage_drops("all.yaml", files) == []


def test_one_broken_target_drops_its_siblings_and_everything_below_them() -> None:
    files = {
        "all.yaml": facts(children=("good.yaml", "broken.yaml", "nested.yaml")),
        "good.yaml": facts("component:default/good"),
        "broken.yaml": facts("component:default/before-the-error", blocking="YAML error: x"),
        "nested.yaml": facts(children=("deep.yaml",)),
        "deep.yaml": facts("api:default/deep"),
    }
    [drop] = backstage_drops("all.yaml", files)
    assert drop == Drop(
        "all.yaml",
        "broken.yaml",
        "YAML error: x",
        0,
        ("component:default/good", "component:default/before-the-error", "api:default/deep"),
        ("good.yaml", "broken.yaml", "nested.yaml", "deep.yaml"),
    )
    assert drop.message() == (
        "Backstage would not show the 3 entities under this Location (component:default/good, "
        "component:default/before-the-error, api:default/deep): its target broken.yaml fails: "
        "YAML error: x"
    )


def test_a_missing_target_blocks_and_other_failures_are_counted() -> None:
    files = {
        "all.yaml": facts(children=("a.yaml", "gone.yaml", "bad.yaml")),
        "a.yaml": facts(*(f"component:default/c{i}" for i in range(7))),
        "bad.yaml": facts(blocking="Expected object at root, got array"),
    }
    [drop] = backstage_drops("all.yaml", files)
    assert (drop.cause_file, drop.cause, drop.also_failing) == ("gone.yaml", "not found", 1)
    assert "(component:default/c0, component:default/c1, component:default/c2, " in drop.message()
    assert "component:default/c4 and 2 more)" in drop.message()
    assert "gone.yaml fails (and 1 more of its targets): not found" in drop.message()


def test_a_broken_entry_loses_the_whole_source() -> None:
    files = {
        "all.yaml": facts("group:default/team", children=("a.yaml",), blocking="YAML error: y"),
        "a.yaml": facts("component:default/a"),
    }
    [drop] = backstage_drops("all.yaml", files)
    assert drop.location_file is None
    assert drop.entities == ("group:default/team", "component:default/a")
    assert drop.message().startswith("Backstage would not show the 2 entities under this source's")


def test_only_the_failing_step_is_lost_and_an_entity_stored_elsewhere_is_not() -> None:
    files = {
        "all.yaml": facts(children=("teams.yaml", "services.yaml")),
        "teams.yaml": facts(children=("team-a.yaml", "shared.yaml")),
        "team-a.yaml": facts("group:default/a"),
        "shared.yaml": facts("system:default/shared"),
        "services.yaml": facts(children=("svc.yaml", "shared.yaml", "broken.yaml")),
        "svc.yaml": facts("component:default/svc"),
        "broken.yaml": facts(blocking="YAML error: z"),
    }
    [drop] = backstage_drops("all.yaml", files)
    assert drop.location_file == "services.yaml"
    assert drop.entities == ("component:default/svc",)  # shared.yaml is stored by teams.yaml
    assert drop.message().startswith("Backstage would not show the 1 entity under this Location")


def test_a_location_cycle_ends() -> None:
    files = {
        "a.yaml": facts("component:default/a", children=("b.yaml",)),
        "b.yaml": facts(children=("a.yaml", "x.yaml")),
        "x.yaml": facts("component:default/x", blocking="YAML error"),
    }
    [drop] = backstage_drops("a.yaml", files)
    assert drop.location_file == "b.yaml"
    assert drop.entities == ("component:default/x",)  # a.yaml's own step stored its entity


def test_a_file_another_step_reads_is_not_among_the_dropped_files() -> None:
    files = {
        "all.yaml": facts(children=("teams.yaml", "services.yaml")),
        "teams.yaml": facts(children=("shared.yaml",)),
        "shared.yaml": facts("system:default/shared"),
        "services.yaml": facts(children=("svc.yaml", "shared.yaml", "broken.yaml")),
        "svc.yaml": facts("component:default/svc"),
        "broken.yaml": facts(blocking="YAML error"),
    }
    [drop] = backstage_drops("all.yaml", files)
    assert drop.files == ("svc.yaml", "broken.yaml")

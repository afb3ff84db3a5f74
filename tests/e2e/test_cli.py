"""The `callboard` command line, run as users and CI run it: a real process, real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO, REPO

CALLBOARD = Path(sys.executable).with_name("callboard")
V1 = "backstage.io/v1alpha1"
PROBLEM_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<message>.+)$")


def run(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
    return subprocess.run(
        [str(CALLBOARD), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=120,  # a hang guard, not a performance assertion
        check=False,
    )


def component(name: str, **meta: object) -> dict[str, object]:
    return {
        "apiVersion": V1,
        "kind": "Component",
        "metadata": {"name": name, **meta},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
    }


def dump(*docs: object) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config using the bundled demo catalog and a fresh SQLite database under tmp_path."""
    path = tmp_path / "conf" / "callboard.yaml"
    path.parent.mkdir()
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": "../var",
                "database": {"url": "sqlite:///../var/callboard.db"},
                "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
            }
        )
    )
    return path


# --- callboard run --------------------------------------------------------------------------


def test_piped_run_answers_each_line_and_exits_at_end_of_input(
    config: Path, tmp_path: Path
) -> None:
    result = run(
        "--config", str(config), "run",
        cwd=tmp_path, stdin="/whoowns payments-api\n\n# a comment\nwho owns payments-api?\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("Who owns Payments API") == 2
    assert "Payments Team (group:default/team-payments)" in out
    for member in ("Ana Silva", "Omar Haddad", "Tom Becker", "Yuki Tanaka"):
        assert f"{member} <" in out
    assert "#team-payments (C0FOGYR3XK)" in out
    assert "demo: 105 entities, 105 added" in result.stderr
    assert (tmp_path / "var" / "callboard.db").is_file()


def test_piped_run_with_no_input_just_syncs_and_exits(config: Path, tmp_path: Path) -> None:
    result = run("--config", str(config), "run", cwd=tmp_path, stdin="")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "demo: 105 entities" in result.stderr


# --- callboard ask --------------------------------------------------------------------------


def test_ask_prints_the_reply_as_json(config: Path, tmp_path: Path) -> None:
    result = run("--config", str(config), "ask", "/whoowns payments-api", "--format", "json",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert {"title", "text", "sections", "links", "buttons", "notes", "error"} <= set(reply)
    assert reply["title"] == "Who owns Payments API"
    assert reply["error"] is False
    fields = {f["label"]: f["value"] for s in reply["sections"] for f in s["fields"]}
    assert fields["Slack"] == "#team-payments (C0FOGYR3XK)"
    members = next(s for s in reply["sections"] if (s["title"] or "").startswith("Members"))
    assert "Ana Silva <ana.silva@acme-rides.example>" in members["items"]


def test_ask_answers_in_text_and_fails_on_an_error_reply(config: Path, tmp_path: Path) -> None:
    ok = run("--config", str(config), "ask", "/whoowns", "paymnts-api", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("(nothing is named “paymnts-api”; showing the closest match")
    missing = run("--config", str(config), "ask", "/whoowns zzzqqqxx", "--no-sync", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stdout.strip() == "Nothing like “zzzqqqxx” in the catalog."


# --- callboard sync and list ----------------------------------------------------------------


def test_sync_prints_counts_changes_and_every_problem(config: Path, tmp_path: Path) -> None:
    first = run("--config", str(config), "sync", "--changes", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert re.search(
        r"^demo: 105 entities, 105 added, 0 removed, 0 modified, 0 owner changes; "
        r"26 of 26 files parsed, 0 problems",
        first.stdout,
        re.M,
    )
    assert "  + component:default/payments-api" in first.stdout.splitlines()  # --changes: all
    again = run("--config", str(config), "sync", cwd=tmp_path)
    assert again.returncode == 0
    assert "demo: 105 entities, 0 added, 0 removed, 0 modified, 0 owner changes; 0 of 26 files" in (
        again.stdout
    )
    assert "  + " not in again.stdout


def test_sync_reports_catalog_problems_but_succeeds(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "all.yaml").write_text(dump(component("fine"), component("bad name")))
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {"catalog": {"sources": [{"type": "file", "name": "r", "target": "./repo/all.yaml"}]}}
        )
    )
    result = run("--config", str(config), "sync", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    problem = next(line for line in result.stdout.splitlines() if PROBLEM_LINE.match(line))
    assert problem.startswith('all.yaml:10: "metadata.name" is not valid')
    assert "  + component:default/fine" in result.stdout.splitlines()


def test_sync_fails_when_no_source_can_be_read(tmp_path: Path) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {"catalog": {"sources": [{"type": "file", "name": "gone", "target": "./nope.yaml"}]}}
        )
    )
    result = run("--config", str(config), "sync", cwd=tmp_path)
    assert result.returncode == 1
    assert "gone: FAILED: source gone: nope.yaml: file not found" in result.stdout


def test_an_invalid_config_exits_2_naming_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text("catalog:\n  refresh_minuts: 5\n")
    result = run("--config", str(config), "sync", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"callboard: configuration error: {config}: unknown key catalog.refresh_minuts"
    )
    assert result.stdout == ""


def test_list_prints_stored_entities_as_json_by_kind(config: Path, tmp_path: Path) -> None:
    assert run("--config", str(config), "sync", cwd=tmp_path).returncode == 0
    result = run("--config", str(config), "list", "--kind", "component", "--format", "json",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert len(listed) == 37
    assert {row["ref"].split(":")[0] for row in listed} == {"component"}
    assert listed == sorted(listed, key=lambda row: row["ref"])
    payments = next(row for row in listed if row["ref"] == "component:default/payments-api")
    assert payments == {
        "ref": "component:default/payments-api",
        "owner": "group:default/team-payments",
        "source": "demo",
        "file": "services/payments-api/catalog-info.yaml",
    }
    text = run("--config", str(config), "list", "--kind", "Group", cwd=tmp_path)
    assert text.returncode == 0
    assert len(text.stdout.splitlines()) == 13
    assert text.stderr.strip() == "13 entities"
    # A kind the catalog does not have is named, with the kinds it has.
    typo = run("--config", str(config), "list", "--kind", "componnet", cwd=tmp_path)
    assert typo.returncode == 0 and typo.stdout == ""
    assert typo.stderr.splitlines() == [
        "no entities of kind 'componnet'; the catalog has: api, component, domain, group, "
        "resource, system, user",
        "0 entities",
    ]


# --- callboard check ------------------------------------------------------------------------


def test_check_passes_the_demo_catalog() -> None:
    result = run("check", "config/demo/all.yaml", cwd=REPO)
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""
    assert result.stderr.strip() == "1 file(s) checked: 0 error(s), 0 warning(s)"


def test_check_prints_file_line_message_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "catalog-info.yaml").write_text(
        dump(component("fine"), component("bad name", tags=["go 1.15.3"]))
    )
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "broken.yaml").write_text("apiVersion: x\nkind: [Component\n")
    (tmp_path / "all.yaml").write_text(
        dump({"apiVersion": V1, "kind": "Location", "metadata": {"name": "all"},
              "spec": {"targets": ["./catalog-info.yaml", "./teams/broken.yaml"]}})
    )  # fmt: skip
    result = run("check", "all.yaml", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    parsed = [PROBLEM_LINE.match(line) for line in lines[:3]]
    assert all(parsed) and len(lines) == 4, lines
    assert [(m["file"], m["line"]) for m in parsed if m] == [
        ("catalog-info.yaml", "10"),
        ("catalog-info.yaml", "10"),
        ("teams/broken.yaml", "3"),
    ]
    assert lines[0].startswith('catalog-info.yaml:10: "metadata.name" is not valid')
    assert lines[1].startswith('catalog-info.yaml:10: "metadata.tags[0]" is not valid')
    assert "YAML error" in lines[2]
    # A default Backstage would show nothing under all.yaml: teams/broken.yaml fails its step.
    assert lines[3].startswith(
        "all.yaml: warning: Backstage would not show the 1 entity under this Location "
        "(component:default/fine): its target teams/broken.yaml fails: YAML error"
    )
    assert result.stderr.splitlines() == [
        "1 file(s) checked: 3 error(s), 1 warning(s)",
        "Backstage would drop entities that Callboard keeps (see above); --strict makes that an "
        "error",
    ]


def test_check_strict_names_the_skeletons_that_make_backstage_drop_a_location(
    tmp_path: Path,
) -> None:
    # backstage/software-templates' layout, read through one Location that globs every
    # catalog-info.yaml and template.yaml: a cookiecutter skeleton's catalog-info.yaml is not
    # an entity Backstage can read ({{ cookiecutter.name }} is a YAML mapping), so Backstage
    # drops every template under that Location. Callboard keeps them; --strict fails.
    from tests.conftest import shared_or_skip

    examples = shared_or_skip(
        "data", "scaffolder-examples", "backstage-software-templates@bbb5f376"
    )
    repo = tmp_path / "software-templates"
    import shutil

    shutil.copytree(examples, repo / "scaffolder-templates")
    (repo / "catalog-info.yaml").write_text(
        dump({"apiVersion": V1, "kind": "Location", "metadata": {"name": "templates"},
              "spec": {"targets": ["./scaffolder-templates/*/template.yaml",
                                   "./scaffolder-templates/*/skeleton/catalog-info.yaml"]}})
    )  # fmt: skip
    lenient = run("check", "catalog-info.yaml", cwd=repo)
    strict = run("check", "--strict", "catalog-info.yaml", cwd=repo)
    skeleton = "scaffolder-templates/docs-template-cookiecutter/skeleton/catalog-info.yaml"
    [drop] = [line for line in strict.stdout.splitlines() if "Backstage would not show" in line]
    assert drop.startswith("catalog-info.yaml: Backstage would not show the ")
    assert f"its target {skeleton} fails" in drop
    assert "template:default/docs-template" in drop
    assert strict.returncode == 1
    assert "warning: Backstage would not show" in lenient.stdout
    assert lenient.stdout.replace("warning: Backstage", "Backstage") == strict.stdout


def test_check_finds_duplicates_across_the_files_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(dump(component("same")))
    (tmp_path / "b.yaml").write_text(dump(component("other"), component("same")))
    result = run("check", "a.yaml", "b.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "b.yaml:10: duplicate entity component:default/same, first in a.yaml "
        "[component:default/same]"
    ]


def test_check_refuses_a_directory_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    result = run("check", "dir", "missing.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "dir: is a directory; name catalog files",
        "missing.yaml: file not found",
    ]


def test_check_reports_hostile_files_without_crashing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "deep.yaml").write_text("spec: " + "[" * 100_000 + "]" * 100_000 + "\n")
    lol = ['a0: &a0 "lol"'] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)
    ]
    (repo / "bomb.yaml").write_text("\n".join(lol) + "\n")
    (repo / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    (repo / "all.yaml").write_text(
        dump({"apiVersion": V1, "kind": "Location", "metadata": {"name": "all"},
              "spec": {"targets": ["./deep.yaml", "./bomb.yaml", "./binary.yaml",
                                   "../../etc/passwd"]}},
             component("fine"))
    )  # fmt: skip
    result = run("check", "all.yaml", cwd=repo)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        'all.yaml:1: target "../../etc/passwd" resolves outside the source root '
        f"{repo.resolve()}; not read [location:default/all]",
        "deep.yaml:1: nesting deeper than 200 levels; the rest of the file is not read",
        "bomb.yaml:1: document expands to more than 200,000 nodes through aliases (an alias "
        "bomb?); skipped",
        "binary.yaml: binary data: not a YAML text file",
    ]


def test_check_applies_rules_and_model_layers_given_as_options(tmp_path: Path) -> None:
    ai = {"apiVersion": V1, "kind": "AiResource", "metadata": {"name": "rule"},
          "spec": {"type": "rule", "lifecycle": "production", "owner": "a", "category": "c",
                   "rationale": "r"}}  # fmt: skip
    (tmp_path / "all.yaml").write_text(dump(component("svc"), ai))
    plain = run("check", "all.yaml", cwd=tmp_path)
    assert plain.returncode == 1
    assert "No processor recognized the entity airesource:default/rule" in plain.stdout
    layered = run("check", "--model-layer", "ai-resource", "all.yaml", cwd=tmp_path)
    assert layered.returncode == 0, layered.stdout
    ruled = run("check", "--allow", "AiResource", "--model-layer", "ai-resource", "all.yaml",
                cwd=tmp_path)  # fmt: skip
    assert ruled.returncode == 1
    assert ruled.stdout.startswith(
        "all.yaml:1: NotAllowedError: Entity component:default/svc at all.yaml is not of an "
        "allowed kind for that location (catalog.rules allow airesource)"
    )

"""``callboard templates`` and ``callboard scaffold --values --dry-run --output`` on v1beta3
Templates from a catalog source (Callboard's own test templates, tests/fixtures/v1beta3)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.cli import main as cli_main
from tests.conftest import DEMO, REPO

FIXTURES = REPO / "tests" / "fixtures" / "v1beta3"
ANA = "ana.silva@acme-rides.example"  # team-payments
PR_ONLY = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: pr-only}
spec:
  owner: team-a
  type: service
  steps:
    - {id: open-pr, action: publish:bitbucket, input: {repoUrl: x}}
"""
# No steps at all (Backstage runs it: only its output), a hidden field, and a JSON object
# field named ``owner`` beside the OwnerPicker that is the component's owner (as Backstage's
# BUI kitchen-sink sample template has them).
OUTPUT_ONLY = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: output-only}
spec:
  owner: team-a
  type: service
  parameters:
    - title: One
      required: [name]
      properties:
        name: {type: string}
        token: {type: string, ui:widget: hidden, default: from-the-schema}
        owner:
          type: object
          properties: {displayName: {type: string}}
        ownerRef: {type: string, ui:field: OwnerPicker}
  steps: []
  output:
    text:
      - title: Summary
        content: >-
          ${{ parameters.token }} ${{ parameters.owner.displayName }}
          ${{ parameters.ownerRef }}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    templates = tmp_path / "templates"
    shutil.copytree(FIXTURES, templates)
    (templates / "pr.yaml").write_text(PR_ONLY)
    (templates / "output-only.yaml").write_text(OUTPUT_ONLY)
    names = ["actions", "filters", "extension", "compat"]
    targets = ", ".join(
        [*(f"./{n}/template.yaml" for n in names), "./pr.yaml", "./output-only.yaml"]
    )
    (templates / "all.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: fixtures}\n"
        f"spec: {{targets: [{targets}]}}\n"
    )
    path = tmp_path / "callboard.yaml"
    path.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
                "catalog": {
                    "sources": [
                        {"type": "file", "name": "demo", "target": str(DEMO)},
                        {"type": "file", "name": "tpl", "target": str(templates / "all.yaml")},
                    ]
                },
                "console": {"user_email": ANA},
                "scaffold": {"publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"}},
            }
        )
    )
    return path


def ls_tree(bare: Path) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(out.stdout.split())


def test_templates_lists_each_engine_and_what_cannot_run(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["--config", str(config), "templates"]) == 0
    out = capsys.readouterr().out
    assert "callboard-actions    native  (catalog template:default/callboard-actions)" in out
    assert "python-service       cookiecutter" in out
    assert (
        "pr-only              not available: step open-pr uses the action "
        "publish:bitbucket, which Callboard cannot run natively"
    ) in out
    assert cli_main(["--config", str(config), "templates", "--format", "json", "--no-sync"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["templates"]}
    filters = rows["callboard-filters"]
    assert filters["engine"] == "native" and filters["available"]
    assert not rows["pr-only"]["available"]


def test_a_dry_run_writes_the_workspace_and_publishes_nothing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    values = FIXTURES / "filters" / "values.json"
    args = ["scaffold", "callboard-filters", "--values", str(values), "--dry-run"]
    assert cli_main(["--config", str(config), *args, "--output", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    assert "Dry run: payments-lib from callboard-filters" in printed
    assert "an empty object is true" in printed and "not shown" not in printed
    text = (out_dir / "values.txt").read_text()
    assert "slug: acme/payments-lib\n" in text
    assert 'system: {"kind":"system","namespace":"prod","name":"money"}\n' in text
    assert "truthy: empty-list-true empty-object-true missing-false\n" in text
    assert not (tmp_path / "git").exists()


def test_a_template_without_steps_runs_with_hidden_and_own_named_fields_as_given(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "values.json"
    given = {
        "name": "quiet-app",
        "token": "from-the-form",  # Backstage's form sends a hidden field's value as is
        "owner": {"displayName": "Ana Silva"},  # the template's own object, not the owner
        "ownerRef": "group:default/team-payments",
    }
    values.write_text(json.dumps(given))
    args = ["scaffold", "output-only", "--values", str(values), "--dry-run", "--format", "json"]
    assert cli_main(["--config", str(config), *args, "--output", str(tmp_path / "out")]) == 0
    reply = json.loads(capsys.readouterr().out)
    shown = {s["title"]: s["items"] for s in reply["sections"]}
    assert shown["Summary"] == ["from-the-form Ana Silva group:default/team-payments"]
    assert cli_main(["--config", str(config), "templates", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["templates"]}
    assert rows["output-only"]["available"], rows["output-only"]


def test_a_run_publishes_the_publish_steps_folder_and_registers_it(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = FIXTURES / "actions" / "values.json"
    args = ["scaffold", "callboard-actions", "--values", str(values)]
    assert cli_main(["--config", str(config), *args]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "Created checkout-api" in printed
    steps = [line for line in captured.err.splitlines() if "(callboard-actions)" in line]
    assert steps[:3] == [
        "... checkout-api (callboard-actions): running the template's steps…",
        "... checkout-api (callboard-actions): Fetch skeleton…",
        "... checkout-api (callboard-actions): Plain copy…",
    ]  # each step shown as the render child begins it
    assert steps[-1] == "... checkout-api (callboard-actions): done."
    assert "checkout-api is owned by team-payments." in printed  # the template's output text
    assert ls_tree(tmp_path / "git" / "checkout-api.git") == [
        ".github/workflows/ci.yml",
        "LICENSE",
        "README.md",
        "catalog-info.yaml",
        "checkout-api.py",
        "extra/alpha.md",
        "extra/beta.md",
        "vendor/nested/new-name.txt",
        "vendor/notes.txt",
    ]
    assert cli_main(["--config", str(config), "audit", "--format", "json"]) == 0
    entry = json.loads(capsys.readouterr().out)[0]
    assert entry["result"] == "succeeded" and entry["details"]["entity"].endswith("checkout-api")


def test_an_if_on_the_publish_step_is_respected(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = json.loads((FIXTURES / "actions" / "values.json").read_text())
    values = tmp_path / "values.json"
    values.write_text(json.dumps({**given, "name": "dry-only", "dryRunOnly": True}))
    out_dir = tmp_path / "out"
    args = ["scaffold", "callboard-actions", "--values", str(values), "--output", str(out_dir)]
    assert cli_main(["--config", str(config), *args]) == 0
    printed = capsys.readouterr().out
    assert "the template's publish step did not run: nothing was published" in printed
    assert not (tmp_path / "git").exists()
    assert (out_dir / "service" / "catalog-info.yaml").is_file()


def test_status_and_sync_name_the_templates_that_cannot_run(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = (
        "template pr-only (catalog template:default/pr-only): not available: step open-pr uses "
        "the action publish:bitbucket, which Callboard cannot run natively"
    )
    cli_main(["--config", str(config), "sync"])
    assert line in capsys.readouterr().out
    cli_main(["--config", str(config), "status"])
    assert line in capsys.readouterr().out


COOKIECUTTER_TEMPLATE = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: cc-docs, title: Cookiecutter docs}
spec:
  owner: team-a
  type: documentation
  parameters:
    - required: [name, owner]
      properties:
        name: {type: string, ui:field: EntityNamePicker}
        owner: {type: string, ui:field: OwnerPicker}
        dryRunOnly: {type: boolean, title: Dry run only, default: false}
  steps:
    - id: fetch
      action: fetch:cookiecutter
      input:
        url: ./skeleton
        targetPath: site
        copyWithoutRender: [raw/*]
        values:
          name: ${{ parameters.name }}
          owner: ${{ parameters.owner }}
    - id: publish
      if: ${{ not parameters.dryRunOnly }}
      action: publish:github
      input: {repoUrl: "github.com?owner=acme&repo=x", sourcePath: site}
    - id: register
      if: ${{ not parameters.dryRunOnly }}
      action: catalog:register
      input:
        repoContentsUrl: ${{ steps.publish.output.repoContentsUrl }}
        catalogInfoPath: /meta/catalog-info.yaml
"""
CATALOG_INFO = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: "{{ cookiecutter.name }}"}
spec: {type: documentation, lifecycle: experimental, owner: "{{ cookiecutter.owner }}"}
"""


def test_a_fetch_cookiecutter_template_keeps_its_if_target_path_and_catalog_path(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "templates" / "cc"
    (folder / "skeleton" / "meta").mkdir(parents=True)
    (folder / "skeleton" / "raw").mkdir()
    (folder / "template.yaml").write_text(COOKIECUTTER_TEMPLATE)
    (folder / "skeleton" / "meta" / "catalog-info.yaml").write_text(CATALOG_INFO)
    (folder / "skeleton" / "raw" / "{{ cookiecutter.name }}.txt").write_text("{{ kept }}\n")
    all_yaml = tmp_path / "templates" / "all.yaml"
    all_yaml.write_text(all_yaml.read_text().replace("./pr.yaml", "./pr.yaml, ./cc/template.yaml"))
    base = ["--config", str(config), "scaffold", "cc-docs", "--set", "name=handbook"]

    assert cli_main([*base, "--set", "dryRunOnly=yes"]) == 0
    assert "nothing was published" in capsys.readouterr().out
    assert not (tmp_path / "git").exists()  # the "dry run only" box is honoured

    assert cli_main([*base, "--no-sync"]) == 0
    assert "Created handbook" in capsys.readouterr().out
    bare = tmp_path / "git" / "handbook.git"
    assert ls_tree(bare) == ["meta/catalog-info.yaml", "raw/handbook.txt"]
    kept = subprocess.run(
        ["git", "--git-dir", str(bare), "show", "main:raw/handbook.txt"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert kept == "{{ kept }}\n"  # copyWithoutRender holds under targetPath

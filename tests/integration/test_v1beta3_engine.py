"""The native v1beta3 engine on real folders: each action, if/each/output, and the limits.

Callboard's own test templates live in tests/fixtures/v1beta3 (one per area: every action,
filters and expressions, templateFileExtension, cookiecutter compatibility); their outputs are
compared with Backstage's own engine in test_v1beta3_parity.py.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.scaffold.v1beta3 import engine
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "v1beta3"


def run_fixture(name: str, tmp_path: Path, **overrides: Any) -> tuple[dict[str, Any], Path]:
    folder = FIXTURES / name
    doc = yaml.safe_load((folder / "template.yaml").read_text())
    values = json.loads((folder / "values.json").read_text())
    values.update(overrides)
    out = tmp_path / "workspace"
    result = engine.run(
        {
            "template": doc,
            "template_dir": str(folder),
            "template_ref": f"template:default/{doc['metadata']['name']}",
            "parameters": values,
            "workspace": str(out),
            "dry_run": True,
        }
    )
    return result, out


def run_steps(
    tmp_path: Path,
    steps: list[dict[str, Any]],
    parameters: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    output: dict[str, Any] | None = None,
    **request: Any,
) -> tuple[dict[str, Any], Path]:
    folder = tmp_path / "template"
    for rel, text in (files or {"skeleton/README.md": "# ${{ values.name }}\n"}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    folder.mkdir(exist_ok=True)
    doc = {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "t"},
        "spec": {"steps": steps, "output": output or {}},
    }
    out = tmp_path / "workspace"
    result = engine.run(
        {
            "template": doc,
            "template_dir": str(folder),
            "parameters": parameters or {},
            "workspace": str(out),
            **request,
        }
    )
    return result, out


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(errors="replace")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_action_of_the_actions_template(tmp_path: Path) -> None:
    result, out = run_fixture("actions", tmp_path)
    assert result["ok"], result
    files = tree(out)
    assert sorted(files) == [
        "service/.github/workflows/ci.yml",
        "service/LICENSE",
        "service/README.md",
        "service/catalog-info.yaml",
        "service/checkout-api.py",
        "service/extra/alpha.md",
        "service/extra/beta.md",
        "service/vendor/nested/new-name.txt",
        "service/vendor/notes.txt",
    ]
    # copyWithoutTemplating: the name is rendered, the contents are not
    assert "${{ github.sha }}" in files["service/.github/workflows/ci.yml"]
    assert files["service/checkout-api.py"].startswith('"""checkout_api: the entry point.')
    assert "published to github.com/acme/checkout-api" in files["service/README.md"]
    assert "See the docs folder" not in files["service/README.md"]  # withDocs false
    assert files["service/vendor/notes.txt"] == "copied as is: ${{ values.name }}\n"
    assert files["service/extra/beta.md"] == "# Extra beta (number 1)\n"
    assert files["service/catalog-info.yaml"] == (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: checkout-api\n"
        "  description: Made from the actions template, which runs one step for every\n"
        "    built-in action Callboard runs natively\n  tags:\n    - python\n"
        "    - checkout-api\n  annotations:\n"
        "    backstage.io/source-template: template:default/callboard-actions\n"
        "spec:\n  type: service\n  lifecycle: experimental\n"
        "  owner: group:default/team-payments\n"
    )
    status = {s["id"]: s["status"] for s in result["steps"]}
    assert status["publish"] == status["register"] == "skipped"  # a dry run
    log = next(s for s in result["steps"] if s["id"] == "log")["log"]
    assert "Made checkout-api for group:default/team-payments" in log
    assert any(line.startswith("Workspace:\n  - service/") for line in log)
    assert result["output"]["text"][0]["content"] == (
        "checkout-api is owned by team-payments.\nExtras: 2\n"
    )
    assert [link["title"] for link in result["output"]["links"]] == [
        "Repository",
        "Only when extras were asked for",
    ]


def test_if_skips_steps_and_output_items(tmp_path: Path) -> None:
    result, out = run_fixture("actions", tmp_path, extras=[], withDocs=True)
    assert result["ok"], result
    status = {s["id"]: s["status"] for s in result["steps"]}
    assert status["nodocs"] == "skipped"  # an if: that is false
    assert status["extras"] == "completed"  # each: over nothing runs nothing
    assert "service/docs/index.md" in tree(out)
    assert not (out / "service" / "extra").exists()
    assert [link["title"] for link in result["output"]["links"]] == ["Repository"]


def test_a_real_run_records_what_the_publish_step_publishes(tmp_path: Path) -> None:
    folder = FIXTURES / "actions"
    doc = yaml.safe_load((folder / "template.yaml").read_text())
    values = json.loads((folder / "values.json").read_text())
    predicted = {"publish:github": {"remoteUrl": "file:///r.git", "repoContentsUrl": "file:///r"}}
    result = engine.run(
        {
            "template": doc,
            "template_dir": str(folder),
            "parameters": values,
            "workspace": str(tmp_path / "job" / "workspace"),
            "publish_outputs": predicted,
        }
    )
    assert result["ok"], result
    publish, register = result["deferred"]
    assert publish["action"] == "publish:github" and publish["input"]["sourcePath"] == "./service"
    assert sorted(tree(Path(publish["snapshot"])))[:2] == [".github/workflows/ci.yml", "LICENSE"]
    assert register["input"]["repoContentsUrl"] == "file:///r"
    assert result["output"]["links"][0]["url"] == "file:///r.git"

    again = engine.run(
        {
            "template": doc,
            "template_dir": str(folder),
            "parameters": {**values, "dryRunOnly": True},
            "workspace": str(tmp_path / "job2" / "workspace"),
        }
    )
    assert again["ok"] and again["deferred"] == []  # if: on publish and register respected


@pytest.mark.parametrize("name", ["filters", "extension", "compat"])
def test_the_other_fixture_templates_run(name: str, tmp_path: Path) -> None:
    result, out = run_fixture(name, tmp_path)
    assert result["ok"], result
    assert tree(out)


def test_extension_and_replace(tmp_path: Path) -> None:
    result, out = run_fixture("extension", tmp_path)
    assert result["ok"], result
    files = tree(out)
    assert files["config.yaml"] == "name: ext-demo\n"  # the first pass wins: no replace
    assert files["README.md"] == "kept as is: ${{ values.name }}\n"
    assert files["replaced/config.yaml"] == "name: third-ext-demo\n"
    assert files["src/ext-demo.ts"] == 'export const name = "ext-demo";\n'
    assert files["blocks.txt"] == "list:\n  - one\n  - two\nend\n"


def test_copy_without_render_keeps_names_and_contents(tmp_path: Path) -> None:
    result, out = run_steps(
        tmp_path,
        [
            {
                "id": "f",
                "action": "fetch:template",
                "input": {
                    "url": "./skeleton",
                    "targetPath": "sub",
                    "copyWithoutRender": ["static/*"],
                    "values": {"name": "n1"},
                },
            }
        ],
        files={
            "skeleton/static/${{ values.name }}.txt": "${{ values.name }}\n",
            "skeleton/${{ values.name }}.md": "${{ values.name }}\n",
        },
    )
    assert result["ok"], result
    assert tree(out) == {
        "sub/n1.md": "n1\n",
        "sub/static/${{ values.name }}.txt": "${{ values.name }}\n",
    }


def test_each_runs_per_item_with_if_per_item_and_collects_outputs(tmp_path: Path) -> None:
    result, out = run_steps(
        tmp_path,
        [
            {
                "id": "files",
                "action": "fetch:template:file",
                "each": "${{ parameters.envs }}",
                "if": "${{ each.value.enabled }}",
                "input": {
                    "url": "./one.txt",
                    "targetPath": "env/${{ each.key }}.txt",
                    "values": {"env": "${{ each.value.name }}"},
                },
            }
        ],
        parameters={
            "envs": {
                "dev": {"name": "Development", "enabled": True},
                "prod": {"name": "Production", "enabled": False},
            }
        },
        files={"one.txt": "env=${{ values.env }}\n"},
    )
    assert result["ok"], result
    assert tree(out) == {"env/dev.txt": "env=Development\n"}


def test_each_is_bounded(tmp_path: Path) -> None:
    result, _ = run_steps(
        tmp_path,
        [{"id": "log", "action": "debug:log", "each": "${{ parameters.many }}", "input": {}}],
        parameters={"many": list(range(101))},
    )
    assert not result["ok"] and "at most 100 run" in result["error"]


@pytest.mark.parametrize(
    "step",
    [
        {"action": "fetch:template", "input": {"url": "./skeleton", "targetPath": "../../x"}},
        {"action": "fetch:plain", "input": {"url": "../../../etc"}},
        {"action": "fs:rename", "input": {"files": [{"from": "README.md", "to": "../x"}]}},
        {"action": "fs:delete", "input": {"files": ["../*"]}},
        {"action": "catalog:write", "input": {"filePath": "../c.yaml", "entity": {}}},
    ],
)
def test_paths_stay_in_the_workspace_and_the_template_folder(
    tmp_path: Path, step: dict[str, Any]
) -> None:
    steps = [
        {"id": "base", "action": "fetch:plain", "input": {"url": "./skeleton"}},
        {"id": "bad", **step},
    ]
    result, _ = run_steps(tmp_path, steps)
    assert not result["ok"] and result["failed_step"] == "bad"
    assert "outside" in result["error"] or "not next to" in result["error"]
    assert sorted(os.listdir(tmp_path)) == ["template", "workspace"]


def test_a_link_in_a_skeleton_is_refused(tmp_path: Path) -> None:
    (tmp_path / "template" / "skeleton").mkdir(parents=True)
    os.symlink("/etc/passwd", tmp_path / "template" / "skeleton" / "passwd")
    fetch = {"id": "f", "action": "fetch:template", "input": {"url": "./skeleton"}}
    result, out = run_steps(tmp_path, [fetch], files={})
    assert not result["ok"] and "symbolic link" in result["error"]
    assert not (out / "passwd").exists()


def test_user_input_is_written_as_data_never_run_as_template_code(tmp_path: Path) -> None:
    sneaky = "${{ secrets.token }}{% for x in range(99999999) %}{% endfor %}{{ 7*7 }}"
    result, out = run_steps(
        tmp_path,
        [
            {
                "id": "f",
                "action": "fetch:template",
                "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}"}},
            }
        ],
        parameters={"name": sneaky},
        secrets={"token": "s3cret"},
    )
    assert result["ok"], result
    assert tree(out) == {"README.md": f"# {sneaky}\n"}


def test_secrets_reach_inputs_but_a_dry_runs_log_shows_stars(tmp_path: Path) -> None:
    result, _ = run_steps(
        tmp_path,
        [{"id": "log", "action": "debug:log", "input": {"message": "t=${{ secrets.token }}"}}],
        secrets={"token": "s3cret"},
        dry_run=True,
    )
    log = result["steps"][0]["log"]
    assert '"message": "t=***"' in log[1]
    assert "t=s3cret" in log  # what the action itself logs (the bot redacts replies)


def test_a_failing_step_stops_the_run_with_its_reason(tmp_path: Path) -> None:
    result, out = run_steps(
        tmp_path,
        [
            {"id": "a", "action": "fs:rename", "input": {"files": [{"from": "x", "to": "y"}]}},
            {"id": "b", "action": "fetch:plain", "input": {"url": "./skeleton"}},
        ],
    )
    assert not result["ok"] and result["failed_step"] == "a"
    assert [s["status"] for s in result["steps"]] == ["failed"]
    assert not (out / "README.md").exists()


def test_fetch_cookiecutter_renders_in_the_sandbox(tmp_path: Path) -> None:
    result, out = run_steps(
        tmp_path,
        [
            {
                "id": "c",
                "action": "fetch:cookiecutter",
                "input": {
                    "url": "./skeleton",
                    "targetPath": "docs",
                    "values": {"name": "${{ parameters.name }}"},
                },
            }
        ],
        parameters={"name": "runbooks"},
        files={"skeleton/index.md": "# {{ cookiecutter.name | upper }}\n"},
    )
    assert result["ok"], result
    assert tree(out) == {"docs/index.md": "# RUNBOOKS\n"}


def test_the_template_folder_is_never_written(tmp_path: Path) -> None:
    copy = tmp_path / "fixture"
    shutil.copytree(FIXTURES / "actions", copy)
    before = tree(copy)
    doc = yaml.safe_load((copy / "template.yaml").read_text())
    engine.run(
        {
            "template": doc,
            "template_dir": str(copy),
            "parameters": json.loads((copy / "values.json").read_text()),
            "workspace": str(tmp_path / "ws"),
            "dry_run": True,
        }
    )
    assert tree(copy) == before


def test_the_files_a_run_writes_are_bounded(tmp_path: Path) -> None:
    files = {f"skeleton/f{i}.txt": "${{ values.n }}\n" for i in range(5)}
    fetch = {"id": "f", "action": "fetch:template", "input": {"url": "./skeleton"}}
    result, _ = run_steps(tmp_path, [fetch], files=files, max_files=3)
    assert not result["ok"] and "more than 3 files" in result["error"]


def test_a_run_that_does_not_end_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    from bot.scaffold.model import NativeRecipe, Template
    from bot.scaffold.native import run_native
    from bot.scaffold.render import RenderError

    folder = tmp_path / "template"
    (folder / "skeleton").mkdir(parents=True)
    (folder / "skeleton" / "spin.txt").write_text(
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    )
    fetch = {"id": "f", "action": "fetch:template", "input": {"url": "./skeleton"}}
    doc = {"metadata": {"name": "spin"}, "spec": {"steps": [fetch]}}
    template = Template(
        "spin", "Spin", None, None, "test", "native", folder, (), False,
        native=NativeRecipe("template:default/spin", doc, folder),
    )  # fmt: skip
    seen: list[str] = []
    with pytest.raises(RenderError, match="longer than 3 s"):
        run_native(
            template,
            {},
            tmp_path / "work",
            dry_run=True,
            timeout=3,
            max_files=10,
            max_bytes=10**6,
            on_step=seen.append,
        )
    assert seen == ["fetch:template"]  # the step had begun when it was stopped

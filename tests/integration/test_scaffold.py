"""Scaffolding with real parts: cookiecutter, git, bare repositories, a git host on loopback.

The git host (GitHub's and GitLab's repository-creation REST calls, and git's smart HTTP
protocol through ``git http-backend``) is the one thing faked: it cannot run here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.cli import main as cli_main
from bot.app import App
from bot.bootstrap import parse_settings
from bot.catalog.locations import list_locations
from bot.chat import ChatUser, Dialog, DialogErrors, DialogSubmission, Reply
from bot.errors import ConfigError
from bot.scaffold.publish import Publisher, PublishError
from bot.scaffold.settings import PublishSettings, ScaffoldSettings
from tests.conftest import DEMO, REPO, AppFactory, aask, shared_or_skip

ANA = "ana.silva@acme-rides.example"  # team-payments and team-risk (money-and-platform)
DEVON = "devon.price@acme-rides.example"  # a catalog User in no group
CONSOLE_ANA = ChatUser("console", "ana", "ana", ANA)
TEMPLATES = REPO / "templates"

# audreyfeldroy/cookiecutter-pypackage cookiecutter.json at ced42cf2 (MIT licence, © 2025
# Audrey M. Roy Greenfeld), as quoted in ../shared/reference/scaffolder-and-cookiecutter.md §8.1.
PYPACKAGE_JSON = """{
  "full_name": "Audrey M. Roy Greenfeld",
  "email": "audreyfeldroy@example.com",
  "github_username": "audreyfeldroy",
  "github_repo_owner": "{{ cookiecutter.github_username }}",
  "project_name": "Python Boilerplate",
  "package_name": "{{ cookiecutter.project_name.replace(' ', '-') }}",
  "import_name": "{{ cookiecutter.package_name.lower().replace('-', '_') }}",
  "project_short_description": "Python Boilerplate contains all the boilerplate you need to \
create a Python package.",
  "pypi_username": "{{ cookiecutter.github_username }}",
  "author_website": "https://audrey.feldroy.com/",
  "first_version": "0.1.0"
}
"""


# ----------------------------------------------------------------------------- helpers


def scaffold_app(
    make_app: AppFactory,
    tmp_path: Path,
    *,
    email: str = ANA,
    db_url: str | None = None,
    sources: list[dict[str, Any]] | None = None,
    **scaffold: Any,
) -> App:
    """The demo catalog, with ``scaffold`` settings (default: the bundled templates, bare
    repositories under tmp_path/git)."""
    cfg: dict[str, Any] = {
        "templates": [str(TEMPLATES)],
        "publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"},
        **scaffold,
    }
    return make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}, *(sources or [])],
        db_url=db_url,
        console={"user_email": email},
        scaffold=cfg,
    )


async def open_dialog(app: App, line: str, user: ChatUser = CONSOLE_ANA) -> Dialog:
    reply = await aask(app, line, user)
    assert reply.dialog is not None, reply.to_text()
    return reply.dialog


class Recorder:
    """A progress port as an adapter would pass it: remembers every update."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def update(self, text: str) -> None:
        self.lines.append(text)


async def submit(
    app: App,
    dialog: Dialog,
    values: dict[str, str],
    user: ChatUser = CONSOLE_ANA,
    progress: Recorder | None = None,
) -> Reply | DialogErrors:
    """Submit a dialog as a platform does: every field, defaults where the user typed nothing."""
    filled = {f.name: f.default or "" for f in dialog.fields}
    filled.update(values)
    return await app.dispatcher.submit(
        DialogSubmission(dialog.id, filled, user, None, "console", dialog.state, progress=progress)
    )


def ls_tree(bare: Path, branch: str = "main") -> list[str]:
    out = subprocess.run(
        ["git", f"--git-dir={bare}", "ls-tree", "-r", "--name-only", branch],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def show(bare: Path, path: str, branch: str = "main") -> str:
    return subprocess.run(
        ["git", f"--git-dir={bare}", "show", f"{branch}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def hooked_template(root: Path, marker: Path, name: str = "hooked") -> Path:
    """A template whose pre-generation hook writes ``marker`` (with its environment in it)."""
    folder = root / name
    (folder / "hooks").mkdir(parents=True)
    (folder / "{{cookiecutter.name}}").mkdir()
    (folder / "cookiecutter.json").write_text(
        json.dumps(
            {
                "name": "thing",
                "owner": "",
                "description": "A hooked thing.",
                "_marker": str(marker),
            }
        )
    )
    (folder / "{{cookiecutter.name}}" / "README.md").write_text("# {{ cookiecutter.name }}\n")
    (folder / "hooks" / "pre_gen_project.py").write_text(
        "import json, os\n"
        "with open({{ cookiecutter._marker | jsonify }}, 'w') as handle:\n"
        "    json.dump({'env': dict(os.environ)}, handle)\n"
    )
    return folder


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the scaffolder's temporary folders go, so a test can see them (or their absence)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# ----------------------------------------------------------------------------- dialogs


async def test_the_real_cookiecutter_pypackage_json_becomes_a_dialog(
    make_app: AppFactory, tmp_path: Path
) -> None:
    reference = quoted_pypackage_json()
    if reference is not None:  # the copy above is the one the reference quotes
        assert json.loads(reference) == json.loads(PYPACKAGE_JSON)
    folder = tmp_path / "tpl" / "pypackage"
    (folder / "{{cookiecutter.package_name}}").mkdir(parents=True)
    (folder / "cookiecutter.json").write_text(PYPACKAGE_JSON)
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")])

    dialog = await open_dialog(app, "/scaffold pypackage")

    fields = {f.name: f for f in dialog.fields}
    # Callboard's own fields first; package_name is the component name (a known name variable).
    assert list(fields) == [
        "name",
        "owner",
        "system",
        "full_name",
        "email",
        "github_username",
        "github_repo_owner",
        "project_name",
        "import_name",
        "project_short_description",
        "pypi_username",
        "author_website",
        "first_version",
    ]
    assert (fields["name"].kind, fields["name"].required, fields["name"].default) == (
        "text",
        True,
        None,
    )
    assert fields["owner"].kind == "group"
    assert fields["owner"].default == "group:default/team-payments"  # Ana's team
    assert (fields["system"].kind, fields["system"].required) == ("entity", False)
    assert fields["system"].entity_kinds == ("system",)
    for name, default in (
        ("full_name", "Audrey M. Roy Greenfeld"),
        ("email", "audreyfeldroy@example.com"),
        ("github_username", "audreyfeldroy"),
        ("project_name", "Python Boilerplate"),
        ("author_website", "https://audrey.feldroy.com/"),
        ("first_version", "0.1.0"),
    ):
        assert (fields[name].kind, fields[name].default, fields[name].required) == (
            "text",
            default,
            False,
        ), name
    assert fields["full_name"].label == "Full name"
    # Derived values are not pre-filled (nothing was rendered); the hint shows the rule.
    for name, rule in (
        ("github_repo_owner", "{{ cookiecutter.github_username }}"),
        ("import_name", "{{ cookiecutter.package_name.lower().replace('-', '_') }}"),
        ("pypi_username", "{{ cookiecutter.github_username }}"),
    ):
        assert fields[name].default is None and not fields[name].required
        assert fields[name].hint == f"Leave empty to derive it: {rule}"
    assert dialog.state["template"] == "pypackage"


def quoted_pypackage_json() -> str | None:
    """The cookiecutter.json the reference quotes (None in a clone without ../shared)."""
    path = REPO.parent / "shared" / "reference" / "scaffolder-and-cookiecutter.md"
    if not path.exists():
        return None
    found = re.search(r"### 8\.1.*?```json\n(.*?)```", path.read_text(), re.S)
    assert found, "§8.1 of the reference no longer quotes cookiecutter.json"
    return found.group(1)


async def test_python_service_dialog_has_choices_booleans_and_prompts_as_labels(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold python-service")
    fields = {f.name: f for f in dialog.fields}
    assert list(fields) == [
        "name",
        "owner",
        "system",
        "description",
        "package",
        "python_version",
        "port",
        "lifecycle",
        "metrics",
    ]
    assert fields["python_version"].kind == "choice"
    assert fields["python_version"].default == "3.12"
    assert [v for v, _ in fields["python_version"].choices] == ["3.12", "3.11", "3.13"]
    assert fields["lifecycle"].label == "Lifecycle"
    assert fields["lifecycle"].choices == (
        ("experimental", "Experimental: new, may change"),
        ("production", "Production: supported and on call"),
    )
    assert (fields["metrics"].kind, fields["metrics"].default) == ("boolean", "false")
    assert fields["metrics"].label == "Serve Prometheus metrics on /metrics?"
    assert fields["description"].label == "What it does, in one sentence"
    assert fields["package"].default is None  # derived from the name
    assert all(not f.startswith("_") for f in fields)  # _callboard stays private


async def test_scaffold_lists_templates_with_title_description_and_owner(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(make_app, tmp_path)
    reply = await aask(app, "/scaffold")
    text = reply.to_text()
    assert not reply.error
    assert "Python service" in text
    assert "A small Python HTTP service with tests" in text
    assert "group:default/team-infra" in text
    assert [b.command for b in reply.buttons] == ["/scaffold python-service"]


# ----------------------------------------------------------------------------- the whole run


async def test_scaffold_pushes_the_project_and_registers_the_component(
    make_app: AppFactory, tmp_path: Path, db_url: str, private_tmp: Path
) -> None:
    app = scaffold_app(make_app, tmp_path, db_url=db_url)
    dialog = await open_dialog(app, "/scaffold python-service")
    progress = Recorder()

    reply = await submit(
        app,
        dialog,
        {
            "name": "checkout-api",
            "description": "Takes the money: checkout for rides.",
            "system": "checkout",
            "metrics": "true",
            "lifecycle": "production",
        },
        progress=progress,
    )

    assert isinstance(reply, Reply) and not reply.error, reply
    text = reply.to_text()
    bare = tmp_path / "git" / "checkout-api.git"
    files = ls_tree(bare)
    assert {
        "catalog-info.yaml",
        "Dockerfile",
        ".github/workflows/ci.yml",
        "mkdocs.yml",
        "docs/index.md",
        "src/checkout_api/app.py",
        "tests/test_app.py",
    } <= set(files)
    info = show(bare, "catalog-info.yaml")
    assert "owner: group:default/team-payments" in info
    assert "system: system:default/checkout" in info
    assert "lifecycle: production" in info
    assert "/metrics" in show(bare, "src/checkout_api/app.py")
    assert "${{ github.sha }}" in show(bare, ".github/workflows/ci.yml")  # raw, not rendered
    # The reply: repository link, files created, the new entity's card.
    assert f"file://{bare}" in text
    assert "Files (14)" in text and "src/checkout_api/app.py" in text
    assert "component:default/checkout-api" in text
    assert "system:default/checkout" in text
    # The component answers at once.
    who = await aask(app, "/whoowns checkout-api")
    assert not who.error and "group:default/team-payments" in who.to_text()
    assert [line.split(": ", 1)[1] for line in progress.lines] == [
        "rendering the template…",
        "rendered 14 files; creating the repository…",
        f"pushing to file://{bare}…",
        "registering it in the catalog…",
        "done.",
    ]
    assert list(private_tmp.iterdir()) == []  # the render folder is gone
    [entry] = await app.services.audit.entries()
    assert (entry.result, entry.target, entry.actor) == (
        "succeeded",
        "checkout-api",
        "user:default/ana.silva",
    )
    assert entry.details["values"]["description"] == "Takes the money: checkout for rides."
    assert entry.details["entity"] == "component:default/checkout-api"


async def test_the_rendered_python_service_passes_its_own_tests(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold python-service")
    reply = await submit(app, dialog, {"name": "fare-api", "metrics": "yes"})
    assert isinstance(reply, Reply) and not reply.error, reply
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(tmp_path / "git" / "fare-api.git"), str(clone)], check=True
    )
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


async def test_dry_run_lists_the_files_and_publishes_nothing(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold python-service --dry-run")
    assert dialog.submit_label == "Dry run"
    reply = await submit(app, dialog, {"name": "dry-api"})
    assert isinstance(reply, Reply) and not reply.error
    assert "Files (14)" in reply.to_text() and "Nothing was published" in reply.to_text()
    assert not (tmp_path / "git").exists()
    assert (await aask(app, "/whoowns dry-api")).error


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("9lives", "package would be “9lives” (worked out from your other answers)"),  # pattern
        ("class", "'class' is not a valid Python package name"),  # only the hook knows keywords
    ],
)
async def test_the_trusted_python_service_refuses_a_package_python_cannot_import(
    make_app: AppFactory, tmp_path: Path, name: str, reason: str
) -> None:
    app = scaffold_app(make_app, tmp_path, trusted=["python-service"])
    dialog = await open_dialog(app, "/scaffold python-service --dry-run")
    reply = await submit(app, dialog, {"name": name})
    assert isinstance(reply, Reply) and reply.error, reply
    assert reason in reply.to_text()


async def test_an_untrusted_template_still_refuses_a_derived_value_its_pattern_forbids(
    make_app: AppFactory, tmp_path: Path
) -> None:
    # Without hooks nothing else would check the package name worked out from "9lives".
    app = scaffold_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold python-service --dry-run")
    reply = await submit(app, dialog, {"name": "9lives"})
    assert isinstance(reply, Reply) and reply.error, reply
    assert (
        "package would be “9lives” (worked out from your other answers), which does not match "
        "the pattern [a-z_][a-z0-9_]{0,62}; give package yourself"
    ) in reply.to_text()
    # Given by the user, it is the user's answer that counts (and the dialog checked it).
    fine = await submit(app, dialog, {"name": "9lives", "package": "nine_lives"})
    assert isinstance(fine, Reply) and not fine.error, fine.to_text()


async def test_two_runs_for_one_name_make_one_component(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold python-service")
    first, second = await asyncio.gather(
        submit(app, dialog, {"name": "twin-api"}), submit(app, dialog, {"name": "twin-api"})
    )
    outcomes = sorted([first, second], key=lambda r: isinstance(r, DialogErrors))
    assert isinstance(outcomes[0], Reply) and not outcomes[0].error
    assert isinstance(outcomes[1], DialogErrors)
    assert "twin-api" in outcomes[1].errors["name"]


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "payload",
    ["{{ cookiecutter.__class__ }}", "{% for x in range(3) %}x{% endfor %}", "{# hi #}", "a }} b"],
)
async def test_template_syntax_in_a_value_is_refused_and_nothing_renders(
    make_app: AppFactory, tmp_path: Path, private_tmp: Path, payload: str
) -> None:
    marker = tmp_path / "hook-ran"
    hooked_template(tmp_path / "tpl", marker)
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")], trusted=["hooked"])
    dialog = await open_dialog(app, "/scaffold hooked")

    result = await submit(app, dialog, {"name": "sneaky", "description": payload})

    assert isinstance(result, DialogErrors)
    assert list(result.errors) == ["description"]
    message = result.errors["description"]
    assert "template syntax is not allowed in values" in message
    assert "Nothing was rendered" in message
    assert not marker.exists()  # the trusted hook never ran: nothing was rendered
    assert list(private_tmp.iterdir()) == []
    assert not (tmp_path / "git").exists()
    [entry] = await app.services.audit.entries()
    assert entry.result == "invalid" and entry.details["values"]["description"] == payload


async def test_template_syntax_inside_a_json_value_is_refused(
    make_app: AppFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "tpl" / "withdict"
    (folder / "{{cookiecutter.name}}").mkdir(parents=True)
    (folder / "{{cookiecutter.name}}" / "x.txt").write_text("{{ cookiecutter.extra }}")
    (folder / "cookiecutter.json").write_text(json.dumps({"name": "x", "extra": {"a": "b"}}))
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")])
    dialog = await open_dialog(app, "/scaffold withdict")
    result = await submit(app, dialog, {"name": "dict-thing", "extra": '{"a": "{{ 7 * 7 }}"}'})
    assert isinstance(result, DialogErrors)
    assert "template syntax is not allowed" in result.errors["extra"]


async def test_names_owners_and_lengths_are_checked_per_field(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(make_app, tmp_path)
    dialog = await open_dialog(app, "/scaffold python-service")

    result = await submit(
        app,
        dialog,
        {
            "name": "bad name!",
            "owner": "team-nobody",
            "system": "no-such-system",
            "description": "x" * 201,
            "python_version": "2.7",
            "port": "eighty",
        },
    )
    assert isinstance(result, DialogErrors)
    errors = result.errors
    assert "Backstage's name rule" in errors["name"]
    assert errors["owner"].startswith("no group “team-nobody” in the catalog")
    assert "no system “no-such-system”" in errors["system"]
    assert errors["description"] == "is 201 characters long; the limit is 200"
    assert errors["python_version"] == "must be one of 3.12, 3.11, 3.13; “2.7” is not"
    assert "does not match the pattern" in errors["port"]

    taken = await submit(app, dialog, {"name": "payments-api"})
    assert isinstance(taken, DialogErrors)
    assert taken.errors == {
        "name": "“payments-api” is taken: component:default/payments-api is already in the catalog"
    }
    unknown = await submit(app, dialog, {"name": "new-one", "_callboard": "x", "colour": "red"})
    assert isinstance(unknown, DialogErrors)
    assert unknown.errors["_callboard"] == "is a private template variable; it cannot be set"
    assert unknown.errors["colour"].startswith("is not a field of python-service")


async def test_an_existing_repository_is_reported_before_anything_runs(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(make_app, tmp_path)
    (tmp_path / "git" / "old-api.git").mkdir(parents=True)
    dialog = await open_dialog(app, "/scaffold python-service")
    result = await submit(app, dialog, {"name": "old-api"})
    assert isinstance(result, DialogErrors)
    assert (
        result.errors["name"] == f"a repository already exists at file://{tmp_path}/git/old-api.git"
    )


async def test_a_misspelt_template_gets_the_closest_name_and_buttons(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(make_app, tmp_path)
    reply = await aask(app, "/scaffold python-servise")
    assert reply.error and reply.dialog is None
    assert reply.text == (
        "There is no template named “python-servise” (templates: python-service). "
        "Did you mean python-service?"
    )
    assert [b.command for b in reply.buttons] == ["/scaffold python-service"]


async def test_template_names_cannot_traverse_paths(make_app: AppFactory, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "{{cookiecutter.name}}").mkdir(parents=True)
    (outside / "cookiecutter.json").write_text('{"name": "x"}')
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "escape").symlink_to(outside)
    app = scaffold_app(make_app, tmp_path, templates=[str(tpl)])
    for name in ("../outside", "..", "/etc", "escape", "python-service/../../outside"):
        reply = await aask(app, f"/scaffold {name}")
        assert reply.error and "There is no template named" in reply.to_text(), name
    listing = await aask(app, "/scaffold")
    assert f"template {tpl / 'escape'} points outside {tpl}; skipped" in listing.notes
    forged = await app.dispatcher.submit(
        DialogSubmission(
            "scaffold:../outside",
            {"name": "x"},
            CONSOLE_ANA,
            None,
            "console",
            {"template": "../outside"},
        )
    )
    assert isinstance(forged, Reply) and forged.error
    assert "There is no template named" in forged.to_text()


async def test_a_template_changed_while_the_dialog_was_open_is_not_run(
    make_app: AppFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "tpl" / "moving"
    (folder / "{{cookiecutter.name}}").mkdir(parents=True)
    (folder / "{{cookiecutter.name}}" / "a.txt").write_text("a")
    (folder / "cookiecutter.json").write_text('{"name": "x", "colour": "red"}')
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")])
    dialog = await open_dialog(app, "/scaffold moving")
    (folder / "cookiecutter.json").write_text('{"name": "x", "flavour": "plain"}')
    reply = await submit(app, dialog, {"name": "moved"})
    assert isinstance(reply, Reply) and reply.error
    assert "changed while the dialog was open" in reply.to_text()


# ----------------------------------------------------------------------------- safety


async def test_an_untrusted_templates_hooks_do_not_run(
    make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "hook-ran"
    hooked_template(tmp_path / "tpl", marker)
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")])
    listing = (await aask(app, "/scaffold")).to_text()
    assert "off (not trusted)" in listing
    dialog = await open_dialog(app, "/scaffold hooked")
    reply = await submit(app, dialog, {"name": "unhooked"})
    assert isinstance(reply, Reply) and not reply.error, reply
    assert not marker.exists()
    # Callboard wrote the catalog entry the template lacks, so the component is registered.
    assert "catalog-info.yaml written by Callboard" in reply.to_text()
    assert not (await aask(app, "/whoowns unhooked")).error


async def test_a_trusted_templates_hooks_run_without_secrets_or_the_users_home(
    make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_must_not_leak")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-must-not-leak")
    marker = tmp_path / "hook-ran"
    hooked_template(tmp_path / "tpl", marker)
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")], trusted=["hooked"])
    dialog = await open_dialog(app, "/scaffold hooked")
    reply = await submit(app, dialog, {"name": "hooked-thing"})
    assert isinstance(reply, Reply) and not reply.error, reply
    env = json.loads(marker.read_text())["env"]
    assert "GITHUB_TOKEN" not in env and "SLACK_BOT_TOKEN" not in env
    assert not env["HOME"].startswith(str(home))
    assert list(home.iterdir()) == []  # no replay files, no clones, no rc file in ~


async def test_an_untrusted_template_with_its_own_jinja_extension_is_not_offered(
    make_app: AppFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "tpl" / "extended"
    (folder / "{{cookiecutter.name}}").mkdir(parents=True)
    (folder / "cookiecutter.json").write_text(
        json.dumps({"name": "x", "_extensions": ["local_extensions.Evil"]})
    )
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")])
    listing = (await aask(app, "/scaffold")).to_text()
    assert "extended: loads the Jinja extension local_extensions.Evil" in listing
    reply = await aask(app, "/scaffold extended")
    assert reply.error and "cannot be used" in reply.to_text()


# ----------------------------------------------------------------------------- failures


async def test_a_push_failure_leaves_no_catalog_entry(
    make_app: AppFactory, tmp_path: Path, private_tmp: Path
) -> None:
    # Nothing listens on this port: the push fails after rendering.
    with _closed_port() as port:
        app = scaffold_app(
            make_app, tmp_path, publish={"remote": f"http://127.0.0.1:{port}/acme/{{name}}.git"}
        )
        dialog = await open_dialog(app, "/scaffold python-service")
        reply = await submit(app, dialog, {"name": "doomed-api"})
    assert isinstance(reply, Reply) and reply.error
    text = reply.to_text()
    assert "The push step failed: git push:" in text
    assert "✓ rendering: 14 files" in text
    assert "– registration: not started" in text
    assert "(nothing was registered in the catalog)" in text
    assert (await aask(app, "/whoowns doomed-api")).error
    assert app.services.reader.index().named("doomed-api") == []
    [entry] = await app.services.audit.entries()
    assert entry.result == "failed" and entry.message and entry.message.startswith("push failed")
    assert list(private_tmp.iterdir()) == []
    # The name is free again for the next attempt.
    again = await submit(app, dialog, {"name": "doomed-api"})
    assert isinstance(again, Reply)


async def test_a_repository_that_cannot_be_made_fails_its_step_with_the_reason(
    make_app: AppFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the repositories' folder should be")
    app = scaffold_app(make_app, tmp_path, publish={"remote": f"file://{blocker}/{{name}}.git"})
    dialog = await open_dialog(app, "/scaffold python-service")
    reply = await submit(app, dialog, {"name": "blocked-api"})
    assert isinstance(reply, Reply) and reply.error
    text = reply.to_text()
    assert f"The repository step failed: cannot create {blocker}/blocked-api.git" in text
    assert "✓ rendering: 14 files" in text and "– push: not started" in text
    assert (await aask(app, "/whoowns blocked-api")).error


def test_a_bare_repository_made_for_a_failed_push_is_removed_again(tmp_path: Path) -> None:
    publisher = Publisher(PublishSettings(remote=f"file://{tmp_path}/git/{{name}}.git"), tmp_path)
    repo = publisher.create("half-made", "team-infra", "A project that never arrives")
    assert repo.bare_path == (tmp_path / "git" / "half-made.git").resolve()
    assert (repo.bare_path / "HEAD").is_file()
    empty = tmp_path / "empty-project"
    empty.mkdir()
    with pytest.raises(PublishError, match="git commit"):  # nothing to commit: push fails
        publisher.push(empty, repo, "first")
    assert publisher.discard(repo) == f"the empty repository {repo.url} was removed again"
    assert not repo.bare_path.exists()
    assert publisher.preflight("half-made", "team-infra") is None  # the name is free again


async def test_a_template_shipping_git_metadata_is_refused_before_any_git_command(
    make_app: AppFactory, tmp_path: Path
) -> None:
    ran = tmp_path / "fsmonitor-ran"
    folder = tmp_path / "tpl" / "gitty"
    project = folder / "{{cookiecutter.name}}"
    (project / ".git").mkdir(parents=True)
    (folder / "cookiecutter.json").write_text('{"name": "x"}')
    (project / "README.md").write_text("hello")
    # git would run this command on `git add` in the rendered project.
    (project / ".git" / "config").write_text(f"[core]\n\tfsmonitor = touch {ran}\n")
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")])
    dialog = await open_dialog(app, "/scaffold gitty")
    reply = await submit(app, dialog, {"name": "gitty-api"})
    assert isinstance(reply, Reply) and reply.error
    assert "The rendering step failed: the template produced .git; refused" in reply.to_text()
    assert not ran.exists()
    assert not (tmp_path / "git").exists()


async def test_a_catalog_file_naming_another_component_fails_rendering(
    make_app: AppFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "tpl" / "liar"
    project = folder / "{{cookiecutter.name}}"
    project.mkdir(parents=True)
    (folder / "cookiecutter.json").write_text('{"name": "x"}')
    (project / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: somebody-else}\n"
        "spec: {type: service, lifecycle: experimental, owner: team-infra}\n"
    )
    app = scaffold_app(make_app, tmp_path, templates=[str(tmp_path / "tpl")])
    dialog = await open_dialog(app, "/scaffold liar")
    reply = await submit(app, dialog, {"name": "honest-api"})
    assert isinstance(reply, Reply) and reply.error
    assert (
        "The rendering step failed: the rendered catalog-info.yaml describes "
        "Component:somebody-else, not the new component honest-api"
    ) in reply.to_text()
    assert not (tmp_path / "git").exists()


# ----------------------------------------------------------------------------- permissions


async def test_permissions_refuse_with_the_reason(make_app: AppFactory, tmp_path: Path) -> None:
    app = scaffold_app(
        make_app,
        tmp_path,
        permissions=[
            {"templates": ["python-service"], "groups": ["team-infra"]},
        ],
    )
    reply = await aask(app, "/scaffold python-service")
    assert reply.error and reply.dialog is None
    assert reply.text == (
        "You may not scaffold python-service: scaffold.permissions lets only team-infra "
        "(members of those groups or their sub-groups). You are user:default/ana.silva, in "
        "team-payments, team-risk."
    )
    [entry] = await app.services.audit.entries()
    assert entry.result == "refused"


async def test_a_rule_over_a_parent_group_admits_its_teams_members(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = scaffold_app(
        make_app,
        tmp_path,
        permissions=[
            {"templates": ["*"], "groups": ["money-and-platform"]},
        ],
    )
    assert (await aask(app, "/scaffold python-service")).dialog is not None


async def test_the_default_rule_needs_a_catalog_group(make_app: AppFactory, tmp_path: Path) -> None:
    app = scaffold_app(make_app, tmp_path, email=DEVON)
    devon = ChatUser("console", "devon", "devon", DEVON)
    reply = await aask(app, "/scaffold python-service", devon)
    assert reply.error
    assert reply.text == (
        "You may not scaffold python-service: only members of a catalog group may (the default "
        "rule; scaffold.permissions can change it). You are user:default/devon.price, who is in "
        "no group in the catalog."
    )
    stranger = ChatUser("console", "x", "x", "nobody@example.com")
    reply = await aask(app, "/scaffold python-service", stranger)
    assert reply.error
    assert "No User in the catalog has the email nobody@example.com" in reply.to_text()


# ----------------------------------------------------------------------------- template sources


async def test_templates_from_a_git_repository_pinned_to_a_commit(
    make_app: AppFactory, tmp_path: Path
) -> None:
    repo = tmp_path / "templates-repo"
    shutil.copytree(TEMPLATES / "python-service", repo / "cookiecutters" / "python-service")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-q", "-m", "templates"], check=True)
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    # A later commit the pin does not see.
    shutil.rmtree(repo / "cookiecutters" / "python-service")
    subprocess.run([*git, "-C", str(repo), "commit", "-q", "-am", "gone"], check=True)
    app = scaffold_app(
        make_app,
        tmp_path,
        templates=[{"url": f"file://{repo}", "ref": sha, "directory": "cookiecutters"}],
    )
    listing = await aask(app, "/scaffold")
    assert f"git file://{repo}@{sha} (cookiecutters)" in listing.to_text()
    dialog = await open_dialog(app, "/scaffold python-service")
    reply = await submit(app, dialog, {"name": "from-git-api"})
    assert isinstance(reply, Reply) and not reply.error, reply
    assert "catalog-info.yaml" in ls_tree(tmp_path / "git" / "from-git-api.git")


async def test_the_backstage_fetch_cookiecutter_template_is_listed_and_runs(
    make_app: AppFactory, tmp_path: Path
) -> None:
    example = shared_or_skip(
        "data",
        "scaffolder-examples",
        "backstage-software-templates@bbb5f376",
        "docs-template-cookiecutter",
        "template.yaml",
    )
    app = scaffold_app(
        make_app, tmp_path, sources=[{"type": "file", "name": "templates", "target": str(example)}]
    )
    listing = await aask(app, "/scaffold")
    text = listing.to_text()
    assert "Documentation Template (Cookiecutter)" in text
    assert "Create a new standalone documentation project using Cookiecutter" in text
    assert "backstage/techdocs-core" in text
    assert "catalog template:default/docs-template-cookiecutter" in text

    dialog = await open_dialog(app, "/scaffold docs-template-cookiecutter")
    fields = {f.name: f for f in dialog.fields}
    # name and owner are the template's own (EntityNamePicker-like name, OwnerPicker);
    # repoUrl (RepoUrlPicker) is Callboard's configured remote, so it is not asked.
    assert list(fields) == ["name", "owner", "description"]
    assert fields["description"].label == "Description"
    assert fields["description"].hint == "A description for the component"
    assert fields["description"].required

    missing = await submit(app, dialog, {"name": "runbooks"})
    assert isinstance(missing, DialogErrors) and missing.errors == {"description": "is required"}
    reply = await submit(app, dialog, {"name": "runbooks", "description": "How we run things"})
    assert isinstance(reply, Reply) and not reply.error, reply
    bare = tmp_path / "git" / "runbooks.git"
    assert sorted(ls_tree(bare)) == ["catalog-info.yaml", "docs/index.md", "mkdocs.yml"]
    info = show(bare, "catalog-info.yaml")
    assert 'name: "runbooks"' in info
    assert 'owner: "group:default/team-payments"' in info
    assert "github.com/project-slug: git/runbooks" in info
    assert "## runbooks" in show(bare, "docs/index.md")
    who = await aask(app, "/whoowns runbooks")
    assert not who.error and "group:default/team-payments" in who.to_text()


async def test_catalog_templates_callboard_cannot_run_are_listed_with_the_reason(
    make_app: AppFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "catalog-templates"
    (folder / "skeleton").mkdir(parents=True)
    (folder / "skeleton" / "README.md").write_text("# {{ cookiecutter.name }}\n")

    def template(name: str, action: str, values: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "scaffolder.backstage.io/v1beta3",
            "kind": "Template",
            "metadata": {"name": name},
            "spec": {
                "type": "service",
                "owner": "team-infra",
                "parameters": [{"properties": {"name": {"type": "string"}}}],
                "steps": [
                    {
                        "id": "fetch",
                        "action": action,
                        "input": {"url": "./skeleton", "values": values},
                    }
                ],
            },
        }

    docs = [
        template("who-am-i", "fetch:cookiecutter", {"name": "${{ user.entity.metadata.name }}"}),
        template("plain-fetch", "fetch:template", {"name": "${{ parameters.name }}"}),
    ]
    (folder / "templates.yaml").write_text(yaml.safe_dump_all(docs))
    app = scaffold_app(
        make_app,
        tmp_path,
        sources=[{"type": "file", "name": "tpl", "target": str(folder / "templates.yaml")}],
    )
    listing = (await aask(app, "/scaffold")).to_text()
    # issue 15: what the fetch:cookiecutter path could not evaluate (user.entity) and
    # fetch:template run on the native engine now: both are offered, neither hidden
    assert "which Callboard does not evaluate" not in listing
    assert "/scaffold who-am-i" in listing and "/scaffold plain-fetch" in listing
    docs.append(
        {
            **template("pr-only", "fetch:template", {}),
            "spec": {
                "type": "service",
                "steps": [{"id": "pr", "action": "publish:bitbucket", "input": {}}],
            },
        }
    )
    (folder / "templates.yaml").write_text(yaml.safe_dump_all(docs))
    await asyncio.to_thread(app.services.sync.run)
    listing = (await aask(app, "/scaffold")).to_text()
    assert (
        "pr-only: step pr uses the action publish:bitbucket, which Callboard cannot run natively"
    ) in listing
    reply = await aask(app, "/scaffold pr-only")
    assert reply.error and "cannot be used" in reply.to_text()


# ----------------------------------------------------------------------------- git hosts


class FakeGitHost(ThreadingHTTPServer):
    """GitHub's or GitLab's repository-creation API, and git over smart HTTP (http-backend)."""

    daemon_threads = True

    def __init__(self, kind: str, token: str, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _HostHandler)
        self.kind = kind
        self.token = token
        self.root = root
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.private_reads = False  # True: fetching needs the token too

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def repo(self, owner: str, name: str) -> Path:
        return self.root / owner / f"{name}.git"


class _HostHandler(BaseHTTPRequestHandler):
    server: FakeGitHost

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        host = self.server
        path = urllib.parse.urlsplit(self.path).path
        host.requests.append((method, path, dict(self.headers)))
        if path.startswith("/git/"):
            self._git(method)
            return
        body = self._body()
        if host.kind == "github":
            if self.headers.get("Authorization") != f"Bearer {host.token}":
                return self._json(401, {"message": "Bad credentials"})
            if method == "POST" and (m := re.fullmatch(r"/api/v3/orgs/([^/]+)/repos", path)):
                return self._create(m.group(1), json.loads(body)["name"])
            if method == "GET" and (m := re.fullmatch(r"/api/v3/repos/([^/]+)/([^/]+)", path)):
                exists = host.repo(m.group(1), m.group(2)).exists()
                return self._json(200 if exists else 404, {"message": "Not Found"})
        else:
            if self.headers.get("PRIVATE-TOKEN") != host.token:
                return self._json(401, {"message": "401 Unauthorized"})
            if method == "GET" and path == "/api/v4/namespaces/platform":
                return self._json(200, {"id": 7, "full_path": "platform"})
            if method == "GET" and path.startswith("/api/v4/projects/"):
                owner, _, name = urllib.parse.unquote(path[len("/api/v4/projects/") :]).partition(
                    "/"
                )
                return self._json(200 if host.repo(owner, name).exists() else 404, {})
            if method == "POST" and path == "/api/v4/projects":
                data = json.loads(body)
                assert data["namespace_id"] == 7
                return self._create("platform", data["path"])
        self._json(404, {"message": "Not Found"})

    def _create(self, owner: str, name: str) -> None:
        host = self.server
        repo = host.repo(owner, name)
        if repo.exists():
            if host.kind == "github":
                return self._json(
                    422,
                    {
                        "message": "Repository creation failed.",
                        "errors": [{"message": "name already exists on this account"}],
                    },
                )
            return self._json(400, {"message": {"name": ["has already been taken"]}})
        repo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
        clone = f"{host.base}/git/{owner}/{name}.git"
        web = f"{host.base}/{owner}/{name}"
        if host.kind == "github":
            return self._json(201, {"clone_url": clone, "html_url": web})
        return self._json(201, {"http_url_to_repo": clone, "web_url": web})

    def _git(self, method: str) -> None:
        """git's smart HTTP through ``git http-backend``; pushing needs the token."""
        host = self.server
        parts = urllib.parse.urlsplit(self.path)
        pushing = "git-receive-pack" in parts.path or "service=git-receive-pack" in parts.query
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            login, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if password == host.token:
                user = login
        if (pushing or host.private_reads) and user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(host.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": parts.path[len("/git") :],
            "QUERY_STRING": parts.query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": "127.0.0.1",
            **({"REMOTE_USER": user} if user else {}),
            **(
                {"GIT_PROTOCOL": self.headers["Git-Protocol"]}
                if self.headers.get("Git-Protocol")
                else {}
            ),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=self._body(), env=env, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(params=["github", "gitlab"])
def git_host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FakeGitHost]:
    server = FakeGitHost(request.param, "tok-3f9a-secret", tmp_path / "host")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def host_settings(host: FakeGitHost) -> dict[str, Any]:
    api = f"{host.base}/api/v3" if host.kind == "github" else f"{host.base}/api/v4"
    owner = "acme" if host.kind == "github" else "platform"
    return {
        "host": {
            "type": host.kind,
            "api_url": api,
            "owner": owner,
            "token_env": "CB_TEST_HOST_TOKEN",
        }
    }


async def test_a_git_host_creates_the_repository_and_takes_the_push(
    make_app: AppFactory, tmp_path: Path, git_host: FakeGitHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_HOST_TOKEN", git_host.token)
    app = scaffold_app(make_app, tmp_path, publish=host_settings(git_host))
    dialog = await open_dialog(app, "/scaffold python-service")
    reply = await submit(app, dialog, {"name": "hosted-api"})
    assert isinstance(reply, Reply) and not reply.error, reply
    owner = "acme" if git_host.kind == "github" else "platform"
    bare = git_host.repo(owner, "hosted-api")
    assert "catalog-info.yaml" in ls_tree(bare)
    assert f"{git_host.base}/{owner}/hosted-api" in reply.to_text()  # the web page
    assert not (await aask(app, "/whoowns hosted-api")).error
    # The token went only into headers: never in a URL, a reply or the audit log.
    assert all(git_host.token not in path for _, path, _ in git_host.requests)
    [entry] = await app.services.audit.entries()
    assert git_host.token not in json.dumps(entry.to_dict())
    assert git_host.token not in reply.to_text()

    again = await submit(app, dialog, {"name": "hosted-api"})
    assert isinstance(again, DialogErrors)  # in the catalog now (and on the host)


async def test_a_repository_the_catalog_cannot_read_is_not_left_registered(
    make_app: AppFactory, tmp_path: Path, git_host: FakeGitHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Callboard may push (it has the token) but its catalog sync may not read: no git
    # integration gives the sync a token for this host.
    git_host.private_reads = True
    monkeypatch.setenv("CB_TEST_HOST_TOKEN", git_host.token)
    app = scaffold_app(make_app, tmp_path, publish=host_settings(git_host))
    dialog = await open_dialog(app, "/scaffold python-service")
    reply = await submit(app, dialog, {"name": "unreadable-api"})
    assert isinstance(reply, Reply) and reply.error
    text = reply.to_text()
    assert "The registration step failed: unreadable-api did not appear in the catalog" in text
    assert "✓ push: main at" in text
    assert "the location was unregistered again; the repository stays at" in text
    assert list_locations(app.services.locations) == []
    assert (await aask(app, "/whoowns unreadable-api")).error
    [entry] = await app.services.audit.entries()
    assert entry.result == "failed" and entry.details["entity"] is None


async def test_a_refused_token_fails_the_repository_step(
    make_app: AppFactory, tmp_path: Path, git_host: FakeGitHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_HOST_TOKEN", "wrong-token")
    app = scaffold_app(make_app, tmp_path, publish=host_settings(git_host))
    dialog = await open_dialog(app, "/scaffold python-service")
    reply = await submit(app, dialog, {"name": "refused-api"})
    assert isinstance(reply, Reply) and reply.error
    host = "GitHub" if git_host.kind == "github" else "GitLab"
    assert (
        f"The repository step failed: {host} refused the token in CB_TEST_HOST_TOKEN (401"
        in reply.to_text()
    )
    assert "wrong-token" not in reply.to_text()
    assert (await aask(app, "/whoowns refused-api")).error


async def test_a_missing_token_names_the_variable(
    make_app: AppFactory, tmp_path: Path, git_host: FakeGitHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CB_TEST_HOST_TOKEN", raising=False)
    app = scaffold_app(make_app, tmp_path, publish=host_settings(git_host))
    dialog = await open_dialog(app, "/scaffold python-service")
    reply = await submit(app, dialog, {"name": "tokenless-api"})
    assert isinstance(reply, Reply) and reply.error
    assert "set the environment variable CB_TEST_HOST_TOKEN" in reply.to_text()


# ----------------------------------------------------------------------------- CLI


def test_cli_scaffold_with_set_and_the_audit_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
                "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
                "console": {"user_email": ANA},
                "scaffold": {"publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"}},
            }
        )
    )
    base = ["--config", str(config)]

    assert (
        cli_main([*base, "scaffold", "python-service", "--set", "name=cli-api", "--dry-run"]) == 0
    )
    out = capsys.readouterr()
    assert "Files (14)" in out.out and "src/cli_api/app.py" in out.out
    assert "... cli-api (python-service): rendering the template…" in out.err
    assert not (tmp_path / "git").exists()

    assert (
        cli_main(
            [
                *base,
                "scaffold",
                "python-service",
                "--set",
                "name=cli-api",
                "--set",
                "description={{ cookiecutter.__class__ }}",
            ]
        )
        == 2
    )
    assert "description: contains “{{”" in capsys.readouterr().err

    assert (
        cli_main(
            [
                *base,
                "scaffold",
                "python-service",
                "--set",
                "name=cli-api",
                "--set",
                "port=9090",
                "--set",
                "owner=team-risk",
            ]
        )
        == 0
    )
    assert "Created cli-api" in capsys.readouterr().out
    assert "EXPOSE 9090" in show(tmp_path / "git" / "cli-api.git", "Dockerfile")

    assert cli_main([*base, "audit", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["target"], e["result"], e["details"]["dry_run"]) for e in entries] == [
        ("cli-api", "succeeded", False),
        ("cli-api", "invalid", False),
        ("cli-api", "succeeded", True),
    ]
    latest = entries[0]
    assert latest["actor"] == "user:default/ana.silva" and latest["platform"] == "console"
    assert latest["details"]["values"] == {"name": "cli-api", "port": "9090", "owner": "team-risk"}
    assert latest["details"]["entity"] == "component:default/cli-api"

    assert cli_main([*base, "audit", "--limit", "1"]) == 0
    text = capsys.readouterr().out
    assert "#3  scaffold  cli-api  succeeded  by user:default/ana.silva (console)" in text
    assert 'values: name="cli-api" port="9090" owner="team-risk"' in text


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        number = int(sock.getsockname()[1])
    yield number


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"colour": "red"}, "unknown key scaffold.colour"),
        (
            {"publish": {"remote": "file:///srv/{repo}.git"}},
            "scaffold.publish.remote uses {repo}; the placeholders are {name} and {owner}",
        ),
        (
            {"publish": {"remote": "file:///srv/fixed.git"}},
            "scaffold.publish.remote must contain {name}",
        ),
        ({"publish": {"branch": "main.lock"}}, "scaffold.publish.branch is not a valid branch"),
        (
            {"publish": {"host": {"type": "github", "token": "ghp_x"}}},
            "scaffold.publish.host.token is a secret: name an environment variable in token_env",
        ),
        (
            {"publish": {"host": {"type": "bitbucket"}}},
            "scaffold.publish.host.type must be github or gitlab, found 'bitbucket'",
        ),
        ({"publish": {"host": {"type": "gitlab"}}}, "scaffold.publish.host.owner is required"),
        (
            {"templates": [{"url": "https://bob:pw@git.example.com/t.git"}]},
            "scaffold.templates[0].url carries credentials in the URL",
        ),
        (
            {"templates": [{"url": "https://git.example.com/t.git", "ref": "--upload-pack=x"}]},
            "scaffold.templates[0].ref is not a branch, tag or commit",
        ),
        ({"trusted": ["../python-service"]}, "scaffold.trusted lists '../python-service'"),
        (
            {"permissions": [{"templates": ["python-service"]}]},
            "scaffold.permissions[0].groups or users is required",
        ),
        (
            {"permissions": [{"groups": ["user:ana.silva"]}]},
            "scaffold.permissions[0].groups has 'user:ana.silva', which is a user, not a group",
        ),
        (
            {"variables": {"pypackage": {"name": "not a variable"}}},
            "scaffold.variables.pypackage.name must name a template variable",
        ),
    ],
)
def test_bad_scaffold_settings_name_the_key_and_the_file(
    tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    path = tmp_path / "callboard.yaml"
    with pytest.raises(ConfigError) as caught:
        parse_settings({"scaffold": section}, str(path), tmp_path, path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_scaffold_settings_defaults(tmp_path: Path) -> None:
    path = tmp_path / "callboard.yaml"
    settings = parse_settings({}, str(path), tmp_path, path)
    cfg = settings.section("scaffold", ScaffoldSettings)
    assert [t.path for t in cfg.templates] == [TEMPLATES.resolve()]
    assert cfg.trusted == () and cfg.permissions == () and cfg.catalog
    assert cfg.publish.remote is None and cfg.publish.host is None  # <data_dir>/git/{name}.git
    assert (cfg.max_value_length, cfg.timeout_seconds) == (200, 300)

"""Attacks on scaffolding (issue "Hardening", findings 1, 2, 3 and 6), each as a user would
mount it: a catalog Template whose skeleton holds Jinja that reaches Python, values that
traverse paths, values that break out of a trusted hook's string literals, secrets in forms.

Everything is real: the ``callboard`` program in a child process with tokens in its
environment, cookiecutter, the render child, files on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.cli import main as cli_main
from bot.hardening import is_dumpable
from tests.conftest import DEMO, REPO

ANA = "ana.silva@acme-rides.example"
BOT_TOKEN = "xoxb-e2e-SECRET-TOKEN-777"
SIGNING_SECRET = "sr-signing-secret-abc"
TOKENS = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}


# ----------------------------------------------------------------------------- helpers


def exploit_catalog(folder: Path, loot: Path, name: str = "innocent-docs") -> Path:
    """A catalog Template using fetch:cookiecutter whose skeleton runs shell commands through
    ``cycler.__init__.__globals__.os`` (the review's finding 1): one file copies the bot's
    environment (``/proc/<parent of the render child>/environ``) to ``loot``, another marks
    that code ran at all."""
    skeleton = folder / "skeleton" / "{{cookiecutter.name}}"
    skeleton.mkdir(parents=True)
    steal = (
        '{{ cycler.__init__.__globals__.os.popen(\'tr "\\\\0" "\\\\n" < /proc/\' ~ '
        "cycler.__init__.__globals__.os.getppid() ~ '/environ > " + str(loot) + "').read() }}"
    )
    (skeleton / "README.md").write_text(f"# {{{{ cookiecutter.name }}}}\n{steal}\n")
    ran = "{{ cycler.__init__.__globals__.os.system('touch " + str(loot) + ".ran') }}"
    (skeleton / "notes.md").write_text(ran + "\n")
    (skeleton / "catalog-info.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: backstage.io/v1alpha1
            kind: Component
            metadata:
              name: {{ cookiecutter.name }}
            spec:
              type: documentation
              lifecycle: experimental
              owner: {{ cookiecutter.owner }}
            """
        )
    )
    template = {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": name, "title": "Innocent docs"},
        "spec": {
            "owner": "group:default/team-infra",
            "type": "documentation",
            "parameters": [
                {
                    "title": "Basics",
                    "required": ["name", "owner"],
                    "properties": {
                        "name": {"title": "Name", "type": "string"},
                        "owner": {"title": "Owner", "type": "string", "ui:field": "OwnerPicker"},
                    },
                }
            ],
            "steps": [
                {
                    "id": "fetch",
                    "action": "fetch:cookiecutter",
                    "input": {
                        "url": "./skeleton",
                        "values": {
                            "name": "${{ parameters.name }}",
                            "owner": "${{ parameters.owner }}",
                        },
                    },
                }
            ],
        },
    }
    path = folder / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


def write_config(tmp_path: Path, **extra: Any) -> Path:
    sources = [{"type": "file", "name": "demo", "target": str(DEMO)}, *extra.pop("sources", [])]
    config: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
        "catalog": {"sources": sources},
        "console": {"user_email": ANA},
        "scaffold": {
            "publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"},
            **extra.pop("scaffold", {}),
        },
        **extra,
    }
    path = tmp_path / "callboard.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def callboard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The ``callboard`` program in a child process, as an operator runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=REPO,
        timeout=300,
        check=False,
    )


def files_holding(root: Path, needle: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle.encode() in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def trav_template(root: Path, name: str = "trav", hooks: bool = False) -> Path:
    """The review's finding 2: a free-text variable used as a folder name."""
    folder = root / name
    (folder / "{{cookiecutter.name}}" / "{{cookiecutter.module}}").mkdir(parents=True)
    (folder / "cookiecutter.json").write_text(json.dumps({"name": "x", "module": "core"}))
    (folder / "{{cookiecutter.name}}" / "{{cookiecutter.module}}" / "PWN.txt").write_text("pwn\n")
    (folder / "{{cookiecutter.name}}" / "README.md").write_text("# {{ cookiecutter.name }}\n")
    return folder


# ----------------------------------------------------------------------------- finding 1


def test_a_catalog_template_cannot_run_code_or_steal_the_bots_tokens_from_the_cli(
    tmp_path: Path,
) -> None:
    loot = tmp_path / "PWNED-catalog-template"
    exploit_catalog(tmp_path / "evil", loot)
    config = write_config(
        tmp_path,
        sources=[{"type": "file", "name": "t", "target": str(tmp_path / "evil/template.yaml")}],
    )
    done = callboard(
        "--config",
        str(config),
        "scaffold",
        "innocent-docs",
        "--set",
        "name=docs-one",
        "--set",
        "owner=team-payments",
        "--dry-run",
        env=TOKENS,
    )
    # Nothing ran: the skeleton's Jinja never reached Python.
    assert not loot.exists(), loot.read_text()
    assert not Path(f"{loot}.ran").exists()
    assert done.returncode == 1, done
    assert "the sandbox forbids" in done.stdout, done
    for token in TOKENS.values():
        assert token not in done.stdout + done.stderr
        assert files_holding(tmp_path, token) == []


def test_the_same_template_renders_when_its_jinja_is_harmless(tmp_path: Path) -> None:
    """The sandbox keeps cookiecutter's semantics: names, defaults, filters, binary files,
    _copy_without_render and file modes."""
    folder = tmp_path / "templates" / "plain"
    project = folder / "{{cookiecutter.slug}}"
    (project / "raw").mkdir(parents=True)
    (folder / "cookiecutter.json").write_text(
        json.dumps(
            {
                "name": "x",
                "title": "My Thing",
                "slug": "{{ cookiecutter.title | slugify }}",
                "flavour": ["vanilla", "mint"],
                "docker": True,
                "_copy_without_render": ["raw/*"],
            }
        )
    )
    (project / "README.md").write_text(
        "# {{ cookiecutter.title }} ({{ cookiecutter.flavour }})\n"
        "{% if cookiecutter.docker %}docker{% endif %}\n"
        "{{ cookiecutter | jsonify(0) | length > 5 }}\n"
    )
    (project / "{% if not cookiecutter.docker %}skipped.txt{% endif %}").write_text("no\n")
    (project / "raw" / "keep.j2").write_text("{{ not rendered }}\n")
    (project / "logo.bin").write_bytes(bytes(range(256)))
    run = project / "run.sh"
    run.write_text("#!/bin/sh\necho {{ cookiecutter.name }}\n")
    run.chmod(0o755)
    config = write_config(tmp_path, scaffold={"templates": [str(tmp_path / "templates")]})
    out = tmp_path / "out"
    from bot.scaffold.render import _run_worker

    for sub in ("home", "tmp", "replay", "cookiecutters", "out"):
        (out / sub).mkdir(parents=True)
    project_dir = _run_worker(
        out,
        str(folder),
        {"name": "thing-one", "flavour": "mint"},
        False,
        60,
        sandboxed=True,
    )
    assert project_dir.name == "my-thing"
    assert (project_dir / "README.md").read_text() == "# My Thing (mint)\ndocker\nTrue\n"
    assert not (project_dir / "skipped.txt").exists()
    assert (project_dir / "raw" / "keep.j2").read_text() == "{{ not rendered }}\n"
    assert (project_dir / "logo.bin").read_bytes() == bytes(range(256))
    assert (project_dir / "run.sh").read_text() == "#!/bin/sh\necho thing-one\n"
    assert os.stat(project_dir / "run.sh").st_mode & 0o777 == 0o755
    assert config.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_the_bot_is_not_dumpable_and_keeps_no_secret_in_its_environment(tmp_path: Path) -> None:
    """A same-user child cannot read the bot's /proc environ once it is non-dumpable, and
    the secrets are gone from os.environ once read."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """\
            import json, os, sys
            from bot.hardening import harden, secret, _prctl, PR_SET_DUMPABLE
            if os.getuid() == 0:  # be an ordinary user, as a bot should be
                os.setgroups([]); os.setgid(65534); os.setuid(65534)
                _prctl(PR_SET_DUMPABLE, 1)  # a credential change cleared it; start as usual
            def child_reads():
                pid = os.fork()
                if pid == 0:
                    try:
                        data = open(f"/proc/{os.getppid()}/environ", "rb").read()
                        os._exit(0 if b"xoxb-" in data else 3)
                    except OSError:
                        os._exit(2)
                return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            before = child_reads()
            harden()
            after = child_reads()
            print(json.dumps({"before": before, "after": after,
                              "environ": "SLACK_BOT_TOKEN" in os.environ,
                              "secret": secret("SLACK_BOT_TOKEN")}))
            """
        )
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    done = subprocess.run(
        [sys.executable, str(probe)],
        capture_output=True,
        text=True,
        env={**base, **TOKENS, "PYTHONPATH": str(REPO)},
        check=True,
    )
    result = json.loads(done.stdout)
    assert result == {"before": 0, "after": 2, "environ": False, "secret": BOT_TOKEN}
    assert is_dumpable() is not None


# ----------------------------------------------------------------------------- finding 2


@pytest.mark.parametrize("trusted", [False, True])
def test_a_value_used_in_a_path_cannot_leave_the_job_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trusted: bool
) -> None:
    trav_template(tmp_path / "templates")
    config = write_config(
        tmp_path,
        scaffold={
            "templates": [str(tmp_path / "templates")],
            "trusted": ["trav"] if trusted else [],
        },
    )
    target = tmp_path / "escaped"
    for module in (f"../../../../../../../../..{target}", f"a/../../../../../../../..{target}"):
        code = cli_main(
            [
                "--config",
                str(config),
                "scaffold",
                "trav",
                "--set",
                "name=trav-one",
                "--set",
                "owner=team-payments",
                "--set",
                f"module={module}",
                "--dry-run",
            ]
        )
        err = capsys.readouterr().err
        assert code == 2, err
        assert "module: is used in a file or folder name" in err
        assert not target.exists()
    for module in ("..", "."):
        code = cli_main(
            [
                "--config",
                str(config),
                "scaffold",
                "trav",
                "--set",
                "name=trav-one",
                "--set",
                f"module={module}",
                "--dry-run",
            ]
        )
        assert code == 2
        assert "module: is used in a file or folder name" in capsys.readouterr().err


@pytest.mark.parametrize("trusted", [False, True])
def test_a_derived_path_that_would_leave_the_job_folder_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trusted: bool
) -> None:
    """A value the template works out itself is checked where it renders, before any write."""
    folder = trav_template(tmp_path / "templates")
    target = tmp_path / "derived-escape"
    (folder / "cookiecutter.json").write_text(
        json.dumps({"name": "x", "module": "../../../../../../../../.." + str(target)})
    )
    config = write_config(
        tmp_path,
        scaffold={
            "templates": [str(tmp_path / "templates")],
            "trusted": ["trav"] if trusted else [],
        },
    )
    code = cli_main(
        ["--config", str(config), "scaffold", "trav", "--set", "name=trav-two", "--dry-run"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "is not a plain file or folder name" in out
    assert not target.exists()


# ----------------------------------------------------------------------------- finding 3


def django_like_template(root: Path, marker: Path) -> Path:
    """cookiecutter-django's pattern: y/n flags as strings, tested in a hook's source."""
    folder = root / "djangoish"
    (folder / "hooks").mkdir(parents=True)
    (folder / "{{cookiecutter.name}}").mkdir()
    (folder / "cookiecutter.json").write_text(
        json.dumps(
            {
                "name": "site",
                "description": "A site.",
                "use_whitenoise": "n",
                "cloud_provider": ["AWS", "GCP", "None"],
                "use_docker": True,
            }
        )
    )
    (folder / "{{cookiecutter.name}}" / "README.md").write_text("# {{ cookiecutter.name }}\n")
    (folder / "hooks" / "post_gen_project.py").write_text(
        "import pathlib\n"
        'if "{{ cookiecutter.use_whitenoise }}".lower() == "y":\n'
        "    pass\n"
        'DESCRIPTION = "{{ cookiecutter.description }}"\n'
        'CLOUD = "{{ cookiecutter.cloud_provider }}"\n'
        f"pathlib.Path({str(marker)!r}).write_text(DESCRIPTION + ' ' + CLOUD)\n"
    )
    return folder


def test_values_cannot_break_out_of_a_trusted_hooks_string_literals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pwned = tmp_path / "pwned"
    marker = tmp_path / "hook-ran"
    django_like_template(tmp_path / "templates", marker)
    config = write_config(
        tmp_path,
        scaffold={"templates": [str(tmp_path / "templates")], "trusted": ["djangoish"]},
    )
    base = ["--config", str(config), "scaffold", "djangoish", "--set", "name=site-one"]
    attacks = {
        "use_whitenoise": f'n" and __import__("os").system("touch {pwned}") and "',
        "cloud_provider": f'AWS" + __import__("os").system("touch {pwned}") + "',
        "use_docker": "maybe",
        "description": f'x"; __import__("os").system("touch {pwned}"); "',
    }
    for key, value in attacks.items():
        code = cli_main([*base, "--set", f"{key}={value}", "--dry-run"])
        err = capsys.readouterr().err
        assert code == 2, (key, err)
        assert f"{key}: " in err
        assert not pwned.exists() and not marker.exists()
    for text in ("it's mine", "back\\slash", "costs $5", "`id`"):
        assert cli_main([*base, "--set", f"description={text}", "--dry-run"]) == 2
        assert "hooks are code" in capsys.readouterr().err
    assert "must be one of n, y" in _refusal(base, "use_whitenoise=yes", capsys)
    assert "must be one of AWS, GCP, None" in _refusal(base, "cloud_provider=aws", capsys)

    # Declared values and plain text work, and the hook runs with them.
    code = cli_main(
        [*base, "--set", "use_whitenoise=y", "--set", "cloud_provider=GCP", "--dry-run"]
    )
    assert code == 0, capsys.readouterr()
    assert marker.read_text() == "A site. GCP"
    assert not pwned.exists()


def _refusal(base: list[str], setting: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli_main([*base, "--set", setting, "--dry-run"]) == 2
    return capsys.readouterr().err


async def test_a_y_or_n_variable_is_a_choice_in_the_dialog(tmp_path: Path) -> None:
    from bot.scaffold.variables import cookiecutter_variables

    variables = {
        v.name: v for v in cookiecutter_variables({"use_whitenoise": "n", "use_celery": "Y"})
    }
    assert variables["use_whitenoise"].kind == "choice"
    assert variables["use_whitenoise"].choices == (("n", "n"), ("y", "y"))
    assert variables["use_celery"].default == "y"


# ----------------------------------------------------------------------------- finding 6


def secret_template(folder: Path) -> Path:
    skeleton = folder / "skeleton"
    skeleton.mkdir(parents=True)
    (skeleton / "README.md").write_text("# {{ cookiecutter.name }}\n")
    (skeleton / "settings.env").write_text("API_KEY={{ cookiecutter.api_key }}\n")
    template = {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "with-secrets", "title": "With secrets"},
        "spec": {
            "type": "service",
            "parameters": [
                {
                    "required": ["name", "owner", "api_key"],
                    "properties": {
                        "name": {"type": "string"},
                        "owner": {"type": "string", "ui:field": "OwnerPicker"},
                        "api_key": {
                            "type": "string",
                            "ui:widget": "password",
                            "pattern": "^[a-z0-9-]+$",
                        },
                        "deploy_token": {"type": "string", "ui:field": "Secret"},
                    },
                }
            ],
            "steps": [
                {
                    "action": "fetch:cookiecutter",
                    "input": {
                        "url": "./skeleton",
                        "values": {
                            "name": "${{ parameters.name }}",
                            "owner": "${{ parameters.owner }}",
                            "api_key": "${{ parameters.api_key }}",
                            "deploy_token": "${{ secrets.deploy_token }}",
                        },
                    },
                }
            ],
        },
    }
    path = folder / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


def test_secret_fields_are_never_logged_echoed_or_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    secret_template(tmp_path / "cat")
    config = write_config(
        tmp_path,
        sources=[{"type": "file", "name": "t", "target": str(tmp_path / "cat/template.yaml")}],
    )
    base = ["--config", str(config), "-v", "scaffold", "with-secrets", "--set", "name=sec-one"]
    bad = "NOT VALID hunter2 PASSWORD"
    assert cli_main([*base, "--set", f"api_key={bad}", "--set", "deploy_token=dt-123456"]) == 2
    err = capsys.readouterr().err
    assert "api_key: the value given does not match the pattern" in err
    assert bad not in err

    good = "s3cr3t-api-key-0001"
    token = "dt-token-0002-xyz"
    code = cli_main([*base, "--set", f"api_key={good}", "--set", f"deploy_token={token}"])
    out = capsys.readouterr()
    assert code == 0, out
    assert "Created sec-one" in out.out
    assert (
        subprocess.run(
            ["git", f"--git-dir={tmp_path}/git/sec-one.git", "show", "main:settings.env"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        == f"API_KEY={good}\n"
    )

    assert cli_main(["--config", str(config), "audit", "--format", "json"]) == 0
    audit = capsys.readouterr().out
    entries = json.loads(audit)
    assert entries[0]["details"]["values"]["api_key"] == "(secret, not recorded)"
    assert entries[0]["details"]["values"]["deploy_token"] == "(secret, not recorded)"
    for secret_value in (bad, good, token):
        assert secret_value not in audit
        assert secret_value not in out.out + out.err
        assert secret_value not in caplog.text
        # Only the template's own output holds it (the repository and its checkout).
        held = files_holding(tmp_path, secret_value)
        assert all(p.name == "settings.env" or "/objects/" in str(p) for p in held), held
        assert secret_value not in (tmp_path / "cb.db").read_bytes().decode("utf-8", "replace")


async def test_a_secret_field_is_never_prefilled(make_app: Any, tmp_path: Path) -> None:
    secret_template(tmp_path / "cat")
    from tests.conftest import aask

    app = make_app(
        sources=[
            {"type": "file", "name": "demo", "target": str(DEMO)},
            {"type": "file", "name": "templates", "target": str(tmp_path / "cat/template.yaml")},
        ],
        console={"user_email": ANA},
        scaffold={"publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"}},
    )
    reply = await aask(app, "/scaffold with-secrets")
    assert reply.dialog is not None
    fields = {f.name: f for f in reply.dialog.fields}
    assert fields["api_key"].secret and fields["deploy_token"].secret
    assert fields["api_key"].default is None


# ----------------------------------------------------------------------------- re-reads


def test_a_cookiecutter_json_is_read_again_only_when_it_changed(
    make_app: Any, tmp_path: Path
) -> None:
    """A huge cookiecutter.json cost seconds on every /scaffold: it is kept while its size,
    times and inode are unchanged."""

    folder = tmp_path / "templates" / "big"
    (folder / "{{cookiecutter.name}}").mkdir(parents=True)
    (folder / "{{cookiecutter.name}}" / "README.md").write_text("# {{ cookiecutter.name }}\n")
    path = folder / "cookiecutter.json"
    padding = {f"v{i:05d}": "x" for i in range(20000)}
    path.write_text(json.dumps({"name": "x", "colour": "red", **padding}))
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        console={"user_email": ANA},
        scaffold={"templates": [str(tmp_path / "templates")]},
    )
    library = app.services.scaffolder.library
    first = library.load().get("big")
    assert first is not None and first.variable("colour") is not None
    kept = library._json[path.resolve()]
    assert library.load().get("big") == first
    assert library._json[path.resolve()] is kept  # not read again
    path.write_text(json.dumps({"name": "x", "flavor": "red", **padding}))
    changed = library.load().get("big")
    assert changed is not None and changed.variable("flavor") is not None
    assert changed.digest != first.digest


def test_an_untrusted_template_cannot_include_a_file_through_a_symbolic_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private = tmp_path / "private.txt"
    private.write_text("db-password=hunter2-private\n")
    folder = tmp_path / "templates" / "linky"
    (folder / "templates").mkdir(parents=True)
    (folder / "{{cookiecutter.name}}").mkdir()
    (folder / "cookiecutter.json").write_text(json.dumps({"name": "x"}))
    (folder / "templates" / "leak.txt").symlink_to(private)
    (folder / "{{cookiecutter.name}}" / "README.md").write_text('{% include "leak.txt" %}\n')
    config = write_config(tmp_path, scaffold={"templates": [str(tmp_path / "templates")]})
    code = cli_main(
        ["--config", str(config), "scaffold", "linky", "--set", "name=linky-one", "--dry-run"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "symbolic link (templates/leak.txt); refused" in out
    assert "hunter2" not in out


def test_the_sandbox_renders_the_bundled_template_exactly_as_cookiecutter_does(
    tmp_path: Path,
) -> None:
    """Parity: the same template and answers through cookiecutter (trusted, no hooks) and
    through the sandbox give the same files, bytes and modes."""
    from bot.scaffold.render import _run_worker

    answers = {
        "name": "parity-api",
        "description": "Checks the renderers agree.",
        "owner": "group:default/team-payments",
        "python_version": "3.13",
        "metrics": True,
        "lifecycle": "production",
    }
    trees = []
    for sandboxed in (False, True):
        work = tmp_path / ("sandbox" if sandboxed else "cookiecutter")
        for sub in ("home", "tmp", "replay", "cookiecutters", "out"):
            (work / sub).mkdir(parents=True)
        project = _run_worker(
            work,
            str(REPO / "templates" / "python-service"),
            answers,
            False,
            120,
            sandboxed=sandboxed,
        )
        trees.append(
            {
                p.relative_to(project).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
                for p in sorted(project.rglob("*"))
                if p.is_file()
            }
        )
    assert len(trees[0]) >= 10
    assert trees[0] == trees[1]


@pytest.mark.parametrize(
    ("readme", "env_vars", "refusal"),
    [
        ("{{ cookiecutter.update({'name': 'other'}) }}", None, "the sandbox forbids"),
        ("{{ ''.__class__.__mro__ }}", None, "the sandbox forbids"),
        ("{{ lipsum.__globals__.os.getcwd() }}", None, "the sandbox forbids"),
        ("{{ cookiecutter.name }}", {"finalize": "os.system"}, "_jinja2_env_vars.finalize"),
    ],
)
def test_what_an_untrusted_template_may_not_do_is_refused_with_the_reason(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    readme: str,
    env_vars: dict[str, str] | None,
    refusal: str,
) -> None:
    folder = tmp_path / "templates" / "tricky"
    (folder / "{{cookiecutter.name}}").mkdir(parents=True)
    raw: dict[str, Any] = {"name": "x"}
    if env_vars:
        raw["_jinja2_env_vars"] = env_vars
    (folder / "cookiecutter.json").write_text(json.dumps(raw))
    (folder / "{{cookiecutter.name}}" / "README.md").write_text(readme + "\n")
    config = write_config(tmp_path, scaffold={"templates": [str(tmp_path / "templates")]})
    code = cli_main(
        ["--config", str(config), "scaffold", "tricky", "--set", "name=tricky-one", "--dry-run"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert refusal in out, out


@pytest.mark.skipif(os.getuid() != 0, reason="the render user matters only to a root bot")
def test_a_root_bot_renders_untrusted_templates_as_the_render_user(tmp_path: Path) -> None:
    """The render child of a root bot runs as ``nobody``: a file only root may read (the
    bot's own, say) is out of its reach, while its job folder is its own."""
    import pwd

    from bot.scaffold.render import WORKER, _chown_tree, _render_user, _run_worker

    run_as = _render_user("nobody", trusted=False)
    nobody = pwd.getpwnam("nobody")
    assert run_as == (nobody.pw_uid, nobody.pw_gid)
    work = Path(tempfile.mkdtemp(prefix="callboard-test-", dir="/tmp"))
    try:
        for sub in ("home", "tmp", "replay", "cookiecutters", "out"):
            (work / sub).mkdir()
        folder = work / "template" / "t"
        (folder / "{{cookiecutter.name}}").mkdir(parents=True)
        (folder / "cookiecutter.json").write_text(json.dumps({"name": "x"}))
        (folder / "{{cookiecutter.name}}" / "README.md").write_text("# {{ cookiecutter.name }}\n")
        project = _run_worker(work, str(folder), {"name": "ok-one"}, False, 60, run_as=run_as)
        assert (project / "README.md").read_text() == "# ok-one\n"
        assert os.stat(project / "README.md").st_uid == 0  # taken back by the bot

        # The same job, started as the bot starts it, with one file kept root's own (0600):
        # the child, now nobody, cannot read it.
        shutil.rmtree(work / "out")
        (work / "out").mkdir()
        (work / "result.json").unlink()
        private = folder / "{{cookiecutter.name}}" / "private.txt"
        private.write_text("root only\n")
        _chown_tree(work, *run_as)
        os.chown(private, 0, 0)
        private.chmod(0o600)
        request = {
            "template": str(folder),
            "context": {"name": "ok-two"},
            "output": str(work / "out"),
            "result": str(work / "result.json"),
            "sandbox": True,
            "run_as": list(run_as),
        }
        subprocess.run(
            [sys.executable, "-I", str(WORKER)],
            input=json.dumps(request),
            text=True,
            capture_output=True,
            cwd=work / "tmp",
            timeout=60,
            check=False,
        )
        result = json.loads((work / "result.json").read_text())
        assert result["ok"] is False and "Permission denied" in result["message"], result
    finally:
        shutil.rmtree(work, ignore_errors=True)

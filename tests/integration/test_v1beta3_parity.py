"""Parity with Backstage's own scaffolder: the same template and values, through its dry-run
API (the peer in ../shared/peers/backstage, WITH_SCAFFOLDER=1) and through
``callboard scaffold T --values V --dry-run --output D``: the same files, byte for byte (and
executable bit), and the same ``output`` links and text.

Templates compared: Callboard's own (tests/fixtures/v1beta3: every action and filter), the
backstage/software-templates mirror, Backstage's own sample templates
(plugins/scaffolder-backend/sample-templates of backstage/backstage, assembled file by file into
``backstage+backstage/sample-templates`` with a MANIFEST of each file's commit; the form values
for them are ours, in tests/fixtures/v1beta3/samples), and the examples in
../shared/data/scaffolder-examples. Both mirrors live outside the repository (upstream code is
never committed): under $CALLBOARD_UPSTREAM_MIRROR when set, else ../.mirror; a case whose
mirror is absent is skipped with the path it looked for. A template one side cannot run is
skipped with that side's reason. One difference is normalised, on purpose: Backstage's
dry-run API names every template ``template:default/dry-run`` (catalog:write's
``backstage.io/source-template``); Callboard names the real one.

The peer starts once per session (it takes a while and uses CPU); everything skips with the
reason when it cannot start (no node, npm or PostgreSQL).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.cli import main as cli_main
from tests.backstage_peer import backstage_peer
from tests.conftest import DEMO, REPO, SHARED

FIXTURES = REPO / "tests" / "fixtures" / "v1beta3"
DRY_RUN = SHARED / "peers" / "backstage" / "scaffolder-dry-run.py"
UPSTREAM = Path(os.environ.get("CALLBOARD_UPSTREAM_MIRROR") or REPO.parent / ".mirror")
MIRROR = UPSTREAM / "backstage+software-templates" / "repo"
SAMPLES = UPSTREAM / "backstage+backstage" / "sample-templates"
SAMPLE_VALUES = FIXTURES / "samples"
EXAMPLES = SHARED / "data" / "scaffolder-examples" / "backstage-software-templates@bbb5f376"
ANA = "ana.silva@acme-rides.example"  # team-payments

OWN = ["actions", "filters", "extension", "compat"]
MIRRORED = [
    "clean-architecture-app",
    "create-react-app",
    "docs-template",
    "react-ssr-template",
    "springboot-grpc-template",
    "gitlab-merge-request",
    "pull-request",
    "rails-demo",
]
SHARED_EXAMPLES = ["docs-template-cookiecutter", "pull-request", "react-ssr-template"]
# Backstage's sample templates: (folder under SAMPLES, its template file, values file stem).
# Every v1beta3 one the index holds (see the MANIFEST for the v1beta2/v1alpha1 ones left out).
SAMPLE_CASES = [
    ("accordion-demo", "template.yaml", "accordion-demo"),
    ("bitbucket-demo", "template.yaml", "bitbucket-demo"),
    ("bui-kitchen-sink-demo", "template.yaml", "bui-kitchen-sink-demo"),
    ("conditional-output-demo", "template.yaml", "conditional-output-demo"),
    ("conditional-output-demo", "template.yaml", "conditional-output-demo.no-ci"),
    # Backstage 4.2's server checks every page's `required`, `when:` or not: values fill them all.
    ("conditional-parameters-demo", "template.yaml", "conditional-parameters-demo"),
    ("conditional-parameters-demo", "template.yaml", "conditional-parameters-demo.gcp"),
    ("conditional-parameters-demo@95e353f", "template.yaml", "conditional-parameters-demo.gcp"),
    ("local-template/gin-golan-template", "template.yaml", "gin-golan-template"),
    ("notifications-demo", "template.yaml", "notifications-demo"),
    ("test", "template.yaml", "test"),
    ("test@d4f3bc4", "template.yaml", "test"),
    ("longrunning-demo", "wait-action.yaml", "wait-action"),
]
# Form values for the upstream templates (Backstage's shape), ours to choose.
UPSTREAM_VALUES: dict[str, Any] = {
    "name": "parity-app",
    "component_id": "parity-app",
    "description": "An app made twice",
    "owner": "group:default/team-payments",
    "repoUrl": "github.com?owner=acme&repo=parity-app",
    "package": "com.acme.parity",
    "projectType": "rest",
    "coverage": "80",
    "lombok": True,
    "metrics": False,
    "java_package_name": "parity",
    "dryRun": True,
}
# Where a template's RepoUrlPicker allows only other hosts, a repository there (the form
# refuses any other, as Backstage's does).
UPSTREAM_OVERRIDES: dict[str, dict[str, Any]] = {
    "gitlab-merge-request": {"repoUrl": "gitlab.com?owner=acme&repo=parity-app"},
}


@pytest.fixture(scope="session")
def scaffolder_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not DRY_RUN.exists():
        pytest.skip(f"../shared is not present ({DRY_RUN} missing): parity skipped")
    root = tmp_path_factory.mktemp("scaffolder-peer")
    location = root / "catalog-info.yaml"
    location.write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-payments}\n"
        "spec: {type: team, children: []}\n"
    )
    with backstage_peer(location, 1, (7301, 7379), scaffolder=True) as url:
        yield url


def stage(kind: str, name: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The template folder (a copy of its own) and the values for one case."""
    folder = tmp_path / "template"
    if kind == "sample":
        where, template_file, values = next(c for c in SAMPLE_CASES if sample_id(c) == name)
        if not (SAMPLES / where / template_file).is_file():
            pytest.skip(f"no Backstage sample template at {SAMPLES / where / template_file}")
        shutil.copytree(SAMPLES / where, folder)
        assert_as_manifested(where, folder)
        return folder / template_file, json.loads((SAMPLE_VALUES / f"{values}.json").read_text())
    if kind == "own":
        shutil.copytree(FIXTURES / name, folder)
        values = json.loads((folder / "values.json").read_text())
        (folder / "values.json").unlink()  # the form's values, not part of the template
        return folder / "template.yaml", values
    if kind == "mirror":
        if not (MIRROR / "HEAD").exists():
            pytest.skip(f"no backstage/software-templates mirror at {MIRROR}")
        archive = subprocess.run(
            ["git", "--git-dir", str(MIRROR), "archive", "HEAD", f"scaffolder-templates/{name}"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp_path / "x", filter="data")
        shutil.move(tmp_path / "x" / "scaffolder-templates" / name, folder)
        return folder / "template.yaml", {**UPSTREAM_VALUES, **UPSTREAM_OVERRIDES.get(name, {})}
    source = EXAMPLES / name
    if not source.is_dir():
        pytest.skip(f"../shared is not present ({source} missing)")
    shutil.copytree(source, folder)
    return folder / "template.yaml", dict(UPSTREAM_VALUES)


def assert_as_manifested(where: str, folder: Path) -> None:
    """The assembled sample template holds exactly the files its MANIFEST lists, with the
    bytes it lists (path, upstream path, commit, sha256 prefix per line)."""
    listed: dict[str, str] = {}
    for line in (SAMPLES / "MANIFEST").read_text().splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[0].startswith(f"{where}/"):
            listed[fields[0].removeprefix(f"{where}/")] = fields[3]
    present = {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in folder.rglob("*")
        if path.is_file()
    }
    assert present == listed, f"{SAMPLES / where} differs from its MANIFEST"


def backstage(url: str, template: Path, values: Path, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(DRY_RUN), str(template), str(values), str(out), "--url", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        reason = (done.stdout + done.stderr).strip().splitlines()
        pytest.skip(f"Backstage's own dry run fails this template: {' '.join(reason)[:400]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def callboard(tmp_path: Path, template: Path, values: Path, out: Path) -> dict[str, Any]:
    config = tmp_path / "callboard.yaml"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
                "catalog": {
                    "sources": [
                        {"type": "file", "name": "demo", "target": str(DEMO)},
                        {"type": "file", "name": "tpl", "target": str(template)},
                    ]
                },
                "console": {"user_email": ANA},
                "scaffold": {"publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"}},
            }
        )
    )
    name = yaml.safe_load(template.read_text())["metadata"]["name"]
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        cli_main(["--config", str(config), "templates", "--format", "json"])
    rows = {r["name"]: r for r in json.loads(buffer.getvalue())["templates"]}
    if not rows[name]["available"]:
        pytest.skip(f"Callboard does not offer {name}: {rows[name]['problems'][0]}")
    buffer, errors = io.StringIO(), io.StringIO()
    args = ["scaffold", name, "--values", str(values), "--dry-run", "--output", str(out)]
    with redirect_stdout(buffer), redirect_stderr(errors):
        code = cli_main(["--config", str(config), *args, "--format", "json", "--no-sync"])
    assert code == 0 and buffer.getvalue(), f"callboard scaffold failed: {errors.getvalue()}"
    reply: dict[str, Any] = json.loads(buffer.getvalue())
    return reply


def files_of(root: Path, template_name: str | None = None) -> dict[str, tuple[bytes, bool]]:
    out: dict[str, tuple[bytes, bool]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if template_name is not None:
                data = data.replace(
                    f"backstage.io/source-template: template:default/{template_name}".encode(),
                    b"backstage.io/source-template: template:default/dry-run",
                )
            executable = bool(os.stat(path).st_mode & 0o100)
            out[path.relative_to(root).as_posix()] = (data, executable)
    return out


def backstage_links(output: dict[str, Any]) -> list[tuple[str, str]]:
    """Backstage's URL links (an ``entityRef`` link becomes a /describe button in chat)."""
    links = [item for item in output.get("links") or () if item.get("url")]
    return [(item.get("title") or item["url"], item["url"]) for item in links]


def sample_id(case: tuple[str, str, str]) -> str:
    where, _, values = case
    return f"{where.rsplit('/', 1)[-1]}:{values}"


CASES = (
    [("own", n) for n in OWN]
    + [("mirror", n) for n in MIRRORED]
    + [("shared", n) for n in SHARED_EXAMPLES]
    + [("sample", sample_id(c)) for c in SAMPLE_CASES]
)


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_the_same_files_and_output_as_backstages_dry_run(
    scaffolder_url: str, tmp_path: Path, kind: str, name: str
) -> None:
    template, values = stage(kind, name, tmp_path)
    for path in template.parent.rglob("*"):
        if path.is_file():
            path.chmod(0o644)  # the dry-run client sends no file modes: both sides see none
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    theirs = backstage(scaffolder_url, template, values_file, tmp_path / "backstage")
    ours = callboard(tmp_path, template, values_file, tmp_path / "callboard")
    template_name = yaml.safe_load(template.read_text())["metadata"]["name"]
    mine = files_of(tmp_path / "callboard", template_name)
    upstream = files_of(tmp_path / "backstage")
    assert sorted(mine) == sorted(upstream)
    for path, (data, executable) in upstream.items():
        assert mine[path][0] == data, f"{path} differs"
        assert mine[path][1] == executable, f"{path}: executable bit differs"
    output = theirs.get("output") or {}
    assert [(link["title"], link["url"]) for link in ours["links"]] == backstage_links(output)
    shown = {(s["title"], tuple(s["items"])) for s in ours["sections"]}
    for item in output.get("text") or ():
        assert (item.get("title") or "Output", (item["content"],)) in shown

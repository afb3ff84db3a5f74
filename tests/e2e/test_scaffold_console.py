"""/scaffold through the console adapter, answers typed at its prompt (a script on stdin)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from adapters.console import Console
from tests.conftest import DEMO, AppFactory

ANA = "ana.silva@acme-rides.example"


def console_app(make_app: AppFactory, tmp_path: Path) -> Console:
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        console={"user_email": ANA},
        scaffold={"publish": {"remote": f"file://{tmp_path}/git/{{name}}.git"}},
    )
    return Console(app, io.StringIO(), io.StringIO())


async def run_script(console: Console, lines: list[str]) -> str:
    console.inp = io.StringIO("\n".join(lines) + "\n")
    await console.loop()
    assert isinstance(console.out, io.StringIO)
    return console.out.getvalue()


async def test_console_scaffold_end_to_end(make_app: AppFactory, tmp_path: Path) -> None:
    console = console_app(make_app, tmp_path)
    out = await run_script(
        console,
        [
            "/scaffold python-service",
            "trip-receipts",  # name
            "",  # owner: Ana's team, the default
            "checkout",  # system
            "Emails a receipt after every ride.",  # description
            "",  # package: derived from the name
            "3.13",  # python_version
            "",  # port: 8080
            "production",  # lifecycle
            "y",  # metrics
            "/whoowns trip-receipts",
        ],
    )

    assert "New Python service" in out
    assert "... trip-receipts (python-service): rendering the template…" in out
    assert "... trip-receipts (python-service): done." in out
    assert "Created trip-receipts" in out
    bare = tmp_path / "git" / "trip-receipts.git"
    files = subprocess.run(
        ["git", f"--git-dir={bare}", "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "src/trip_receipts/app.py" in files and "catalog-info.yaml" in files
    dockerfile = subprocess.run(
        ["git", f"--git-dir={bare}", "show", "main:Dockerfile"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert dockerfile.startswith("FROM python:3.13-slim")
    # /whoowns answers from the catalog right after.
    assert "trip-receipts is owned by Payments Team (group:default/team-payments)." in out


async def test_console_asks_again_for_a_value_with_template_syntax(
    make_app: AppFactory, tmp_path: Path
) -> None:
    console = console_app(make_app, tmp_path)
    out = await run_script(
        console,
        [
            "/scaffold python-service",
            "fare-estimator",
            "",
            "",
            "{{ cookiecutter.__class__.__mro__ }}",  # description: refused, asked again
            "",
            "",
            "",
            "",
            "n",
            "Estimates fares before a ride.",  # the description, asked again
        ],
    )
    assert (
        "  ! description: contains “{{”: template syntax is not allowed in values (the template "
        "engine would run it as code). Nothing was rendered."
    ) in out
    assert "Created fare-estimator" in out
    results = [e.result for e in await console.app.services.audit.entries()]
    assert results == ["succeeded", "invalid"]

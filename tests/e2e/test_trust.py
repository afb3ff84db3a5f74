"""Saying when the catalog cannot be trusted (SQLite and PostgreSQL).

A source that never synced, or whose last sync failed, makes "nothing found" unreliable: such
answers say so. `callboard status` fails for monitoring when any source is failing or never
synced, and `--format json` gives each source's state as data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bot.app import App
from tests.conftest import DEMO, AppFactory, FixedClock, ask
from tests.e2e.test_cli import component, dump, run


def _catalog(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "all.yaml").write_text(dump(component("fare-estimator"), component("bad name")))
    return root


def test_answers_that_find_nothing_say_a_source_failed(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    root = _catalog(tmp_path)
    clock = FixedClock()
    app = make_app(
        sources=[{"type": "file", "name": "central", "target": str(root / "all.yaml")}],
        db_url=db_url,
        clock=clock,
    )
    # While the source is healthy, "nothing" is just nothing.
    assert ask(app, "/whoowns zzzqqqxx").notes == ()
    clock.advance(hours=1)
    shutil.rmtree(root)
    assert not app.services.sync.run().sources[0].ok
    clock.advance(hours=3)

    note = (
        "source central failed 3 h ago: source central: root directory "
        f"{root} does not exist; answers come from its last good sync (4 h ago)"
    )
    for line in ("/whoowns zzzqqqxx", "/search zzzqqqxx", "/owns team-a", "/docs zzzqqqxx"):
        reply = ask(app, line)
        assert note in reply.notes, (line, reply.to_text())
        assert reply.to_text().startswith(f"({note})")
    # Answers that found something carry no warning: the entity is there.
    found = ask(app, "/describe fare-estimator")
    assert not found.error and found.notes == ()


def test_a_never_synced_catalog_says_so(make_app: AppFactory, db_url: str) -> None:
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}], db_url=db_url, sync=False
    )
    reply = ask(app, "/whoowns payments-api")
    assert reply.error
    assert (
        "source demo has never synced: nothing from it is in the catalog yet (callboard sync)"
        in reply.notes
    )


def _config(tmp_path: Path, db_url: str, target: Path) -> Path:
    path = tmp_path / "callboard.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": db_url},
                "catalog": {
                    "sources": [
                        {"type": "file", "name": "central", "target": str(target)},
                    ]
                },
            }
        )
    )
    return path


def test_status_fails_when_never_synced_or_failing_and_gives_json(
    db_url: str, tmp_path: Path
) -> None:
    root = _catalog(tmp_path)
    config = _config(tmp_path, db_url, root / "all.yaml")

    never = run("--config", str(config), "status", "--format", "json", cwd=tmp_path)
    assert never.returncode == 1, never.stdout + never.stderr
    data = json.loads(never.stdout)
    assert data["ok"] is False
    (source,) = data["sources"]
    assert source["state"] == "never synced" and source["last_success"] is None
    text = run("--config", str(config), "status", cwd=tmp_path)
    assert text.returncode == 1 and "never synced: central" in text.stdout

    assert run("--config", str(config), "sync", cwd=tmp_path).returncode == 0
    ok = run("--config", str(config), "status", "--format", "json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (source,) = json.loads(ok.stdout)["sources"]
    assert source["state"] == "ok"
    assert source["entity_count"] == 1
    assert source["problems"] == {"error": 1, "warning": 0, "total": 1}
    assert source["last_error"] is None and source["last_success"]

    shutil.rmtree(root)
    run("--config", str(config), "sync", cwd=tmp_path)
    failing = run("--config", str(config), "status", "--format", "json", cwd=tmp_path)
    assert failing.returncode == 1
    (source,) = json.loads(failing.stdout)["sources"]
    assert source["state"] == "failing"
    assert "does not exist" in source["last_error"]
    assert source["last_success"] and source["entity_count"] == 1  # last good entities kept


@pytest.mark.parametrize("line", ["/callboard status"])
def test_chat_status_calls_a_never_synced_source_out(
    make_app: AppFactory, db_url: str, line: str
) -> None:
    app: App = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}], db_url=db_url, sync=False
    )
    reply = ask(app, line)
    assert reply.error and reply.text == "1 source; never synced: demo."

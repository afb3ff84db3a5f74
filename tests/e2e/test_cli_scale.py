"""`callboard` at scale: a bounded sync summary, ask without re-syncing, options anywhere.

Real processes on SQLite and PostgreSQL; the progress bar on a pty (and never on a pipe).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.e2e.pty_session import PtySession
from tests.e2e.test_cli import CALLBOARD, component, dump, run
from tests.e2e.test_console_keys import _env

FILES = 120
BAD = 30  # files whose component has an invalid name: one error each


def _catalog(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    targets = []
    for i in range(FILES):
        name = f"svc-{i:04d}" if i >= BAD else f"bad name {i}"
        (root / f"f{i:04d}.yaml").write_text(dump(component(name)))
        targets.append(f"./f{i:04d}.yaml")
    (root / "all.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Location",
                "metadata": {"name": "all"},
                "spec": {"targets": targets},
            }
        )
    )
    return root / "all.yaml"


def _config(tmp_path: Path, db_url: str, target: Path) -> Path:
    path = tmp_path / "conf" / "callboard.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": db_url},
                "catalog": {
                    "sources": [{"type": "file", "name": "central", "target": str(target)}]
                },
            }
        )
    )
    return path


def test_a_cold_sync_prints_a_bounded_summary(db_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, db_url, _catalog(tmp_path))
    result = run("sync", "--config", str(config), cwd=tmp_path)  # --config after the command
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) <= 40, result.stdout
    assert lines[0].startswith(f"central: {FILES - BAD} entities, {FILES - BAD} added")
    assert f"Changes: {FILES - BAD}; the first 8:" in lines
    assert "Problems: central 30 errors, 0 warnings" in lines
    problems = [line for line in lines if '"metadata.name" is not valid' in line]
    assert len(problems) == 20
    assert (
        "… 10 more problems: callboard sync --problems lists them all (callboard status SOURCE "
        "pages them; --format json gives everything)"
    ) in lines
    assert "files read" not in result.stderr  # no progress bar on a pipe

    every = run("sync", "--problems", "--force", "--config", str(config), cwd=tmp_path)
    assert sum('"metadata.name" is not valid' in line for line in every.stdout.splitlines()) == 30

    data = json.loads(run("--config", str(config), "sync", "--format", "json", cwd=tmp_path).stdout)
    (source,) = data["sources"]
    assert source["name"] == "central" and source["entities"] == FILES - BAD
    assert len(source["problems"]) == 30 and source["problems"][0]["level"] == "error"


def test_sync_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'cb.db'}", _catalog(tmp_path))
    session = PtySession([str(CALLBOARD), "sync", "--config", str(config)], _env(), tmp_path)
    try:
        session.expect(r"central[: ].*files read · \d+ entities")
        assert session.wait() == 0
        assert f"central: {FILES - BAD} entities" in session.text
    finally:
        session.close()


def test_ask_answers_from_the_database_once_synced(db_url: str, tmp_path: Path) -> None:
    target = _catalog(tmp_path)
    config = _config(tmp_path, db_url, target)
    # Never synced: ask syncs first, so the first question has an answer.
    first = run("ask", "/describe svc-0100", "--config", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    # A new file is not seen until a sync: ask no longer syncs.
    (target.parent / "f0001.yaml").write_text(dump(component("svc-new")))
    stale = run("ask", "/describe svc-new", "--config", str(config), cwd=tmp_path)
    assert stale.returncode == 1 and "Nothing like “svc-new”" in stale.stdout
    # --no-sync is still accepted; --sync syncs.
    assert run("ask", "--no-sync", "/describe svc-new", "--config", str(config),
               cwd=tmp_path).returncode == 1  # fmt: skip
    fresh = run("ask", "--sync", "/describe svc-new", "--config", str(config), cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stdout


def test_global_options_go_before_or_after_the_subcommand(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'cb.db'}", _catalog(tmp_path))
    for args in (
        ("--config", str(config), "-v", "status"),
        ("status", "--config", str(config), "-v"),
        ("-v", "status", "central", "--config", str(config)),
        ("list", "--config", str(config)),
    ):
        result = run(*args, cwd=tmp_path)
        assert "unrecognized arguments" not in result.stderr, args
        assert result.returncode in (0, 1), (args, result.stderr)
    verbose = run("sync", "-v", "--config", str(config), cwd=tmp_path)
    assert verbose.returncode == 0 and " INFO " in verbose.stderr

"""Issue 3's numbers: syncing the generated catalog from a git source and from a live Backstage.

- **git, central catalog repository**: the whole generated catalog (20,000 repositories'
  ``catalog-info.yaml`` and the org files) committed to one repository, synced through a
  ``file://`` URL: cold (clone + parse + store), no change (fetch, nothing parsed) and one
  commit changing one file. The file source's cold sync of the same files runs beside it.
- **git, one repository per service**: a smaller generated catalog whose every repository is
  its own git repository, named by URL from a central Location (followed through a git
  integration, fetched ``parallel_fetches`` at a time); reported per repository and
  extrapolated to the full count, because creating 20,000 repositories for a benchmark run
  would take longer than the rest of ``make bench``.
- **Backstage**: the real catalog backend (``../shared/peers/backstage/run-catalog.sh``)
  serving the same 20,000-repository catalog; Callboard's cold and no-change sync from its
  REST API, beside the time Backstage itself took to ingest the files. Skipped, with the
  reason, when the peer cannot start.

Each sync runs in a fresh interpreter, like bench_sync's, so times include nothing cached.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import yaml

from bench.common import REPO, BenchContext, Result, run_python

PEER_SCRIPT = REPO.parent / "shared" / "peers" / "backstage" / "run-catalog.sh"
PER_REPO_SAMPLE = 300
HOST = "git.bench.test"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@acme.test",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@acme.test",
}

SYNC = r"""
import json, subprocess, sys, time
from pathlib import Path
from bot.bootstrap import build_app
from bot.bootstrap import load_settings
from commands import COMMANDS
config, change = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
app = build_app(load_settings(Path(config)), COMMANDS)
out = {}
def timed(name):
    started = time.perf_counter()
    report = app.services.sync.run()
    out[name] = time.perf_counter() - started
    src = report.sources[0]
    if not src.ok:
        raise SystemExit(f"sync failed: {src.error}")
    out[name + "_entities"] = src.entities
    out[name + "_parsed"] = src.files_parsed
    out[name + "_errors"] = sum(1 for p in src.problems if p.level == "error")
    out[name + "_added"] = len(src.added)
timed("cold")
timed("again")
if change:
    subprocess.run(["sh", "-c", change], check=True)
    timed("changed")
print(json.dumps(out))
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
    )


def _repository(path: Path) -> None:
    _git(path, "init", "--quiet", "--initial-branch=main")
    _git(path, "add", "--all")
    _git(path, "commit", "--quiet", "-m", "catalog")


def _config(ctx: BenchContext, name: str, source: dict[str, Any], **extra: Any) -> Path:
    path = ctx.work / f"{name}.yaml"
    for suffix in ("", "-wal", "-shm"):
        (ctx.work / f"{name}.db{suffix}").unlink(missing_ok=True)
    shutil.rmtree(ctx.work / f"{name}-var", ignore_errors=True)
    data: dict[str, Any] = {
        "data_dir": str(ctx.work / f"{name}-var"),
        "database": {"url": f"sqlite:///{ctx.work / name}.db"},
        "catalog": {"sources": [{"name": name, **source}]},
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def _central(ctx: BenchContext) -> list[Result]:
    cat = ctx.catalog()
    note = f"{cat.entities:,} entities in {cat.files:,} files"
    remote = ctx.work / "git-central"
    shutil.rmtree(remote, ignore_errors=True)
    shutil.copytree(cat.root, remote)
    _repository(remote)
    # One commit adding a component to one repository's file: what a normal day looks like.
    target = sorted((remote / "repos").iterdir())[0] / "catalog-info.yaml"
    extra = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "bench-added-component"},
        "spec": {"type": "service", "lifecycle": "experimental", "owner": "bench-nobody"},
    }
    change = (
        f"printf '%s' {_quote('---' + chr(10) + yaml.safe_dump(extra))} >> {_quote(str(target))}"
        f" && cd {_quote(str(remote))} && git add --all && "
        "GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b "
        "git commit --quiet -m change"
    )
    config = _config(
        ctx,
        "git-central",
        {"type": "git", "url": remote.as_uri(), "ref": "main", "path": "all.yaml"},
    )
    git = run_python(SYNC, str(config), change)
    file_source = {"type": "file", "target": str(cat.location_file)}
    file_config = _config(ctx, "file-beside-git", file_source)
    files = run_python(SYNC, str(file_config))
    ratio = git["cold"] / files["cold"]
    return [
        Result("sources", "git central repo: cold sync", git["cold"], "s", "", None,
               f"{note}; {ratio:.2f}× the file source (clone included)"),
        Result("sources", "file source: cold sync (same files)", files["cold"], "s", "", None,
               f"{files['cold_entities']:,} entities stored"),
        Result("sources", "git central repo: no-change sync", git["again"], "s", "", None,
               f"fetch + {git['again_parsed']} files parsed"),
        Result("sources", "git central repo: one commit", git["changed"], "s", "", None,
               f"{git['changed_parsed']} file parsed, {git['changed_added']} added"),
    ]  # fmt: skip


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _per_repository(ctx: BenchContext) -> list[Result]:
    cat = ctx.catalog(PER_REPO_SAMPLE)
    root = ctx.work / "git-per-repo"
    shutil.rmtree(root, ignore_errors=True)
    central = root / "acme" / "catalog"
    shutil.copytree(cat.root / "org", central / "org")
    names = sorted(p.name for p in (cat.root / "repos").iterdir())
    for name in names:
        repo = root / "acme" / name
        shutil.copytree(cat.root / "repos" / name, repo)
        _repository(repo)
    location = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {"name": "all"},
        "spec": {
            "targets": ["./org/*.yaml"]
            + [f"https://{HOST}/acme/{n}/blob/main/catalog-info.yaml" for n in names]
        },
    }
    (central / "all.yaml").write_text(yaml.safe_dump(location))
    _repository(central)
    config = _config(
        ctx,
        "git-per-repo",
        {"type": "git", "url": central.as_uri(), "ref": "main", "path": "all.yaml"},
        git={"integrations": [{"host": HOST, "clone_base": root.as_uri()}]},
    )
    timed = run_python(SYNC, str(config))
    n = len(names)
    cold_ms, again_ms = timed["cold"] / n * 1000, timed["again"] / n * 1000
    scale = ctx.repos / n
    return [
        Result("sources", f"git per repo: cold sync of {n} repos", timed["cold"], "s", "", None,
               f"{cold_ms:.0f} ms a repository; ≈ {timed['cold'] * scale:,.0f} s for "
               f"{ctx.repos:,} (extrapolated)"),
        Result("sources", f"git per repo: no-change sync of {n} repos", timed["again"], "s", "",
               None, f"{again_ms:.0f} ms a repository (a fetch each); ≈ "
               f"{timed['again'] * scale:,.0f} s for {ctx.repos:,} (extrapolated)"),
    ]  # fmt: skip


def _free_port() -> int | None:
    for port in range(7031, 7100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return None


def _backstage(ctx: BenchContext) -> list[Result]:
    if not PEER_SCRIPT.exists():
        return [Result("sources", "Backstage: sync", 0, "", note="../shared absent: skipped")]
    cat = ctx.catalog()
    port = _free_port()
    if port is None:
        return [Result("sources", "Backstage: sync", 0, "", note="no free port: skipped")]
    env = {**os.environ, "WAIT_FOR": str(cat.entities + 1), "WAIT_S": "1800"}
    done = subprocess.run(
        ["bash", str(PEER_SCRIPT), str(cat.location_file), str(port)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"pid=(\d+).*seconds=(\d+)", done.stdout + done.stderr)
    pid = int(found.group(1)) if found else None
    try:
        if done.returncode != 0:
            reason = (done.stderr.strip() or f"exit {done.returncode}").splitlines()[-1]
            return [Result("sources", "Backstage: sync", 0, "", note=f"peer: {reason}"[:100])]
        ingest = float(found.group(2)) if found else 0.0
        config = _config(
            ctx,
            "backstage",
            {"type": "backstage", "url": f"http://127.0.0.1:{port}", "page_size": 500,
             "timeout_seconds": 120},
        )  # fmt: skip
        timed = run_python(SYNC, str(config))
        return [
            Result("sources", "Backstage peer: its own ingest", ingest, "s", "", None,
                   f"{cat.entities:,} entities from the same files"),
            Result("sources", "Backstage: cold sync (REST, 500 a page)", timed["cold"], "s", "",
                   None, f"{timed['cold_entities']:,} entities stored, "
                   f"{timed['cold_errors']} errors"),
            Result("sources", "Backstage: no-change sync", timed["again"], "s", "", None,
                   f"all pages fetched, {timed['again_parsed']} groups parsed"),
        ]  # fmt: skip
    finally:
        if pid is not None:
            subprocess.run(["kill", str(pid)], check=False)


def run(ctx: BenchContext) -> list[Result]:
    return _central(ctx) + _per_repository(ctx) + _backstage(ctx)

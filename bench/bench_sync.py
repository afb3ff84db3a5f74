"""Issue 2's targets: cold sync vs libyaml alone, no-change re-sync, peak memory, /whoowns.

Cold sync runs ``callboard``'s own sync in a fresh interpreter (so its peak RSS is the sync's),
beside a fresh interpreter that only parses the same files with CSafeLoader.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from bench.common import (
    BenchContext,
    Result,
    latency_results,
    misspell_name,
    run_python,
    time_calls,
)

PARSE_ONLY = r"""
import glob, json, sys, time, yaml
root = sys.argv[1]
files = sorted(glob.glob(root + "/**/*.yaml", recursive=True))
started = time.perf_counter()
docs = 0
for name in files:
    with open(name, "rb") as fh:
        docs += sum(1 for _ in yaml.load_all(fh.read(), Loader=yaml.CSafeLoader))
print(json.dumps({"seconds": time.perf_counter() - started, "docs": docs, "files": len(files)}))
"""

SYNC = r"""
import json, resource, sys, time
from pathlib import Path
from bot.bootstrap import build_app
from bot.bootstrap import load_settings
from commands import COMMANDS
app = build_app(load_settings(Path(sys.argv[1])), COMMANDS)
started = time.perf_counter()
cold = app.services.sync.run()
cold_s = time.perf_counter() - started
started = time.perf_counter()
again = app.services.sync.run()
again_s = time.perf_counter() - started
src = cold.sources[0]
print(json.dumps({
    "cold": cold_s, "again": again_s, "entities": src.entities,
    "cold_sources": sum(s.duration_s for s in cold.sources),
    "again_sources": sum(s.duration_s for s in again.sources),
    "problems": len(src.problems), "parsed_again": again.sources[0].files_parsed,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "workers": app.services.settings.catalog.workers,
}))
"""


FRESH = r"""
import json, resource, sys, time
from pathlib import Path
from bot.bootstrap import build_app
from bot.bootstrap import load_settings
from commands import COMMANDS
started = time.perf_counter()
app = build_app(load_settings(Path(sys.argv[1])), COMMANDS)
built = time.perf_counter() - started
started = time.perf_counter()
report = app.services.sync.run()
took = time.perf_counter() - started
src = report.sources[0]
print(json.dumps({
    "seconds": took, "built": built, "sources": sum(s.duration_s for s in report.sources),
    "parsed": src.files_parsed, "changed": len(src.modified) + len(src.owner_changed),
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _edit_some(root: Path, every: int) -> dict[Path, bytes]:
    """Change the main Component's description in one repository file of ``every``; the
    files' original bytes, to put back."""
    files = sorted((root / "repos").glob("*/catalog-info.yaml"))[::every]
    originals: dict[Path, bytes] = {}
    for path in files:
        data = path.read_bytes()
        originals[path] = data
        path.write_bytes(data.replace(b"  description: ", b"  description: Edited. ", 1))
    return originals


def _fresh_resyncs(config: Path, cat_root: Path) -> tuple[dict[str, float], dict[str, float], int]:
    """A no-change re-sync in a fresh process, then one with 1% of the files changed (and the
    files put back afterwards, so the generated catalog can be used again)."""
    same = run_python(FRESH, str(config))
    originals = _edit_some(cat_root, 100)
    try:
        some = run_python(FRESH, str(config))
    finally:
        for path, data in originals.items():
            path.write_bytes(data)
    return same, some, len(originals)


def _without_workers(config: Path) -> Path:
    """The same config with ``catalog.parse_workers: 0`` and its own database."""
    import yaml

    data = yaml.safe_load(config.read_text())
    data["catalog"]["parse_workers"] = 0
    data["database"]["url"] = data["database"]["url"].replace("sync.db", "sync-single.db")
    data["data_dir"] = data["data_dir"] + "-single"
    single = config.with_name("sync-single.yaml")
    single.write_text(yaml.safe_dump(data))
    return single


def run(ctx: BenchContext) -> list[Result]:
    cat = ctx.catalog()
    note = f"{cat.entities:,} entities, {cat.bytes / 1e6:.1f} MB, {cat.files:,} files"
    parse = run_python(PARSE_ONLY, str(cat.root))
    config = ctx.config("sync", cat.location_file)
    db = ctx.work / "sync.db"
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    sync = run_python(SYNC, str(config))
    ratio = sync["cold"] / parse["seconds"]
    big = ctx.scale != "43k"  # the issue 21 targets; the 43k run keeps issue 2's
    cold_target = 2.5 if big else 3.0
    same, some, edited = _fresh_resyncs(config, cat.root)
    if big:  # minutes more for a figure the default run already shows
        alone = {"cold": float("nan"), "rss_mb": float("nan")}
    else:
        single = _without_workers(config)
        for suffix in ("", "-wal", "-shm"):
            single_db = ctx.work / "sync-single.db"
            single_db.with_name(single_db.name + suffix).unlink(missing_ok=True)
        alone = run_python(SYNC, str(single))
    peak_target = 1536 if big else 1024
    results = [
        Result("sync", "CSafeLoader parse only", parse["seconds"], "s", "", None, note),
        Result(
            "sync",
            "cold sync (SQLite)",
            sync["cold"],
            "s",
            f"≤ {cold_target:g}× parse",
            ratio <= cold_target,
            f"{ratio:.2f}× parse; {sync['entities']:,} entities stored; docs step included; "
            f"{sync['workers']} parse workers",
        ),
        Result(
            "sync",
            "  of which catalog sources",
            sync["cold_sources"],
            "s",
            "",
            None,
            f"{sync['cold_sources'] / parse['seconds']:.2f}× parse; the rest is the docs step",
        ),
        Result(
            "sync",
            "cold sync, parse_workers: 0",
            alone["cold"],
            "s",
            "",
            None,
            f"{alone['cold'] / parse['seconds']:.2f}× parse; all in the sync's own process"
            if not big
            else "not run at this scale",
        ),
        Result(
            "sync",
            "no-change re-sync",
            sync["again"],
            "s",
            # Issue 2's target, for the 43k catalog; at 1m issue 21 sets the fresh process's.
            "" if big else "< 1 s",
            None if big else sync["again"] < 1.0,
            f"{sync['parsed_again']} files parsed again; catalog sources "
            f"{sync['again_sources']:.2f} s, then the docs step",
        ),
        Result(
            "sync",
            "no-change re-sync, fresh process",
            same["seconds"],
            "s",
            "≤ 3 s",
            same["seconds"] <= 3.0,
            f"{same['parsed']} files parsed; catalog sources {same['sources']:.2f} s; "
            f"the app built in {same['built']:.1f} s before; peak {same['rss_mb']:.0f} MB",
        ),
        Result(
            "sync",
            "re-sync, 1% of files changed",
            some["seconds"],
            "s",
            "≤ 10% of cold",
            some["seconds"] <= 0.1 * sync["cold"],
            f"{edited:,} files edited, {some['parsed']:,} parsed, {some['changed']:,} changes; "
            f"{some['seconds'] / sync['cold']:.0%} of cold; fresh process, "
            f"peak {some['rss_mb']:.0f} MB",
        ),
        Result(
            "sync",
            "peak memory during sync",
            sync["rss_mb"],
            "MB",
            f"< {peak_target} MB",
            sync["rss_mb"] < peak_target,
            f"sync process; each parse worker peaked at {sync['worker_rss_mb']:.0f} MB; "
            f"without workers {alone['rss_mb']:.0f} MB",
        ),
    ]
    if ctx.pg_url:
        pg_config = ctx.config("sync-pg", cat.location_file, db_url=ctx.pg_url)
        pg = run_python(SYNC, str(pg_config))
        results.append(
            Result(
                "sync",
                "cold sync (PostgreSQL)",
                pg["cold"],
                "s",
                "",
                None,
                f"{pg['cold'] / parse['seconds']:.2f}× parse",
            )
        )
        results.append(Result("sync", "no-change re-sync (PostgreSQL)", pg["again"], "s"))

    # /whoowns through the dispatcher, on the synced SQLite database.
    from bot.bootstrap import build_app, load_settings
    from bot.chat import ChatUser, Request
    from commands import COMMANDS

    app = build_app(load_settings(config), COMMANDS)
    try:
        user = ChatUser("console", "bench")
        rng = random.Random(7)
        exact = list(cat.sample_names)
        fuzzy = [misspell_name(n, rng) for n in exact]
        loop = asyncio.new_event_loop()
        try:

            def ask(names: list[str]) -> object:
                it = iter(names * 1000)

                def call() -> None:
                    loop.run_until_complete(
                        app.dispatcher.dispatch(Request(f"/whoowns {next(it)}", user))
                    )

                return call

            app.services.reader.index()  # built once per catalog generation, like a running bot
            results += latency_results("whoowns", "exact name", time_calls(ask(exact), 300), 10)
            results += latency_results("whoowns", "misspelt name", time_calls(ask(fuzzy), 300), 30)
        finally:
            loop.close()
    finally:
        app.close()
    return results

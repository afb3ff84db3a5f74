"""``make bench``: run every benchmark and print one table.

    python -m bench [--scale 43k|1m] [--repos N] [--only NAME ...] [--work DIR] [--no-postgres]
                    [--keep-db]

``--scale 1m`` (``make bench SCALE=1m``) runs the same table on a catalog of about a million
entities (``bench.generate.SCALES``); give it a ``--work`` folder to keep that catalog for the
next run, and ``--keep-db`` to answer the command benchmarks from the database it synced.

Benchmarks never run as tests; their targets are reported, not asserted.
"""

from __future__ import annotations

import argparse
import importlib
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import BenchContext, Result, print_table
from bench.generate import SCALES

# Each module exposes run(ctx) -> list[Result]; a missing one is reported, not fatal.
BENCHMARKS = (
    "bench.bench_sync",
    "bench.bench_commands",
    "bench.bench_sources",
    "bench.bench_docs",
    "bench.bench_slack",
    "bench.bench_oncall",
    "bench.bench_reports",
    "bench.bench_notify",
    "bench.bench_cli",
    "bench.bench_loop",
    "bench.bench_scaffold",
    "bench.bench_attest",
    "bench.bench_scaffold_remote",
)


def _postgres_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
    except OSError:
        return None
    import uuid

    import psycopg

    name = f"callboard_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception:
        return None
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scale", choices=sorted(SCALES), default="43k", help="catalog size and mix (default 43k)"
    )
    parser.add_argument("--repos", type=int, help="generated repositories (default: the scale's)")
    parser.add_argument("--only", nargs="*", help="benchmark names, e.g. sync commands")
    parser.add_argument("--work", help="work folder (default: a temp folder)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL runs")
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="keep the commands and slack benchmarks' SQLite databases in --work and answer "
        "from them next time without syncing again (the catalog must be the same)",
    )
    ns = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="callboard-bench-") as tmp:
        work = Path(ns.work) if ns.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        pg_url = None if ns.no_postgres else _postgres_url()
        repos = ns.repos or SCALES[ns.scale].repos
        ctx = BenchContext(
            work=work, repos=repos, pg_url=pg_url, scale=ns.scale, keep_db=ns.keep_db
        )
        results: list[Result] = []
        started = time.perf_counter()
        try:
            for module_name in BENCHMARKS:
                short = module_name.rsplit(".", 1)[1].removeprefix("bench_")
                if ns.only and short not in ns.only:
                    continue
                try:
                    module = importlib.import_module(module_name)
                except ModuleNotFoundError as exc:
                    if exc.name == module_name:
                        results.append(Result(short, "(not available)", 0, "", note="not built"))
                        continue
                    raise
                print(f"running {short}...", file=sys.stderr, flush=True)
                try:
                    results.extend(module.run(ctx))
                except Exception as exc:
                    traceback.print_exc()
                    results.append(Result(short, "(failed)", 0, "", note=f"{exc}"[:100]))
        finally:
            if pg_url:
                _drop_postgres(pg_url)
        print()
        print_table(results)
        print(
            f"\n{repos:,} generated repositories, scale {ns.scale}; PostgreSQL: "
            f"{'yes' if pg_url else 'not reachable, skipped'}; "
            f"{time.perf_counter() - started:.0f} s in all"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

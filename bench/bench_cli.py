"""Issue 13's command-line targets, on the generated catalog (about 43,000 entities).

* the lines a cold ``callboard sync`` prints (stdout and stderr, on a pipe): at most 40;
* the wall time of ``callboard ask "/whoowns <name>"`` once the catalog is synced (a new
  process each time, Python's start-up included): at most 1.5 s.

Both run the installed ``callboard`` program as a user would, on SQLite.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import BenchContext, Result

CALLBOARD = Path(sys.executable).with_name("callboard")
ASKS = 5
MAX_LINES = 40
ASK_TARGET_S = 1.5


def _run(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(CALLBOARD), *args], capture_output=True, text=True, check=False, timeout=3600
    )
    return time.perf_counter() - started, done


def run(ctx: BenchContext) -> list[Result]:
    catalog = ctx.catalog()
    config = ctx.config("cli", catalog.location_file)
    sync_s, sync = _run("sync", "--config", str(config))
    if sync.returncode != 0:
        raise RuntimeError(f"callboard sync failed:\n{sync.stderr[-2000:]}")
    lines = len(sync.stdout.splitlines()) + len(sync.stderr.splitlines())
    name = catalog.sample_names[0]
    times = []
    for _ in range(ASKS):
        took, asked = _run("ask", f"/whoowns {name}", "--config", str(config))
        if asked.returncode != 0:
            raise RuntimeError(f"callboard ask failed:\n{asked.stdout[-1000:]}{asked.stderr}")
        times.append(took)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    python_s = time.perf_counter() - started
    ask_s = statistics.median(times)
    entities = f"{catalog.entities:,} entities"
    return [
        Result(
            "cli",
            "cold `callboard sync`: lines printed",
            lines,
            "lines",
            f"≤ {MAX_LINES}",
            lines <= MAX_LINES,
            f"{entities}; the sync took {sync_s:.0f} s",
        ),
        Result(
            "cli",
            "`callboard ask` wall time (median)",
            ask_s,
            "s",
            f"≤ {ASK_TARGET_S:g} s",
            ask_s <= ASK_TARGET_S,
            f"{ASKS} runs, max {max(times):.2f} s; bare Python start-up {python_s:.2f} s",
        ),
    ]

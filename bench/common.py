"""What every benchmark shares: a work folder, the generated catalog, results and the table.

A benchmark module exposes ``run(ctx: BenchContext) -> list[Result]``. The runner
(``python -m bench``, i.e. ``make bench``) calls each one and prints one table.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.generate import GeneratedCatalog, generate_catalog

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "config" / "demo" / "all.yaml"


@dataclass(frozen=True)
class Result:
    """One measured number, with the target it is held against (if any)."""

    bench: str
    metric: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None  # None: no target
    note: str = ""


@dataclass
class BenchContext:
    """Shared, lazily built inputs: generating 20,000 repositories takes a few seconds."""

    work: Path
    repos: int = 20_000
    pg_url: str | None = None
    _catalogs: dict[tuple[int, bool], GeneratedCatalog] = field(default_factory=dict)

    def catalog(self, repos: int | None = None, docs: bool = False) -> GeneratedCatalog:
        """The generated catalog of ``repos`` repositories (cached in the work folder)."""
        n = repos or self.repos
        key = (n, docs)
        if key not in self._catalogs:
            root = self.work / f"catalog-{n}{'-docs' if docs else ''}"
            if root.exists():
                shutil.rmtree(root)
            self._catalogs[key] = generate_catalog(root, n, docs=docs)
        return self._catalogs[key]

    def config(self, name: str, location: Path, db_url: str | None = None, **extra: Any) -> Path:
        """Write a Callboard config for one file source; returns its path."""
        import yaml

        path = self.work / f"{name}.yaml"
        data: dict[str, Any] = {
            "data_dir": str(self.work / f"{name}-var"),
            "database": {"url": db_url or f"sqlite:///{self.work / name}.db"},
            "catalog": {"sources": [{"type": "file", "name": name, "target": str(location)}]},
        }
        data.update(extra)
        path.write_text(yaml.safe_dump(data))
        return path


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) of samples, in the samples' unit."""
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50, p99


def time_calls(fn: Callable[[], Any], samples: int, warmup: int = 5) -> list[float]:
    """Milliseconds per call of ``fn``."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def latency_results(
    bench: str, name: str, samples_ms: Sequence[float], target_p99_ms: float | None
) -> list[Result]:
    p50, p99 = percentiles(samples_ms)
    target = f"p99 ≤ {target_p99_ms:g} ms" if target_p99_ms is not None else ""
    ok = None if target_p99_ms is None else p99 <= target_p99_ms
    return [
        Result(bench, f"{name} p50", p50, "ms"),
        Result(bench, f"{name} p99", p99, "ms", target, ok, f"{len(samples_ms)} calls"),
    ]


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter (for cold timings and peak memory); it prints JSON."""
    import json

    completed = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{completed.stderr[-2000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def print_table(results: Sequence[Result], out: Any = sys.stdout) -> None:
    headers = ("benchmark", "metric", "value", "target", "ok", "note")
    rows = [
        (
            r.bench,
            r.metric,
            f"{r.value:,.2f} {r.unit}" if r.value < 100 else f"{r.value:,.0f} {r.unit}",
            r.target,
            {True: "yes", False: "NO", None: ""}[r.ok],
            r.note,
        )
        for r in results
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)), file=out)

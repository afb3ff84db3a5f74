"""Start the real Backstage catalog backend of ../shared/peers for a test, and stop it.

Skips, with the reason printed, where ../shared, node, npm or PostgreSQL are missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED

PEER_SCRIPT = SHARED / "peers" / "backstage" / "run-catalog.sh"


def free_port(first: int, last: int) -> int:
    """A free loopback port in ``first..last`` (each test module keeps to its own range)."""
    for port in range(first, last + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free port in {first}-{last} for the Backstage peer")


def _peer_dir() -> Path:
    """Where run-catalog.sh installs the npm packages (its own default, PEER_DIR)."""
    if os.environ.get("PEER_DIR"):
        return Path(os.environ["PEER_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "callboard-backstage-peer"


@contextlib.contextmanager
def _installing(scaffolder: bool) -> Iterator[None]:
    """Held while run-catalog.sh may still have to install its packages: one test process at
    a time. Two xdist workers starting the first peers of a fresh machine at once ran two
    ``npm install`` in one folder, and npm failed on the other's files (ENOTEMPTY); the peer
    was then skipped. Once installed, peers start side by side."""
    folder = _peer_dir()
    marks = [folder / "node_modules/@backstage/plugin-catalog-backend/package.json"]
    if scaffolder:
        marks.append(folder / "node_modules/@backstage/plugin-scaffolder-backend/package.json")
    if all(m.exists() for m in marks):
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".callboard-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


@contextlib.contextmanager
def backstage_peer(
    location: Path, wait_for: int, ports: tuple[int, int], *, scaffolder: bool = False
) -> Iterator[str]:
    """The URL of a catalog backend serving ``location`` once it holds ``wait_for`` entities
    (``scaffolder``: with Backstage's scaffolder backend too, WITH_SCAFFOLDER=1)."""
    if not PEER_SCRIPT.exists():
        pytest.skip(f"../shared is not present ({PEER_SCRIPT} missing): Backstage peer skipped")
    port = free_port(*ports)
    env = {**os.environ, "WAIT_FOR": str(wait_for), "WAIT_S": "600"}
    if scaffolder:
        env["WITH_SCAFFOLDER"] = "1"
    with _installing(scaffolder):
        done = subprocess.run(
            ["bash", str(PEER_SCRIPT), str(location), str(port)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    found = re.search(r"pid=(\d+)", done.stdout + done.stderr)
    pid = int(found.group(1)) if found else None
    try:
        if done.returncode == 2:
            reason = done.stderr.strip() or "run-catalog.sh exited 2"
            print(f"\nSKIP Backstage peer: {reason}")
            pytest.skip(f"Backstage peer unavailable: {reason}")
        if done.returncode != 0:
            pytest.fail(f"Backstage peer did not serve {location}: {done.stderr.strip()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        if pid is not None:
            subprocess.run(["kill", str(pid)], check=False)


def wait_until_settled(snapshot: Callable[[], object], rounds: int = 5, pause: float = 2) -> None:
    """Wait until ``snapshot()`` (what the peer serves) has not changed for ``rounds`` looks.

    Every Location is processed within seconds of being stored; a bounded wait, not a timing.
    """
    previous: object = None
    stable = 0
    for _ in range(120):
        current = snapshot()
        stable = stable + 1 if current == previous else 0
        if stable >= rounds:
            return
        previous = current
        threading.Event().wait(pause)

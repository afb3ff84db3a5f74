"""How long a thread waited for a CPU: the part of a stall a loaded machine causes, not the code.

Linux counts, per thread, the time it was runnable but not running (``run_delay``, the second
number of ``/proc/self/task/<tid>/schedstat``). On a shared machine (CI, several jobs on two
cores) an event loop's thread spends tens of milliseconds at a time there, whatever the code
does; the loop benchmark and the slow-callback test subtract it from what they measure. Where
the file is missing (another OS, a kernel without schedstats) nothing is subtracted.
"""

from __future__ import annotations

import os
import threading


class RunQueue:
    """The run-queue wait of the thread that made it (read with ``waited``)."""

    def __init__(self) -> None:
        self._fd: int | None = None
        try:
            self._fd = os.open(
                f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY
            )
            self.waited()
        except (OSError, ValueError, IndexError):
            self.close()

    @property
    def available(self) -> bool:
        return self._fd is not None

    def waited(self) -> float:
        """Seconds the thread has waited for a CPU since it started (0.0 when unknown)."""
        if self._fd is None:
            return 0.0
        return int(os.pread(self._fd, 256, 0).split()[1]) / 1e9

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ThreadTimes:
    """Every thread of this process: how long each ran on a CPU and waited for one
    (``/proc/self/task/*/schedstat``), to say what the other threads did while the event loop
    was held (``since``). Empty where the kernel does not say."""

    def __init__(self) -> None:
        self._mark: dict[int, tuple[int, int]] = self.read()

    def mark(self) -> None:
        self._mark = self.read()

    def since(self, min_ms: float = 2.0, mark: dict[int, tuple[int, int]] | None = None) -> str:
        """``name ran N ms, waited M ms`` for each thread that did either for ``min_ms``
        since ``mark`` (a ``read()``; default: the last ``mark()``), busiest first; threads
        are named as ``threading`` knows them."""
        names = {t.native_id: t.name for t in threading.enumerate()}
        base = self._mark if mark is None else mark
        rows = []
        for tid, (ran, waited) in self.read().items():
            ran0, waited0 = base.get(tid, (0, 0))
            ran_ms, waited_ms = (ran - ran0) / 1e6, (waited - waited0) / 1e6
            if ran_ms >= min_ms or waited_ms >= min_ms:
                rows.append(
                    (
                        ran_ms,
                        f"{names.get(tid, tid)} ran {ran_ms:.0f} ms, waited {waited_ms:.0f} ms",
                    )
                )
        return "; ".join(text for _, text in sorted(rows, reverse=True))

    @staticmethod
    def read() -> dict[int, tuple[int, int]]:
        """Each thread's (ns on a CPU, ns waiting for one), by thread id."""
        out: dict[int, tuple[int, int]] = {}
        try:
            tids = os.listdir("/proc/self/task")
        except OSError:
            return out
        for tid in tids:
            try:
                with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                    ran, waited = f.read().split()[:2]
                out[int(tid)] = (int(ran), int(waited))
            except (OSError, ValueError):
                continue  # the thread ended
        return out

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

"""The C allocator's handling of large buffers, in a process that builds indexes of a million
entries while its event loop answers.

glibc serves a buffer of 128 KiB or more from a mapping of its own, so growing it
(``realloc``) remaps pages instead of copying bytes. But it raises that threshold whenever such
a mapping is freed (up to 32 MiB): once a cold sync has freed its large buffers, a list, array
or bytearray growing to tens of megabytes is served from the heap, and a growth past its slack
copies all of it into fresh pages in one C call, the GIL held. Measured: 21 ms for one append to
a 57 MB bytearray in a thread on an idle machine; a 133 ms event-loop stall in a re-sync at a
million entities, the sync's thread in a copy and page faults. Setting the threshold fixes it
where it is and keeps every large buffer mapped (0.2 ms for the same append).

Elsewhere than glibc (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
LARGE_BUFFER = 256 * 1024
"""Bytes from which a buffer gets a mapping of its own (glibc's initial threshold is 128 KiB)."""

_lock = threading.Lock()
_mapped: bool | None = None  # None: not tried yet


def map_large_buffers() -> bool:
    """Fix glibc's threshold for mapped buffers at ``LARGE_BUFFER``, once per process; whether
    it is fixed (False where the C library is not glibc or refused)."""
    global _mapped
    with _lock:
        if _mapped is None:
            _mapped = _set_threshold()
        return _mapped


def _set_threshold() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (present in glibc only)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER))

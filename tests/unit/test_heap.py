"""Large buffers keep a mapping of their own once a process syncs or builds an index
(``bot.heap``): growing one then remaps pages instead of copying it in one C call.

Run in a fresh interpreter: the C allocator's threshold is process-wide, and this test process
has built indexes already."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import ctypes

    libc = ctypes.CDLL("libc.so.6")

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc.mallinfo2.restype = MallInfo2

    def mapped_by(size):
        before = libc.mallinfo2().hblks
        buffer = bytearray(size)
        return libc.mallinfo2().hblks - before

    freed = bytearray(16 << 20)  # a sync's large buffer, freed: glibc raises its threshold
    del freed
    print(mapped_by(1 << 20))
    from bot.catalog.read import building_index
    with building_index():
        pass
    print(mapped_by(4 << 20))  # larger than the heap's free space the first probe left
    """
)


def _glibc_with_mallinfo2() -> str | None:
    """Why this test cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return f"the allocator threshold is glibc's; this is {sys.platform}"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018
        libc.mallinfo2  # noqa: B018
    except (OSError, AttributeError):
        return "no glibc 2.33 or later (mallinfo2) here"
    return None


def test_after_the_first_build_a_large_buffer_is_mapped_even_after_a_large_free() -> None:
    reason = _glibc_with_mallinfo2()
    if reason:
        pytest.skip(reason)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # Before: served from the heap (growing it past its slack would copy it); after: mapped.
    assert out == ["0", "1"]

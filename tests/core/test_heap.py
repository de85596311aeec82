"""Freed memory goes back to the system when asked (what `guanjia run` does after start-up)."""

from __future__ import annotations

import os
import sys

import pytest

from bot.core.heap import give_back_freed


def _resident_kb() -> int:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; glibc's malloc")
def test_freed_blocks_below_one_in_use_are_given_back() -> None:
    # 40 MB in blocks below glibc's mmap threshold (so on the heap), then one block above
    # them that stays: freeing the 40 MB cannot shrink the heap from its top.
    blocks = [bytearray(b"x" * 100_000) for _ in range(400)]
    pinned = bytearray(b"y" * 100_000)
    del blocks
    kept = _resident_kb()
    assert give_back_freed() is True
    given = kept - _resident_kb()
    assert given > 20_000, f"only {given} kB given back"
    assert pinned[0] == ord("y")

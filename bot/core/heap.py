"""Giving the memory freed after start-up back to the system.

Start-up builds large tables once (the segmenter's dictionary, the trained model) through
short-lived buffers. glibc's allocator keeps most of what they freed inside the process (the
freed blocks lie below blocks still in use, and a thread's arena is trimmed only from its top),
so the resident size stays tens of megabytes above what is in use. ``malloc_trim(0)`` hands every
arena's free pages back. Elsewhere than glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

__all__ = ["give_back_freed"]

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def give_back_freed() -> bool:
    """Return the C heap's free pages to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        log.debug("malloc_trim is not available: freed memory stays with the process")
        return False
    trim(0)
    return True

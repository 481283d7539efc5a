"""glibc's allocator from Python: give the freed pages of the C heap back to the operating system.

Used where a long-lived process frees large temporaries and its resident memory should fall with them: a
roll-up worker after each task (``rollup.driver.release_memory``) and the out-of-core terrain between its
steps (``hazards.mapped.MappedStore.release``).
"""
from __future__ import annotations

_TRIM = None   # glibc's malloc_trim, False where there is none (resolved once)


def malloc_trim() -> bool:
    """``malloc_trim(0)``: every arena, also free pages inside the heap. Returns whether it was called
    (False off glibc: musl, macOS, Windows keep their own policy)."""
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = getattr(ctypes.CDLL(None), "malloc_trim", False)   # the process's own symbols (libc)
        except (OSError, TypeError):   # no dynamic loader of that kind (Windows: CDLL(None) is refused)
            _TRIM = False
    if _TRIM:
        _TRIM(0)
        return True
    return False

"""Hand memory a step has freed back to the operating system (the daily job runs its steps in
one process by default: without this, the peak of the largest step stays resident for the rest
of the run)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def freeze_long_lived() -> None:
    """Move every object alive now (modules, definitions, the instance) out of the garbage
    collector's generations: a full collection then walks only what the steps made since. Such
    objects are still freed by reference counting; only cycles among them would stay."""
    gc.freeze()


MMAP_THRESHOLD_BYTES = 128 * 1024
"""Blocks from this size up get pages of their own, handed back to the system when freed."""

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_heap_steady = False


def steady_heap() -> None:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES` (glibc only; once per process).

    glibc raises the threshold every time a large mapped block is freed (up to 32 MB), so a step's
    column-sized arrays end up inside the heap, where a few live small objects pin them: after the
    events step of a 1,000,000-call day the process stayed at about 1.4 GB and the next check
    started from there (its peak 1,753 MiB); with the threshold fixed the process returns to about
    600 MiB (that check 1,397 MiB, the run 1,580 MiB; the run's time within noise)."""
    global _heap_steady
    if _heap_steady:
        return
    _heap_steady = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if hasattr(libc, "mallopt"):
            libc.mallopt(ctypes.c_int(_M_MMAP_THRESHOLD), ctypes.c_int(MMAP_THRESHOLD_BYTES))
    except OSError:
        pass


def release_memory() -> None:
    """Collect the step's cyclic garbage, return Arrow's unused pool memory and trim the C heap
    (glibc only). What survives is frozen (see :func:`freeze_long_lived`): a full collection over
    the hundreds of thousands of objects of Dagster, GX and pandas took 0.2 s each time."""
    steady_heap()  # (a run launched by Dagster comes here first at the end of its first step)
    gc.collect()
    freeze_long_lived()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # noqa: BLE001 - an optimisation only
        pass
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass

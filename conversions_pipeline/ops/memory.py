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


def release_memory() -> None:
    """Collect the step's cyclic garbage, return Arrow's unused pool memory and trim the C heap
    (glibc only). What survives is frozen (see :func:`freeze_long_lived`): a full collection over
    the hundreds of thousands of objects of Dagster, GX and pandas took 0.2 s each time."""
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

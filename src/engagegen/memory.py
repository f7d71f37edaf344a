"""Memory checks before big allocations: refuse a job up front, with the estimate, instead of failing mid-way.

>>> check_memory(1024, "a small job")  # fits: returns the estimate
1024
>>> check_memory(10**18, "a huge job")
Traceback (most recent call last):
...
engagegen.errors.ResourceError: a huge job needs about 1000000.0 TB of memory; ...
"""

from __future__ import annotations

import os

from engagegen.errors import ResourceError

__all__ = ["available_memory", "check_memory", "format_bytes"]


def available_memory() -> int | None:
    """Bytes of memory available to a new job (Linux ``MemAvailable``), or ``None`` where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KB'`` (powers of 1000, as memory is sold)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_memory(needed: float, what: str) -> int:
    """Raise :class:`ResourceError` when ``what`` needs more than the available memory; returns ``needed``."""
    available = available_memory()
    if available is not None and needed > available:
        raise ResourceError(f"{what} needs about {format_bytes(needed)} of memory; this machine has "
                            f"{format_bytes(available)} available")
    return int(needed)

"""The `quotewire` console script, kept light: it decides whether to re-execute the process
with its C heap on transparent huge pages before the package's heavy modules (the compiled
core, NumPy) are imported, so a command pays for those imports once, not twice.

The engine's pre-sized tables are huge-page slices of their own; the smaller heap
allocations on the hot path (per-instrument price levels) land wherever malloc puts them,
which after a long-lived Python process's own allocations is scattered over many 4 KiB
pages. glibc reads `GLIBC_TUNABLES` only at start, so without it the script re-executes
itself once with `glibc.malloc.hugetlb=1` added, as the systemd unit runs the engine.
`QUOTEWIRE_HEAP_THP=0` turns this off (the bench JSON's `machine.heap_huge_pages` records
which it was).
"""

from __future__ import annotations

import os
import sys

from quotewire._machine import HEAP_TUNABLE, heap_on_huge_pages


def entry() -> int:
    """Run the command line (`quotewire.cli.main`) in a process whose C heap is advised for
    transparent huge pages."""
    _reexec_with_heap_on_huge_pages()
    from quotewire.cli import main

    return main()


def _reexec_with_heap_on_huge_pages() -> None:
    if sys.platform != "linux" or os.environ.get("QUOTEWIRE_HEAP_THP") == "0":
        return
    if heap_on_huge_pages():
        return
    script = sys.argv[0]
    if os.sep not in script or not os.access(script, os.X_OK):
        return  # not started as an executable script (python -m, embedded)
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    env = dict(os.environ, GLIBC_TUNABLES=":".join(t for t in (tunables, HEAP_TUNABLE) if t))
    try:
        os.execve(script, sys.argv, env)
    except OSError:
        return  # carry on as started

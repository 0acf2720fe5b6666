"""Describe the machine and source revision a benchmark ran on.

Every published figure names its machine and revision (STYLE.md, habit 9). Everything here
reads cheap local facts once per run; nothing is measured.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

__all__ = ["cpu_model", "git_revision", "machine_info"]

_GIT_TIMEOUT_S = 2.0


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else what `platform` knows."""
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def _usable_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def machine_info() -> dict[str, object]:
    """CPU model, logical/usable cores, OS, kernel, architecture, Python and tuning facts.

    `governor` (cpu0's cpufreq governor), `isolated_cpus` and `thp` (the kernel's
    transparent huge page mode line) are None where the kernel does not expose them
    (containers, VMs); `heap_huge_pages` says whether the C heap was advised for huge pages.
    """
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": _usable_cpus(),
        "os": platform.system(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "isolated_cpus": _read("/sys/devices/system/cpu/isolated") or None,
        "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "heap_huge_pages": heap_on_huge_pages(),
    }


HEAP_TUNABLE = "glibc.malloc.hugetlb=1"
"""The glibc tunable that puts the C heap on transparent huge pages (glibc >= 2.35)."""


def heap_on_huge_pages() -> bool:
    """Whether this process started with its C heap advised for transparent huge pages
    (`GLIBC_TUNABLES` naming `glibc.malloc.hugetlb`), as the `quotewire` command and the
    systemd unit run the engine; the kernel still decides (THP `madvise` or `always`)."""
    return "glibc.malloc.hugetlb" in os.environ.get("GLIBC_TUNABLES", "")


def _repo_root() -> Path | None:
    """The source checkout holding this package (python/quotewire/ -> root), if any."""
    for parent in Path(__file__).resolve().parents:
        if (parent / ".git").exists():
            return parent
    return None


def git_revision(fallback: str) -> str:
    """Short revision of the checkout this package runs from.

    `QUOTEWIRE_GIT_REV` overrides (CI, or runs that must not call git); outside a checkout,
    or when git fails, returns `fallback` (the package version).
    """
    override = os.environ.get("QUOTEWIRE_GIT_REV")
    if override:
        return override
    root = _repo_root()
    if root is None:
        return fallback
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return fallback
    rev = done.stdout.strip()
    return rev if done.returncode == 0 and rev else fallback

"""What the QuickFIX tests share: FIX message fields, QuickFIX's FIX44.xml dictionary, a
free loopback port and the release build of a cargo example (the peer under test)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOH = "\x01"


def fix_fields(raw: str) -> dict[int, str]:
    """Tag -> value of a FIX message string (first occurrence of each tag)."""
    out: dict[int, str] = {}
    for field in raw.split(SOH):
        tag, sep, value = field.partition("=")
        if sep and tag.isdigit():
            out.setdefault(int(tag), value)
    return out


def fix44_dictionary() -> Path:
    """QuickFIX's FIX 4.4 data dictionary, as the `quickfix-py` wheel installs it."""
    for base in (Path(sys.prefix), Path(sys.base_prefix)):
        path = base / "share" / "quickfix" / "FIX44.xml"
        if path.is_file():
            return path
    pytest.fail("FIX44.xml not found under share/quickfix/ of this environment")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cargo_example(package: str, example: str) -> Path:
    """Builds `example` of `package` in release mode; returns the binary."""
    cargo = shutil.which("cargo")
    assert cargo, f"cargo is needed to build the {example} example"
    subprocess.run(
        [cargo, "build", "--release", "-p", package, "--example", example],
        cwd=ROOT,
        check=True,
        timeout=1200,
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "examples" / example
    assert binary.is_file(), binary
    return binary

"""Shared fixtures: the repository root on sys.path (for ``samples.craft``), the sample
captures, and a runner for the ``oddping`` command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "samples"


def oddping_command() -> list[str]:
    """The installed ``oddping`` script next to this interpreter, else ``python -m oddping``."""
    script = Path(sys.executable).with_name("oddping")
    return [str(script)] if script.exists() else [sys.executable, "-m", "oddping"]


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def run_oddping():
    """``run_oddping("decode", path, input=b"...")`` -> CompletedProcess (bytes out/err)."""

    def run(*args: str, input: bytes | None = None, timeout: float = 120):
        return subprocess.run(oddping_command() + [str(a) for a in args], input=input,
                              capture_output=True, timeout=timeout, cwd=ROOT)

    return run


@pytest.fixture(scope="session")
def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is not installed: `make test` installs it (scripts/system-deps.sh)")
    return path

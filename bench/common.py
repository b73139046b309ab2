"""What every benchmark section shares: the run context, timed commands, result rows, machine facts."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"


@dataclass
class Context:
    """Handed to every section's run()."""

    quick: bool
    runs: int  # repetitions of each compared command (alternating with its peer)
    out_dir: Path
    python: str  # the project's interpreter (.venv/bin/python)
    oddping: str  # the installed CLI (.venv/bin/oddping)
    pin: list[str]  # command prefix that keeps a process on one core (taskset -c 0) or []
    keep_captures: bool
    log: Callable[[str], None]
    generated: list[Path] = field(default_factory=list)  # captures this run made or used

    def size(self, sizes: dict[str, int]) -> int:
        return sizes["quick" if self.quick else "full"]


@dataclass
class Timing:
    wall: float
    user: float
    sys: float
    returncode: int
    stdout: str
    stderr: str

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def run_timed(argv: Sequence[str], *, capture_stdout: bool = False, cwd: Path = ROOT) -> Timing:
    """Run a command, stdout to /dev/null (or captured), and measure its wall and CPU time.

    CPU time comes from wait4()'s rusage of that one child: other processes on a shared machine
    stretch it far less than they stretch wall time (caches and memory bandwidth are still shared).
    (Its ru_maxrss is not reported: on Linux a child inherits the parent's peak RSS across
    fork+exec, so it would show this script's memory, not the command's.)"""
    with (open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as out,
          tempfile.TemporaryFile() as err):
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out if capture_stdout else devnull, stderr=err, cwd=cwd)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Timing(wall, usage.ru_utime, usage.ru_stime, proc.returncode,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def checked(timing: Timing) -> Timing:
    """The timing of a command that must have succeeded."""
    if timing.returncode != 0:
        raise RuntimeError(f"command failed ({timing.returncode}): {timing.stderr.strip()[-2000:]}")
    return timing


def warm(path: Path) -> None:
    """Read the file once so every measured run finds it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def count_label(n: int) -> str:
    """1000000 -> "1M", 30000 -> "30k" (capture names in the report)."""
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def run_json(argv: Sequence[str]) -> tuple[dict, Timing]:
    """Run a command that prints one JSON object as its last stdout line."""
    timing = run_timed(argv, capture_stdout=True)
    if timing.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({timing.returncode}): {timing.stderr.strip()[-2000:]}")
    return json.loads(timing.stdout.strip().splitlines()[-1]), timing


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def pin_prefix(enabled: bool) -> list[str]:
    """taskset -c 0 when it exists and core 0 is ours to use."""
    if enabled and shutil.which("taskset") and 0 in os.sched_getaffinity(0):
        return ["taskset", "-c", "0"]
    return []


@dataclass
class Row:
    """One figure of ours beside the same figure of a peer."""

    capture: str
    measure: str
    ours: float
    peer_name: str
    peer: float
    unit: str  # "s" (lower is better), "/s" (higher is better) or "B" (bytes, lower is better)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ours / self.peer if self.peer else None


@dataclass
class Result:
    """What a section hands back: rows for the main table, extra markdown, data for the JSON."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)  # blocks printed after the rows
    data: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"title": self.title,
                "rows": [{**asdict(r), "ratio": r.ratio} for r in self.rows],
                "data": self.data}


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "/s":
        for scale, suffix in ((1e6, "M"), (1e3, "k")):
            if value >= scale:
                return f"{value / scale:.3g}{suffix}/s"
        return f"{value:.3g}/s"
    if unit == "s":
        return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"
    if unit == "B":
        for scale, suffix in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if value >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value:.3g} B"
    return f"{value:.3g} {unit}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    return f"{ratio:.3g}×"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict:
    """Where the figures were measured."""
    model = mhz = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "cpu MHz" and mhz is None:
                mhz = float(value)
    except OSError:
        pass
    try:
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    except (OSError, ValueError):
        nproc = os.cpu_count()
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=ROOT).stdout.strip()
    except OSError:
        commit = "?"
    from importlib.metadata import version as pkg_version

    packages = {}
    for name in ("dpkt", "orjson", "pcapy-ng"):
        try:
            packages[name] = pkg_version(name)
        except Exception:  # noqa: BLE001
            packages[name] = "?"
    return {
        "nproc": nproc, "cpu_model": model, "cpu_mhz": mhz, "memory_gb": round(mem_kb / 2**20, 1),
        "kernel": platform.release(), "python": sys.version.split()[0],
        "tcpdump": version(["tcpdump", "--version"]), "packages": packages, "git_commit": commit,
        "loadavg_start": os.getloadavg(),
    }


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + sys, all threads) process pid has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()

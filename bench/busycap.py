"""Busy-network captures (samples/busy.py) for the stream and memory sections, cached in bench/out/.

``busy_frames(hosts, minutes, seed)`` gives every host one behaviour for `minutes` minutes:
ordinary Windows pings (45 %), Linux iputils pings (35 %), Footprints-style 2-byte zero echoes
to three destinations at TTL 28 (10 %), nmap-style sweeps (6 %) and ptunnel sessions (4 %), each
with TCP SYNs (host observations) and replies.  Made by `python -m samples.busy` in a child
process (it holds every frame in memory), named by its parameters
(``busy-3000h-10m-seed7.pcap``) and reused while its ``.json`` sidecar (written last) matches.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from .gen import ROOT, cached


def busy_path(hosts: int, minutes: int, seed: int, out_dir: Path) -> Path:
    return out_dir / f"busy-{hosts}h-{minutes}m-seed{seed}.pcap"


def ensure_busy(python: str, hosts: int, minutes: int, seed: int, out_dir: Path,
                log: Callable[[str], None] = lambda _m: None) -> tuple[Path, dict]:
    def make(tmp: Path) -> dict:
        subprocess.run([python, "-m", "samples.busy", str(tmp), "--hosts", str(hosts),
                        "--minutes", str(minutes), "--seed", str(seed)], check=True, cwd=ROOT)
        return {"kind": "busy", "hosts": hosts, "minutes": minutes, "seed": seed}

    return cached(busy_path(hosts, minutes, seed, out_dir),
                  f"samples/busy.py: {hosts:,} hosts, {minutes} minutes", make, log)

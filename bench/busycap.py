"""Busy-network captures (samples/busy.py) for the stream and memory sections, cached in bench/out/.

``busy_frames(hosts, minutes, seed)`` gives every host one behaviour for `minutes` minutes:
ordinary Windows pings (45 %), Linux iputils pings (35 %), Footprints-style 2-byte zero echoes
to three destinations at TTL 28 (10 %), nmap-style sweeps (6 %) and ptunnel sessions (4 %), each
with TCP SYNs (host observations) and replies.  Made by `python -m samples.busy` in a child
process (it holds every frame in memory), named by its parameters
(``busy-3000h-10m-seed7.pcap``) and reused while its ``.json`` sidecar (written last) matches.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .gen import ROOT, _shown


def busy_path(hosts: int, minutes: int, seed: int, out_dir: Path) -> Path:
    return out_dir / f"busy-{hosts}h-{minutes}m-seed{seed}.pcap"


def ensure_busy(python: str, hosts: int, minutes: int, seed: int, out_dir: Path,
                log: Callable[[str], None] = lambda _m: None) -> tuple[Path, dict]:
    path = busy_path(hosts, minutes, seed, out_dir)
    sidecar = path.with_name(path.name + ".json")
    if path.exists() and sidecar.exists():
        meta = json.loads(sidecar.read_text())
        if meta.get("bytes") == path.stat().st_size:
            log(f"reusing {_shown(path)} ({meta['bytes'] / 1e6:.0f} MB)")
            return path, meta
    out_dir.mkdir(parents=True, exist_ok=True)
    sidecar.unlink(missing_ok=True)
    tmp = path.with_name(path.name + ".partial")
    log(f"generating {_shown(path)} (samples/busy.py: {hosts:,} hosts, {minutes} minutes) ...")
    started = time.perf_counter()
    subprocess.run([python, "-m", "samples.busy", str(tmp), "--hosts", str(hosts),
                    "--minutes", str(minutes), "--seed", str(seed)], check=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    os.replace(tmp, path)
    meta = {"kind": "busy", "hosts": hosts, "minutes": minutes, "seed": seed,
            "bytes": path.stat().st_size, "generate_seconds": round(seconds, 2)}
    sidecar.write_text(json.dumps(meta, indent=1) + "\n")
    log(f"generated {path.name}: {meta['bytes'] / 1e6:.0f} MB in {seconds:.1f} s")
    return path, meta

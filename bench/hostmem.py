"""Memory per host by kind of host (issue 14's bounds), for the memory section.

    python -m bench.hostmem KIND HOSTS     # prints one JSON object

KIND:
- ``typical``: ordinary pingers of samples/busy.py (Windows and Linux ping, one burst of 4 a
  minute with replies and a TCP SYN) for 5 minutes: no alerts, the common case;
- ``one_packet``: hosts seen once, one Windows ping each to its own destination;
- ``spoofed``: a flood's spoofed sources (empty requests to one victim from new addresses),
  which the flood monitor folds instead of tracking.

Records are made with samples/craft.py, decoded by the producer, and go through orjson (as the
worker gets them) into Engine.process, HOSTS hosts' worth in capture order, in this fresh
process.  Reported:

- ``traced_bytes_per_host``: what one more host costs, tracemalloc's growth (gc'd, engine
  alive) for HOSTS hosts less that for the first HOSTS/2 of them (measured the same way in a
  fresh child process), divided by the difference in hosts tracked (for ``spoofed``, which
  tracks none: the growth per source fed, fixed costs included).  What is paid once per
  engine (its rules and tables, ~85 kB; the ring of the last 256 records, ~0.5 MB, which
  dedup keeps while one sensor is seen) cancels out; a shared table that grows with hosts
  (canonical strings, up to 4,096) does not.
- ``traced_bytes_per_host_total``: the growth for HOSTS hosts, engine and ring included,
  divided by the hosts tracked (what the memory section reported before 2026-12-07 evening);
- the growth of the resident set per host tracked (allocator overhead and the once-per-engine
  costs included; the process is fresh and the records are made in a child process, so
  little freed memory is there to reuse), and the exported table value (orjson of state_for)
  median and max.

Hosts tracked is 0 for ``spoofed``: then the growth is per source fed.
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import tracemalloc

import orjson

TEMPLATE_HOSTS = 200


def _records(kind: str, hosts: int) -> list[bytes]:
    from producer import decode_file
    from samples import busy, craft

    rng = random.Random(7)
    frames = []
    if kind == "typical":
        for n in range(min(hosts, TEMPLATE_HOSTS)):
            host = f"10.20.{n // 250}.{n % 250 + 1}"
            make = busy._ordinary_windows if n % 2 else busy._ordinary_linux
            frames += make(rng, host, busy.START_NS + rng.randrange(120) * busy.NS, 5)
    else:
        victim = "192.0.2.80"
        for i in range(hosts):
            src = (f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}."
                   f"{rng.randrange(1, 255)}")
            if kind == "one_packet":
                packet = craft.echo_request(src, f"198.18.{i // 250 % 256}.{i % 250 + 1}", 1,
                                            i % 65536, craft.payload_windows(), ttl=120)
            else:
                packet = craft.echo_request(src, victim, 0x1a2b, (i * 256) % 65536, b"", ttl=99)
            frames.append(craft.Frame(craft.ethernet(packet), busy.START_NS + i * 500_000))
    frames.sort(key=lambda f: f.ts_ns)
    with tempfile.NamedTemporaryFile(suffix=".pcap", delete=False) as f:
        path = f.name
    try:
        craft.write_pcap(path, frames)
        template = decode_file(path, sensor_id="bench").records
    finally:
        os.unlink(path)
    if kind != "typical" or hosts <= TEMPLATE_HOSTS:
        return [orjson.dumps(r) for r in template]
    # more typical hosts: copies of the template's under new addresses (10.100.0.0 on)
    index = {ip: i for i, ip in enumerate(dict.fromkeys(r["initiator_ip"] for r in template))}
    out = []
    for record in template:
        j = index[record["initiator_ip"]]
        for k in range(-(-hosts // len(index))):
            i = k * len(index) + j
            if i >= hosts:
                break
            old, new = record["initiator_ip"], f"10.{100 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
            out.append(orjson.dumps({**record, "initiator_ip": new,
                                     "src_ip": new if record["src_ip"] == old else record["src_ip"],
                                     "dst_ip": new if record["dst_ip"] == old else record["dst_ip"]}))
    return out


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(kind: str, hosts: int, marginal: bool = True) -> dict:
    from processors.engine import Engine

    # made in a child process: the decoded records (~2 kB each) freed here would be memory
    # the engine's state reuses without the resident set growing
    values = subprocess.run([sys.executable, "-m", "bench.hostmem", kind, str(hosts), "--values"],
                            check=True, capture_output=True).stdout.split(b"\n")
    loads = orjson.loads
    gc.collect()
    traced = hosts <= 5000  # tracemalloc slows the engine ~6x: the small runs only
    if traced:
        tracemalloc.start()
    before_traced = tracemalloc.get_traced_memory()[0] if traced else 0
    before_rss = _rss()
    engine = Engine()
    for value in values:
        engine.process(loads(value))
    gc.collect()
    after_rss = _rss()
    after_traced = tracemalloc.get_traced_memory()[0] if traced else 0
    if traced:
        tracemalloc.stop()
    tracked = engine.stats.hosts_tracked
    per = tracked or len(values)
    sizes = sorted(len(orjson.dumps(engine.state_for(ip))) for ip in engine.hosts_tracked())
    growth = after_traced - before_traced
    per_host = None
    if traced and marginal and tracked:
        half = json.loads(subprocess.run(
            [sys.executable, "-m", "bench.hostmem", kind, str(hosts // 2), "--total-only"],
            check=True, capture_output=True, text=True).stdout)
        half_per = half["tracked"] or half["records"]
        per_host = (growth - half["traced_bytes"]) / (per - half_per)
    return {"kind": kind, "hosts": hosts, "records": len(values), "tracked": tracked,
            "absorbed": engine.stats.flood_absorbed,
            "traced_bytes": growth if traced else None,
            "traced_bytes_per_host": per_host if per_host is not None or not traced
            else growth / per,
            "traced_bytes_per_host_total": growth / per if traced else None,
            "rss_bytes_per_host": (after_rss - before_rss) / per,
            "state_json_median": statistics.median(sizes) if sizes else 0,
            "state_json_max": max(sizes) if sizes else 0}


if __name__ == "__main__":
    if "--values" in sys.argv:  # the records, one JSON object a line, for measure()
        sys.stdout.buffer.write(b"\n".join(_records(sys.argv[1], int(sys.argv[2]))))
        sys.exit()
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), "--total-only" not in sys.argv)))

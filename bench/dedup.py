"""Section `dedup`: what recognising other sensors' copies of a packet costs the engine.

Template: a busy network from samples/busy.py (300 hosts for 5 minutes; --quick: 100 hosts for
2), decoded by the producer as sensor "access".  A second sensor, "edge", three routers further
out, sees every packet too (samples/vantage.py's model: outbound 2 ms later with a TTL 3 lower,
inbound 2 ms earlier and 3 higher); its records are merged in capture-time order.  Three feeds
of the engine, each in a fresh process (records pre-loaded with orjson, as the worker gets
them), alternating --runs times:

- two sensors: every packet twice (access and edge), so half the records are copies;
- one sensor: the access records alone (the peer: what the same packets cost seen once);
- one sensor, copy memory off: the same with the engine's copy check patched out, so the
  difference is what a single-sensor deployment pays for being ready for a second one.

Figures: CPU time of the engine loop per packet (time.process_time around Engine.process over
every record, flush included; median of runs), and memory per host: traced (tracemalloc,
engine alive after the feed) and the exported state (orjson, what the worker's table keeps),
median over hosts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .busycap import ensure_busy
from .common import Context, Result, Row, markdown_table, median, run_json

TITLE = "deduplication: two sensors' copies of every packet vs one sensor"
TEMPLATE = {"full": (300, 5), "quick": (100, 2)}
SEED = 13
FEEDS = ("two", "one", "one_nomemory")
EDGE_HOPS, EDGE_DELAY_NS = 3, 2_000_000


def run(ctx: Context) -> Result:
    result = Result("dedup", TITLE)
    hosts, minutes = TEMPLATE["quick" if ctx.quick else "full"]
    capture, _ = ensure_busy(ctx.python, hosts, minutes, SEED, ctx.out_dir, log=ctx.log)
    ctx.generated.append(capture)
    cpu: dict[str, list[float]] = {feed: [] for feed in FEEDS}
    facts: dict[str, dict] = {}
    for i in range(ctx.runs):
        ctx.log(f"run {i + 1}/{ctx.runs}: engine fed two sensors, one sensor, one without "
                "copy memory")
        for feed in FEEDS:
            out, _ = run_json(ctx.pin + [ctx.python, "-m", "bench.dedup", "time", str(capture),
                                         feed])
            cpu[feed].append(out["cpu_s"])
            facts[feed] = out
    memory = {}
    for feed in FEEDS:
        ctx.log(f"traced feed ({feed}) ...")
        memory[feed], _ = run_json(ctx.pin + [ctx.python, "-m", "bench.dedup", "memory",
                                              str(capture), feed])
    packets = facts["one"]["records"]
    per_packet = {feed: median(v) / packets for feed, v in cpu.items()}
    name = f"busy {hosts} hosts × {minutes} min, {packets:,} packets"
    result.rows += [
        Row(name, f"engine CPU per packet, two sensors (each packet twice), median of {ctx.runs}",
            per_packet["two"], "one sensor (each packet once)", per_packet["one"], "s"),
        Row(name, f"engine CPU per packet, one sensor, median of {ctx.runs}", per_packet["one"],
            "one sensor, copy check patched out", per_packet["one_nomemory"], "s"),
        Row(name, "traced memory per host, two sensors", memory["two"]["bytes_per_host"],
            "one sensor", memory["one"]["bytes_per_host"], "B"),
        Row(name, "traced memory per host, one sensor", memory["one"]["bytes_per_host"],
            "one sensor, copy check patched out", memory["one_nomemory"]["bytes_per_host"], "B"),
        Row(name, "exported state per host (orjson), median, two sensors",
            memory["two"]["state_json_median"], "one sensor", memory["one"]["state_json_median"],
            "B"),
    ]
    result.markdown.append(markdown_table(("feed", "records", "copies recognised", "alerts",
                                           "CPU µs per record", "CPU µs per packet"), [
        (feed, f"{facts[feed]['records']:,}", f"{facts[feed]['copies']:,}",
         f"{facts[feed]['alerts']:,}", f"{median(cpu[feed]) / facts[feed]['records'] * 1e6:.2f}",
         f"{per_packet[feed] * 1e6:.2f}") for feed in FEEDS]))
    result.data = {"template": {"hosts": hosts, "minutes": minutes, "seed": SEED},
                   "cpu_s": cpu, "facts": facts, "memory": memory}
    return result


# -- the child processes ------------------------------------------------------------------------


def _records(capture: str, feed: str) -> list[dict]:
    import orjson

    import producer
    from processors.scan import by_capture_time

    decoded = producer.decode_file(capture, sensor_id="access")
    access = decoded.records
    if feed != "two":
        return [orjson.loads(orjson.dumps(r)) for r in access]
    edge = []
    for r in access:
        c = dict(r, sensor_id="edge")
        outbound = r["src_ip"] == r["initiator_ip"]
        c["ttl"] = max(0, r["ttl"] - EDGE_HOPS) if outbound else min(255, r["ttl"] + EDGE_HOPS)
        c["ts_ns"] = r["ts_ns"] + (EDGE_DELAY_NS if outbound else -EDGE_DELAY_NS)
        if r["kind"] == "host_observation":
            c["hop_distance_guess"] = r["hop_distance_guess"] + EDGE_HOPS
        edge.append(c)
    edge.sort(key=lambda r: r["ts_ns"])
    return [orjson.loads(orjson.dumps(r)) for r in by_capture_time(access, edge)]


def _engine(feed: str):
    from processors.engine import Engine

    engine = Engine()
    if feed == "one_nomemory":
        engine._copy_of = lambda host, record: None  # the copy check, and its memory, off
    return engine


def child_time(capture: str, feed: str) -> dict:
    import gc

    from oddping.runtime import tune_gc

    records = _records(capture, feed)
    engine = _engine(feed)
    gc.collect()
    tune_gc()  # as the worker and scan do (the records held here are frozen with the rest)
    process = engine.process
    alerts = 0
    started = time.process_time()
    for record in records:
        alerts += len(process(record))
    alerts += len(engine.flush())
    cpu = time.process_time() - started
    return {"records": len(records), "cpu_s": cpu, "alerts": alerts,
            "copies": sum(engine.stats.copies.values())}


def child_memory(capture: str, feed: str) -> dict:
    import gc
    import tracemalloc

    import orjson

    records = [orjson.dumps(r) for r in _records(capture, feed)]
    engine = _engine(feed)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for value in records:
        engine.process(orjson.loads(value))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    hosts = len(engine.hosts)
    sizes = sorted(len(orjson.dumps(engine.state_for(h))) for h in engine.hosts_tracked())
    return {"hosts": hosts, "bytes_per_host": (after - before) / hosts,
            "state_json_median": sizes[len(sizes) // 2] if sizes else 0}


if __name__ == "__main__":
    mode, capture_path, feed_name = sys.argv[1:4]
    if not Path(capture_path).exists():
        sys.exit(f"no capture {capture_path}")
    child = {"time": child_time, "memory": child_memory}[mode]
    print(json.dumps(child(capture_path, feed_name)))

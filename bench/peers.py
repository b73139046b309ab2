"""Measured passes of the Kafka and engine sections, each run in a fresh interpreter:

    python -m bench.peers messages CAPTURE OUT.pickle [--synthetic-size 300]
    python -m bench.peers produce TOPIC MESSAGES.pickle     bare confluent-kafka producer loop
    python -m bench.peers consume TOPIC COUNT               plain aiokafka consumer loop, bytes only
    python -m bench.peers engine CAPTURE                    the engine alone, JSON, the batch processor
    python -m bench.peers memory CAPTURE [--traced-hosts 1000] [--states-out STATES.jsonl]
    python -m bench.peers memory-loaded STATES.jsonl HOSTS

produce  the peer of `oddping produce`: a Producer with producer/publish.py's PRODUCER_DEFAULTS and
         the same per-message arguments (key, value, timestamp, three headers, a delivery
         callback), over messages serialised beforehand (a pickle of (key, value, ts_ms) written
         by bench/produce.py, read before the clock starts); retries on BufferError like
         RecordPublisher.publish, polls every 1,000 messages, flushes.
consume  the peer of `oddping process`: AIOKafkaConsumer (faust's transport) assigned every
         partition from the beginning, getmany() until COUNT messages, values kept as bytes;
         then orjson.loads of every value, timed on its own.
engine   the worker's ceiling, in-process: producer.decode_file (not timed), the garbage
         collector tuned as in the worker (oddping/runtime.py), then
         Engine.process of every record + flush; orjson.dumps of every record (not timed), then
         orjson.loads of every value; then processors.stream.batch.BatchProcessor (what the
         faust agent calls: JSON decode, engine, exported state of every changed host as JSON)
         over those values in batches of the worker's batch size.
memory   memory per tracked host: records of N hosts fed to the engine under tracemalloc, the
         size of their exported states, the same records held as dicts (the peer)
memory-loaded  N hosts' exported states installed with Engine.load_state in a fresh process:
         growth of the resident set (reaches 50,000 hosts in seconds)

Each prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import statistics
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BOOTSTRAP = "127.0.0.1:9092"


# -- produce -----------------------------------------------------------------------------------

def produce(topic: str, messages_path: str, bootstrap: str) -> dict:
    from confluent_kafka import Producer

    from producer.publish import PRODUCER_DEFAULTS

    with open(messages_path, "rb") as f:
        messages = pickle.load(f)
    delivered = failed = 0

    def on_delivery(err, _msg) -> None:
        nonlocal delivered, failed
        if err is None:
            delivered += 1
        else:
            failed += 1

    headers = [("schema_version", b"1"), ("sensor_id", b"bench"), ("kind", b"icmp")]
    started = time.perf_counter()
    producer = Producer(PRODUCER_DEFAULTS | {"bootstrap.servers": bootstrap})
    produce_ = producer.produce
    poll = producer.poll
    backpressure = 0
    for n, (key, value, ts_ms) in enumerate(messages):
        while True:
            try:
                produce_(topic, value, key, timestamp=ts_ms, headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                backpressure += 1
                poll(0.05)
        if not n % 1000:
            poll(0)
    queued = time.perf_counter()
    remaining = producer.flush(120)
    done = time.perf_counter()
    return {"messages": len(messages), "delivered": delivered, "failed": failed + remaining,
            "seconds": done - started, "produce_seconds": queued - started,
            "flush_seconds": done - queued, "backpressure": backpressure,
            "value_bytes": sum(len(v) for _, v, _ in messages)}


def messages(capture: str, out: str, synthetic_size: int | None) -> dict:
    """What `oddping produce --sensor-id bench` publishes for this capture, as (key, value,
    ts_ms) tuples in a pickle: the records decoded and serialised exactly as producer/run.py does.
    With synthetic_size: as many made-up records of about that many bytes of JSON (varied keys
    from 4,000 hosts, random hex so lz4 finds what it finds in real records: some repetition)."""
    import orjson

    from producer import Decoder, iter_records
    from producer.capture.files import CaptureReader

    dumps = orjson.dumps
    out_messages = [(r["initiator_ip"].encode(), dumps(r), r["ts_ns"] // 1_000_000)
                    for r in iter_records(CaptureReader(capture), Decoder("bench"))]
    if synthetic_size:
        import random

        rng = random.Random(1)
        made = []
        for n, (_key, _value, ts_ms) in enumerate(out_messages):
            host = f"10.20.{(n * 7919) % 4000 // 250}.{(n * 7919) % 250 + 1}"
            doc = {"kind": "icmp", "ts_ns": ts_ms * 1_000_000, "src_ip": host, "dst_ip": "198.18.1.41", "initiator_ip": host, "ttl": 64,
                   "icmp_type": 8, "icmp_id": n & 0xFFFF, "icmp_seq": n, "payload_len": 56,
                   "payload_class": "linux_iputils", "payload_sha256": rng.randbytes(16).hex(),
                   "pad": ""}
            value = dumps(doc)
            doc["pad"] = rng.randbytes(max(0, synthetic_size - len(value)) // 2).hex()
            made.append((host.encode(), dumps(doc), ts_ms))
        out_messages = made
    with open(out, "wb") as f:
        pickle.dump(out_messages, f, protocol=pickle.HIGHEST_PROTOCOL)
    sizes = [len(v) for _, v, _ in out_messages]
    return {"messages": len(out_messages), "value_bytes_mean": sum(sizes) / max(1, len(sizes))}


# -- consume -----------------------------------------------------------------------------------

def consume(topic: str, count: int, bootstrap: str) -> dict:
    import asyncio

    return asyncio.run(_consume(topic, count, bootstrap))


async def _consume(topic: str, count: int, bootstrap: str) -> dict:
    import orjson
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", group_id=None)
    started = time.perf_counter()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or
                                                               await _partitions(consumer, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        values: list[bytes] = []
        first = None
        deadline = time.monotonic() + 300
        while len(values) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for messages in batches.values():
                if first is None and messages:
                    first = time.perf_counter()
                values.extend(m.value for m in messages)
        last = time.perf_counter()
    finally:
        await consumer.stop()
    gc.collect()
    t = time.perf_counter()
    loads = orjson.loads
    for value in values:
        loads(value)
    loads_seconds = time.perf_counter() - t
    return {"messages": len(values), "seconds_first_to_last": last - (first or last),
            "seconds_with_connect": last - started, "loads_seconds": loads_seconds,
            "value_bytes": sum(len(v) for v in values)}


async def _partitions(consumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


# -- engine --------------------------------------------------------------------------------------

def engine(capture: str, batch_size: int) -> dict:
    import orjson

    from oddping.config import Settings
    from processors.engine import Engine
    from processors.stream.batch import BatchProcessor, Message
    from producer import decode_file

    from oddping.runtime import tune_gc

    records = decode_file(capture, sensor_id="bench").records
    n = len(records)
    gc.collect()
    tune_gc()  # as the worker and scan do (the records held here are frozen with the rest)

    eng = Engine()
    process = eng.process
    alerts = 0
    t = time.perf_counter()
    for record in records:
        alerts += len(process(record))
    alerts += len(eng.flush())
    engine_seconds = time.perf_counter() - t
    hosts = len({r["initiator_ip"] for r in records})
    stats = eng.stats
    del eng

    dumps = orjson.dumps
    t = time.perf_counter()
    values = [dumps(r) for r in records]
    dumps_seconds = time.perf_counter() - t
    keys = [r["initiator_ip"].encode() for r in records]
    del records
    gc.collect()
    loads = orjson.loads
    t = time.perf_counter()
    for value in values:
        loads(value)
    loads_seconds = time.perf_counter() - t

    # as the worker gets them: key-hashed partitions, offsets per partition, and in chunks of
    # one partition's records in the order fetches bring them (_fetched)
    by_partition: list[list] = [[], [], [], []]
    for key, value in zip(keys, values):
        p = zlib.crc32(key) & 3
        by_partition[p].append(Message(p, len(by_partition[p]), key, value))
    chunks = _fetched(by_partition, batch_size, Settings().processor.fetch_partition_bytes)
    processor = BatchProcessor(lambda: Engine(track_changes=True), lambda _host: None)
    table_updates = state_bytes = batch_alerts = checkpoints = 0
    t = time.perf_counter()
    cpu = time.process_time()
    policy = _CheckpointPolicy(len(chunks))
    for partition, batch in chunks:
        result = processor.process(batch, partition)
        batch_alerts += len(result.alerts)
        if policy.due(len(batch)):
            updates = processor.checkpoint()
            checkpoints += 1
            table_updates += len(updates)
            state_bytes += sum(len(value or b"") for _partition, value in updates.values())
            policy.saved()
    batch_dead_letters = sum(processor.stats.dead_letters.values())
    batch_seconds = time.perf_counter() - t
    batch_cpu_seconds = time.process_time() - cpu
    del processor
    gc.collect()
    work = _worker_work(chunks)
    return {"records": n, "hosts": hosts, "engine_seconds": engine_seconds, "alerts": alerts,
            "rules": dict(stats.findings), "invalid": stats.invalid_records,
            "dumps_seconds": dumps_seconds, "loads_seconds": loads_seconds,
            "value_bytes": sum(map(len, values)),
            "batch_seconds": batch_seconds, "batch_cpu_seconds": batch_cpu_seconds,
            "batch_size": batch_size, "batch_alerts": batch_alerts,
            "table_updates": table_updates, "table_update_bytes": state_bytes,
            "checkpoints": checkpoints,
            "dead_letters": batch_dead_letters} | work


def _fetched(by_partition: list[list], batch_size: int, fetch_bytes: int) -> list[tuple[int, list]]:
    """(partition, chunk) in the order the worker's agent takes them: each fetch brings every
    partition's next fetch_bytes of values (processor.fetch_partition_bytes), delivered a
    partition at a time in chunks of at most batch_size records (transport.py)."""
    chunks = []
    position = [0] * len(by_partition)
    while any(position[p] < len(m) for p, m in enumerate(by_partition)):
        for p, messages in enumerate(by_partition):
            start = end = position[p]
            size = 0
            while end < len(messages) and size < fetch_bytes:
                size += len(messages[end].value)
                end += 1
            for first in range(start, end, batch_size):
                chunks.append((p, messages[first:min(first + batch_size, end)]))
            position[p] = end
    return chunks


class _CheckpointPolicy:
    """The worker's checkpoint policy (processors/stream/app.py): a checkpoint every
    checkpoint_interval_s of wall time since the last one ended, or checkpoint_max_records
    records, whichever comes first, and after the last chunk."""

    def __init__(self, chunks: int) -> None:
        from oddping.config import Settings

        settings = Settings().processor
        self.interval_s, self.max_records = (settings.checkpoint_interval_s,
                                             settings.checkpoint_max_records)
        self.chunks_left = chunks
        self.records = 0
        self.last = time.perf_counter()

    def due(self, records: int) -> bool:
        """A chunk of `records` taken: whether a checkpoint is due now."""
        self.chunks_left -= 1
        self.records += records
        return (self.records >= self.max_records or not self.chunks_left
                or time.perf_counter() - self.last >= self.interval_s)

    def saved(self) -> None:
        self.records, self.last = 0, time.perf_counter()


def _worker_work(chunks: list[tuple[int, list]]) -> dict:
    """Everything the worker does in its process without Kafka and faust (processors/stream/
    app.py and campaigns.py), on the worker's checkpoint policy: the BatchProcessor with its
    campaign outbox, each alert version rendered as the alerts topic gets it, the behaviour
    updates each checkpoint publishes rendered and fed to the campaign stage, and the stage's
    own checkpoint (its changed states as JSON) and campaign alerts rendered."""
    import orjson

    from oddping.config import Settings
    from processors.alerts import Alert
    from processors.campaign.stage import CampaignStage
    from processors.engine import Engine
    from processors.stream.batch import BatchProcessor

    settings = Settings()
    fmt = settings.processor.alert_format
    processor = BatchProcessor(lambda: Engine(track_changes=True), lambda _host: None,
                               campaigns=settings.campaigns)
    stage = CampaignStage(settings.campaigns)
    alert_bytes = behaviours = campaign_versions = 0
    stage_seconds = 0.0
    t = time.perf_counter()
    cpu = time.process_time()
    policy = _CheckpointPolicy(len(chunks))
    for partition, batch in chunks:
        result = processor.process(batch, partition)
        for alert in result.alerts:
            alert_bytes += len(alert.to_json(fmt))
        processor.hold_behaviours(result.alerts)
        if policy.due(len(batch)):
            processor.checkpoint()
            started = time.perf_counter()
            for key, value in processor.take_behaviours():
                behaviours += 1
                for doc in stage.add(key, orjson.loads(value)):
                    campaign_versions += 1
                    alert_bytes += len(Alert(doc).to_json(fmt))
            for state in stage.take_changes().values():
                orjson.dumps(state)
            stage_seconds += time.perf_counter() - started
            policy.saved()
    for doc in stage.emit_pending() + stage.flush():
        campaign_versions += 1
        alert_bytes += len(Alert(doc).to_json(fmt))
    seconds = time.perf_counter() - t
    return {"work_seconds": seconds, "work_cpu_seconds": time.process_time() - cpu,
            "work_stage_seconds": stage_seconds, "work_behaviours": behaviours,
            "work_campaign_versions": campaign_versions, "work_alert_bytes": alert_bytes}


# -- memory ----------------------------------------------------------------------------------

def memory(capture: str, traced_hosts: int, states_out: str | None) -> dict:
    """Template: the hosts of a busy capture (samples/busy.py) and their records, decoded by the
    producer.  N hosts = copies of the template hosts under new addresses.

    - traced feed (N = traced_hosts): records go through orjson (dumps then loads, as the worker
      gets them, so every string the engine keeps is its own) into Engine.process under
      tracemalloc; memory = traced memory after (engine alive, everything else freed) minus
      before, per host tracked.
    - peer: the same hosts' records as plain dicts (orjson.loads) in a list, per host.
    - the fed hosts' exported states (state_for, JSON) installed in a new engine with
      Engine.load_state, traced: how far memory_loaded()'s copies (what a worker holds after
      taking over partitions) are from fed state.  The states go to states_out for it.
    """
    import tracemalloc

    import orjson

    from processors.engine import Engine
    from producer import decode_file

    template = decode_file(capture, sensor_id="bench").records
    hosts = list(dict.fromkeys(r["initiator_ip"] for r in template))
    t_hosts = len(hosts)
    index = {ip: i for i, ip in enumerate(hosts)}
    per_host_records = len(template) / t_hosts

    address = _address

    def copies(n: int):
        """(record dict, readdressed) for n hosts, in capture order."""
        reps = max(1, -(-n // t_hosts))
        for record in template:
            j = index[record["initiator_ip"]]
            for k in range(reps):
                i = k * t_hosts + j
                if i >= n:
                    break
                old, new = record["initiator_ip"], address(i)
                yield {**record, "initiator_ip": new,
                       "src_ip": new if record["src_ip"] == old else record["src_ip"],
                       "dst_ip": new if record["dst_ip"] == old else record["dst_ip"]}

    dumps, loads = orjson.dumps, orjson.loads
    out: dict = {"template_hosts": t_hosts, "template_records": len(template),
                 "records_per_host": per_host_records}

    # 1. traced feed
    n_feed = traced_hosts
    values = [dumps(r) for r in copies(n_feed)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    eng = Engine()
    process = eng.process
    t = time.perf_counter()
    for value in values:
        process(loads(value))
    feed_seconds = time.perf_counter() - t
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    top = _top_lines(tracemalloc.take_snapshot(), after - before)
    tracemalloc.stop()
    tracked = eng.stats.hosts_tracked
    sizes = sorted(len(dumps(eng.state_for(ip))) for ip in eng.hosts_tracked())
    out["feed"] = {"hosts": tracked, "records": len(values), "bytes": after - before,
                   "bytes_per_host": (after - before) / tracked, "seconds": feed_seconds,
                   "hosts_expired": eng.stats.hosts_expired, "hosts_evicted": eng.stats.hosts_evicted,
                   "state_json_median": statistics.median(sizes), "state_json_max": max(sizes),
                   "state_json_p90": sizes[int(0.9 * (len(sizes) - 1))],
                   "state_json_mean": sum(sizes) / len(sizes), "top_lines": top}
    # the template states, for the loaded-state measure (the first t_hosts copies are the template)
    states = {i: dumps(eng.state_for(address(i))) for i in range(min(tracked, t_hosts))}
    del eng, process
    gc.collect()

    # 2. peer: the records themselves as dicts in a list
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = [loads(v) for v in values]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_host_json: dict[str, int] = {}
    for record, value in zip(held, values):
        per_host_json[record["initiator_ip"]] = per_host_json.get(record["initiator_ip"], 0) + len(value)
    out["records_list"] = {"hosts": n_feed, "records": len(held), "bytes": after - before,
                           "bytes_per_host": (after - before) / n_feed,
                           "bytes_per_record": (after - before) / len(held),
                           "json_bytes_per_record": sum(map(len, values)) / len(values),
                           "json_bytes_per_host_median": statistics.median(per_host_json.values())}
    del held, values
    gc.collect()

    # 3. the template states installed with load_state, traced: how the loaded-state measure of
    #    memory_loaded() compares with the traced feed
    blobs = _blobs_for(states, len(states), address)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    eng = Engine()
    for ip, blob in blobs:
        eng.load_state(ip, loads(blob))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    out["loaded_traced"] = {"hosts": eng.stats.hosts_tracked, "bytes": after - before,
                            "bytes_per_host": (after - before) / max(1, eng.stats.hosts_tracked)}
    del eng, blobs
    gc.collect()
    if states_out:
        Path(states_out).write_bytes(b"\n".join(states[i] for i in range(len(states))) + b"\n")
    return out


def _top_lines(snapshot, total: int, limit: int = 8) -> list[dict]:
    """Where the traced memory was allocated: the source lines holding the most."""
    rows = []
    for stat in snapshot.statistics("lineno")[:limit]:
        frame = stat.traceback[0]
        name = frame.filename
        for marker in ("/site-packages/", str(ROOT) + "/"):
            if marker in name:
                name = name.split(marker, 1)[1]
        line = ""
        try:
            import linecache

            line = linecache.getline(frame.filename, frame.lineno).strip()
        except Exception:  # noqa: BLE001
            pass
        rows.append({"where": f"{name}:{frame.lineno}", "code": line[:80], "bytes": stat.size,
                     "blocks": stat.count, "share": stat.size / total if total else 0.0})
    return rows


def _address(i: int) -> str:
    """The i-th host of the copies (10.100.0.0 on): apart from the template's 10.20.x.y."""
    return f"10.{100 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


def _blobs_for(states: dict[int, bytes], n: int, address) -> list[tuple[str, bytes]]:
    """n hosts' exported states: copies of the template states under new addresses."""
    blobs = []
    for i in range(n):
        j = i % len(states)
        blobs.append((address(i), states[j].replace(f'"{address(j)}"'.encode(),
                                                     f'"{address(i)}"'.encode())))
    return blobs


def memory_loaded(states_path: str, n: int) -> dict:
    """In a fresh process: n hosts' states (copies of the template's, see memory()) installed
    with Engine.load_state; memory = growth of the resident set, per host.  tracemalloc would
    make 50,000 loads take minutes; a fresh process has no freed memory to reuse, so the
    resident set grows by what the engine holds plus the allocator's overhead."""
    import orjson

    from processors.engine import Engine

    lines = Path(states_path).read_bytes().splitlines()
    blobs = _blobs_for(dict(enumerate(lines)), n, _address)
    loads = orjson.loads
    gc.collect()
    before = _rss()
    eng = Engine()
    t = time.perf_counter()
    for ip, blob in blobs:
        eng.load_state(ip, loads(blob))
    seconds = time.perf_counter() - t
    gc.collect()
    after = _rss()
    hosts = eng.stats.hosts_tracked
    return {"hosts": hosts, "bytes": after - before, "bytes_per_host": (after - before) / max(1, hosts),
            "seconds": seconds, "state_json_total": sum(len(b) for _, b in blobs)}


def _rss() -> int:
    """Resident set size of this process, bytes."""
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("messages", "produce", "consume", "engine", "memory",
                                         "memory-loaded"))
    parser.add_argument("args", nargs="+")
    parser.add_argument("--bootstrap", default=BOOTSTRAP)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--traced-hosts", type=int, default=1000)
    parser.add_argument("--states-out", default=None)
    parser.add_argument("--synthetic-size", type=int, default=None)
    a = parser.parse_args()
    if a.mode == "messages":
        out = messages(a.args[0], a.args[1], a.synthetic_size)
    elif a.mode == "produce":
        out = produce(a.args[0], a.args[1], a.bootstrap)
    elif a.mode == "consume":
        out = consume(a.args[0], int(a.args[1]), a.bootstrap)
    elif a.mode == "engine":
        out = engine(a.args[0], a.batch_size)
    elif a.mode == "memory":
        out = memory(a.args[0], a.traced_hosts, a.states_out)
    else:
        out = memory_loaded(a.args[0], int(a.args[1]))
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()

"""Section `latency`: wall seconds from a triggering packet's publication to its alert's first
version on the alerts topic, through the real broker, while the input never goes quiet.

Input: a capture made here (cached in bench/out/): background traffic of ordinary Linux pings
with their replies, `BACKGROUND_RPS` records/s (full: 20,000/s for 150 s from 2,000 hosts, each
pinging 5 times a second; --quick: 2,000/s for 40 s), and from the middle on the odd behaviours:
a ptunnel session (its magic fires icmp_tunnel on one packet), three hosts sending the seed's
Footprints bursts (2-byte zero echoes at TTL 28 to three destinations, every 20 s; their TCP SYNs
at TTL 126 from the start teach the hop distance), and an nmap-payload ping sweep.

1. One worker (`oddping process`, under ctx.pin, fresh app id, metrics port) on a fresh
   4-partition records topic; once it has joined (its /metrics answer), `oddping produce
   --realtime` publishes the capture at capture speed.  A consumer thread reads the records
   topic and notes when each record of the odd hosts arrives (by key and Kafka timestamp, the
   capture time in ms: no JSON parsed); another reads the alerts topic, noting each message's
   arrival.
2. Latency of an alert = arrival of its first version - arrival on the records topic of the
   packet that opened its window (its first finding: the record of the alert's host whose
   capture time is the alert's first_seen).  Beside it, how far behind the replay's schedule
   the producer published those packets (on a loaded machine `--realtime` falls behind).
3. Also: alert messages per alert (versions), the worker's CPU time over the run (its busy share
   at this load; ÷ into the load, the records/s one worker could take), the worker's own
   latency histogram (oddping_alert_latency_seconds: chunk taken -> Kafka ack).

Topics and the consumer group are deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import orjson
from confluent_kafka import Consumer, TopicPartition

from samples import craft

from . import broker
from .common import ROOT, Context, Result, Row, cpu_seconds, markdown_table
from .gen import cached

TITLE = "live alert latency: packet published -> first alert version, one worker, busy input"
#: (seconds of capture, background records/s, background hosts)
SIZES = {"full": (150, 20_000, 2_000), "quick": (40, 2_000, 200)}
TARGET_P99_S, TARGET_MAX_S = 2.0, 5.0
NS = 1_000_000_000
START_NS = 1_678_784_400 * NS  # 2023-03-14 09:00:00 UTC
TUNNEL_HOST, SWEEP_HOST = "10.77.0.9", "10.77.0.66"
FOOTPRINTS_HOSTS = ("10.77.0.15", "10.77.0.16", "10.77.0.17")


# -- the capture --------------------------------------------------------------------------------

def _checksum_base(icmp: bytes) -> int:
    """The ones' complement sum of an ICMP message with its checksum and sequence zeroed."""
    data = icmp[:2] + b"\0\0" + icmp[4:6] + b"\0\0" + icmp[8:]
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    return total


def _with_seq(frame: bytes, base: int, seq: int) -> bytes:
    """The frame (Ethernet + IPv4 without options + ICMP echo) with another sequence number and
    the checksum that goes with it: cheap enough for millions of background frames."""
    total = base + seq
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return frame[:36] + struct.pack("!H", ~total & 0xFFFF) + frame[38:40] + struct.pack(
        "!H", seq) + frame[42:]


def _background(seconds: int, rps: int, hosts: int):
    """(ts_ns, frame) of ordinary Linux pings and their replies, `rps` records a second."""
    per_host_hz = rps / 2 / hosts  # a request and its reply per ping
    interval = int(NS / per_host_hz)
    templates = []
    payload = craft.payload_linux(1_678_784_400.0)
    for n in range(hosts):
        host = f"10.40.{n // 250}.{n % 250 + 1}"
        target = f"203.0.113.{n % 250 + 1}"
        request = craft.echo_request(host, target, 1000 + n, 0, payload, ttl=64)
        reply = craft.reply_to(request, ttl=58)
        req_frame, rep_frame = craft.ethernet(request), craft.ethernet(reply)
        templates.append((req_frame, _checksum_base(req_frame[34:]),
                          rep_frame, _checksum_base(rep_frame[34:]), n * interval // hosts))
    pings = seconds * NS // interval
    for k in range(pings):
        for req_frame, req_base, rep_frame, rep_base, phase in templates:
            ts = START_NS + k * interval + phase
            seq = (k + 1) & 0xFFFF
            yield ts, _with_seq(req_frame, req_base, seq)
            yield ts + 300_000, _with_seq(rep_frame, rep_base, seq)


def _odd(seconds: int) -> list[tuple[int, bytes]]:
    """The behaviours that should alert, from the middle of the capture on."""
    mid = START_NS + seconds * NS // 2
    frames: list[tuple[int, bytes]] = []
    for n, host in enumerate(FOOTPRINTS_HOSTS):  # SYNs from the start: the hop distance
        for t in range(0, seconds, 30):
            frames.append((START_NS + (t + n) * NS,
                           craft.ethernet(craft.tcp_syn(host, "20.190.151.70", 51000 + t, ttl=126))))
    proxy = "192.0.2.77"
    for i in range(0, (seconds // 2) * 2):  # ptunnel: one exchange every half second
        ts = mid + i * NS // 2
        data = bytes((i * 7 + j) % 256 for j in range(40 + i % 500))
        request = craft.echo_request(TUNNEL_HOST, proxy, 0x4242, i, craft.payload_ptunnel(data),
                                     ttl=64)
        frames.append((ts, craft.ethernet(request)))
        answer = craft.payload_ptunnel(data[::-1])
        frames.append((ts + 20_000_000, craft.ethernet(
            craft.echo_reply(proxy, TUNNEL_HOST, 0x4242, i, answer, ttl=50))))
    targets = ("13.107.4.52", "52.113.194.132", "40.99.9.162")
    for n, host in enumerate(FOOTPRINTS_HOSTS):
        seq = 40 + 100 * n
        for burst_at in range(3 + 5 * n, seconds // 2, 20):
            t = mid + burst_at * NS
            for i in range(6):
                request = craft.echo_request(host, targets[i % 3], 1, seq, craft.payload_zeros(2),
                                             ttl=28)
                frames.append((t + i * 1_500_000, craft.ethernet(request)))
                frames.append((t + i * 1_500_000 + 9_000_000,
                               craft.ethernet(craft.reply_to(request, ttl=115))))
                seq += 1
    sweep_at = mid + (seconds // 4) * NS
    for i in range(40):
        request = craft.echo_request(SWEEP_HOST, f"10.66.{i // 200}.{i % 200 + 1}", 0x1234, 0,
                                     craft.payload_nmap(), ttl=48)
        frames.append((sweep_at + i * 50_000_000, craft.ethernet(request)))
    return frames


def _write_capture(path: Path, seconds: int, rps: int, hosts: int) -> dict:
    """A pcap written frame by frame (millions of frames: never all in memory at once)."""
    import heapq

    odd = sorted(_odd(seconds))
    count = 0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for ts, frame in heapq.merge(_background(seconds, rps, hosts), odd,
                                     key=lambda item: item[0]):
            sec, nsec = divmod(ts, NS)
            out.write(struct.pack("<IIII", sec, nsec // 1000, len(frame), len(frame)))
            out.write(frame)
            count += 1
    return {"kind": "latency", "seconds": seconds, "rps": rps, "hosts": hosts, "frames": count}


# -- the run ------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metrics(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


class _Watch(threading.Thread):
    """Reads a topic from the beginning and notes each message's arrival wall time: every
    message's value, or (keys given) only the capture time (ms) of the records so keyed."""

    def __init__(self, topic: str, keys: frozenset[bytes] | None = None) -> None:
        super().__init__(daemon=True)
        self.topic, self.keys = topic, keys
        self.arrivals: list[tuple[float, bytes]] = []
        self.first: float | None = None  # the first message's arrival
        self.keyed: dict[tuple[bytes, int], float] = {}  # (key, timestamp ms) -> first arrival
        self.stop = threading.Event()

    def run(self) -> None:
        consumer = Consumer({"bootstrap.servers": broker.BOOTSTRAP,
                             "group.id": f"bench-latency-watch-{broker.run_id()}",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        consumer.assign([TopicPartition(self.topic, p, 0) for p in range(broker.PARTITIONS)])
        try:
            keys, keyed = self.keys, self.keyed
            while not self.stop.is_set():
                batch = consumer.consume(1000, 0.05)
                now = time.monotonic()
                for msg in batch:
                    if msg.error() is not None:
                        continue
                    if self.first is None:
                        self.first = now
                    if keys is None:
                        self.arrivals.append((now, msg.value()))
                    elif msg.key() in keys:
                        keyed.setdefault((msg.key(), msg.timestamp()[1]), now)
        finally:
            consumer.close()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


#: the settings of the peer run: versions only when windows close, about as before issue 12
FINAL_ONLY_ENV = {"ODDPING_PROCESSOR__ALERT_FIRST_DELAY_S": "60",
                  "ODDPING_PROCESSOR__ALERT_UPDATE_INTERVAL_S": "86400"}


def _throughput(ctx: Context, capture: Path, rid: str, env: dict) -> dict:
    """One worker's records/s on the capture published beforehand (not paced), with every
    alert version and with final versions only, alternating: what the live lifecycle costs on
    this traffic."""
    from . import stream

    prefix = f"bench.latency.{rid}.unpaced"
    topic = broker.create_topic(f"{prefix}.records")
    apps: list[str] = []
    runs: dict[str, list[float]] = {"versions": [], "final_only": []}
    pairs = max(1, min(ctx.runs, 2))
    try:
        ctx.log("throughput: publishing the capture beforehand (not paced) ...")
        produced = subprocess.run(
            [ctx.oddping, "produce", "--pcap", str(capture), "--topic", topic, "--metrics-port",
             "0", "--sensor-id", "bench", "--bootstrap-servers", broker.BOOTSTRAP],
            capture_output=True, text=True, cwd=ROOT)
        if produced.returncode != 0:
            raise RuntimeError(f"oddping produce failed: {produced.stderr[-1000:]}")
        total = sum(broker.end_offsets(topic).values())
        for attempt in range(pairs):
            for variant, extra in (("versions", {}), ("final_only", FINAL_ONLY_ENV)):
                app = f"bench-latency-{rid}-{variant.replace('_', '-')}-{attempt}"
                apps.append(app)
                run_env = env | extra | {
                    "ODDPING_KAFKA__RECORDS_TOPIC": topic,
                    "ODDPING_KAFKA__ALERTS_TOPIC": f"{prefix}.alerts",
                    "ODDPING_KAFKA__DEAD_LETTER_TOPIC": f"{prefix}.dlq",
                    "ODDPING_PROCESSOR__APP_ID": app,
                    "ODDPING_PROCESSOR__DATA_DIR": str(ctx.out_dir / f"faust-{app}"),
                    "ODDPING_METRICS__PORT": "0",
                }
                done = stream._workers(ctx, run_env, [ctx.pin], app, topic, total)
                runs[variant].append(done["rate"])
                ctx.log(f"throughput, {variant}: {done['rate'] / 1e3:.1f}k records/s")
                shutil.rmtree(ctx.out_dir / f"faust-{app}", ignore_errors=True)
    finally:
        broker.delete_topics(broker.topics_with_prefix(prefix, *apps))
        broker.delete_groups(apps)
    return {"records": total, "pairs": pairs, "runs": runs,
            "versions": statistics.median(runs["versions"]),
            "final_only": statistics.median(runs["final_only"])}


def run(ctx: Context) -> Result:
    broker.require_broker()
    result = Result("latency", TITLE)
    seconds, rps, hosts = SIZES["quick" if ctx.quick else "full"]
    capture = ctx.out_dir / f"latency-{seconds}s-{rps}rps-{hosts}h.pcap"
    cached(capture, f"latency capture: {seconds} s at {rps:,} background records/s",
           lambda tmp: _write_capture(tmp, seconds, rps, hosts), ctx.log)
    ctx.generated.append(capture)
    rid = broker.run_id()
    prefix = f"bench.latency.{rid}"
    app_id = f"bench-latency-{rid}"
    records_topic = broker.create_topic(f"{prefix}.records")
    alerts_topic = broker.create_topic(f"{prefix}.alerts")
    port = _free_port()
    env = os.environ | {
        "ODDPING_KAFKA__BOOTSTRAP_SERVERS": broker.BOOTSTRAP,
        "ODDPING_KAFKA__RECORDS_TOPIC": records_topic,
        "ODDPING_KAFKA__ALERTS_TOPIC": alerts_topic,
        "ODDPING_KAFKA__DEAD_LETTER_TOPIC": f"{prefix}.dlq",
        "ODDPING_KAFKA__PARTITIONS": str(broker.PARTITIONS),
        "ODDPING_PROCESSOR__APP_ID": app_id,
        "ODDPING_PROCESSOR__DATA_DIR": str(ctx.out_dir / f"faust-{rid}"),
        "ODDPING_METRICS__PORT": str(port),
        "ODDPING_LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(ctx.pin + [ctx.oddping, "process"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    odd_hosts = frozenset(h.encode() for h in (TUNNEL_HOST, SWEEP_HOST, *FOOTPRINTS_HOSTS))
    first_record, alerts = _Watch(records_topic, keys=odd_hosts), _Watch(alerts_topic)
    try:
        deadline = time.monotonic() + 120
        while _metrics(port) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(10)  # group join and assignment
        first_record.start()
        alerts.start()
        cpu_start = cpu_seconds(worker.pid)
        ctx.log(f"publishing {capture.name} with oddping produce --realtime ({seconds} s) ...")
        started = time.monotonic()
        produced = subprocess.run(
            [ctx.oddping, "produce", "--pcap", str(capture), "--realtime", "--topic",
             records_topic, "--metrics-port", "0", "--sensor-id", "bench",
             "--bootstrap-servers", broker.BOOTSTRAP], capture_output=True, text=True, cwd=ROOT)
        produce_wall = time.monotonic() - started
        if produced.returncode != 0:
            raise RuntimeError(f"oddping produce failed: {produced.stderr[-1000:]}")
        cpu_during = cpu_seconds(worker.pid) - cpu_start
        time.sleep(8)  # the last versions (the worker's quiet-input emission) arrive
        histogram = _metrics(port) or ""
    finally:
        alerts.stop.set()
        first_record.stop.set()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
        alerts.join(10)
        first_record.join(10)
        broker.delete_topics(broker.topics_with_prefix(prefix, app_id))
        broker.delete_groups([app_id])
        shutil.rmtree(ctx.out_dir / f"faust-{rid}", ignore_errors=True)
    if first_record.first is None:
        raise RuntimeError("no record reached the records topic")
    t0 = first_record.first
    first_version: dict[str, tuple[float, dict]] = {}
    messages: dict[str, int] = {}
    campaign_messages: dict[str, int] = {}  # the campaign stage's: no one packet triggers them
    for arrived, value in alerts.arrivals:
        doc = orjson.loads(value)
        if doc.get("kind") == "campaign":
            campaign_messages[doc["alert_id"]] = campaign_messages.get(doc["alert_id"], 0) + 1
            continue
        messages[doc["alert_id"]] = messages.get(doc["alert_id"], 0) + 1
        first_version.setdefault(doc["alert_id"], (arrived, doc))
    if not first_version:
        raise RuntimeError("no alert arrived")
    from processors.alerts import parse_iso_ns

    latencies, scheduled = {}, []
    for alert_id, (arrived, doc) in first_version.items():
        first_ns = parse_iso_ns(doc["first_seen"])
        published = first_record.keyed.get((doc["src_ip"].encode(), first_ns // 1_000_000))
        if published is None:
            raise RuntimeError(f"the packet behind {doc['rule_id']} {doc['src_ip']} was not seen")
        latencies[alert_id] = (arrived - published, doc)
        # when --realtime should have published it: how far the producer was behind then
        scheduled.append(published - (t0 + (first_ns - START_NS) / NS))
    values = [v for v, _ in latencies.values()]
    p50, p99, worst = statistics.median(values), _quantile(values, 0.99), max(values)
    per_alert = sum(messages.values()) / len(messages)
    busy = cpu_during / produce_wall
    ctx.log(f"{len(values)} alerts: latency p50 {p50:.2f} s, p99 {p99:.2f} s, max {worst:.2f} s; "
            f"{per_alert:.1f} messages per alert; worker busy {busy:.0%}")
    rows = [(doc["rule_id"], doc["src_ip"], f"{lat:.2f}", messages[alert_id])
            for alert_id, (lat, doc) in sorted(latencies.items(), key=lambda kv: kv[1][0])]
    result.markdown.append(
        f"{seconds} s of capture, {rps:,} background records/s ({hosts:,} hosts) + the odd ones "
        f"from the middle on; `oddping produce --realtime` took {produce_wall:.1f} s "
        f"(lag {produce_wall - seconds:+.1f} s over the capture's span; the triggering packets "
        f"reached the topic {statistics.median(scheduled):.1f} s (median) after their time in "
        "the replay); one worker.\n\n"
        f"Packet published -> first alert version: p50 **{p50:.2f} s**, p99 **{p99:.2f} s**, "
        f"max **{worst:.2f} s** over {len(values)} host alerts (target p99 ≤ {TARGET_P99_S:g} s, "
        f"max ≤ {TARGET_MAX_S:g} s); {per_alert:.1f} alert messages per alert; "
        f"{len(campaign_messages)} campaign alert(s) in {sum(campaign_messages.values())} "
        "messages besides (the campaign stage's, made of several hosts' alerts); the worker's CPU "
        f"busy {busy:.0%} of the run ({rps / busy / 1e3 if busy else 0:.0f}k records/s at full "
        "CPU, extrapolated).")
    result.markdown.append(markdown_table(("rule", "host", "latency s", "alert messages"),
                                          rows[-20:]))
    buckets = [line for line in histogram.splitlines()
               if line.startswith("oddping_alert_latency_seconds_bucket")]
    if buckets:
        result.markdown.append("Worker's own histogram (chunk taken -> Kafka ack), cumulative:\n\n"
                               + "\n".join(f"    {b}" for b in buckets))
    throughput = _throughput(ctx, capture, rid, env)
    name = f"latency capture, {seconds} s at {rps:,} records/s"
    versions, final_only = throughput["versions"], throughput["final_only"]
    result.rows.append(Row(
        name, f"records/s, one worker, published beforehand (median of {throughput['pairs']})",
        versions, "the same worker emitting final versions only (first version 60 s after, "
        "no updates), alternating runs", final_only, "/s"))
    result.markdown.append(
        f"Throughput on this traffic (issue 12: no more than 10 % lower than without versions): "
        f"the capture published beforehand ({throughput['records']:,} records), one worker "
        f"takes it at {versions / 1e3:.1f}k records/s with every version (runs "
        f"{', '.join(f'{r / 1e3:.1f}k' for r in throughput['runs']['versions'])}), "
        f"{final_only / 1e3:.1f}k records/s with final versions only (runs "
        f"{', '.join(f'{r / 1e3:.1f}k' for r in throughput['runs']['final_only'])}): "
        f"{versions / final_only:.2f}×.")
    result.data = {"throughput": throughput,
                   "seconds": seconds, "background_rps": rps, "hosts": hosts,
                   "produce_wall_s": produce_wall, "producer_behind_s": scheduled,
                   "alerts": len(values), "campaign_messages": campaign_messages, "p50_s": p50,
                   "p99_s": p99, "max_s": worst, "messages_per_alert": per_alert,
                   "worker_cpu_busy": busy,
                   "latencies": {doc["rule_id"] + " " + doc["src_ip"]: lat
                                 for lat, doc in latencies.values()}}
    return result

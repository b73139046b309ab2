"""Section `flood`: a spoofed-source echo flood over a busy network, with and without the flood.

Input: the busy network of samples/busy.py (1,000 hosts for 10 minutes, seed 7) and the same
frames with N empty echo requests from random spoofed sources to one victim (the
``hping3 --icmp --flood --rand-source`` pattern) over 8 of its 10 minutes; N = 1,000,000
(--quick 100,000; ``python -m bench.flood make OUT --flood N`` makes one of any size).

1. `oddping scan` of each capture (under ctx.pin, default settings): wall and CPU time, records/s,
   peak resident memory (VmHWM, polled from /proc while it runs; wait4's ru_maxrss would show
   this script's own peak, see common.run_timed), and its alerts.
2. one `oddping process` worker on the real broker for each capture (published first with
   `oddping produce` to a fresh 4-partition topic, not timed): records/s (its consumed counter,
   as in the stream section), peak resident memory, and every alert version on the alerts
   topic once it is quiet.
3. the targets of issue 14: the 1,000 hosts' alerts identical with and without the flood (scan;
   the worker's final versions beside scan's), the flood as one icmp_flood alert and its
   versions, peak RSS under 800 MiB.

Topics and consumer groups are deleted at the end.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from . import broker
from .busycap import ensure_busy
from .common import ROOT, Context, Result, Row, loadavg, markdown_table
from .gen import cached

TITLE = "a spoofed-source flood over 1,000 hosts: scan and one worker, with and without it"
SIZES = {"full": 1_000_000, "quick": 100_000}
HOSTS, MINUTES, SEED = 1000, 10, 7
VICTIM = "192.0.2.80"
FLOOD_START_S, FLOOD_SPAN_S = 60, 480
RSS_TARGET_MB = 800 * 1024 * 1024 / 1e6  # 800 MiB in MB
POLL_S = 0.2
QUIET_S = 20  # the alerts topic unchanged this long after the last record: the worker is done
TIMEOUT_S = 3600


# -- the capture -----------------------------------------------------------------------------

def flood_frames(n: int, seed: int):
    """n empty echo requests to VICTIM, each from a new random source, in capture order."""
    from samples import busy, craft

    rng = random.Random(seed * 7919 + n)
    step = FLOOD_SPAN_S * busy.NS // max(1, n)
    start = busy.START_NS + FLOOD_START_S * busy.NS
    for i in range(n):
        src = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        request = craft.echo_request(src, VICTIM, 0x1a2b, (i * 256) % 65536, b"",
                                     ttl=rng.randrange(30, 250))
        yield craft.Frame(craft.ethernet(request), start + i * step)


def make(out: str, flood: int, hosts: int = HOSTS, minutes: int = MINUTES, seed: int = SEED) -> dict:
    """The busy capture's frames (the same as samples/busy.py's for these parameters) with the
    flood merged in."""
    import gc

    from samples import busy, craft

    gc.disable()
    frames = heapq.merge(busy.busy_frames(hosts, minutes, seed), flood_frames(flood, seed),
                         key=lambda f: f.ts_ns)
    craft.write_pcap(out, frames)
    return {"kind": "flood", "hosts": hosts, "minutes": minutes, "seed": seed, "flood": flood,
            "victim": VICTIM}


def ensure_flood(ctx: Context, n: int) -> tuple[Path, dict]:
    path = ctx.out_dir / f"flood-{n}-busy-{HOSTS}h-{MINUTES}m-seed{SEED}.pcap"

    def run_make(tmp: Path) -> dict:
        subprocess.run([ctx.python, "-m", "bench.flood", "make", str(tmp), "--flood", str(n)],
                       check=True, cwd=ROOT)
        return {"kind": "flood", "hosts": HOSTS, "minutes": MINUTES, "seed": SEED, "flood": n}

    return cached(path, f"busy {HOSTS} hosts × {MINUTES} min + {n:,} spoofed requests",
                  run_make, ctx.log)


# -- measuring -------------------------------------------------------------------------------

def _peak_rss(pid: int) -> int:
    """VmHWM of a live process, bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_scan(ctx: Context, capture: Path) -> dict:
    """oddping scan: wall, CPU, peak RSS, its summary line and alerts (latest versions)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(ctx.pin + [ctx.oddping, "scan", str(capture), "--format", "jsonl",
                                           "--sensor-id", "bench"], stdout=out, stderr=err,
                                cwd=ROOT)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _peak_rss(proc.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"oddping scan failed: {stderr[-2000:]}")
        alerts = [orjson.loads(line) for line in out.read().splitlines() if line.strip()]
    summary = next((line for line in stderr.splitlines() if line.startswith("oddping scan:")), "")
    records = int(summary.split(" alerts from ")[1].split()[0]) if " alerts from " in summary else 0
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_rss": peak,
            "records": records, "rate": records / wall if wall else 0.0, "alerts": alerts,
            "summary": summary}


def run_worker(ctx: Context, capture: Path, tag: str, prefix: str, app_prefix: str,
               datadir: Path, groups: list[str]) -> dict:
    """Publish the capture to a fresh topic, run one worker over it until every record is taken
    and the alerts topic has been quiet QUIET_S, with its peak RSS; every alert version."""
    from .stream import _consumed, _free_port, _stop

    topic = broker.create_topic(f"{prefix}.{tag}.records")
    alerts_topic = broker.create_topic(f"{prefix}.{tag}.alerts")
    produced = subprocess.run(
        [ctx.oddping, "produce", "--pcap", str(capture), "--topic", topic, "--metrics-port", "0",
         "--sensor-id", "bench", "--bootstrap-servers", broker.BOOTSTRAP],
        capture_output=True, text=True, cwd=ROOT)
    if produced.returncode != 0:
        raise RuntimeError(f"oddping produce failed: {produced.stderr[-1000:]}")
    total = sum(broker.end_offsets(topic).values())
    app_id = f"{app_prefix}-{tag}"
    groups.append(app_id)
    port = _free_port()
    env = os.environ | {
        "ODDPING_KAFKA__BOOTSTRAP_SERVERS": broker.BOOTSTRAP,
        "ODDPING_KAFKA__RECORDS_TOPIC": topic,
        "ODDPING_KAFKA__ALERTS_TOPIC": alerts_topic,
        "ODDPING_KAFKA__DEAD_LETTER_TOPIC": f"{prefix}.{tag}.dlq",
        "ODDPING_KAFKA__PARTITIONS": str(broker.PARTITIONS),
        "ODDPING_PROCESSOR__APP_ID": app_id,
        "ODDPING_PROCESSOR__DATA_DIR": str(datadir),
        "ODDPING_METRICS__PORT": str(port),
        "ODDPING_LOG_LEVEL": "WARNING",
    }
    ctx.log(f"{tag}: {total:,} records on {topic}; one worker ...")
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(ctx.pin + [ctx.oddping, "process"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=err)
    alerts_marks = broker.Watermarks(alerts_topic)
    started = time.perf_counter()
    first = done = None
    first_count = 0
    peak = 0
    last_alerts, alerts_changed = -1, time.perf_counter()
    try:
        while True:
            now = time.perf_counter()
            peak = max(peak, _peak_rss(proc.pid))
            consumed = _consumed(port)
            if first is None and consumed > 0:
                first, first_count = now, consumed
            if done is None and consumed >= total:
                done = now
            written = alerts_marks.total()
            if written != last_alerts:
                last_alerts, alerts_changed = written, now
            if done is not None and now - max(done, alerts_changed) >= QUIET_S:
                break
            if proc.poll() is not None or now - started > TIMEOUT_S:
                err.seek(0)
                raise RuntimeError(f"worker {'exited' if proc.poll() is not None else 'too slow'}"
                                   f" at {consumed:,}/{total:,}: {err.read().decode()[-800:]}")
            time.sleep(POLL_S)
    finally:
        _stop([proc])
        alerts_marks.close()
        err.close()
    versions = _read_all(alerts_topic, last_alerts)
    span = (done - first) if first is not None and done is not None else 0.0
    return {"records": total, "rate": (total - first_count) / span if span > 0 else 0.0,
            "peak_rss": peak, "versions": versions}


def _read_all(topic: str, expected: int) -> list[dict]:
    """Every message on a topic, in order per partition."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": broker.BOOTSTRAP,
                         "group.id": f"bench-flood-read-{broker.run_id()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list[dict] = []
    deadline = time.monotonic() + 120
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 1.0):
                if message.error() is None:
                    out.append(orjson.loads(message.value()))
    finally:
        consumer.close()
    return out


def _latest(docs: list[dict]) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for doc in docs:
        latest[doc["alert_id"]] = doc
    return latest


#: the busy network's hosts (samples/busy.py's addressing)
BUSY_HOSTS = frozenset(f"10.{20 + n // 60000}.{(n // 250) % 240}.{n % 250 + 1}"
                       for n in range(HOSTS))


def _contents(alerts: dict[str, dict]) -> dict[str, dict]:
    from processors.lifecycle import content

    return {i: content(d) for i, d in alerts.items()}


def _hosts_only(alerts: dict[str, dict]) -> dict[str, dict]:
    """The busy network's hosts' alerts: the flood's and the campaigns (no src_ip) excluded."""
    return {i: d for i, d in alerts.items() if d.get("src_ip") in BUSY_HOSTS}


# -- the section -----------------------------------------------------------------------------

def run(ctx: Context) -> Result:
    result = Result("flood", TITLE)
    n = ctx.size(SIZES)
    quiet, _ = ensure_busy(ctx.python, HOSTS, MINUTES, SEED, ctx.out_dir, log=ctx.log)
    flooded, meta = ensure_flood(ctx, n)
    ctx.generated += [quiet, flooded]
    name = f"busy {HOSTS:,} hosts × {MINUTES} min"
    flood_name = f"+ {n:,} spoofed requests"

    ctx.log("oddping scan without the flood ...")
    scan_quiet = run_scan(ctx, quiet)
    ctx.log(f"... {scan_quiet['summary']}; oddping scan with the flood ...")
    scan_flood = run_scan(ctx, flooded)
    ctx.log(f"... {scan_flood['summary']}")
    quiet_hosts = _hosts_only(_latest(scan_quiet["alerts"]))
    flood_hosts = _hosts_only(_latest(scan_flood["alerts"]))
    flood_alerts = [d for d in scan_flood["alerts"] if d["rule_id"] == "icmp_flood"]
    others = [d for d in scan_flood["alerts"] if d["rule_id"] not in ("icmp_flood", "campaign")
              and d.get("src_ip") not in BUSY_HOSTS]

    worker: dict[str, dict] = {}
    worker_error = None
    try:
        broker.require_broker()
        rid = broker.run_id()
        prefix, app_prefix = f"bench.flood.{rid}", f"bench-flood-{rid}"
        groups: list[str] = []
        datadir = Path(tempfile.mkdtemp(prefix="faust-", dir=ctx.out_dir))
        try:
            for tag, capture in (("quiet", quiet), ("flood", flooded)):
                worker[tag] = run_worker(ctx, capture, tag, prefix, app_prefix, datadir, groups)
                ctx.log(f"{tag}: {worker[tag]['rate'] / 1e3:.1f}k records/s, peak RSS "
                        f"{worker[tag]['peak_rss'] / 1e6:.0f} MB, "
                        f"{len(worker[tag]['versions']):,} alert versions")
        finally:
            broker.delete_topics(broker.topics_with_prefix(prefix, app_prefix))
            broker.delete_groups(groups)
            import shutil

            shutil.rmtree(datadir, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - scan's figures still stand; say what failed
        worker_error = f"{type(exc).__name__}: {exc}"
        ctx.log(f"worker runs failed: {worker_error}")

    result.rows += [
        Row(f"{name} {flood_name}", "oddping scan peak RSS", scan_flood["peak_rss"],
            "same without the flood", scan_quiet["peak_rss"], "B"),
        Row(f"{name} {flood_name}", "oddping scan records/s", scan_flood["rate"],
            "same without the flood", scan_quiet["rate"], "/s"),
    ]
    if worker:
        result.rows += [
            Row(f"{name} {flood_name}", "one worker peak RSS", worker["flood"]["peak_rss"],
                "same without the flood", worker["quiet"]["peak_rss"], "B"),
            Row(f"{name} {flood_name}", "one worker records/s", worker["flood"]["rate"],
                "same without the flood", worker["quiet"]["rate"], "/s"),
        ]
    identical = quiet_hosts == flood_hosts
    lines = [
        markdown_table(("measure", "without the flood", f"with {n:,} spoofed requests"), [
            ("records (scan)", f"{scan_quiet['records']:,}", f"{scan_flood['records']:,}"),
            ("scan wall / CPU", f"{scan_quiet['wall']:.1f} s / {scan_quiet['cpu']:.1f} s",
             f"{scan_flood['wall']:.1f} s / {scan_flood['cpu']:.1f} s"),
            ("scan records/s", f"{scan_quiet['rate']:,.0f}", f"{scan_flood['rate']:,.0f}"),
            ("scan peak RSS", f"{scan_quiet['peak_rss'] / 1e6:.0f} MB",
             f"{scan_flood['peak_rss'] / 1e6:.0f} MB (target {RSS_TARGET_MB:.0f} MB)"),
            ("scan alerts", f"{len(scan_quiet['alerts']):,}", f"{len(scan_flood['alerts']):,}"),
            *([("worker records/s", f"{worker['quiet']['rate']:,.0f}",
                f"{worker['flood']['rate']:,.0f}"),
               ("worker peak RSS", f"{worker['quiet']['peak_rss'] / 1e6:.0f} MB",
                f"{worker['flood']['peak_rss'] / 1e6:.0f} MB (target {RSS_TARGET_MB:.0f} MB)"),
               ("worker alert versions on the topic", f"{len(worker['quiet']['versions']):,}",
                f"{len(worker['flood']['versions']):,}")] if worker else []),
        ]),
        "",
        f"- The 1,000 hosts' alerts (scan, final versions): {len(quiet_hosts)} without the "
        f"flood, {len(flood_hosts)} with it, identical: **{'yes' if identical else 'no'}**"
        + ("" if identical else f" ({len(set(quiet_hosts) ^ set(flood_hosts))} ids differ, "
           f"{sum(1 for i in quiet_hosts if i in flood_hosts and quiet_hosts[i] != flood_hosts[i])}"
           " documents differ)") + ".",
        f"- Flood alerts (scan): {len(flood_alerts)}; other alerts from outside the 1,000 hosts: "
        f"{len(others)}." + (f" The flood: “{flood_alerts[0]['summary']}”" if flood_alerts else ""),
    ]
    if worker:
        versions = worker["flood"]["versions"]
        flood_versions = [d for d in versions if d["rule_id"] == "icmp_flood"]
        w_latest = _latest(versions)
        w_hosts = _hosts_only(w_latest)
        outside = [d for d in versions if d["rule_id"] not in ("icmp_flood", "campaign")
                   and d.get("src_ip") not in BUSY_HOSTS]
        statuses: dict[str, int] = {}
        for d in outside:
            statuses[d["status"]] = statuses.get(d["status"], 0) + 1
        lines.append(
            f"- Worker: {len(flood_versions)} versions of {len({d['alert_id'] for d in flood_versions})}"
            f" icmp_flood alert(s) on the topic; {len(outside):,} versions of "
            f"{len({d['alert_id'] for d in outside}):,} alerts of hosts outside the 1,000 "
            f"({', '.join(f'{n:,} {s}' for s, n in sorted(statuses.items())) or 'none'}); its "
            "1,000 hosts' latest versions say what scan's final ones say (the content: the "
            "version fields aside; a replayed capture that ends leaves the stream's last windows "
            f"open): **{'yes' if _contents(w_hosts) == _contents(flood_hosts) else 'no'}** "
            f"({len(w_hosts)} vs {len(flood_hosts)}); without the flood: "
            f"**{'yes' if _contents(_hosts_only(_latest(worker['quiet']['versions']))) == _contents(quiet_hosts) else 'no'}**.")
    if worker_error:
        lines.append(f"- The worker runs failed: {worker_error}")
    result.markdown.append("\n".join(lines))
    result.data = {"flood": n, "capture": {"quiet": str(quiet), "flood": str(flooded), **meta},
                   "scan": {k: {x: v for x, v in s.items() if x != "alerts"}
                            for k, s in (("quiet", scan_quiet), ("flood", scan_flood))},
                   "worker": {k: {x: v for x, v in w.items() if x != "versions"}
                              for k, w in worker.items()},
                   "worker_error": worker_error, "hosts_identical": identical,
                   "flood_alerts": flood_alerts, "loadavg_end": loadavg()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="make a flood capture (see the module doc)")
    parser.add_argument("mode", choices=("make",))
    parser.add_argument("out")
    parser.add_argument("--flood", type=int, default=SIZES["full"])
    parser.add_argument("--hosts", type=int, default=HOSTS)
    parser.add_argument("--minutes", type=int, default=MINUTES)
    parser.add_argument("--seed", type=int, default=SEED)
    a = parser.parse_args()
    print(orjson.dumps(make(a.out, a.flood, a.hosts, a.minutes, a.seed)).decode())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()

"""Section `produce`: `oddping produce` into the local broker, beside a bare confluent-kafka loop.

1. all-ICMP capture (gen.py `icmp`, 100,000 frames; --quick 30,000): records/s of
   `oddping produce --pcap FILE --topic T --metrics-port 0` = records delivered (from its summary
   line "delivered N records") / wall time of the whole process, flush included.  Side by side,
   alternating, each into a fresh 4-partition topic:
   - the bare loop (`bench.peers produce`): confluent-kafka Producer with producer/publish.py's
     PRODUCER_DEFAULTS publishing the very messages oddping publishes (same keys, values,
     timestamps, three headers), serialised beforehand: the ceiling the client and broker give.
     Its rate is in-process (Producer() to flush() returned), without interpreter start-up and
     reading its pickle;
   - the same loop with as many made-up ~300-byte records (oddping's are ~715 bytes);
   - `oddping decode FILE > /dev/null`: the same decode without Kafka, so the difference is what
     publishing costs;
   - `oddping produce` of samples/footprints.pcap (151 records): what every run pays whatever its
     size (interpreter start-up and imports, the Kafka preflight and topic check, the producer's
     connection and idempotent-producer id, the final flush), so the per-record rate without it
     can be told apart from the fixed cost.
2. mixed capture (the decode section's, 5M frames; --quick 500k): wall time of `oddping produce`
   vs `tcpdump -r FILE -w /dev/null 'icmp or icmp6'`.

All measured processes run under ctx.pin (one core; librdkafka's threads share it); the broker
runs where the scheduler puts it.  Topics are deleted when the section ends.
"""

from __future__ import annotations

import re
import shutil

from . import broker, gen
from .common import (ROOT, Context, Result, Row, Timing, checked, count_label, loadavg,
                     markdown_table, median, run_json, run_timed, warm)

TITLE = "oddping produce vs a bare confluent-kafka producer loop (local broker)"
ICMP_SIZES = {"full": 100_000, "quick": 30_000}
DELIVERED = re.compile(r"delivered (\d+) records")
TARGET = 150_000
MIXED_FILTER = "icmp or icmp6"
TINY = ROOT / "samples" / "footprints.pcap"  # 151 records: the fixed cost of one run


def run(ctx: Context) -> Result:
    if not shutil.which("tcpdump"):
        raise RuntimeError("tcpdump is not installed (scripts/system-deps.sh installs it)")
    broker.require_broker()
    result = Result("produce", TITLE)
    mode = "quick" if ctx.quick else "full"
    icmp, icmp_meta = gen.ensure_capture("icmp", ICMP_SIZES[mode], out_dir=ctx.out_dir, log=ctx.log)
    mixed, mixed_meta = gen.ensure_capture("mixed", ctx.size(gen.SIZES["mixed"]), out_dir=ctx.out_dir,
                                           log=ctx.log)
    ctx.generated += [icmp, mixed]
    for path in (icmp, mixed):
        warm(path)
    same = ctx.out_dir / "produce-messages.pickle"
    small = ctx.out_dir / "produce-messages-300.pickle"
    ctx.log("serialising the all-ICMP records for the bare loop ...")
    same_meta, _ = run_json([ctx.python, "-m", "bench.peers", "messages", str(icmp), str(same)])
    small_meta, _ = run_json([ctx.python, "-m", "bench.peers", "messages", str(icmp), str(small),
                              "--synthetic-size", "300"])

    rid = broker.run_id()
    prefix = f"bench.produce.{rid}"
    runs: dict[str, list] = {k: [] for k in ("oddping", "bare", "bare300", "decode", "mixed", "tcpdump",
                                             "tiny")}
    try:
        for i in range(ctx.runs):
            ctx.log(f"run {i + 1}/{ctx.runs}: oddping produce (all-ICMP), bare loop (same records, "
                    f"300-byte records), oddping decode, oddping produce (mixed), tcpdump")
            topic = broker.create_topic(f"{prefix}.icmp.{i}")
            runs["oddping"].append(_produce(ctx, icmp, topic))
            topic = broker.create_topic(f"{prefix}.bare.{i}")
            runs["bare"].append(run_json(ctx.pin + [ctx.python, "-m", "bench.peers", "produce", topic,
                                                    str(same), "--bootstrap", broker.BOOTSTRAP]))
            topic = broker.create_topic(f"{prefix}.bare300.{i}")
            runs["bare300"].append(run_json(ctx.pin + [ctx.python, "-m", "bench.peers", "produce", topic,
                                                       str(small), "--bootstrap", broker.BOOTSTRAP]))
            runs["decode"].append(checked(run_timed(ctx.pin + [ctx.oddping, "decode", str(icmp)])))
            topic = broker.create_topic(f"{prefix}.tiny.{i}")
            runs["tiny"].append(_produce(ctx, TINY, topic))
            topic = broker.create_topic(f"{prefix}.mixed.{i}")
            runs["mixed"].append(_produce(ctx, mixed, topic))
            runs["tcpdump"].append(checked(run_timed(
                ctx.pin + ["tcpdump", "-r", str(mixed), "-w", "/dev/null", MIXED_FILTER])))
            broker.delete_topics(broker.topics_with_prefix(prefix))  # keep the broker's disk small
    finally:
        broker.delete_topics(broker.topics_with_prefix(prefix))
        same.unlink(missing_ok=True)
        small.unlink(missing_ok=True)

    # -- rows ------------------------------------------------------------------------------------
    n_icmp = icmp_meta["packets"]
    icmp_name = f"all-ICMP {count_label(n_icmp)}"
    mixed_name = f"mixed {count_label(mixed_meta['packets'])}"
    delivered = [d for _, d in runs["oddping"]]
    o_wall = median([t.wall for t, _ in runs["oddping"]])
    o_cpu = median([t.cpu for t, _ in runs["oddping"]])
    records = median(delivered)
    bare = [j for j, _ in runs["bare"]]
    bare300 = [j for j, _ in runs["bare300"]]
    b_rate = median([j["delivered"] / j["seconds"] for j in bare])
    b3_rate = median([j["delivered"] / j["seconds"] for j in bare300])
    b_cpu = median([t.cpu for _, t in runs["bare"]])
    d_wall = median([t.wall for t in runs["decode"]])
    ours = records / o_wall
    fixed = median([t.wall for t, _ in runs["tiny"]])
    steady = records / (o_wall - fixed)
    result.rows += [
        Row(icmp_name, "records/s published, whole process, wall (flush included)", ours,
            f"bare confluent-kafka loop, same {same_meta['value_bytes_mean']:.0f}-byte records, "
            "in-process", b_rate, "/s"),
        Row(icmp_name, "records/s published, whole process, wall", ours,
            f"bare loop, {small_meta['value_bytes_mean']:.0f}-byte made-up records, in-process",
            b3_rate, "/s"),
        Row(icmp_name, "records/s published, whole process, wall", ours,
            "oddping decode > /dev/null, same file (no Kafka)", n_icmp / d_wall, "/s"),
        Row(icmp_name, "records/s published, whole process, wall", ours,
            "target (one producer process)", TARGET, "/s"),
        Row(icmp_name, "records/s published, without the fixed cost of a run (wall − a "
            "151-record run's)", steady, "target (one producer process)", TARGET, "/s"),
        Row(icmp_name, "records per CPU-second (process and librdkafka threads)", records / o_cpu,
            "bare loop, whole process (same records)", n_icmp / b_cpu, "/s"),
        Row(mixed_name, f"wall time, median of {ctx.runs}", median([t.wall for t, _ in runs["mixed"]]),
            f"tcpdump -r -w /dev/null '{MIXED_FILTER}'", median([t.wall for t in runs["tcpdump"]]), "s"),
    ]

    publish_us = (o_wall - d_wall) / n_icmp * 1e6
    per_record_us = (o_wall - fixed) / n_icmp * 1e6
    bare_us = 1e6 / b_rate
    mixed_delivered = median([d for _, d in runs["mixed"]])
    result.markdown.append("\n".join([
        "**What bounds it**",
        "",
        f"- One `oddping produce` process published {ours / 1e3:.1f}k records/s "
        f"({ours / TARGET:.0%} of the {TARGET / 1e3:.0f}k/s target). The same file through "
        f"`oddping decode` alone takes {d_wall:.2f} s of the {o_wall:.2f} s: decoding is "
        f"{d_wall / o_wall:.0%} of the wall time, publishing adds {publish_us:.1f} µs per record "
        f"(the bare loop needs {bare_us:.1f} µs per record for the same messages). Bound by "
        "per-record Python decode work (see the decode section), then by the per-record "
        "publish path (callback, headers, poll).",
        f"- Fixed cost: `oddping produce` of a 151-record capture takes {fixed:.2f} s (start-up, "
        f"Kafka preflight and connection, final flush), {fixed / o_wall:.0%} of this run; without "
        f"it a record costs {per_record_us:.1f} µs of wall time ({steady / 1e3:.1f}k records/s), "
        "the rate a longer capture approaches.",
        f"- The ceiling itself: the bare loop with oddping's settings (idempotence, acks=all, lz4, "
        f"linger 50 ms) and the same messages reaches {b_rate / 1e3:.0f}k records/s "
        f"({b3_rate / 1e3:.0f}k/s with ~300-byte records) on this machine, on one core with the "
        f"broker on the other; {'above' if b_rate >= TARGET else 'below'} the target before any decoding.",
        f"- mixed: {mixed_delivered:,} records from {mixed_meta['packets']:,} frames; the time is the "
        "decode section's filtered read + decode of the ICMP frames, publishing 2 % of frames adds little.",
    ]))
    result.markdown.append(markdown_table(
        ("run", "oddping produce all-ICMP (wall, CPU, delivered)", "bare loop same / 300-byte (in-process)",
         "oddping decode", "oddping produce, 151 records", "oddping produce mixed", "tcpdump mixed"),
        [(i + 1, f"{t.wall:.2f} s, {t.cpu:.2f} s, {d:,}",
          f"{b['seconds']:.2f} s / {b3['seconds']:.2f} s", f"{dd.wall:.2f} s", f"{tt.wall:.2f} s",
          f"{m.wall:.2f} s ({md:,} records)", f"{td.wall:.2f} s")
         for i, ((t, d), (b, _), (b3, _), dd, (tt, _), (m, md), td) in enumerate(zip(
             runs["oddping"], runs["bare"], runs["bare300"], runs["decode"], runs["tiny"],
             runs["mixed"], runs["tcpdump"]))]))
    result.data = {
        "captures": {"icmp": {"path": str(icmp), **icmp_meta}, "mixed": {"path": str(mixed), **mixed_meta}},
        "messages": {"same": same_meta, "synthetic": small_meta},
        "oddping": [{**_timing(t), "delivered": d} for t, d in runs["oddping"]],
        "bare": [{**j, "process": _timing(t)} for j, t in runs["bare"]],
        "bare300": [{**j, "process": _timing(t)} for j, t in runs["bare300"]],
        "decode": [_timing(t) for t in runs["decode"]],
        "fixed_cost": [{**_timing(t), "delivered": d} for t, d in runs["tiny"]],
        "mixed": [{**_timing(t), "delivered": d} for t, d in runs["mixed"]],
        "tcpdump": [_timing(t) for t in runs["tcpdump"]],
        "loadavg_end": loadavg(),
    }
    return result


def _produce(ctx: Context, capture, topic: str) -> tuple[Timing, int]:
    timing = checked(run_timed(ctx.pin + [ctx.oddping, "produce", "--pcap", str(capture), "--topic", topic,
                                         "--metrics-port", "0", "--sensor-id", "bench",
                                         "--bootstrap-servers", broker.BOOTSTRAP]))
    found = DELIVERED.search(timing.stderr)
    if not found:
        raise RuntimeError(f"no 'delivered N records' in oddping produce's stderr: {timing.stderr[-500:]}")
    return timing, int(found[1])




def _timing(t: Timing) -> dict:
    return {"wall": t.wall, "user": t.user, "sys": t.sys}




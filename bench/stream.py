"""Section `stream`: records/s through `oddping process` (faust workers), beside its ceilings.

Input: a busy network from samples/busy.py (3,000 hosts for 9 minutes, ~292k records; --quick:
600 hosts for 4 minutes, ~27k), published once with `oddping produce` to a fresh 4-partition records
topic (not timed here: the produce section measures that).

1. one worker, `--runs` times (median reported; each run a fresh group, so it reads everything
   again): `oddping process` (under ctx.pin) with a fresh app id (consumer group), alerts
   and dead-letter topics (ODDPING_KAFKA__*, ODDPING_PROCESSOR__APP_ID, its own metrics port,
   log level WARNING) and the default checkpoint policy.  The worker's
   `oddping_records_consumed_total` (/metrics) is polled every 0.1 s: records/s = (records -
   taken at the first poll that saw any) / (time from that poll to the first that saw them
   all), without start-up (group join, table recovery).  The group's committed offsets
   (Consumer.committed, see broker.CommittedOffsets) are polled too, until everything is committed:
   they move only at checkpoints, seconds apart, so they say when, not how fast.  Cross-check:
   the steady rate (least squares over the polls between 10 % and 90 % taken).  The worker's
   CPU time (/proc) between the first and the last record taken says whether it was busy or
   waiting.
2. two workers, same records, another fresh group (`--runs` times, median): one on core 0, one
   on core 1 (the broker and everything else share them); the same measure; scaling = two ÷ one,
   the median's and each run's ÷ the one-worker run just before it (the sections runs in turns,
   `--runs` times: the in-process peers, one worker, two workers; the VM's speed moves by the
   hour, and a pair measured minutes apart says less).
   Each run starts them on a fresh, empty records topic and publishes the records (the same
   messages to the same partitions) only once their group has formed, the workers stopped
   meanwhile (bench/gate.py): two members sharing the partitions, not the first worker alone
   until a rebalance, then every record on the broker as in the one-worker runs.
3. peers, pinned like the worker, in fresh processes (the engine/JSON/BatchProcessor pass runs
   before each one-worker run, so each pair sees the same load; the pass before the median
   worker run is reported, and every pair's worker ÷ BatchProcessor):
   - the faust floor (bench/faustfloor.py): a faust worker with the worker's faust settings and
     transport whose agent takes the same chunks and does nothing; same measure as 1; and the same
     on stock faust (a record per event, `noack_take` batches), what transport.py saves;
   - the engine alone in-process: producer.decode_file (not timed) then Engine.process of every
     record + flush: the worker's ceiling;
   - orjson.loads of every record's JSON, and BatchProcessor (JSON decode + engine + every
     changed host's exported state as JSON, in the worker's chunks: one partition's records
     at a time, at most processor.batch_size, in the order fetches of
     processor.fetch_partition_bytes bring them, the garbage collector tuned as in the
     worker): the host stage without faust and Kafka;
   - the worker's whole in-process work (bench/peers.py _worker_work), in the same pass: the
     BatchProcessor with its campaign outbox, every alert version rendered as the alerts topic
     gets it, and at each checkpoint the behaviour updates fed to the campaign stage, its states
     exported and its campaign versions rendered: what the worker does without faust and Kafka,
     and the peer that worker ÷ in-process is read against (the BatchProcessor ratio is kept
     beside it, as issue 19 first measured it);
   - a plain aiokafka consumer loop reading the records topic, bytes only.

Topics (records, alerts, dead letters, faust's changelog and assignor topics) and consumer groups
are deleted when the section ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from oddping.config import ProcessorSettings

from . import broker, gate
from .busycap import ensure_busy
from .common import (ROOT, Context, Result, Row, cpu_seconds, loadavg, machine,
                     markdown_table, run_json)

TITLE = "oddping process (faust) vs the engine in-process and a plain aiokafka consumer"
BUSY = {"full": (3000, 9), "quick": (600, 4)}  # hosts, minutes of samples/busy.py
SEED = 7
TARGET = 50_000
POLL_S = 0.1
FIRST_RECORD_TIMEOUT_S = 180
DRAIN_TIMEOUT_S = 900
STALL_S = 60  # nothing taken and nothing committed this long (after the first record): give up
BATCH_SIZE = ProcessorSettings().batch_size  # the most records in one chunk the agent takes


def run(ctx: Context) -> Result:
    broker.require_broker()
    result = Result("stream", TITLE)
    mode = "quick" if ctx.quick else "full"
    hosts, minutes = BUSY[mode]
    capture, meta = ensure_busy(ctx.python, hosts, minutes, SEED, ctx.out_dir, log=ctx.log)
    ctx.generated.append(capture)
    rid = broker.run_id()
    prefix, app_prefix = f"bench.stream.{rid}", f"bench-stream-{rid}"
    groups: list[str] = []
    datadir = Path(tempfile.mkdtemp(prefix="faust-", dir=ctx.out_dir))
    try:
        records_topic = broker.create_topic(f"{prefix}.records")
        ctx.log(f"publishing the busy capture to {records_topic} with oddping produce ...")
        started = time.perf_counter()
        produced = subprocess.run(
            [ctx.oddping, "produce", "--pcap", str(capture), "--topic", records_topic,
             "--metrics-port", "0", "--sensor-id", "bench", "--bootstrap-servers", broker.BOOTSTRAP],
            capture_output=True, text=True, cwd=ROOT)
        if produced.returncode != 0:
            raise RuntimeError(f"oddping produce failed: {produced.stderr[-1000:]}")
        produce_seconds = time.perf_counter() - started
        ends = broker.end_offsets(records_topic)
        total = sum(ends.values())
        ctx.log(f"{total:,} records on {len(ends)} partitions {sorted(ends.values())} "
                f"({produce_seconds:.0f} s); one worker ...")
        # the two-worker runs publish the same messages once their group has formed (gate.py)
        messages_file = datadir / "records.pickle"
        gate.snapshot(records_topic, str(messages_file))

        runs = {}
        engines: list[dict] = []  # the in-process peers, run before each one-worker run
        attempts: dict[int, list[dict]] = {1: [], 2: []}

        def environment(workers: int) -> dict:
            return os.environ | {
                "ODDPING_KAFKA__BOOTSTRAP_SERVERS": broker.BOOTSTRAP,
                "ODDPING_KAFKA__RECORDS_TOPIC": records_topic,
                "ODDPING_KAFKA__ALERTS_TOPIC": f"{prefix}.alerts.w{workers}",
                "ODDPING_KAFKA__DEAD_LETTER_TOPIC": f"{prefix}.dlq.w{workers}",
                "ODDPING_KAFKA__PARTITIONS": str(broker.PARTITIONS),
                "ODDPING_PROCESSOR__DATA_DIR": str(datadir),
                "ODDPING_METRICS__PORT": "0",
                "ODDPING_LOG_LEVEL": "WARNING",
            }

        # in turns, so that each pair of measures sees the same machine (the VM's speed moves
        # by the hour): the in-process peers, one worker, two workers; again
        for attempt in range(ctx.runs):
            ctx.log(f"run {attempt + 1} of {ctx.runs}: peers: the engine in-process (decode not "
                    "timed), JSON, the batch processor ...")
            engines.append(run_json(ctx.pin + [
                ctx.python, "-m", "bench.peers", "engine", str(capture),
                "--batch-size", str(BATCH_SIZE)])[0])
            run_app = f"{app_prefix}-w1-r{attempt}"
            groups.append(run_app)
            ctx.log("one worker ...")
            attempts[1].append(_workers(  # on the records published beforehand
                ctx, environment(1) | {"ODDPING_PROCESSOR__APP_ID": run_app}, [ctx.pin],
                run_app, records_topic, total))
            run_app = f"{app_prefix}-w2-r{attempt}"
            groups.append(run_app)
            ctx.log(f"one worker: {attempts[1][-1]['rate'] / 1e3:.1f}k records/s; two workers ...")
            # a fresh, empty records topic: the group forms, then the records arrive
            topic = broker.create_topic(f"{prefix}.records.w2.r{attempt}")
            pins = [["taskset", "-c", str(c)] if ctx.pin else [] for c in (0, 1)]
            attempts[2].append(_workers(
                ctx, environment(2) | {"ODDPING_PROCESSOR__APP_ID": run_app,
                                       "ODDPING_KAFKA__RECORDS_TOPIC": topic},
                pins, run_app, topic, total, publish_from=str(messages_file)))
            ctx.log(f"two workers: {attempts[2][-1]['rate'] / 1e3:.1f}k records/s")
        runs = {workers: _median_run(done) for workers, done in attempts.items()}
        ones = attempts[1]
        # the peers' run just before the median worker run, and every pair
        engine = engines[sorted(range(len(ones)), key=lambda k: ones[k]["rate"])[(len(ones) - 1) // 2]]
        pairs = [(a["rate"] / (e["records"] / e["batch_seconds"]),
                  e["batch_cpu_seconds"] / e["records"] * 1e6 / a["cpu_us_per_record"]
                  if a["cpu_us_per_record"] else None) for a, e in zip(ones, engines)]
        work_pairs = [(a["rate"] / (e["records"] / e["work_seconds"]),
                       e["work_cpu_seconds"] / e["records"] * 1e6 / a["cpu_us_per_record"]
                       if a["cpu_us_per_record"] else None)
                      for a, e in zip(ones, engines)]
        #: two workers ÷ the one-worker run just before them, each turn
        scaling = [two["rate"] / one["rate"] for one, two in zip(ones, attempts[2])]

        floors: dict[str, dict | None] = {}
        floor_errors: list[str] = []
        for variant in ("worker", "stock"):
            ctx.log(f"peer: the faust floor on the {variant} app (same faust settings and "
                    "batches, an agent doing nothing) ...")
            floors[variant] = None
            for attempt in (1, 2):  # see bench/faustfloor.py: a do-nothing faust agent can stall
                floor_id = f"{app_prefix}-floor-{variant}{attempt}"
                groups.append(floor_id)
                try:
                    floors[variant] = _workers(
                        ctx, os.environ | {"ODDPING_BENCH_FLOOR": variant}, [ctx.pin], floor_id,
                        records_topic, total,
                        argv=[ctx.python, "-m", "bench.faustfloor", floor_id, records_topic,
                              broker.BOOTSTRAP, str(datadir)], first_record_timeout_s=60)
                    ctx.log(f"faust floor ({variant}): {floors[variant]['rate'] / 1e3:.1f}k records/s")
                    break
                except RuntimeError as exc:
                    floor_errors.append(f"{variant}: {str(exc).split(':')[0]}")
                    ctx.log(f"faust floor ({variant}) attempt {attempt}: {floor_errors[-1]}")
        floor, stock_floor = floors["worker"], floors["stock"]
        ctx.log("peer: a plain aiokafka consumer loop ...")
        consume, _ = run_json(ctx.pin + [ctx.python, "-m", "bench.peers", "consume", records_topic,
                                         str(total), "--bootstrap", broker.BOOTSTRAP])
    finally:
        broker.delete_topics(broker.topics_with_prefix(prefix, app_prefix))
        broker.delete_groups(groups)
        _rmtree(datadir)

    # -- rows ------------------------------------------------------------------------------------
    name = f"busy {hosts:,} hosts × {minutes} min ({_count(total)} records)"
    one, two = runs[1], runs[2]
    n = engine["records"]
    engine_rate = n / engine["engine_seconds"]
    batch_rate = n / engine["batch_seconds"]
    work_rate = n / engine["work_seconds"]
    loads_rate = n / engine["loads_seconds"]
    consume_rate = consume["messages"] / consume["seconds_first_to_last"]
    result.rows += [
        Row(name, "records/s, one worker (first to last record taken)", one["rate"],
            "engine alone, in-process", engine_rate, "/s"),
        Row(name, "records/s, one worker", one["rate"],
            f"BatchProcessor in-process (JSON + engine + state export, batches of {BATCH_SIZE})",
            batch_rate, "/s"),
        Row(name, "records/s, one worker", one["rate"],
            "the worker's in-process work (the BatchProcessor with its campaign outbox, every "
            "alert version as JSON, the campaign stage)", work_rate, "/s"),
        Row(name, "records/s, one worker", one["rate"], "plain aiokafka consumer loop, bytes only",
            consume_rate, "/s"),
        Row(name, "records/s, one worker", one["rate"], "target per worker", TARGET, "/s"),
        Row(name, "records/s, one worker", one["rate"],
            "faust floor: same faust app and batches, agent does nothing",
            floor["rate"] if floor else None, "/s"),
        Row(name, "faust floor, the worker's app (transport.py)", floor["rate"] if floor else None,
            "faust floor, stock faust.App", stock_floor["rate"] if stock_floor else None, "/s"),
        Row(name, "records/s, two workers (cores 0 and 1)", two["rate"], "one worker", one["rate"], "/s"),
        Row(name, "JSON decode: orjson.loads of the record values", loads_rate,
            "engine alone, in-process", engine_rate, "/s"),
    ]

    if one["cpu_us_per_record"]:  # the transport's cost, whatever share of its core it got
        result.rows.insert(2, Row(
            name, "records per CPU-second, one worker (all its threads, first to last record "
            "taken)", 1e6 / one["cpu_us_per_record"], "BatchProcessor in-process, per CPU-second",
            n / engine["batch_cpu_seconds"], "/s"))
        result.rows.insert(4, Row(
            name, "records per CPU-second, one worker (all its threads, first to last record "
            "taken)", 1e6 / one["cpu_us_per_record"],
            "the worker's in-process work, per CPU-second", n / engine["work_cpu_seconds"], "/s"))

    us = {  # µs per record
        "worker": 1e6 / one["rate"], "engine": 1e6 / engine_rate, "batch": 1e6 / batch_rate,
        "work": 1e6 / work_rate, "stage": engine["work_stage_seconds"] / n * 1e6,
        "loads": 1e6 / loads_rate, "consume": 1e6 / consume_rate,
        "floor": 1e6 / floor["rate"] if floor else None,
    }
    outputs_us = us["work"] - us["batch"]
    rest_us = us["worker"] - us["work"] - (us["floor"] or 0.0)
    state_us = us["batch"] - us["engine"] - us["loads"]
    worker_cpu_us = one["cpu"] / total * 1e6
    batch_cpu_us = engine["batch_cpu_seconds"] / n * 1e6
    work_cpu_us = engine["work_cpu_seconds"] / n * 1e6
    cpu = machine()["cpu_model"]
    result.markdown.append("\n".join([
        "**What bounds it** (µs per record, one worker)",
        "",
        markdown_table(("part", "µs per record", "share of the worker's"), [
            ("JSON decode (orjson.loads)", f"{us['loads']:.1f}", f"{us['loads'] / us['worker']:.0%}"),
            ("engine (Engine.process)", f"{us['engine']:.1f}", f"{us['engine'] / us['worker']:.0%}"),
            ("state export at checkpoints (take_changes: state_for + orjson.dumps) and batch bookkeeping",
             f"{max(0.0, state_us):.1f}", f"{max(0.0, state_us) / us['worker']:.0%}"),
            ("alert versions as JSON, the campaign outbox, and the campaign stage "
             f"({engine['work_behaviours']:,} behaviour updates, "
             f"{engine['work_campaign_versions']:,} campaign versions: {us['stage']:.1f} µs)",
             f"{max(0.0, outputs_us):.1f}", f"{max(0.0, outputs_us) / us['worker']:.0%}"),
            ("faust consuming: fetch, chunks, acks, commits (the faust floor)",
             _fmt(us["floor"]), _fmt(us["floor"] and us["floor"] / us["worker"], "{:.0%}")
             if floor else f"floor failed: {'; '.join(floor_errors)}"),
            ("the rest: changelog, alert and behaviour sends through faust's producer, awaiting"
             " their acks,"
             " the consumer thread's share of the core"
             + ("" if floor else " (and faust's consuming: no floor)"),
             f"{rest_us:.1f}", f"{rest_us / us['worker']:.0%}" if rest_us >= 0 else
             "none measurable: the parts, each from its own run, add up to more than the worker"),
            ("worker total (wall, first to last record taken)", f"{us['worker']:.1f}", "100%"),
            ("*for scale: aiokafka consumer loop alone, bytes only*", f"{us['consume']:.1f}", ""),
            ("*worker CPU per record, first to last record taken*", _fmt(one["cpu_us_per_record"]),
             f"*CPU busy {_fmt(one['cpu_utilisation'], '{:.0%}')} of that time*"),
            ("*worker CPU per record, whole process (start-up included)*", f"{worker_cpu_us:.1f}", ""),
            ("*BatchProcessor CPU per record (in-process, same work without Kafka and faust)*",
             f"{batch_cpu_us:.1f}", "*worker CPU ÷ this: "
             + _fmt(one["cpu_us_per_record"] and one["cpu_us_per_record"] / batch_cpu_us, "{:.2f}")
             + "×*"),
            ("*the worker's in-process work, CPU per record (BatchProcessor, alert JSON, campaign"
             " stage)*", f"{work_cpu_us:.1f}", "*worker CPU ÷ this: "
             + _fmt(one["cpu_us_per_record"] and one["cpu_us_per_record"] / work_cpu_us, "{:.2f}")
             + "×*"),
            ("*worker's main thread, first to last record taken*", "",
             f"*on a core {_fmt(one['main_thread_running'], '{:.0%}')}, waiting for one "
             f"{_fmt(one['main_thread_waiting_for_core'], '{:.0%}')}*"),
        ]),
        "",
        f"- One worker on {cpu}: {one['rate'] / 1e3:.1f}k records/s ({one['rate'] / TARGET:.0%} "
        f"of the {TARGET / 1e3:.0f}k/s target), {one['rate'] / batch_rate:.2f}× the BatchProcessor "
        f"in-process; its CPU per record {_fmt(one['cpu_us_per_record'])} µs, "
        f"{_fmt(one['cpu_us_per_record'] and one['cpu_us_per_record'] / batch_cpu_us, '{:.2f}')}× "
        f"the BatchProcessor's ({batch_cpu_us:.1f} µs); its main thread was on its core "
        f"{_fmt(one['main_thread_running'], '{:.0%}')} of the time and waited for it "
        f"{_fmt(one['main_thread_waiting_for_core'], '{:.0%}')} (another process or thread on the "
        f"pinned core). Worker ÷ BatchProcessor in each pair of runs (the BatchProcessor just "
        "before the worker): by wall clock " + ", ".join(f"{w:.2f}×" for w, _c in pairs)
        + "; per CPU-second " + ", ".join(_fmt(c, "{:.2f}×") for _w, c in pairs) + ". "
        f"The BatchProcessor does less than the worker does in its process: the worker also "
        f"renders every alert version as JSON, keeps the campaign outbox and runs the campaign "
        f"stage. That whole in-process work, in the same pass: {work_rate / 1e3:.1f}k/s; worker "
        f"÷ it by wall clock " + ", ".join(f"{w:.2f}×" for w, _c in work_pairs)
        + "; per CPU-second " + ", ".join(_fmt(c, "{:.2f}×") for _w, c in work_pairs) + ". "
        f"The engine alone does {engine_rate / 1e3:.1f}k/s and JSON + "
        f"engine + state export {batch_rate / 1e3:.1f}k/s: "
        + ("even with a free transport the worker could not reach the target. "
           if batch_rate < TARGET else
           "our own per-record work would allow the target; the transport is what stops it. ")
        + f"Table updates in-process, on the worker's checkpoint policy: "
        f"{engine['table_updates']:,} exported states in {engine['checkpoints']} checkpoints "
        f"({engine['table_update_bytes'] / 1e6:.1f} MB of JSON) for {n:,} records, each one "
        "also a changelog message the worker sends.",
        f"- Two workers on {cpu}: {two['rate'] / 1e3:.1f}k/s = {two['rate'] / one['rate']:.2f}× one "
        "(median ÷ median); each two-worker run ÷ the one-worker run just before it: "
        + ", ".join(f"{x:.2f}×" for x in scaling) + ". Their group "
        f"formed (both members, every partition assigned) {_fmt(two['group_formed_s'])} s after "
        "they started, on an empty records topic, and only then were the records published to "
        f"it, the workers stopped meanwhile (bench/gate.py: {_fmt(two['publish_seconds'])} s); "
        "the rate is from the first poll after they went on (every record on the broker, as in "
        "the one-worker runs) to the last record taken. From the first record "
        f"either took: {two['rate_from_first'] / 1e3:.1f}k/s = "
        f"{two['rate_from_first'] / one['rate']:.2f}×. Between the first records of the two: "
        f"{two['all_taking_s'] - two['startup_s']:.1f} s, {two['taken_before_all']:,} records "
        f"taken; taken twice (replayed after a rebalance): {two['retaken']:,}. Group members "
        f"seen: {two['max_members']}; on 2 cores shared with the broker, the producer of the "
        "changelog and alerts, and everything else on the machine.",
        "- Each two-worker run (records each took; when each took its last, from start; CPU "
        "each): " + "; ".join(
            f"{r['rate'] / 1e3:.1f}k/s: " + ", ".join(f"{c:,}" for c in r["taken_by_worker"])
            + " at " + ", ".join(_fmt(t) + " s" for t in r["last_taken_at_s"])
            + (f" (all published at {_fmt(r['published_at_s'])} s)" if r["published_at_s"] else "")
            + "; CPU " + ", ".join(f"{c:.1f} s" for c in r["cpus"] or [])
            + f", the broker's from first to last taken {_fmt(r['broker_cpu_first_to_last'])} s"
            for r in two["runs"]) + ".",
        f"- Worker warnings (stderr, WARNING level): one worker {_fmt_warnings(one['warnings'])}; "
        f"two workers {_fmt_warnings(two['warnings'])}.",
        f"- Cross-checks: steady (10–90 % taken) one worker {one['steady_rate'] / 1e3:.1f}k/s, "
        f"two {two['steady_rate'] / 1e3:.1f}k/s. Checkpoints seen as commits: "
        f"{one['checkpoints']} / {two['checkpoints']}; changelog messages "
        f"{one['changelog_messages']:,} / {two['changelog_messages']:,} for {total:,} records. "
        f"Start-up to the first record taken: {one['startup_s']:.1f} s / {two['startup_s']:.1f} s. "
        "The broker's CPU from the first record taken to the last (it shares the two cores): "
        f"one worker {_fmt(one.get('broker_cpu_first_to_last'))} s in "
        f"{one['done_s'] - one['startup_s']:.1f} s; two workers "
        f"{_fmt(two.get('broker_cpu_first_to_last'))} s in "
        f"{two['done_s'] - two['startup_s']:.1f} s.",
    ]))
    result.markdown.append(markdown_table(
        ("run", "records", "first taken at", "all taken at", "all committed at", "records/s",
         "steady", "CPU busy, first to last taken", "worker CPU, whole process"),
        [(f"{w} worker{'s' if w > 1 else ''}", f"{total:,}",
          f"{r['startup_s']:.1f} s ({r['first_consumed']:,} taken)", f"{r['done_s']:.1f} s",
          f"{r['committed_s']:.1f} s",
          f"{r['rate'] / 1e3:.1f}k/s (runs: "
          + ", ".join(f"{x / 1e3:.1f}k" for x in r["rates"]) + ")",
          f"{r['steady_rate'] / 1e3:.1f}k/s",
          _fmt(r["cpu_utilisation"], "{:.0%}") + (" of one core" if w == 1 else " of one core (both summed)"),
          " + ".join(f"{c:.1f} s" for c in r["cpus"]))
         for w, r in runs.items()]))
    result.data = {"capture": {"path": str(capture), **meta}, "records": total, "end_offsets": ends,
                   "produce_seconds": produce_seconds, "workers": runs, "engine": engine,
                   "consume": consume, "faust_floor": floor, "faust_floor_stock": stock_floor,
                   "faust_floor_errors": floor_errors, "engine_runs": engines,
                   "worker_over_batch_pairs": pairs, "worker_over_work_pairs": work_pairs,
                   "two_over_one_pairs": scaling,
                   "us_per_record": us,
                   "loadavg_end": loadavg()}
    return result


def _median_run(attempts: list[dict]) -> dict:
    """The run with the median rate (the lower middle one of an even number), with every
    run's rate beside it."""
    ranked = sorted(attempts, key=lambda r: r["rate"])
    chosen = ranked[(len(ranked) - 1) // 2]
    return chosen | {"rates": [r["rate"] for r in attempts],
                      "rates_from_first": [r.get("rate_from_first") for r in attempts],
                      "runs": [_run_summary(r) for r in attempts]}


def _run_summary(run: dict) -> dict:
    """What tells one run from another: each worker's records and when it took its last, its
    CPU, how long its main thread waited for its core, what was retaken."""
    timeline = run.get("worker_timeline") or []
    last = timeline[-1][1] if timeline else []
    done = [next((t for t, cs in timeline if cs[i] == last[i]), None) for i in range(len(last))]
    return {"rate": run["rate"], "taken_by_worker": last, "last_taken_at_s": done,
            "first_taken_at_s": run.get("first_taken_by_worker"), "cpus": run.get("cpus"),
            "published_at_s": run.get("published_at_s"), "retaken": run.get("retaken"),
            "broker_cpu_first_to_last": run.get("broker_cpu_first_to_last"),
            "main_thread_waiting_for_core": run.get("main_thread_waiting_for_core"),
            "warnings": run.get("warnings")}


def _workers(ctx: Context, env: dict, pins: list[list[str]], app_id: str, topic: str,
             total: int, argv: list[str] | None = None,
             first_record_timeout_s: float = FIRST_RECORD_TIMEOUT_S,
             publish_from: str | None = None) -> dict:
    """Start len(pins) workers, poll what they have taken and the group's committed offsets
    until all `total` records are taken and committed, stop the workers; timelines and rates.
    publish_from: `topic` is empty; once the workers' group has formed (every worker a member,
    every partition assigned), publish the messages of this file to it (gate.py)."""
    offsets = broker.CommittedOffsets(app_id, topic)
    procs = []
    errs = []
    ports = []
    started = time.perf_counter()
    for pin in pins:
        err = tempfile.TemporaryFile()
        errs.append(err)
        port = _free_port()
        ports.append(port)
        command = pin + (argv + [str(port)] if argv else [ctx.oddping, "process"])
        procs.append(subprocess.Popen(command, env=env | {"ODDPING_METRICS__PORT": str(port)},
                                      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err))
    timeline: list[tuple[float, int]] = []  # (time, committed offsets)
    consumed_timeline: list[tuple[float, int]] = []  # (time, records taken by the workers)
    worker_timeline: list[tuple[float, list[int]]] = []  # (time, records taken by each worker)
    changelog = broker.Watermarks(f"{app_id}-host-state-changelog")
    writes: list[tuple[float, int]] = []  # (time, changelog messages): checkpoints
    members = 0
    next_members = 0.0
    cpu_at_first = cpu_at_done = sched_at_first = sched_at_done = None
    broker_at_first = broker_at_done = None
    cpu_done_at = 0.0
    consumed_done = False
    publisher = None
    formed_s = publish_started_s = published_at = None
    try:
        if publish_from is not None:
            formed_s = gate.wait_stable(app_id, topic, len(pins))
            # the workers wait (stopped, well within their session timeout) while the records
            # are published, then take them all from the broker, as the one-worker runs do
            for proc in procs:
                proc.send_signal(signal.SIGSTOP)
            publish_started_s = time.perf_counter() - started
            publisher = subprocess.Popen(
                [ctx.python, "-m", "bench.gate", "publish", topic, publish_from, broker.BOOTSTRAP],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                publisher.wait(timeout=gate.PUBLISH_TIMEOUT_S)
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGCONT)
        while True:
            now = time.perf_counter() - started
            by_worker = [_consumed(port) for port in ports]
            consumed = sum(by_worker)
            if not consumed_timeline or consumed != consumed_timeline[-1][1]:
                consumed_timeline.append((now, consumed))
                worker_timeline.append((now, by_worker))
                if cpu_at_first is None and consumed > 0:
                    cpu_at_first, sched_at_first = _cpu_now(procs), _sched_now(procs)
                    broker_at_first = _broker_cpu()
            if publisher is not None and published_at is None and publisher.poll() is not None:
                published_at = now  # every record is on the broker from here on
            if consumed >= total and not consumed_done:
                consumed_done = True
                cpu_at_done, sched_at_done = _cpu_now(procs), _sched_now(procs)
                broker_at_done = _broker_cpu()
                cpu_done_at = now
            committed = offsets.total()
            written = changelog.total()
            if not writes or written != writes[-1][1]:
                writes.append((time.perf_counter() - started, written))
            if not timeline or committed != timeline[-1][1]:
                timeline.append((now, committed))
            if committed >= total and consumed_done:
                break
            if now >= next_members:
                members = max(members, offsets.members())
                next_members = now + 1.0
            dead = [p for p in procs if p.poll() is not None]
            limit = first_record_timeout_s if consumed == 0 else DRAIN_TIMEOUT_S
            stalled = consumed > 0 and now - max(timeline[-1][0], consumed_timeline[-1][0]) > STALL_S
            if dead or now > limit or stalled:
                why = "exited" if dead else "stalled" if stalled else "too slow"
                raise RuntimeError(f"workers {why} at {consumed:,} taken, {committed:,} of "
                                   f"{total:,} committed after {now:.0f} s: {_tail(errs)}")
            time.sleep(POLL_S)
    finally:
        cpus = _stop(procs)
        published = None
        if publisher is not None:
            if publisher.poll() is None and not consumed_done:
                publisher.kill()  # the run failed
            out, err = publisher.communicate(timeout=300)
            if publisher.returncode == 0:
                published = json.loads(out.strip().splitlines()[-1])
            elif consumed_done:
                raise RuntimeError(f"bench.gate publish failed: {err[-1000:]}")
        changelog.close()
        offsets.close()
        stderr = _tail(errs)
        warnings = _warnings(errs)
        for err in errs:
            err.close()
    # The rate: records the workers took from faust (their consumed counter, polled every
    # POLL_S), from the first poll that saw any to the first that saw them all.  Offsets are
    # committed only at checkpoints (seconds apart), too coarse to time by.
    # A record taken again after a rebalance (the new owner replays what was not checkpointed)
    # is counted again by the workers: the last record is taken when their sum reaches its
    # final value, not `total`.  Records/s counts what was taken from the first poll that saw
    # every worker taking records (for one worker: its first) to then: before it, a worker that
    # joined the group first may have worked alone until the other's join moved partitions
    # (the dev broker starts a new group's first rebalance at once:
    # group.initial.rebalance.delay.ms=0), which is reported beside it, not hidden.
    final = consumed_timeline[-1][1]
    first = next((t, c) for t, c in consumed_timeline if c > 0)
    done = next(t for t, c in consumed_timeline if c >= final)
    all_in = next(((t, sum(cs)) for t, cs in worker_timeline if all(cs)), first)
    span = done - all_in[0]
    rate = (final - all_in[1]) / span if span > 0 and all_in[1] < final else total / max(done, 1e-9)
    rate_while_publishing = None
    if published_at is not None:
        # Records published once the group had formed, the workers stopped meanwhile (gate.py):
        # from the first poll after the publisher finished every record is on the broker, as
        # in a one-worker run on records published beforehand: that is the rate.
        after = next(((t, c) for t, c in consumed_timeline if t >= published_at), None)
        if after is not None and done - after[0] > 0 and after[1] < final:
            rate_while_publishing = rate
            rate = (final - after[1]) / (done - after[0])
    span_first = done - first[0]
    rate_from_first = (final - first[1]) / span_first if span_first > 0 else rate
    span = (cpu_done_at if consumed_done else done) - first[0]  # the CPU figures: over this
    busy_cpu = (cpu_at_done - cpu_at_first) if cpu_at_first is not None and cpu_at_done is not None else None
    # the workers' main threads (the agent, faust, the engine) from first to last record taken:
    # on a core, waiting for one (runnable, another process or thread on it), or neither
    # (waiting for records, for Kafka's acks, or for the GIL while the consumer thread has it)
    main_run, main_wait = (
        [(b - a) / (len(pins) * span) if span > 0 else None for a, b in zip(sched_at_first, sched_at_done)]
        if sched_at_first and sched_at_done else (None, None))
    return {"workers": len(pins), "rate": rate,
            "checkpoints": sum(1 for _t, c in timeline if c > 0),
            "changelog_messages": writes[-1][1] if writes else 0, "changelog_timeline": writes,
            "broker_cpu_first_to_last": (broker_at_done - broker_at_first
                                         if broker_at_first is not None
                                         and broker_at_done is not None else None),
            "cpu_first_to_last": busy_cpu, "cpu_utilisation": busy_cpu / span if busy_cpu and span > 0 else None,
            "cpu_us_per_record": busy_cpu / (total - first[1]) * 1e6 if busy_cpu and total > first[1] else None,
            "steady_rate": _steady(consumed_timeline, total) or rate,
            "startup_s": first[0], "first_consumed": first[1], "done_s": done,
            "main_thread_running": main_run, "main_thread_waiting_for_core": main_wait,
            "rate_from_first": rate_from_first, "all_taking_s": all_in[0],
            "taken_before_all": all_in[1], "retaken": final - total,
            "first_taken_by_worker": [next((t for t, cs in worker_timeline if cs[i] > 0), None)
                                      for i in range(len(pins))],
            "worker_timeline": worker_timeline,
            "committed_s": timeline[-1][0],
            "max_members": members, "cpus": cpus, "group_formed_s": formed_s,
            "publish_started_s": publish_started_s,
            "publish_seconds": published["seconds"] if published else None,
            "published_at_s": published_at, "rate_with_publishing": rate_while_publishing, "cpu": sum(cpus), "timeline": timeline,
            "consumed_timeline": consumed_timeline,
            "warnings": warnings, "stderr_tail": stderr}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _consumed(port: int) -> int:
    """A worker's oddping_records_consumed_total from its /metrics (0 until it answers)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("oddping_records_consumed_total "):
                    return int(float(line.split()[1]))
    except OSError:
        pass
    return 0


def _cpu_now(procs: list[subprocess.Popen]) -> float:
    """CPU seconds (user+sys, all threads) the processes have used so far, from /proc."""
    total = 0.0
    for p in procs:
        try:
            total += cpu_seconds(p.pid)
        except (OSError, IndexError, ValueError):
            pass
    return total


def _broker_cpu() -> float | None:
    """CPU seconds the local broker (dev/kafka/kafka.sh's, by its pid file) has used so far."""
    try:
        return cpu_seconds(int((ROOT / "var" / "kafka" / "kafka.pid").read_text().strip()))
    except (OSError, IndexError, ValueError):
        return None


def _sched_now(procs: list[subprocess.Popen]) -> tuple[float, float] | None:
    """Seconds the processes' main threads have spent on a core and waiting for one
    (/proc/PID/task/PID/schedstat: run time, run-queue delay), summed."""
    run = wait = 0.0
    try:
        for p in procs:
            with open(f"/proc/{p.pid}/task/{p.pid}/schedstat") as f:
                fields = f.read().split()
            run, wait = run + int(fields[0]) / 1e9, wait + int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None
    return run, wait


def _steady(timeline: list[tuple[float, int]], total: int) -> float | None:
    """Least-squares slope of records taken over time between 10 % and 90 % of them."""
    points = [(t, c) for t, c in timeline if 0.1 * total <= c <= 0.9 * total]
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mc = sum(c for _, c in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (c - mc) for t, c in points) / var if var else None


def _stop(procs: list[subprocess.Popen]) -> list[float]:
    """SIGTERM, wait (kill after 60 s); the CPU seconds (user+sys) of each, from wait4."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    cpus = []
    for p in procs:
        usage = None
        if p.returncode is None:  # not reaped yet: wait4 gives its rusage
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pid, status, usage = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    p.returncode = os.waitstatus_to_exitcode(status)
                    break
                usage = None
                time.sleep(0.2)
            else:
                p.kill()
                _pid, status, usage = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
        cpus.append(usage.ru_utime + usage.ru_stime if usage else 0.0)
    return cpus


def _warnings(errs) -> dict[str, int]:
    """The workers' WARNING lines, counted by message (numbers dropped)."""
    import re
    from collections import Counter

    counts: Counter = Counter()
    for err in errs:
        err.seek(0)
        for line in err.read().decode(errors="replace").splitlines():
            if "[WARNING]" in line:
                message = line.split("[WARNING]", 1)[1].strip()
                counts[re.sub(r"\d+", "N", message)[:80]] += 1
    return dict(counts.most_common(8))


def _tail(errs) -> str:
    out = []
    for err in errs:
        err.seek(0)
        out.append(err.read().decode(errors="replace").strip()[-800:])
    return " | ".join(o for o in out if o)


def _k(value: float | None) -> float | None:
    return None if value is None else value / 1e3


def _fmt(value: float | None, spec: str = "{:.1f}") -> str:
    return "–" if value is None else spec.format(value)


def _fmt_warnings(warnings: dict[str, int]) -> str:
    return ", ".join(f"{n}× “{m}”" for m, n in warnings.items()) or "none"


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _count(n: int) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1_000_000 else f"{n / 1e3:.3g}k"

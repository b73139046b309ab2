"""Section `campaigns`: the cost of the campaign stage (the second stage) in the worker.

Input: the stream section's busy network (samples/busy.py: 3,000 hosts for 9 minutes, ~292k
records; --quick: 600 hosts for 4 minutes), published once to a fresh 4-partition records topic.
One worker (under ctx.pin), `--runs` times each, alternating: with the campaign stage
(`campaigns.stream = true`, the default: at each checkpoint one update per behaviour alert with
versions since the last, plus its withdrawals, goes to `<app_id>-campaign-behaviours`, read in
chunks by the second agent with its table) and without it (`campaigns.stream = false`; host
alerts are annotated either way).  Records/s and CPU µs per record measured as in the stream
section (bench.stream._workers: the worker's consumed counter polled every 0.1 s, without
start-up); the medians and every time-paired ratio are reported.  The second stage's own input
(behaviour updates) is counted from its topic's end offsets.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from . import broker
from .busycap import ensure_busy
from .common import ROOT, Context, Result, Row, loadavg, machine, markdown_table
from .stream import BUSY, SEED, _median_run, _workers

TITLE = "oddping process with and without the campaign stage"


def run(ctx: Context) -> Result:
    broker.require_broker()
    result = Result("campaigns", TITLE)
    hosts, minutes = BUSY["quick" if ctx.quick else "full"]
    capture, _ = ensure_busy(ctx.python, hosts, minutes, SEED, ctx.out_dir, log=ctx.log)
    ctx.generated.append(capture)
    rid = broker.run_id()
    prefix, app_prefix = f"bench.campaigns.{rid}", f"bench-campaigns-{rid}"
    topics: list[str] = []
    groups: list[str] = []
    datadir = Path(tempfile.mkdtemp(prefix="faust-", dir=ctx.out_dir))
    try:
        records_topic = broker.create_topic(f"{prefix}.records")
        topics.append(records_topic)
        produced = subprocess.run(
            [ctx.oddping, "produce", "--pcap", str(capture), "--topic", records_topic,
             "--metrics-port", "0", "--sensor-id", "bench", "--bootstrap-servers",
             broker.BOOTSTRAP], capture_output=True, text=True, cwd=ROOT)
        if produced.returncode != 0:
            raise RuntimeError(f"oddping produce failed: {produced.stderr[-1000:]}")
        total = sum(broker.end_offsets(records_topic).values())
        ctx.log(f"{total:,} records; one worker with and without the campaign stage ...")
        attempts: dict[bool, list[dict]] = {True: [], False: []}
        updates: list[int] = []
        for attempt in range(ctx.runs):
            for enabled in (True, False):
                app_id = f"{app_prefix}-{'on' if enabled else 'off'}-r{attempt}"
                groups.append(app_id)
                topics += [f"{prefix}.alerts.{app_id}", f"{prefix}.dlq.{app_id}"]
                env = os.environ | {
                    "ODDPING_KAFKA__BOOTSTRAP_SERVERS": broker.BOOTSTRAP,
                    "ODDPING_KAFKA__RECORDS_TOPIC": records_topic,
                    "ODDPING_KAFKA__ALERTS_TOPIC": f"{prefix}.alerts.{app_id}",
                    "ODDPING_KAFKA__DEAD_LETTER_TOPIC": f"{prefix}.dlq.{app_id}",
                    "ODDPING_KAFKA__PARTITIONS": str(broker.PARTITIONS),
                    "ODDPING_PROCESSOR__APP_ID": app_id,
                    "ODDPING_PROCESSOR__DATA_DIR": str(datadir),
                    "ODDPING_CAMPAIGNS__STREAM": "true" if enabled else "false",
                    "ODDPING_METRICS__PORT": "0",
                    "ODDPING_LOG_LEVEL": "WARNING",
                }
                started = time.perf_counter()
                attempts[enabled].append(_workers(ctx, env, [ctx.pin], app_id, records_topic,
                                                  total))
                if enabled:
                    behaviours = f"{app_id}-campaign-behaviours"
                    topics.append(behaviours)
                    updates.append(sum(broker.end_offsets(behaviours).values()))
                ctx.log(f"  {'with' if enabled else 'without'}: "
                        f"{attempts[enabled][-1]['rate'] / 1e3:.1f}k records/s "
                        f"({time.perf_counter() - started:.0f} s)")
        on, off = _median_run(attempts[True]), _median_run(attempts[False])
        pairs = [a["rate"] / b["rate"] for a, b in zip(attempts[True], attempts[False])]
        result.rows.append(Row("busy", "one worker, records/s", on["rate"],
                               "without the campaign stage", off["rate"], "/s",
                               f"{total:,} records, {updates[-1]:,} behaviour updates"))
        result.markdown.append(markdown_table(
            ["", "records/s (median)", "CPU µs/record", "paired with ÷ without"],
            [["with the campaign stage", f"{on['rate'] / 1e3:.1f}k",
              f"{on['cpu_us_per_record']:.1f}" if on["cpu_us_per_record"] else "-",
              ", ".join(f"{p:.2f}" for p in pairs)],
             ["without", f"{off['rate'] / 1e3:.1f}k",
              f"{off['cpu_us_per_record']:.1f}" if off["cpu_us_per_record"] else "-", ""]]))
        result.data = {"records": total, "behaviour_updates": updates, "with": attempts[True],
                       "without": attempts[False], "paired_ratios": pairs,
                       "machine": machine(), "load": loadavg()}
    finally:
        broker.delete_topics(topics + [f"{g}-{suffix}" for g in groups for suffix in (
            "host-state-changelog", "campaign-state-changelog", "__assignor-__leader")])
        broker.delete_groups(groups)
    return result

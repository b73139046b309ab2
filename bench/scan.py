"""Section `scan`: `oddping scan FILE --format jsonl > /dev/null` beside tcpdump on the same file.

The mixed capture of the decode section (5M frames, ~2 % ICMP; --quick 500k), alternating
--runs times, each under ctx.pin:

- `oddping scan FILE --format jsonl` (decode + the detection engine + alerts as JSON lines);
- `tcpdump -r FILE -w /dev/null 'icmp or icmp6'` (the peer: read, filter in BPF, write);
- `oddping decode FILE` (same decode without the engine: scan minus decode is what detection
  adds).

Wall and CPU time (user+sys of that process, from wait4); medians.
"""

from __future__ import annotations

import re
import shutil

from . import gen
from .common import (Context, Result, Row, Timing, checked, count_label, loadavg, markdown_table,
                     median, run_timed, warm)

TITLE = "oddping scan vs tcpdump (and oddping decode) on the mixed capture"
MIXED_FILTER = "icmp or icmp6"
SUMMARY = re.compile(r"(\d+) alerts from (\d+) records")


def run(ctx: Context) -> Result:
    if not shutil.which("tcpdump"):
        raise RuntimeError("tcpdump is not installed (scripts/system-deps.sh installs it)")
    result = Result("scan", TITLE)
    mixed, meta = gen.ensure_capture("mixed", ctx.size(gen.SIZES["mixed"]), out_dir=ctx.out_dir,
                                     log=ctx.log)
    ctx.generated.append(mixed)
    warm(mixed)
    runs: dict[str, list[Timing]] = {"scan": [], "tcpdump": [], "decode": []}
    for i in range(ctx.runs):
        ctx.log(f"run {i + 1}/{ctx.runs}: oddping scan --format jsonl, tcpdump '{MIXED_FILTER}', "
                "oddping decode")
        runs["scan"].append(checked(run_timed(ctx.pin + [ctx.oddping, "scan", str(mixed), "--format", "jsonl",
                                                        "--sensor-id", "bench"])))
        runs["tcpdump"].append(checked(run_timed(
            ctx.pin + ["tcpdump", "-r", str(mixed), "-w", "/dev/null", MIXED_FILTER])))
        runs["decode"].append(checked(run_timed(ctx.pin + [ctx.oddping, "decode", str(mixed),
                                                          "--sensor-id", "bench"])))

    name = f"mixed {count_label(meta['packets'])}"
    wall = {k: median([t.wall for t in v]) for k, v in runs.items()}
    cpu = {k: median([t.cpu for t in v]) for k, v in runs.items()}
    result.rows += [
        Row(name, f"wall time, median of {ctx.runs}", wall["scan"],
            f"tcpdump -r -w /dev/null '{MIXED_FILTER}'", wall["tcpdump"], "s"),
        Row(name, f"CPU time (user+sys), median of {ctx.runs}", cpu["scan"], "tcpdump (same)",
            cpu["tcpdump"], "s"),
        Row(name, f"wall time, median of {ctx.runs}", wall["scan"], "oddping decode > /dev/null (no engine)",
            wall["decode"], "s"),
    ]
    found = SUMMARY.search(runs["scan"][0].stderr)
    alerts, records = (int(found[1]), int(found[2])) if found else (None, None)
    engine_s = wall["scan"] - wall["decode"]
    per_record = engine_s / records * 1e6 if records else float("nan")
    result.markdown.append("\n".join([
        "**What bounds it**",
        "",
        f"- `oddping scan` = `oddping decode`'s work ({wall['decode']:.2f} s: the filtered libpcap read, "
        f"the second counting pass, decoding the ICMP frames; see the decode section) plus the engine "
        f"over {records or 0:,} records ({engine_s:.2f} s, {engine_s / wall['scan']:.0%} of the wall time, "
        f"{per_record:.0f} µs per record) and {alerts or 0:,} alerts written. "
        f"tcpdump does none of the decoding and only filters ({wall['tcpdump']:.2f} s).",
        "",
        markdown_table(("run", "oddping scan (wall / CPU)", "tcpdump (wall / CPU)", "oddping decode (wall / CPU)"),
                       [(i + 1, *(f"{t.wall:.2f} s / {t.cpu:.2f} s" for t in ts))
                        for i, ts in enumerate(zip(runs["scan"], runs["tcpdump"], runs["decode"]))]),
    ]))
    result.data = {"capture": {"path": str(mixed), **meta}, "alerts": alerts, "records": records,
                   "runs": {k: [{"wall": t.wall, "user": t.user, "sys": t.sys} for t in v]
                            for k, v in runs.items()},
                   "loadavg_end": loadavg()}
    return result






#!/usr/bin/env python3
"""oddping's benchmark: generates its own captures, measures each figure beside a peer's.

    make bench                                    # everything, full size
    .venv/bin/python bench/run.py --quick         # small captures (CI smoke)
    .venv/bin/python bench/run.py --only decode --json bench/out/decode.json

Prints a markdown report on stdout (progress on stderr) and writes the figures as JSON
(bench/out/results.json unless --json says otherwise).  Figures are ratios to a peer, never
pass/fail: see bench/README.md for what each one means.

Adding a section: write bench/<name>.py with `run(ctx: Context) -> Result` (bench/common.py)
and register it in SECTIONS below; run.py handles flags, ordering, the report and the JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(ROOT))

from bench import gen  # noqa: E402
from bench.common import (  # noqa: E402
    OUT_DIR, Context, Result, fmt_ratio, fmt_value, loadavg, machine, markdown_table, pin_prefix,
)

# name -> (module under bench/, one line on what it measures).  Sections run in this order.
SECTIONS: dict[str, tuple[str, str]] = {
    "decode": ("bench.decode", "oddping decode vs tcpdump and a dpkt loop; where decode time goes"),
    "produce": ("bench.produce", "oddping produce to the local broker vs a bare confluent-kafka loop"),
    "stream": ("bench.stream", "oddping process workers vs the engine in-process and an aiokafka loop"),
    "scan": ("bench.scan", "oddping scan vs tcpdump (and oddping decode) on the mixed capture"),
    "memory": ("bench.memory", "memory per tracked host in the engine vs the records themselves"),
    "dedup": ("bench.dedup", "the engine fed two sensors' copies of every packet vs one sensor"),
    "flood": ("bench.flood", "a spoofed-source flood over 1,000 hosts: scan and one worker, with and without"),
    "campaigns": ("bench.campaigns", "one worker with and without the campaign stage (the second stage's cost)"),
    "latency": ("bench.latency", "live alert latency through the broker at 20,000 records/s of background"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="sections:\n" + "\n".join(
                                         f"  {k:10} {v[1]}" for k, v in SECTIONS.items()))
    parser.add_argument("--quick", action="store_true",
                        help="small captures (mixed %s, all-ICMP %s frames): a smoke run" % (
                            f"{gen.SIZES['mixed']['quick']:,}", f"{gen.SIZES['icmp']['quick']:,}"))
    parser.add_argument("--only", default=None, metavar="NAME[,NAME]",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    parser.add_argument("--json", default=str(OUT_DIR / "results.json"), metavar="OUT",
                        help="where the figures go as JSON (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3,
                        help="repetitions of each compared command, alternating with its peer")
    parser.add_argument("--no-pin", action="store_true", help="do not pin measured processes to core 0")
    parser.add_argument("--clean", action="store_true",
                        help="delete the generated captures afterwards (they are cached by default)")
    args = parser.parse_args(argv)

    names = list(SECTIONS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")

    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[bench {time.perf_counter() - started:6.0f}s] {message}", file=sys.stderr, flush=True)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        quick=args.quick, runs=max(1, args.runs), out_dir=OUT_DIR,
        python=str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists()
        else sys.executable,
        oddping=str(ROOT / ".venv" / "bin" / "oddping"), pin=pin_prefix(not args.no_pin),
        keep_captures=not args.clean, log=log,
    )
    host = machine()
    log(f"{host['nproc']} CPUs ({host['cpu_model']}), load {_load(host['loadavg_start'])}, "
        f"pinning: {' '.join(ctx.pin) or 'off'}")

    results: list[Result] = []
    failures: dict[str, str] = {}
    try:
        for name in names:
            log(f"section {name}: {SECTIONS[name][1]}")
            try:
                results.append(importlib.import_module(SECTIONS[name][0]).run(ctx))
            except Exception as exc:  # noqa: BLE001 - report it, go on with the next section
                failures[name] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
    finally:
        if not ctx.keep_captures:
            for path in dict.fromkeys(ctx.generated):
                gen.remove_capture(path)
                log(f"removed {path}")

    host["loadavg_end"] = loadavg()
    report = _report(results, failures, host, ctx, time.perf_counter() - started)
    print(report)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": ctx.quick, "runs": ctx.runs,
        "pinned": " ".join(ctx.pin), "seconds": round(time.perf_counter() - started, 1),
        "cpu_model": host["cpu_model"],  # every figure depends on it: quote it beside them
        "machine": host, "sections": {r.name: r.as_json() for r in results}, "failures": failures,
    }, indent=1, default=str) + "\n")
    log(f"wrote {out}")
    return 1 if failures else 0


def _report(results: list[Result], failures: dict[str, str], host: dict, ctx: Context,
            seconds: float) -> str:
    lines = [
        f"# oddping benchmark{' (--quick)' if ctx.quick else ''}",
        "",
        f"{host['nproc']} × {host['cpu_model']} ({host['memory_gb']} GB), Linux {host['kernel']}, "
        f"Python {host['python']}, {host['tcpdump']}; processes pinned: {' '.join(ctx.pin) or 'no'}; "
        f"load average {_load(host['loadavg_start'])} at start, {_load(host['loadavg_end'])} at end; "
        f"{seconds:.0f} s in all.",
        "",
    ]
    rows = [(r.name, row.capture, row.measure, fmt_value(row.ours, row.unit), row.peer_name,
             fmt_value(row.peer, row.unit), fmt_ratio(row.ratio))
            for r in results for row in r.rows]
    if rows:
        lines += [f"All figures measured on {host['cpu_model']}:", "",
                  markdown_table(("section", "capture", "measure", "oddping", "peer", "peer's",
                                  "oddping ÷ peer"), rows), ""]
    for r in results:
        lines += [f"## {r.name}: {r.title} (on {host['cpu_model']})", ""]
        for block in r.markdown:
            lines += [block, ""]
    for name, error in failures.items():
        lines += [f"## {name}: FAILED", "", f"    {error}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _load(values) -> str:
    return "/".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())

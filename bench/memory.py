"""Section `memory`: what the detection engine holds per tracked host.

Template: a busy network from samples/busy.py (1,000 hosts for 5 minutes; --quick: 300 hosts),
decoded by the producer, so every record is one the engine really gets.  N hosts are copies of
the template hosts under new addresses (10.100.0.0 on), fed in capture order.

1. traced feed (N = the template's hosts): each record goes through orjson.dumps/loads (as the
   worker receives it: every string the engine keeps is its own) into Engine.process under
   tracemalloc; memory per host = traced memory after (gc'd, engine alive) minus before, divided
   by the hosts tracked.  tracemalloc slows the engine ~6×, so this is the one fed measure.
2. exported state: every fed host's `engine.state_for(host)` serialised with orjson (what the
   faust worker writes to its table and changelog per changed host): median, 90th percentile, max.
3. scale: N = 1,000 / 10,000 / 30,000 hosts (default max_tracked_hosts: 20,000; --quick
   300 / 3,000) as copies of the fed hosts' exported states installed with Engine.load_state,
   each N in a fresh process, measured as the growth of its resident set (allocator overhead included).  Loading is what a worker does after
   a rebalance or restart; the same load, traced, is set beside the traced feed to show how close
   a loaded state is to a fed one.
4. peer, for scale: the same hosts' records as plain dicts (orjson.loads) held in a list, per host
   and per record (tracemalloc).
5. by kind of host (bench/hostmem.py, issue 14's bounds: 4 kB for a typical host, 1 kB for a
   one-packet host): ordinary pingers, one-packet hosts, a flood's spoofed sources, each fed
   in a fresh process: tracemalloc per additional host (N hosts less N/2, small N: the
   engine's fixed costs cancel out), resident-set growth (large N) per host, and the exported
   table value.
"""

from __future__ import annotations

from .busycap import ensure_busy
from .common import Context, Result, Row, markdown_table, run_json

TITLE = "memory per tracked host in the detection engine"
TEMPLATE = {"full": (1000, 5), "quick": (300, 5)}  # hosts, minutes of samples/busy.py
SEED = 7
HOST_COUNTS = {"full": (1000, 10_000, 30_000), "quick": (300, 3000)}  # the default cap: 20,000
#: kind -> (hosts traced with tracemalloc, hosts for the resident-set measure)
KINDS = {"typical": (1000, 10_000), "one_packet": (3000, 20_000), "spoofed": (3000, 20_000)}
KIND_LIMITS = {"typical": 4000, "one_packet": 1000, "spoofed": 1000}  # issue 14, bytes


def run(ctx: Context) -> Result:
    result = Result("memory", TITLE)
    mode = "quick" if ctx.quick else "full"
    t_hosts, minutes = TEMPLATE[mode]
    capture, _meta = ensure_busy(ctx.python, t_hosts, minutes, SEED, ctx.out_dir, log=ctx.log)
    ctx.generated.append(capture)
    states = ctx.out_dir / f"states-{t_hosts}h-{minutes}m.jsonl"
    ctx.log(f"traced feed of {t_hosts:,} hosts' records into the engine ...")
    fed, _ = run_json(ctx.pin + [ctx.python, "-m", "bench.peers", "memory", str(capture),
                                 "--traced-hosts", str(t_hosts), "--states-out", str(states)])
    loaded = []
    for n in HOST_COUNTS[mode]:
        ctx.log(f"{n:,} hosts' states loaded in a fresh process ...")
        out, timing = run_json(ctx.pin + [ctx.python, "-m", "bench.peers", "memory-loaded",
                                          str(states), str(n)])
        loaded.append(out)
    states.unlink(missing_ok=True)

    feed = fed["feed"]
    peer = fed["records_list"]
    name = f"busy {t_hosts:,} hosts × {minutes} min"
    per_host = feed["records"] / feed["hosts"]
    result.rows.append(Row(name, f"bytes per tracked host, fed ({per_host:.0f} records per host), "
                                 "tracemalloc", feed["bytes_per_host"],
                           "the host's records as dicts in a list", peer["bytes_per_host"], "B"))
    result.rows.append(Row(name, "exported state per host (orjson), median", feed["state_json_median"],
                           "the host's records as JSON (orjson), median",
                           peer["json_bytes_per_host_median"], "B"))
    for out in loaded:
        result.rows.append(Row(f"{out['hosts']:,} hosts (copies)",
                               "resident memory per host, states loaded (load_state)",
                               out["bytes_per_host"], "fed, tracemalloc (row 1)",
                               feed["bytes_per_host"], "B"))

    result.markdown.append(markdown_table(
        ("measure", "value"),
        [("hosts fed / records", f"{feed['hosts']:,} / {feed['records']:,} "
                                 f"({per_host:.1f} per host; expired {feed['hosts_expired']}, "
                                 f"evicted {feed['hosts_evicted']})"),
         ("traced memory after the feed", f"{feed['bytes'] / 1e6:.1f} MB = "
                                          f"{feed['bytes_per_host'] / 1e3:.1f} kB per host"),
         ("same states loaded (load_state), traced", f"{fed['loaded_traced']['bytes_per_host'] / 1e3:.1f} kB "
                                                     f"per host ({fed['loaded_traced']['bytes_per_host'] / feed['bytes_per_host']:.2f}× fed)"),
         ("exported state (orjson) median / p90 / max / mean",
          f"{feed['state_json_median'] / 1e3:.1f} / {feed['state_json_p90'] / 1e3:.1f} / "
          f"{feed['state_json_max'] / 1e3:.1f} / {feed['state_json_mean'] / 1e3:.1f} kB"),
         ("one record as a dict / as JSON", f"{peer['bytes_per_record']:,.0f} B / "
                                            f"{peer['json_bytes_per_record']:,.0f} B"),
         *[(f"{o['hosts']:,} hosts loaded: resident growth", f"{o['bytes'] / 1e6:,.0f} MB = "
            f"{o['bytes_per_host'] / 1e3:.1f} kB per host ({o['seconds']:.1f} s to load)")
           for o in loaded]]))
    result.markdown.append(
        "Where the fed engine's memory was allocated (tracemalloc, by source line):\n\n"
        + markdown_table(("share", "kB per host", "where", "code"),
                         [(f"{r['share']:.0%}", f"{r['bytes'] / feed['hosts'] / 1e3:.2f}",
                           f"`{r['where']}`", _explain(r))
                          for r in feed["top_lines"]]))
    kinds = {}
    for kind, (traced_n, rss_n) in KINDS.items():
        ctx.log(f"{kind} hosts: {traced_n:,} traced, {rss_n:,} for the resident set ...")
        traced, _ = run_json(ctx.pin + [ctx.python, "-m", "bench.hostmem", kind, str(traced_n)])
        rss, _ = run_json(ctx.pin + [ctx.python, "-m", "bench.hostmem", kind, str(rss_n)])
        kinds[kind] = {"traced": traced, "rss": rss}
        result.rows.append(Row(f"{kind.replace('_', '-')} hosts", "bytes per additional host, "
                               "tracemalloc (per source fed when none is tracked)",
                               traced["traced_bytes_per_host"], "issue 14's bound",
                               KIND_LIMITS[kind], "B"))
    result.markdown.append(
        "By kind of host (bench/hostmem.py; a flood's spoofed sources are folded, not tracked: "
        "per source fed):\n\n" + markdown_table(
            ("kind", "tracemalloc per additional host (all ÷ hosts, the engine's fixed costs "
             "included)", "resident growth per host", "exported value median / max",
             "bound (issue 14)"),
            [(kind, f"{k['traced']['traced_bytes_per_host']:,.0f} B "
                    f"({k['traced']['traced_bytes_per_host_total']:,.0f} B; "
                    f"{k['traced']['hosts']:,} hosts, {k['traced']['tracked']:,} tracked)",
              f"{k['rss']['rss_bytes_per_host']:,.0f} B ({k['rss']['hosts']:,} hosts)",
              f"{k['traced']['state_json_median']:,.0f} / {k['traced']['state_json_max']:,.0f} B",
              f"{KIND_LIMITS[kind]:,} B") for kind, k in kinds.items()]))
    result.data = {"template": {"hosts": t_hosts, "minutes": minutes, "seed": SEED,
                                "capture": str(capture)}, "fed": fed, "loaded": loaded,
                   "kinds": kinds}
    return result


def _explain(row: dict) -> str:
    """The code of a top allocation line, or what it is when the line says little."""
    if row["where"].startswith("bench/peers.py"):
        return ("`process(loads(value))`: the record's values (strings, ints from orjson.loads) "
                "the state keeps: addresses, SHA-256 and Community ID strings, timestamps")
    if row["where"].startswith("<string>"):
        return "namedtuple instances (`SeenRequest`, one per remembered echo request)"
    return f"`{row['code']}`" if row["code"] else ""

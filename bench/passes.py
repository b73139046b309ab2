"""In-process passes over one capture, each run in a fresh interpreter by bench/decode.py:

    python -m bench.passes MODE FILE [--profile-out PATH] [--top 15]

    read     CaptureReader alone (libpcap + BPF prefilter + one frame tuple per admitted frame)
    staged   what `oddping decode` does, with a clock read between the stages of every frame:
             reader -> Decoder.decode_frame (layers, classify, record dict) -> orjson.dumps ->
             write to /dev/null; the time of each stage is summed over the capture
    cli      exactly oddping_cli.main._write_records(producer.iter_records(...)) to /dev/null, untimed
             inside: the in-process total without the clock reads
    dpkt     the peer: dpkt.pcap.Reader + dpkt.ethernet.Ethernet, touching src/ttl/type/id/seq
    profile  the cli pass under cProfile; top functions by tottime go to --profile-out

A fresh process per pass matters: the payload-class and community-id caches are module globals,
and a second pass in the same process would find them warm.  CaptureReader's second read of the
file (producer/capture/files.py `_count_frames`, which counts the frames BPF dropped) is timed on
its own by wrapping that function, so every pass reports it separately (`count_seconds`).

Prints one JSON object on stdout.  Timing starts after the imports (interpreter start-up is what
the CLI's wall time minus the `cli` pass shows).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed_count_pass() -> dict:
    """Wrap producer.capture.files._count_frames so its time is known (None: no such pass)."""
    from producer.capture import files

    spent: dict = {"seconds": None, "calls": 0}
    original = getattr(files, "_count_frames", None)
    if original is None:
        return spent

    def timed(path: str) -> int:
        started = time.perf_counter()
        try:
            return original(path)
        finally:
            spent["seconds"] = (spent["seconds"] or 0.0) + time.perf_counter() - started
            spent["calls"] += 1

    files._count_frames = timed
    return spent


def _write_records() -> Callable:
    try:
        from oddping_cli.main import _write_records as write
    except ImportError:  # the CLI's writer moved: do what it did
        import orjson

        def write(records, out, _fmt):  # type: ignore[no-redef]
            dumps, w = orjson.dumps, out.write
            for record in records:
                w(dumps(record) + b"\n")
    return write


def oddping_pass(mode: str, path: str) -> dict:
    from producer import Decoder, iter_records
    from producer.capture.files import CaptureReader

    count = _timed_count_pass()
    reader = CaptureReader(path)
    decoder = Decoder("bench")
    frames = 0
    stages: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    if mode == "read":
        for _frame in reader:
            frames += 1
    elif mode == "staged":
        frames, stages = _staged(reader, decoder)
    elif mode == "cli":
        with open(os.devnull, "wb") as out:
            _write_records()(iter_records(reader, decoder), out, "jsonl")
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if stages and count["seconds"] is not None:  # the count pass ran inside the last `read`
        stages["read"] -= count["seconds"]
        stages["count"] = count["seconds"]
    account = decoder.account
    return {
        "mode": mode, "seconds": seconds, "cpu_seconds": cpu, "stages": stages,
        "count_seconds": count["seconds"], "count_calls": count["calls"],
        "frames_to_python": frames or account.packets_read - reader.prefiltered,
        "records": account.records + account.host_observations, "backend": reader.backend,
        "error": reader.error, "account": account.as_dict() if mode != "read" else None,
    }


def _staged(reader, decoder) -> tuple[int, dict[str, float]]:
    """producer.iter_records + oddping_cli.main._write_records unrolled, summing the time of each stage
    (four clock reads per frame, ~0.1 µs each).  The reader's time is from the end of one frame's
    write to the arrival of the next frame, so it includes the count pass after the last frame."""
    import orjson

    clock, dumps, decode = time.perf_counter, orjson.dumps, decoder.decode_frame
    read = dec = ser = wri = 0.0
    frames = 0
    with open(os.devnull, "wb") as out:
        write = out.write
        t0 = clock()
        for _frame_no, ts_ns, linktype, data, wire_len in reader:
            t1 = clock()
            records = decode(linktype, data, ts_ns, wire_len)
            t2 = clock()
            lines = [dumps(record) + b"\n" for record in records]
            t3 = clock()
            for line in lines:
                write(line)
            t4 = clock()
            read += t1 - t0
            dec += t2 - t1
            ser += t3 - t2
            wri += t4 - t3
            frames += 1
            t0 = t4
        t1 = clock()
        read += t1 - t0  # the reader's end: libpcap EOF and the count pass
        decoder.finish()
        account = decoder.account  # iter_records' accounting of BPF-dropped frames
        if reader.prefiltered:
            account.packets_read += reader.prefiltered
            account.skipped["prefilter_not_icmp_or_syn"] += reader.prefiltered
        dec += clock() - t1
    return frames, {"read": read, "decode": dec, "serialize": ser, "write": wri}


def dpkt_pass(path: str) -> dict:
    """A plain dpkt object decode loop: the floor for decoding these frames in Python."""
    import dpkt

    IP, IP6 = dpkt.ip.IP, dpkt.ip6.IP6
    ICMP, ICMP6 = dpkt.icmp.ICMP, dpkt.icmp6.ICMP6
    Ethernet = dpkt.ethernet.Ethernet
    frames = records = 0
    checksum = 0  # keeps the touched fields alive
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            frames += 1
            ip = Ethernet(buf).data
            if isinstance(ip, IP):
                ttl = ip.ttl
            elif isinstance(ip, IP6):
                ttl = ip.hlim
            else:
                continue
            icmp = ip.data
            if not isinstance(icmp, (ICMP, ICMP6)):
                continue
            echo = icmp.data
            checksum += len(ip.src) + ttl + icmp.type + getattr(echo, "id", 0) + getattr(echo, "seq", 0)
            records += 1
    return {"mode": "dpkt", "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started, "frames": frames, "records": records,
            "dpkt": dpkt.__version__, "checksum": checksum}


# Where a profiled function's time belongs, first match wins: (area, substrings of "file:function").
AREAS = (
    ("second counting pass", ("_count_frames", "loop_to_buffer")),
    ("libpcap read + frame tuples", ("capture/files.py", "of 'Reader' objects", "of 'Pkthdr' objects",
                                     "pcapy.")),
    ("serialize (orjson.dumps)", ("orjson.dumps",)),
    ("record build (record/*.py, sha256, base64, ntoa, community id)", (
        "producer/record/", "communityid", "_hashlib", "hexdigest", "base64", "binascii", "inet_ntoa",
        "inet_ntop", "hmac", "ipaddress")),
    ("decode layers (decode/*.py, struct, checksum)", ("producer/decode/", "unpack_from", "dpkt/dpkt.py",
                                                         "<string>:")),
    ("write + loop glue (cli._write_records, iter_records)", ("oddping_cli/main.py", "write", "producer/__init__.py")),
)


def area_of(filename: str, function: str) -> str | None:
    key = f"{filename}:{function}"
    for area, needles in AREAS:
        if any(n in key for n in needles):
            return area
    return None


def _areas_of(key: tuple, callers: dict, entries: dict, depth: int = 0) -> dict[str, float]:
    """{area: share} for one profiled function: by its name, or for an anonymous built-in
    (dict.get, len, struct.unpack ...) split over its callers by the time each caller spent in it."""
    area = area_of(key[0], key[2])
    if area is not None:
        return {area: 1.0}
    spent = {caller: stats[2] for caller, stats in callers.items()}
    whole = sum(spent.values())
    if key[0] != "~" or not whole or depth > 3:
        return {"other": 1.0}
    shares: dict[str, float] = {}
    for caller, tt in spent.items():
        caller_callers = entries.get(caller, (0, 0, 0, 0, {}))[4]
        for a, s in _areas_of(caller, caller_callers, entries, depth + 1).items():
            shares[a] = shares.get(a, 0.0) + s * tt / whole
    return shares


def profile_pass(path: str, out_path: str, top: int) -> dict:
    import cProfile
    import io
    import pstats

    from producer import Decoder, iter_records
    from producer.capture.files import CaptureReader

    write = _write_records()
    reader = CaptureReader(path)
    decoder = Decoder("bench")
    profiler = cProfile.Profile()
    started = time.perf_counter()
    with open(os.devnull, "wb") as out:
        profiler.enable()
        write(iter_records(reader, decoder), out, "jsonl")
        profiler.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values())
    areas: dict[str, float] = {}
    for key, (_cc, _calls, tottime, _cumtime, callers) in entries.items():
        for area, share in _areas_of(key, callers, entries).items():
            areas[area] = areas.get(area, 0.0) + tottime * share
    rows = [(tt, calls, ct, f"{_short(f)}:{line}({fn})")
            for (f, line, fn), (_cc, calls, tt, ct, _callers) in entries.items()]
    rows.sort(reverse=True)
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    records = decoder.account.records + decoder.account.host_observations
    summary = [
        "cProfile of `oddping decode` in-process (CaptureReader + Decoder + orjson.dumps + write)",
        f"capture: {path}",
        f"records: {records}, wall under the profiler: {seconds:.2f} s, profiled total {total:.2f} s",
        "(the profiler adds a fixed cost to every Python call: shares below overweight small functions)",
        "",
        "tottime by area:",
        *(f"  {v / total:6.1%}  {v:8.2f} s  {k}" for k, v in sorted(areas.items(), key=lambda kv: -kv[1])),
        "",
        f"top {top} functions by tottime:",
    ]
    with open(out_path, "w") as f:
        f.write("\n".join(summary) + "\n" + buf.getvalue())
    return {
        "mode": "profile", "seconds": seconds, "records": records, "profiled_total": total,
        "areas": {k: v / total for k, v in sorted(areas.items(), key=lambda kv: -kv[1])},
        "top": [{"tottime": t, "calls": n, "cumtime": ct, "function": name,
                 "share": t / total} for t, n, ct, name in rows[:top]],
        "output": out_path,
    }


def _short(filename: str) -> str:
    for marker in ("/site-packages/", str(ROOT) + "/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("read", "staged", "cli", "dpkt", "profile"))
    parser.add_argument("capture")
    parser.add_argument("--profile-out", default=None)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    if args.mode == "dpkt":
        result = dpkt_pass(args.capture)
    elif args.mode == "profile":
        result = profile_pass(args.capture, args.profile_out or os.devnull, args.top)
    else:
        result = oddping_pass(args.mode, args.capture)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

"""The record kit: crafted records with every field of schemas/icmp_record.schema.json filled,
and the named scenarios the rules' examples (``EXAMPLES`` in processors/rules/*.py) are built
from.  It lives in the product, not the tests, because the rules' examples name its scenarios;
tests/recordkit.py re-exports it for the tests.

Payloads are real bytes of the sender they name (Windows' alphabet, Linux's timeval + counting
bytes, fping's zeros ...), so payload_len, payload_sha256 and payload_b64 agree with each other
the way the producer's records do, and ``payload_class`` is what the producer's classifier makes
of those bytes (at the record's capture time): a classifier change that breaks a rule fails the
rule's tests.  A test that names a class checks its data really is that class.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import struct
from typing import Any, Callable

import communityid

from oddping.ttl import initial_ttl_guess

from producer.record.classify import classify_payload
from producer.record.payload_signatures import NOT_ECHO
from samples import craft

T0 = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z
_frames = itertools.count(1)
_cid = communityid.CommunityID()
# the reference package logs every hash at INFO, byte by byte: debugging output, not the tests'
logging.getLogger(communityid.LOG.name).setLevel(logging.WARNING)

WINDOWS_DATA = b"abcdefghijklmnopqrstuvwabcdefghi"
TRACEROUTE_DATA = bytes(range(0x48, 0x68))

#: payload class -> data an ordinary sender of that class sends
PAYLOADS: dict[str, bytes] = {
    "windows": WINDOWS_DATA,
    "cisco_ios": bytes.fromhex("abcd") * 36,
    "fping": bytes(56),
    "zeros": bytes(2),  # the seed: 2 null bytes
    "empty": b"",
    "single_question": b"?",
    "traceroute_linux": TRACEROUTE_DATA,
    "unknown": bytes(range(7, 47)),
    "ptunnel": bytes.fromhex("d5200880") + bytes(28),
    "printable_text": b"Volume in drive C has no label.",
    "nemesis": bytes(20),
    "superscan": bytes(8),
}

#: payload class -> its data as sent at a capture time (ns): senders that write their send time
TIMED_PAYLOADS: dict[str, Callable[[int], bytes]] = {
    "linux_iputils": lambda ts: craft.payload_linux(ts / 1e9),
    "bsd": lambda ts: craft.payload_bsd(ts / 1e9),
}

ECHO_TYPES = frozenset({0, 8, 128, 129})


def payload(payload_class: str, ts: int) -> bytes:
    """The data an ordinary sender of payload_class puts in an echo sent at ts."""
    timed = TIMED_PAYLOADS.get(payload_class)
    return timed(ts) if timed is not None else PAYLOADS[payload_class]


def at(seconds: float) -> int:
    """Capture time T0 + seconds, in ns."""
    return T0 + int(round(seconds * 1e9))


def icmp(
    src: str,
    dst: str,
    ts: int,
    *,
    icmp_type: int = 8,
    icmp_code: int = 0,
    icmp_id: int | None = 1,
    seq: int | None = 1,
    ttl: int = 64,
    payload_class: str | None = None,
    data: bytes | None = None,
    initiator: str | None = None,
    sensor: str = "sensor-a",
    fragmented: bool = False,
    checksum_ok: bool | None = True,
    ip_version: int | None = None,
    captured: int | None = None,
) -> dict[str, Any]:
    """One ICMP record.  payload_class picks the data when none is given (Linux ping's by
    default) and, when given, must be what the classifier names the data.  captured: the
    capture kept only this many data bytes (snap length)."""
    version = ip_version or (6 if ":" in src else 4)
    if data is None:
        data = payload(payload_class or "linux_iputils", ts)
    is_echo = icmp_type in ECHO_TYPES
    named = classify_payload(data, icmp_id, seq, ts) if is_echo else NOT_ECHO
    if payload_class is not None and is_echo and named != payload_class:
        raise AssertionError(f"{data[:24]!r}... classifies as {named!r}, not {payload_class!r}")
    kept = data if captured is None else data[:captured]
    if captured is not None:
        checksum_ok = None  # the producer cannot verify a checksum over missing bytes
    header = 20 if version == 4 else 40
    if version == 4:
        cid = _cid.calc(communityid.FlowTuple.make_icmp(src, dst, icmp_type, icmp_code))
    else:
        cid = _cid.calc(communityid.FlowTuple.make_icmp6(src, dst, icmp_type, icmp_code))
    initial = initial_ttl_guess(ttl)
    return {
        "schema_version": 1,
        "kind": "icmp",
        "ts_ns": ts,
        "sensor_id": sensor,
        "ip_version": version,
        "src_ip": src,
        "dst_ip": dst,
        "initiator_ip": initiator or src,
        "ttl": ttl,
        "initial_ttl_guess": initial,
        "hop_distance_guess": initial - ttl,
        "ip_id": 4242,
        "ip_total_len": header + 8 + len(data),
        "df": False,
        "fragmented": fragmented,
        "icmp_type": icmp_type,
        "icmp_code": icmp_code,
        "icmp_id": icmp_id,
        "icmp_seq": seq,
        "icmp_checksum_ok": checksum_ok,
        "payload_len": len(data),
        "payload_b64": base64.b64encode(kept[:256]).decode(),
        "payload_sha256": hashlib.sha256(kept).hexdigest(),
        "payload_captured_len": len(kept),
        "eth_padding_len": max(0, 46 - (header + 8 + len(data))),
        "payload_class": named,
        "link": "ethernet",
        "vlan_ids": [],
        "encapsulation": [],
        "community_id": cid,
    }


def request(src: str, dst: str, ts: int, **kw: Any) -> dict[str, Any]:
    v6 = ":" in src
    return icmp(src, dst, ts, icmp_type=128 if v6 else 8, **kw)


def reply(responder: str, host: str, ts: int, **kw: Any) -> dict[str, Any]:
    """An echo reply from responder to host (keyed by host, the initiator)."""
    v6 = ":" in responder
    kw.setdefault("ttl", 57)
    return icmp(responder, host, ts, icmp_type=129 if v6 else 0, initiator=host, **kw)


def data_of(record: dict[str, Any]) -> bytes:
    """The data bytes a record kept (all of them up to 256 bytes)."""
    return base64.b64decode(record["payload_b64"])


def reply_to(req: dict[str, Any], delay_s: float = 0.02, **kw: Any) -> dict[str, Any]:
    """The reply an honest responder sends to a request: same id, sequence and data (the
    request's captured bytes: give data= when the request was truncated)."""
    if "data" not in kw:
        kw["data"] = base64.b64decode(req["payload_b64"])
        # the data is the request's: its class follows (a timestamped class only at its time)
        kw.setdefault("payload_class", None)
    return reply(req["dst_ip"], req["src_ip"], req["ts_ns"] + int(delay_s * 1e9),
                 icmp_id=req["icmp_id"], seq=req["icmp_seq"], **kw)


def quote(probe: dict[str, Any]) -> bytes:
    """What a router's ICMP error quotes of an echo request: its IP header as it arrived (TTL
    1, about to expire) and the first 8 bytes of its ICMP message (type, code, checksum, id,
    sequence), as RFC 792 asks."""
    icmp_head = struct.pack("!BBHHH", probe["icmp_type"], 0, 0, probe["icmp_id"], probe["icmp_seq"])
    if probe["ip_version"] == 4:
        ip_head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, probe["ip_total_len"], 4242, 0, 1, 1, 0,
                              craft._addr(probe["src_ip"]), craft._addr(probe["dst_ip"]))
    else:
        ip_head = struct.pack("!IHBB16s16s", 6 << 28, probe["ip_total_len"] - 40, 58, 1,
                              craft._addr(probe["src_ip"]), craft._addr(probe["dst_ip"]))
    return ip_head + icmp_head


def time_exceeded(router: str, host: str, ts: int, probe: dict[str, Any] | None = None,
                  **kw: Any) -> dict[str, Any]:
    """A router's Time Exceeded to host, quoting probe (else 28 zero bytes: a quote of nothing
    the host sent)."""
    v6 = ":" in router
    data = quote(probe) if probe is not None else bytes(28)
    return icmp(router, host, ts, icmp_type=3 if v6 else 11, icmp_id=None, seq=None,
                initiator=host, data=data, ttl=kw.pop("ttl", 254), **kw)


def syns(src: str, dst: str, ts: int, *, ttl: int, sensor: str = "sensor-a",
         n: int = 2) -> list[dict[str, Any]]:
    """n host observations, 1 ms apart from ts: a TTL profile accuses only after two."""
    return [syn(src, dst, ts + k * 1_000_000, ttl=ttl, sensor=sensor) for k in range(n)]


def syn(src: str, dst: str, ts: int, *, ttl: int, sensor: str = "sensor-a") -> dict[str, Any]:
    """A host observation from a TCP SYN: teaches the host's hop distance."""
    initial = initial_ttl_guess(ttl)
    return {
        "schema_version": 1,
        "kind": "host_observation",
        "observed": "tcp_syn",
        "ts_ns": ts,
        "sensor_id": sensor,
        "ip_version": 6 if ":" in src else 4,
        "src_ip": src,
        "dst_ip": dst,
        "initiator_ip": src,
        "ttl": ttl,
        "initial_ttl_guess": initial,
        "hop_distance_guess": initial - ttl,
    }


# -- scenarios the tests share ---------------------------------------------------------------

FOOTPRINTS_DSTS = ("13.107.4.52", "13.107.18.11", "52.113.194.132")


def footprints_burst(host: str, start_s: float, first_seq: int, rounds: int = 3,
                     ttl: int = 28) -> list[dict[str, Any]]:
    """The seed: 2-byte zero echoes, TTL 28, id 1, one sequence over three destinations."""
    records = []
    seq = first_seq
    for r in range(rounds):
        for i, dst in enumerate(FOOTPRINTS_DSTS):
            records.append(request(host, dst, at(start_s + r * 1.0 + i * 0.05), icmp_id=1,
                                   seq=seq, ttl=ttl, payload_class="zeros"))
            seq += 1
    return records


def ping_run(src: str, dst: str, start_s: float, count: int, *, payload_class: str,
             ttl: int, icmp_id: int, first_seq: int = 1, interval_s: float = 1.0,
             replies: bool = True) -> list[dict[str, Any]]:
    """An ordinary ping: one destination, one id, sequence +1 each interval (with replies)."""
    records = []
    for n in range(count):
        req = request(src, dst, at(start_s + n * interval_s), icmp_id=icmp_id,
                      seq=first_seq + n, ttl=ttl, payload_class=payload_class)
        records.append(req)
        if replies:
            records.append(reply_to(req))
    return records


def by_time(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Capture order (stable: records with equal times keep their order)."""
    return sorted(records, key=lambda r: r["ts_ns"])


def traceroute(host: str, target: str, start_s: float, *, hops_to_sensor: int = 2,
               max_ttl: int = 8, payload_class: str = "traceroute_linux", icmp_id: int = 0x4242,
               data: bytes | None = None, time_exceeded_back: bool = True) -> list[dict[str, Any]]:
    """traceroute -I / tracert: 3 probes per TTL from 1, seen at the sensor after
    hops_to_sensor hops (so TTL 1, 2 ... arrive as TTL 1 - hops ...), Time Exceeded back."""
    records = []
    seq = 1
    for initial in range(1, max_ttl + 1):
        for probe in range(3):
            t = start_s + (initial - 1) * 0.3 + probe * 0.05
            seen_ttl = initial - hops_to_sensor
            if seen_ttl >= 1:
                probe = request(host, target, at(t), icmp_id=icmp_id, seq=seq, ttl=seen_ttl,
                                payload_class=payload_class, data=data)
                records.append(probe)
                if time_exceeded_back:
                    records.append(time_exceeded(f"192.0.2.{initial}", host, at(t + 0.01), probe))
            seq += 1
    return records


def random_data(rng, low: int, high: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(low, high)))


# -- scenarios the rules' examples name (processors/rules/*.py EXAMPLES) ---------------------
# Each is a capture on its own hosts, so the examples of several rules can be scanned together.


def seed() -> list[dict[str, Any]]:
    """The seed: a Windows host (a SYN teaches its TTL) sends Footprints bursts at TTL 28."""
    return syns("10.20.0.15", "52.1.1.1", at(0), ttl=126) + footprints_burst("10.20.0.15", 5, 40)


def nmap_sweep() -> list[dict[str, Any]]:
    """nmap -sn over 25 addresses: empty echoes, a random identifier each, sequence 0."""
    import random

    rng = random.Random(7)
    return [request("10.9.9.9", f"10.1.0.{n + 1}", at(10 + n * 0.1), icmp_id=rng.randrange(65536),
                    seq=0, ttl=50, payload_class="empty") for n in range(25)]


def windows_data_at_ttl_60() -> list[dict[str, Any]]:
    """Windows' alphabet from a stack whose TTL starts at 64."""
    return ping_run("10.30.0.7", "10.0.0.1", 20, 4, payload_class="windows", ttl=60, icmp_id=1)


def icmpsh() -> list[dict[str, Any]]:
    """icmpsh-style replies: they carry other data than the requests they answer."""
    records = []
    for n in range(3):
        req = request("10.40.0.8", "198.51.100.66", at(30 + n), icmp_id=77, seq=n + 1, ttl=64,
                      payload_class="printable_text", data=b"C:\\Users\\bob> dir output %d" % n)
        records.append(req)
        records.append(reply_to(req, payload_class="printable_text",
                                data=b"whoami /all; net user %d" % n))
    return records


def lone_replies() -> list[dict[str, Any]]:
    """The host's outbound traffic is seen (a SYN), and replies arrive with no request."""
    records = syns("10.50.0.9", "203.0.113.1", at(40), ttl=127)
    for n in range(12):
        records.append(reply("203.0.113.99", "10.50.0.9", at(41 + n * 0.5), icmp_id=3000 + n,
                             seq=n, payload_class="unknown"))
    return records


def lone_replies_unseen_host() -> list[dict[str, Any]]:
    """Replies with no request to a host whose outbound traffic this sensor never sees
    (asymmetric routing)."""
    return [reply("203.0.113.99", "10.50.0.19", at(41 + n * 0.5), icmp_id=3000 + n, seq=n,
                  payload_class="unknown") for n in range(12)]


def big_echo() -> list[dict[str, Any]]:
    """An echo request with 1,400 data bytes."""
    return [request("10.60.0.10", "198.51.100.20", at(50), icmp_id=9, seq=1, ttl=64,
                    payload_class="zeros", data=bytes(1400))]


def ptunnel_echo() -> list[dict[str, Any]]:
    """One request carrying ptunnel's magic."""
    return [request("10.70.0.11", "198.51.100.30", at(55), icmp_id=5, seq=1, ttl=64,
                    payload_class="ptunnel")]


def ordinary_pings() -> list[dict[str, Any]]:
    """The trap every rule must stay quiet on: Windows, Linux and fping hosts pinging one
    destination each, answered, at the TTLs their stacks start from (SYNs teach them)."""
    records = syns("10.80.0.1", "52.1.1.1", at(0), ttl=127)
    records += syns("10.80.0.2", "52.1.1.1", at(0), ttl=63)
    records += ping_run("10.80.0.1", "8.8.8.8", 1, 5, payload_class="windows", ttl=127, icmp_id=1)
    records += ping_run("10.80.0.2", "9.9.9.9", 1, 5, payload_class="linux_iputils", ttl=63,
                        icmp_id=4242)
    records += ping_run("10.80.0.3", "1.1.1.1", 1, 5, payload_class="fping", ttl=63, icmp_id=7)
    return by_time(records)


def dc_question_marks() -> list[dict[str, Any]]:
    """Windows domain controllers pinging each other with one '?' byte (internal addresses)."""
    return [request("10.1.1.10", "10.1.1.11", at(5 + n), icmp_id=1, seq=n + 1,
                    payload_class="single_question", ttl=128) for n in range(3)]


def linux_traceroute() -> list[dict[str, Any]]:
    """traceroute -I: TTLs stepping up from 1, Time Exceeded back."""
    return traceroute("10.20.7.7", "198.51.100.7", 1)


def slow_sweep() -> list[dict[str, Any]]:
    """19 destinations in 19 s, and 39 spread over 40 minutes: under the sweep threshold."""
    few = [request("10.9.9.7", f"10.1.0.{n}", at(n), icmp_id=1, seq=n, ttl=64,
                   payload_class="linux_iputils") for n in range(1, 20)]
    slow = [request("10.9.9.8", f"10.1.0.{n}", at(n * 61), icmp_id=1, seq=n, ttl=64,
                    payload_class="linux_iputils") for n in range(1, 40)]
    return by_time(few + slow)


def flood() -> list[dict[str, Any]]:
    """A fast source (600 echoes in 0.6 s) and 1,500 spoofed sources at one target."""
    records = [request("10.77.0.1", "192.0.2.80", at(300 + i / 1000), payload_class="empty",
                       icmp_id=3, seq=i) for i in range(600)]
    records += [request(f"100.{i // 250}.{i % 250}.1", "192.0.2.81", at(300 + i / 1000),
                        payload_class="empty", icmp_id=3, seq=i) for i in range(1500)]
    return records


def oversized_reassembly() -> list[dict[str, Any]]:
    """A fragment anomaly record: fragments reassembling past 65,535 bytes (ping of death), a
    minute after the flood scenario (in every_rule() the sources a flood admits before it is
    recognised use their minute's alert budget for newcomers)."""
    from producer.record.build import build_fragment_anomaly
    from producer.record.community import community_id_ip

    return [build_fragment_anomaly(
        sensor_id="sensor-a", ts_ns=at(400), ip_version=4, src_ip="203.0.113.66",
        dst_ip="10.9.0.5", ttl=50, ip_id=7, anomaly="oversized", fragments=3, size=65_544,
        fragment_len=16, icmp_type=None, icmp_code=None, payload_sha256=hashlib.sha256(
            bytes(16)).hexdigest(), community_id=community_id_ip(
            4, bytes((203, 0, 113, 66)), bytes((10, 9, 0, 5))))]


def example_records(example: Any) -> list[dict[str, Any]]:
    """The records of a rule's example (processors.ruleskit.base.Example), in capture order."""
    return by_time(globals()[example.scenario](**dict(example.kwargs)))


def _firing_scenarios(aggregate: bool) -> list[dict[str, Any]]:
    """The first firing example of every rule (each scenario once), in registry order."""
    from processors.rules import RULE_MODULES

    seen: set[Any] = set()
    records: list[dict[str, Any]] = []
    for module in RULE_MODULES:
        first = next(example for example in module.EXAMPLES if example.fires)
        if first.zoo == aggregate:
            continue
        if (first.scenario, first.kwargs) not in seen:
            seen.add((first.scenario, first.kwargs))
            records += example_records(first)
    return records


def zoo() -> list[dict[str, Any]]:
    """Records that make every per-host rule fire at least once, on its own host, in capture
    order: each rule's first firing example."""
    return by_time(_firing_scenarios(aggregate=False))


def every_rule() -> list[dict[str, Any]]:
    """The zoo plus the aggregate rules' examples (a flood, a fragment anomaly), in capture
    order.  Kept out of zoo() because a flood folds the per-source findings of its sources."""
    return by_time(zoo() + _firing_scenarios(aggregate=True))

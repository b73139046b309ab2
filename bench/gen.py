#!/usr/bin/env python3
"""Deterministic benchmark captures: classic pcap (µs), Ethernet, cached in bench/out/.

    python bench/gen.py mixed [--packets 5000000] [--seed N] [--verify 50000]
    python bench/gen.py icmp  [--packets 1000000]

``mixed``  what a sensor on an ordinary link sees: ~2 % ICMP echo (Windows and Linux ping,
           requests and replies, 8 % of them IPv6, 5 % under an 802.1Q tag, 2 % inside VXLAN),
           the rest TCP (pure ACKs, full-MSS and mid-sized data segments, ~0.4 % SYN and ~0.4 %
           SYN-ACK) and DNS over UDP (~15 %).  ~50k packets/s of capture time.
``icmp``   only ICMP echo over plain Ethernet/IPv4: thousands of concurrent ping sessions (new ones
           start as the capture goes on) from 4,000 hosts to 1,024 targets, varied identifiers,
           sequence numbers and payload classes (ordinary pings, scanners, tunnels, random data).
           ~10k packets/s of capture time.

How it is fast: every kind of frame is built once by samples/craft.py with the fields that vary
(addresses, ports, IP id, TTL, ICMP type/id/seq, ping timestamps, DNS id) set to zero, so the
template's checksums are the one's-complement sums of everything that does not vary.  Each packet
copies a template, writes its varying fields and completes the checksums from those sums: every IP,
ICMP, TCP and UDP checksum in the file is valid (``--verify N`` checks the first N frames).

Same kind, size and seed give the same bytes (fixed seed, fixed start time); files are named by
those parameters plus GEN_VERSION and reused when present.  A JSON sidecar (``<file>.json``, written
last) says what is in the file; a capture without one is incomplete and is made again.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from samples import craft as c  # noqa: E402

GEN_VERSION = 1  # bump whenever the bytes a generator writes change: it is part of the cache key
SEED = 20240917
OUT_DIR = ROOT / "bench" / "out"
T0_US = 1_700_000_000 * 1_000_000  # 2023-11-14 22:13:20 UTC
SIZES = {  # packets per capture kind, full run and --quick
    "mixed": {"full": 5_000_000, "quick": 500_000},
    "icmp": {"full": 1_000_000, "quick": 100_000},
}

_H = struct.Struct("!H")
_HH = struct.Struct("!HH")
_CK_ADDRS = struct.Struct("!H8s")  # IPv4 header checksum, src, dst
_CK_ADDRPORTS = struct.Struct("!H12s")  # ... and the TCP/UDP ports
_CK_ADDRPORTS_SEQ_ACK = struct.Struct("!H12sII")  # ... and the TCP sequence/ack numbers
_RECORD = struct.Struct("<IIII")  # pcap record header: sec, usec, caplen, wire length
_TS = struct.Struct("<II")  # its timestamp
_TV16 = struct.Struct("<qq")  # iputils ping: struct timeval, 64-bit, host order
_TV8 = struct.Struct("!II")  # BSD ping: 32-bit timeval, network order
_USEC32 = struct.Struct("<I")  # busybox ping: microsecond counter

FLUSH_EVERY = 32768  # frames per write()


# -- one's-complement arithmetic -----------------------------------------------------------------

def _words(data: bytes) -> int:
    """Plain sum of the 16-bit big-endian words of data (odd length: zero-padded)."""
    if len(data) & 1:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _ck(total: int) -> int:
    """The checksum field for a sum of words (two folds: sums here stay below 2**32)."""
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _fixed_sum(checksum: int) -> int:
    """A template's checksum field turned back into the sum of the words it covered."""
    return ~checksum & 0xFFFF


def _minus(total: int, word: int) -> int:
    return total + (~word & 0xFFFF)


# -- addresses -------------------------------------------------------------------------------

def _v4(a: int, b: int, cc: int, d: int) -> bytes:
    return bytes((a, b, cc, d))


INTERNAL_HOSTS = 4000  # 10.20.0.0/16, the sensor's side
EXTERNAL_HOSTS = 1024  # 198.18.0.0/15 (RFC 2544 benchmarking range), the far side


def _internal(i: int) -> bytes:
    return _v4(10, 20, 1 + i // 250, 1 + i % 250)


def _external(i: int) -> bytes:
    return _v4(198, 18 + (i >> 14 & 1), i >> 8 & 0x3F, 1 + (i & 0xFF) % 254)


def _internal6(i: int) -> bytes:
    return bytes.fromhex("20010db8002000000000000000000000")[:12] + i.to_bytes(4, "big")


def _external6(i: int) -> bytes:
    return bytes.fromhex("20010db8ff0000000000000000000000")[:12] + (0x100 + i).to_bytes(4, "big")


# -- capture file writing ----------------------------------------------------------------------

class _Writer:
    """Batched pcap records: the caller appends (record header, frame) pairs to `parts`."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "wb")  # noqa: SIM115
        self.file.write(c.pcap_header(c.LINKTYPE_ETHERNET))
        self.parts: list = []
        self.frames = 0
        self.bytes = 0

    def flush(self) -> None:
        data = b"".join(self.parts)
        self.file.write(data)
        self.bytes += len(data)
        self.parts.clear()

    def close(self) -> None:
        self.flush()
        self.file.close()


def _gaps(rng: random.Random, mean_us: float) -> list[int]:
    """4096 inter-packet gaps (exponential, ≥ 1 µs), picked per packet by random bits."""
    return [max(1, round(rng.expovariate(1.0 / mean_us))) for _ in range(4096)]


def _table(rng: random.Random, weights: dict, size: int) -> list:
    """A lookup table of `size` entries holding each key about size*weight/total times."""
    total = sum(weights.values())
    table: list = []
    for key, weight in weights.items():
        table += [key] * round(size * weight / total)
    table = (table + [next(iter(weights))] * size)[:size]
    rng.shuffle(table)
    return table


# -- ICMP echo: templates and ping sessions ------------------------------------------------------

STAMP_NONE, STAMP_IPUTILS, STAMP_BSD, STAMP_BUSYBOX = range(4)


@dataclass(slots=True)
class _EchoTemplate:
    frame: bytes  # the whole frame with the varying fields zero
    klass: str  # the payload class oddping should name
    v6: bool
    ip_off: int  # IP header of the echo (the inner one under VXLAN)
    icmp_off: int
    ip_fixed: int  # IPv4 header words that never vary (0 for IPv6)
    icmp_fixed: int  # ICMP words that never vary (+ IPv6 pseudo-header length/next header)
    stamp: int  # what the sender writes at the start of the data (STAMP_*)
    under: str  # "", "vlan", "vxlan"


def _echo_template(payload: bytes, klass: str, stamp: int = STAMP_NONE, v6: bool = False,
                   under: str = "") -> _EchoTemplate:
    zero = "::" if v6 else "0.0.0.0"
    packet = c.echo_request(zero, zero, ident=0, seq=0, payload=payload, ttl=0, ip_id=0)
    if under == "vxlan":
        frame = c.ethernet(c.vxlan(c.ethernet(packet), outer_src="192.0.2.10",
                                   outer_dst="192.0.2.20", vni=5001, sport=49152))
        ip_off = 14 + 20 + 8 + 8 + 14
    elif under == "vlan":
        frame = c.ethernet(packet, vlans=(120,))
        ip_off = 18
    else:
        frame = c.ethernet(packet)
        ip_off = 14
    icmp_off = ip_off + (40 if v6 else 20)
    ip_fixed = 0 if v6 else _fixed_sum(_H.unpack_from(frame, ip_off + 10)[0])
    request_type = 128 if v6 else 8
    icmp_fixed = _minus(_fixed_sum(_H.unpack_from(frame, icmp_off + 2)[0]), request_type << 8)
    return _EchoTemplate(frame, klass, v6, ip_off, icmp_off, ip_fixed, icmp_fixed, stamp, under)


@dataclass(slots=True)
class _Session:
    """One ping run: a host sends echo requests to a target, which (maybe) replies to each."""

    tpl: _EchoTemplate
    request_addrs: bytes  # src + dst of requests
    reply_addrs: bytes
    addr_sum: int  # words of both addresses (either direction)
    request_ttl: int
    reply_ttl: int
    ident: int
    seq: int
    client_ip_id: int
    target_ip_id: int
    replies: bool
    reply_due: bool = False
    stamp: bytes = b""
    stamp_sum: int = 0


def _echo_frame(s: _Session, ts_us: int) -> bytearray:
    """The session's next frame: the reply to its last request if one is due, else a request."""
    t = s.tpl
    frame = bytearray(t.frame)
    o, i = t.ip_off, t.icmp_off
    if s.reply_due:
        s.reply_due = False
        icmp_type = 129 if t.v6 else 0
        addrs, ttl = s.reply_addrs, s.reply_ttl
        s.target_ip_id = ip_id = (s.target_ip_id + 1) & 0xFFFF
    else:
        s.reply_due = s.replies
        icmp_type = 128 if t.v6 else 8
        addrs, ttl = s.request_addrs, s.request_ttl
        s.client_ip_id = ip_id = (s.client_ip_id + 1) & 0xFFFF
        s.seq = (s.seq + 1) & 0xFFFF
        if t.stamp:
            sec, usec = divmod(ts_us, 1_000_000)
            if t.stamp == STAMP_IPUTILS:
                s.stamp = _TV16.pack(sec, usec)
            elif t.stamp == STAMP_BSD:
                s.stamp = _TV8.pack(sec & 0xFFFFFFFF, usec)
            else:
                s.stamp = _USEC32.pack(ts_us & 0xFFFFFFFF or 1)
            s.stamp_sum = _words(s.stamp)
    if s.stamp:  # a reply carries the request's data back
        frame[i + 8:i + 8 + len(s.stamp)] = s.stamp
    if t.v6:
        frame[o + 7] = ttl
        frame[o + 8:o + 40] = addrs
        icmp_sum = t.icmp_fixed + s.addr_sum  # the pseudo-header's addresses
    else:
        _H.pack_into(frame, o + 4, ip_id)
        frame[o + 8] = ttl
        _CK_ADDRS.pack_into(frame, o + 10, _ck(t.ip_fixed + ip_id + (ttl << 8) + s.addr_sum), addrs)
        icmp_sum = t.icmp_fixed
    frame[i] = icmp_type
    _HH.pack_into(frame, i + 4, s.ident, s.seq)
    _H.pack_into(frame, i + 2, _ck(icmp_sum + (icmp_type << 8) + s.ident + s.seq + s.stamp_sum))
    return frame


# Payload classes of the all-ICMP capture: (class, weight, [(payload, stamp), ...] variants).
def _icmp_classes(rng: random.Random) -> list[tuple[str, float, list[tuple[bytes, int]]]]:
    rb = rng.randbytes
    return [
        ("windows", 30, [(c.payload_windows(32), STAMP_NONE)]),
        ("linux_iputils", 30, [(c.payload_linux(0.0), STAMP_IPUTILS)]),
        ("bsd", 6, [(c.payload_bsd(0.0), STAMP_BSD)]),
        ("busybox", 3, [(c.payload_busybox(usec=0), STAMP_BUSYBOX)]),
        ("fping", 3, [(c.payload_fping(), STAMP_NONE)]),
        ("cisco_ios", 3, [(c.payload_cisco(), STAMP_NONE)]),
        ("zeros", 4, [(c.payload_zeros(2), STAMP_NONE)]),  # Office 365 "Footprints"
        ("single_question", 1, [(c.payload_single_question(), STAMP_NONE)]),
        ("traceroute_linux", 1, [(c.payload_traceroute_linux(), STAMP_NONE)]),
        ("mtr", 1, [(c.payload_mtr(), STAMP_NONE)]),
        ("empty", 2, [(c.payload_empty(), STAMP_NONE)]),
        ("windows_snort_0123", 1, [(c.payload_windows_snort_0123(), STAMP_NONE)]),
        ("ptunnel", 2, [(c.payload_ptunnel(rb(n)), STAMP_NONE) for n in (0, 64, 512, 1024)]),
        ("ptunnel_ng", 1, [(c.payload_ptunnel_ng(rb(n)), STAMP_NONE) for n in (32, 700)]),
        ("hans", 1, [(c.payload_hans(data=rb(n)), STAMP_NONE) for n in (16, 256, 1000)]),
        ("pingtunnel", 1, [(c.payload_pingtunnel(data=rb(n)), STAMP_NONE) for n in (32, 400, 1200)]),
        ("icmptunnel", 1, [(c.payload_icmptunnel(), STAMP_NONE)]),
        ("printable_text", 1, [(c.payload_icmpsh(), STAMP_NONE)]),
        # random data: no known sender (random bytes never start like a signature here)
        ("unknown", 6, [(b"\xf7" + rb(n - 1), STAMP_NONE) for n in (24, 48, 100, 300, 700, 1400, 1472)]),
    ]


INITIAL_TTL = {"windows": 128, "cisco_ios": 255}  # others: 64


class _Sessions:
    """A pool of concurrent ping sessions; a random one sends each frame, and new ones replace old
    ones as the capture goes on (so addresses and identifiers keep changing, as on a real link)."""

    def __init__(self, rng: random.Random, templates: dict[str, list[_EchoTemplate]],
                 class_weights: dict[str, float], size: int, churn_bits: int,
                 reply_share: Callable[[str], float], v6_share: float = 0.0,
                 under_weights: dict[str, float] | None = None) -> None:
        self.rng = rng
        self.templates = templates
        self.classes = _table(rng, class_weights, 1024)
        self.v6_share = v6_share
        self.under = _table(rng, under_weights or {"": 1.0}, 1024)
        self.reply_share = reply_share
        self.churn_mask = (1 << churn_bits) - 1
        self.pool = [self._new() for _ in range(size)]
        self.by_class: Counter[str] = Counter()
        self.by_under: Counter[str] = Counter()

    def _new(self) -> _Session:
        rng = self.rng
        v6 = rng.random() < self.v6_share
        klass = "linux_iputils" if v6 else self.classes[rng.getrandbits(10)]
        under = "" if v6 else self.under[rng.getrandbits(10)]
        tpl = rng.choice(self.templates[(klass, v6, under)])
        if v6:
            client, target = _internal6(rng.randrange(INTERNAL_HOSTS)), _external6(rng.randrange(EXTERNAL_HOSTS))
        else:
            client, target = _internal(rng.randrange(INTERNAL_HOSTS)), _external(rng.randrange(EXTERNAL_HOSTS))
        initial = INITIAL_TTL.get(klass, 64)
        return _Session(
            tpl=tpl, request_addrs=client + target, reply_addrs=target + client,
            addr_sum=_words(client + target),
            request_ttl=initial - rng.randrange(2), reply_ttl=rng.choice((64, 128, 255)) - rng.randrange(6, 25),
            ident=1 if klass == "windows" else rng.getrandbits(16),
            seq=rng.randrange(1, 5000) if klass == "windows" else 0,
            client_ip_id=rng.getrandbits(16), target_ip_id=rng.getrandbits(16),
            replies=rng.random() < self.reply_share(klass),
        )

    def frame(self, r: int, ts_us: int) -> bytearray:
        """The next frame of a session picked by the random bits r."""
        index = r % len(self.pool)
        if (r >> 24) & self.churn_mask == 0:
            self.pool[index] = self._new()
        s = self.pool[index]
        self.by_class[s.tpl.klass] += 1
        self.by_under["ipv6" if s.tpl.v6 else (s.tpl.under or "plain")] += 1
        return _echo_frame(s, ts_us)


# -- TCP and UDP: flows over templates -----------------------------------------------------------

@dataclass(slots=True)
class _Direction:
    addrports: bytes  # src, dst, sport, dport as they sit from IPv4 offset 12
    ip_sum: int  # TTL and address words (IPv4 header checksum)
    l4_sum: int  # address words (pseudo-header) + ports
    ttl: int
    seq: int
    ip_id: int


def _direction(src: bytes, dst: bytes, sport: int, dport: int, ttl: int, rng: random.Random) -> _Direction:
    addr_sum = _words(src + dst)
    return _Direction(src + dst + _HH.pack(sport, dport), (ttl << 8) + addr_sum,
                      addr_sum + sport + dport, ttl, rng.getrandbits(32), rng.getrandbits(16))


@dataclass(slots=True)
class _L4Template:
    frame: bytes
    payload_len: int
    ip_fixed: int
    l4_fixed: int
    record: bytes  # pcap record header (timestamp zero) + frame, for the inlined TCP path


def _l4_template(packet: bytes, payload_len: int = 0) -> _L4Template:
    frame = c.ethernet(packet)
    l4_ck = 34 + (16 if frame[23] == c.PROTO_TCP else 6)
    return _L4Template(frame, payload_len, _fixed_sum(_H.unpack_from(frame, 24)[0]),
                       _fixed_sum(_H.unpack_from(frame, l4_ck)[0]),
                       _RECORD.pack(0, 0, len(frame), len(frame)) + frame)


def _tcp_frame(t: _L4Template, d: _Direction, ack: int) -> bytearray:
    frame = bytearray(t.frame)
    d.ip_id = ip_id = (d.ip_id + 1) & 0xFFFF
    seq = d.seq
    d.seq = (seq + t.payload_len) & 0xFFFFFFFF
    _H.pack_into(frame, 18, ip_id)
    frame[22] = d.ttl
    _CK_ADDRPORTS_SEQ_ACK.pack_into(frame, 24, _ck(t.ip_fixed + ip_id + d.ip_sum), d.addrports, seq, ack)
    _H.pack_into(frame, 50, _ck(t.l4_fixed + d.l4_sum + (seq >> 16) + (seq & 0xFFFF)
                                + (ack >> 16) + (ack & 0xFFFF)))
    return frame


def _udp_frame(t: _L4Template, addrports: bytes, addr_sum: int, ports_sum: int, ttl: int,
               ip_id: int, txid: int) -> bytearray:
    """A DNS message over UDP (`txid`: the DNS id, the first word of the UDP payload)."""
    frame = bytearray(t.frame)
    _H.pack_into(frame, 18, ip_id)
    frame[22] = ttl
    _CK_ADDRPORTS.pack_into(frame, 24, _ck(t.ip_fixed + ip_id + (ttl << 8) + addr_sum), addrports)
    _HH.pack_into(frame, 40, _ck(t.l4_fixed + addr_sum + ports_sum + txid) or 0xFFFF, txid)
    return frame


# TCP payload lengths (bytes after the TCP header) and their weights per direction; 1460 makes a
# 1514-byte frame.  Server to client is mostly data, client to server mostly ACKs.
TCP_SIZES_TO_SERVER = {0: 55, 20: 4, 40: 4, 100: 6, 250: 6, 380: 5, 520: 4, 700: 3, 900: 3,
                       1100: 2, 1300: 3, 1460: 5}
TCP_SIZES_TO_CLIENT = {0: 25, 20: 2, 40: 2, 100: 3, 250: 4, 380: 4, 520: 5, 700: 5, 900: 5,
                       1100: 5, 1300: 5, 1460: 35}
DNS_NAMES = ("example.com", "www.example.org", "login.microsoftonline.com", "api.github.com",
             "a1234.dscb.akamaiedge.net", "time.windows.com", "ocsp.digicert.com",
             "static.xx.fbcdn.net", "connectivity-check.ubuntu.com", "update.googleapis.com")
SERVER_PORTS = {443: 80, 80: 10, 22: 3, 993: 3, 8443: 4}
MIXED_KINDS = {"tcp": 3368, "dns_query": 307, "dns_response": 307, "syn": 16, "synack": 16,
               "icmp": 82}  # out of 4096: ICMP 2.0 %, SYN 0.39 %, DNS 15.0 %, TCP 82.2 %


def _write_mixed(path: Path, packets: int, seed: int) -> dict:
    rng = random.Random(seed)
    getrandbits = rng.getrandbits
    blob = rng.randbytes(1460)
    zero = "0.0.0.0"
    tcp_templates = {
        n: _l4_template(c.tcp_packet(zero, zero, 0, 0, c.TCP_ACK | (c.TCP_PSH if n else 0),
                                     payload=blob[:n], ttl=0, window=501 + n), n)
        for n in sorted(set(TCP_SIZES_TO_SERVER) | set(TCP_SIZES_TO_CLIENT))
    }
    to_server = [tcp_templates[n] for n in _table(rng, TCP_SIZES_TO_SERVER, 1024)]
    to_client = [tcp_templates[n] for n in _table(rng, TCP_SIZES_TO_CLIENT, 1024)]
    syn = _l4_template(c.tcp_syn(zero, zero, 0, 0, seq=0, ttl=0))
    synack = _l4_template(c.tcp_synack(zero, zero, 0, 0, seq=0, ack=0, ttl=0))
    queries = [_l4_template(c.udp_packet(zero, zero, 0, 0, c.dns_query(n, txid=0), ttl=0))
               for n in DNS_NAMES]
    answers = [_l4_template(c.udp_packet(zero, zero, 0, 0, c.dns_answer(n, "198.18.7.7", txid=0), ttl=0))
               for n in DNS_NAMES]

    host_ttl = [128 - rng.randrange(2) if rng.random() < 0.6 else 64 - rng.randrange(2)
                for _ in range(INTERNAL_HOSTS)]
    server_ttl = [rng.choice((64, 64, 64, 128, 255)) - rng.randrange(6, 25) for _ in range(EXTERNAL_HOSTS)]
    ports = _table(rng, SERVER_PORTS, 256)
    flows = []
    for _ in range(8192):
        h, e = rng.randrange(INTERNAL_HOSTS), rng.randrange(EXTERNAL_HOSTS)
        sport, dport = rng.randrange(32768, 61000), ports[getrandbits(8)]
        flows.append((_direction(_internal(h), _external(e), sport, dport, host_ttl[h], rng),
                      _direction(_external(e), _internal(h), dport, sport, server_ttl[e], rng)))
    hosts = [_internal(h) for h in range(INTERNAL_HOSTS)]
    host_sums = [_words(a) for a in hosts]
    resolvers = [_v4(10, 20, 255, 53), _v4(10, 20, 255, 54)]
    resolver_sums = [_words(a) for a in resolvers]

    templates: dict = {}
    for v6, under in ((False, ""), (False, "vlan"), (False, "vxlan"), (True, "")):
        templates[("windows", v6, under)] = [_echo_template(c.payload_windows(32), "windows", v6=v6, under=under)]
        templates[("linux_iputils", v6, under)] = [
            _echo_template(c.payload_linux(0.0), "linux_iputils", STAMP_IPUTILS, v6=v6, under=under)]
    sessions = _Sessions(rng, templates, {"windows": 55, "linux_iputils": 45}, size=1024, churn_bits=6,
                         reply_share=lambda _k: 0.9, v6_share=0.08,
                         under_weights={"": 93, "vlan": 5, "vxlan": 2})

    names = list(MIXED_KINDS)
    tcp, dns_query, dns_response, syn_, icmp = (names.index(k) for k in ("tcp", "dns_query", "dns_response", "syn", "icmp"))
    kinds = _table(rng, {names.index(k): w for k, w in MIXED_KINDS.items()}, 4096)
    gaps = _gaps(rng, 20.0)
    counts = [0] * len(names)
    writer = _Writer(path)
    parts, record = writer.parts, _RECORD.pack
    pack_id, pack_rest, pack_tcp_ck = _H.pack_into, _CK_ADDRPORTS_SEQ_ACK.pack_into, _H.pack_into
    pack_ts = _TS.pack_into
    ts = T0_US
    for n in range(packets):
        r = getrandbits(64)
        ts += gaps[r >> 52]
        kind = kinds[r & 4095]
        counts[kind] += 1
        if kind == tcp:  # _tcp_frame inlined, on the template with its record header (+16)
            c2s, s2c = flows[(r >> 12) & 8191]
            if (r >> 25) & 1:
                t, d, ack = to_server[(r >> 26) & 1023], c2s, s2c.seq
            else:
                t, d, ack = to_client[(r >> 26) & 1023], s2c, c2s.seq
            rec = bytearray(t.record)
            sec = ts // 1_000_000
            d.ip_id = ip_id = (d.ip_id + 1) & 0xFFFF
            seq = d.seq
            d.seq = (seq + t.payload_len) & 0xFFFFFFFF
            total = t.ip_fixed + ip_id + d.ip_sum
            total = (total & 0xFFFF) + (total >> 16)
            ip_ck = ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF
            total = t.l4_fixed + d.l4_sum + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)
            total = (total & 0xFFFF) + (total >> 16)
            pack_ts(rec, 0, sec, ts - sec * 1_000_000)
            pack_id(rec, 34, ip_id)
            rec[38] = d.ttl
            pack_rest(rec, 40, ip_ck, d.addrports, seq, ack)
            pack_tcp_ck(rec, 66, ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF)
            parts.append(rec)
            if not (n + 1) % FLUSH_EVERY:
                writer.flush()
            continue
        elif kind == icmp:
            frame = sessions.frame(r >> 12, ts)
        elif kind == dns_query or kind == dns_response:
            host = (r >> 12) % INTERNAL_HOSTS
            resolver = (r >> 24) & 1
            port, ip_id, txid = 32768 + ((r >> 25) & 0x3FFF), (r >> 39) & 0xFFFF, r & 0xFFFF
            name = (r >> 26) % len(DNS_NAMES)
            addr_sum = host_sums[host] + resolver_sums[resolver]
            if kind == dns_query:
                frame = _udp_frame(queries[name], hosts[host] + resolvers[resolver] + _HH.pack(port, 53),
                                   addr_sum, port + 53, host_ttl[host], ip_id, txid)
            else:
                frame = _udp_frame(answers[name], resolvers[resolver] + hosts[host] + _HH.pack(53, port),
                                   addr_sum, port + 53, 63, ip_id, txid)
        else:  # a connection opening: SYN from the host, or the server's SYN-ACK
            c2s, s2c = flows[(r >> 12) & 8191]
            isn = (r >> 20) & 0xFFFFFFFF
            if kind == syn_:
                c2s.seq = isn
                frame = _tcp_frame(syn, c2s, 0)
            else:
                frame = _tcp_frame(synack, s2c, (isn + 1) & 0xFFFFFFFF)
        size = len(frame)
        parts.append(record(ts // 1_000_000, ts % 1_000_000, size, size))
        parts.append(frame)
        if not (n + 1) % FLUSH_EVERY:
            writer.flush()
    writer.close()
    return {"frames_by_kind": dict(sorted(zip(names, counts))),
            "icmp_by_class": dict(sorted(sessions.by_class.items())),
            "icmp_by_encapsulation": dict(sorted(sessions.by_under.items())),
            "icmp_frames": counts[icmp],
            "icmp_frames_plain": sessions.by_under["plain"] + sessions.by_under["ipv6"],
            "bytes": writer.bytes + 24, "first_ts_us": T0_US, "last_ts_us": ts}


def _write_icmp(path: Path, packets: int, seed: int) -> dict:
    rng = random.Random(seed)
    getrandbits = rng.getrandbits
    templates: dict = {}
    weights: dict[str, float] = {}
    for klass, weight, variants in _icmp_classes(rng):
        weights[klass] = weight
        templates[(klass, False, "")] = [_echo_template(p, klass, stamp) for p, stamp in variants]
    scanners = {"empty", "windows_snort_0123", "traceroute_linux", "mtr", "unknown"}
    sessions = _Sessions(rng, templates, weights, size=4096, churn_bits=7,
                         reply_share=lambda k: 0.4 if k in scanners else 0.9)
    gaps = _gaps(rng, 100.0)
    writer = _Writer(path)
    parts, record = writer.parts, _RECORD.pack
    ts = T0_US
    for n in range(packets):
        r = getrandbits(64)
        ts += gaps[r >> 52]
        frame = sessions.frame(r, ts)
        size = len(frame)
        parts.append(record(ts // 1_000_000, ts % 1_000_000, size, size))
        parts.append(frame)
        if not (n + 1) % FLUSH_EVERY:
            writer.flush()
    writer.close()
    return {"frames_by_kind": {"icmp": packets}, "icmp_by_class": dict(sorted(sessions.by_class.items())),
            "icmp_frames": packets, "icmp_frames_plain": packets,
            "bytes": writer.bytes + 24, "first_ts_us": T0_US, "last_ts_us": ts}


GENERATORS = {"mixed": _write_mixed, "icmp": _write_icmp}


# -- cache -------------------------------------------------------------------------------------

def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def capture_path(kind: str, packets: int, seed: int = SEED, out_dir: Path = OUT_DIR) -> Path:
    return out_dir / f"{kind}-{packets}-seed{seed}-v{GEN_VERSION}.pcap"


def cached(path: Path, describe: str, make: Callable[[Path], dict],
           log: Callable[[str], None] = lambda _m: None) -> tuple[Path, dict]:
    """`path`, made by `make(partial_path) -> facts` unless a complete one is there: a file counts
    as complete while its `.json` sidecar (written last) gives its size.  Returns (path, the
    sidecar's facts: make's, plus bytes and generate_seconds)."""
    sidecar = path.with_name(path.name + ".json")
    if path.exists() and sidecar.exists():
        meta = json.loads(sidecar.read_text())
        if meta.get("bytes") == path.stat().st_size:
            log(f"reusing {_shown(path)} ({meta['bytes'] / 1e6:.0f} MB)")
            return path, meta
    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar.unlink(missing_ok=True)
    log(f"generating {_shown(path)} ({describe}) ...")
    tmp = path.with_name(path.name + ".partial")
    started = time.perf_counter()
    facts = make(tmp)
    seconds = time.perf_counter() - started
    os.replace(tmp, path)
    meta = {**facts, "bytes": path.stat().st_size, "generate_seconds": round(seconds, 2)}
    sidecar.write_text(json.dumps(meta, indent=1) + "\n")
    log(f"generated {path.name}: {meta['bytes'] / 1e6:.0f} MB in {seconds:.1f} s")
    return path, meta


def ensure_capture(kind: str, packets: int, seed: int = SEED, out_dir: Path = OUT_DIR,
                   log: Callable[[str], None] = lambda _m: None) -> tuple[Path, dict]:
    """The capture for these parameters, generated unless a complete one is already there."""

    def make(tmp: Path) -> dict:
        gc.disable()  # millions of short-lived frames, no cycles: the collector only costs time (~25 %)
        try:
            facts = GENERATORS[kind](tmp, packets, seed)
        finally:
            gc.enable()
        return {"kind": kind, "packets": packets, "seed": seed, "gen_version": GEN_VERSION, **facts}

    return cached(capture_path(kind, packets, seed, out_dir), f"{packets:,} frames", make, log)


def remove_capture(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".json").unlink(missing_ok=True)


# -- verification ------------------------------------------------------------------------------

def verify(path: Path, limit: int) -> tuple[int, int, list[str]]:
    """Check the IP/ICMP/TCP/UDP checksums of the first `limit` frames: (frames, bad, examples)."""
    bad: list[str] = []
    frames = 0
    with open(path, "rb") as f:
        f.read(24)
        while frames < limit:
            header = f.read(16)
            if len(header) < 16:
                break
            caplen = _RECORD.unpack(header)[2]
            frame = f.read(caplen)
            frames += 1
            problem = _check_ethernet(frame, 0)
            if problem:
                bad.append(f"frame {frames}: {problem}")
    return frames, len(bad), bad[:5]


def _check_ethernet(frame: bytes, off: int) -> str | None:
    ethertype = _H.unpack_from(frame, off + 12)[0]
    off += 14
    while ethertype == 0x8100:
        ethertype = _H.unpack_from(frame, off + 2)[0]
        off += 4
    if ethertype == 0x0800:
        hl = (frame[off] & 0xF) * 4
        total = _H.unpack_from(frame, off + 2)[0]
        if _ck(_words(frame[off:off + hl])) != 0:
            return "IPv4 header checksum"
        proto, l4, end = frame[off + 9], off + hl, off + total
        pseudo = _words(frame[off + 12:off + 20]) + proto + (end - l4)
    elif ethertype == 0x86DD:
        proto, l4 = frame[off + 6], off + 40
        end = l4 + _H.unpack_from(frame, off + 4)[0]
        pseudo = _words(frame[off + 8:off + 40]) + proto + (end - l4)
    else:
        return f"ethertype 0x{ethertype:04x}"
    segment = frame[l4:end]
    if proto == 1:
        ok = _ck(_words(segment)) == 0
    elif proto == 17 and segment[6:8] == b"\0\0":
        ok = True  # no UDP checksum (IPv4 only)
    else:
        ok = _ck(pseudo + _words(segment)) == 0
    if not ok:
        return f"protocol {proto} checksum"
    if proto == 17 and _H.unpack_from(segment, 2)[0] == 4789:
        return _check_ethernet(frame, l4 + 16)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(GENERATORS))
    parser.add_argument("--packets", type=int, default=None, help="default: the full benchmark size")
    parser.add_argument("--quick", action="store_true", help="the --quick benchmark size")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--verify", type=int, default=0, metavar="N",
                        help="afterwards check the checksums of the first N frames")
    args = parser.parse_args()
    packets = args.packets or SIZES[args.kind]["quick" if args.quick else "full"]
    path, meta = ensure_capture(args.kind, packets, args.seed, log=lambda m: print(m, file=sys.stderr))
    print(path)
    if args.verify:
        frames, bad, examples = verify(path, args.verify)
        print(f"verified {frames} frames: {bad} with a bad checksum", file=sys.stderr)
        for line in examples:
            print("  " + line, file=sys.stderr)
        if bad:
            sys.exit(1)


if __name__ == "__main__":
    main()

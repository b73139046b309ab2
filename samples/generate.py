#!/usr/bin/env python3
"""Regenerate oddping's sample captures, byte for byte (fixed seed, fixed timestamps).

    python samples/generate.py [--out DIR]

* ``footprints.pcap``      the seed article's case: three Windows 10 hosts two hops away with
                           ordinary traffic (TCP, DNS, ping.exe) plus Office 365 "Footprints"
                           telemetry (2-byte zero echoes, TTL 28, one identifier whose sequence
                           runs across three Microsoft destinations), and a Linux host pinging.
* ``encapsulations.pcapng`` five interfaces (Ethernet µs, raw IP ns, Linux SLL, SLL2 ns, BSD
                           loopback) with echoes and errors over VLAN, QinQ, VXLAN, GRE, ERSPAN
                           II/III, IPIP, 6in4, 4in6, 6in6, IPv6 extension headers and fragments.
* ``mixed-small.pcap.gz``  one exchange per known sender (payload classes), nanosecond pcap,
                           gzip-compressed.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `samples.craft` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from samples import craft as c  # noqa: E402
from samples.craft import Frame  # noqa: E402

SEED = 503
T0 = 1_678_784_400 * 10**9  # 2023-03-14 09:00:00 UTC
MS = 1_000_000  # nanoseconds per millisecond

FIREWALL_MAC = "00:1b:54:c2:11:fe"
CORE_MAC = "00:1b:54:c2:11:01"


def _ms(t_ms: float) -> int:
    return T0 + int(round(t_ms * MS))


class _Host:
    """A sending host: keeps its IP ID counter (Windows and Linux bump it per datagram)."""

    def __init__(self, rng: random.Random, ip: str, ttl: int):
        self.ip, self.ttl, self.rng = ip, ttl, rng
        self.ip_id = rng.randrange(0x1000, 0xF000)
        self.port = rng.randrange(50000, 60000)

    def next_id(self) -> int:
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        return self.ip_id

    def next_port(self) -> int:
        self.port += self.rng.randrange(1, 4)
        return self.port


def _out(pkt: bytes) -> bytes:
    """Outbound (inside -> internet) as the sensor on the core/firewall link sees it."""
    return c.ethernet(pkt, src=CORE_MAC, dst=FIREWALL_MAC)


def _in(pkt: bytes) -> bytes:
    return c.ethernet(pkt, src=FIREWALL_MAC, dst=CORE_MAC)


# ---------------------------------------------------------------------------------------------
# footprints.pcap


WINDOWS_HOSTS = ["10.20.0.15", "10.20.0.16", "10.20.0.17"]
LINUX_HOST = "10.20.5.30"
# Office 365 endpoints the Footprints SDK pinged, with the TTL their replies arrive with
MICROSOFT = [("13.107.4.52", 115), ("52.113.194.132", 116), ("40.99.9.162", 114)]
SERVERS = [("52.96.165.18", 443, 113), ("20.190.151.70", 443, 112), ("142.250.185.78", 443, 116),
           ("151.101.2.132", 443, 57), ("23.52.161.41", 80, 55)]


def _tcp_session(rng: random.Random, h: _Host, server: str, port: int, sttl: int, t: float,
                 out: list) -> None:
    sport, isn, rsn = h.next_port(), rng.getrandbits(32), rng.getrandbits(32)
    rtt = rng.uniform(8, 30)
    out.append((t, _out(c.tcp_syn(h.ip, server, sport, port, isn, h.ttl, h.next_id()))))
    out.append((t + rtt, _in(c.tcp_synack(server, h.ip, port, sport, rsn, isn + 1, sttl,
                                           rng.getrandbits(16)))))
    out.append((t + rtt + 0.2, _out(c.tcp_packet(h.ip, server, sport, port, c.TCP_ACK, isn + 1,
                                                  rsn + 1, b"", h.ttl, h.next_id(), window=1026))))
    req = b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + rng.randbytes(80) if port == 443 \
        else b"GET /msdownload/update/v3/static/trustedr/en/disallowedcertstl.cab HTTP/1.1\r\n\r\n"
    out.append((t + rtt + 0.4, _out(c.tcp_packet(h.ip, server, sport, port, c.TCP_ACK | c.TCP_PSH,
                                                  isn + 1, rsn + 1, req, h.ttl, h.next_id(),
                                                  window=1026))))
    out.append((t + 2 * rtt + 1, _in(c.tcp_packet(server, h.ip, port, sport, c.TCP_ACK | c.TCP_PSH,
                                                   rsn + 1, isn + 1 + len(req), rng.randbytes(180),
                                                   sttl, rng.getrandbits(16)))))


def footprints_frames() -> list[Frame]:
    rng = random.Random(SEED)
    ev: list[tuple[float, bytes]] = []
    for n, ip in enumerate(WINDOWS_HOSTS):
        h = _Host(rng, ip, 126)  # Windows 10 (initial 128), two routed hops from the sensor
        seq = rng.randrange(30, 60)  # the system-wide echo sequence counter
        # ordinary traffic: TLS/HTTP sessions and DNS lookups
        for k in range(5):
            server, port, sttl = SERVERS[(n + k) % len(SERVERS)]
            _tcp_session(rng, h, server, port, sttl, rng.uniform(0, 118_000), ev)
        for k in range(2):
            t = rng.uniform(0, 118_000)
            txid = rng.getrandbits(16)
            name = ["outlook.office365.com", "login.microsoftonline.com"][k]
            ev.append((t, _out(c.udp_packet(h.ip, "1.1.1.1", h.next_port(), 53,
                                            c.dns_query(name, txid), h.ttl, h.next_id()))))
            ev.append((t + rng.uniform(5, 15), _in(c.udp_packet(
                "1.1.1.1", h.ip, 53, h.port, c.dns_answer(name, "52.96.165.18", txid), 57,
                rng.getrandbits(16)))))
        # Footprints telemetry: tight bursts, one identifier, the sequence spread over 3 targets
        bursts = sorted(rng.uniform(2_000, 110_000) for _ in range(3))
        ping_at = rng.uniform(20_000, 90_000) if n != 2 else None
        for b in bursts:
            if ping_at is not None and ping_at < b:
                seq = _windows_ping(rng, h, seq, ping_at, ev)
                ping_at = None
            t = b
            for k in range(6):
                dst, rttl = MICROSOFT[k % 3]
                req = c.echo_request(h.ip, dst, ident=1, seq=seq, payload=c.payload_zeros(2),
                                     ttl=28, ip_id=h.next_id())
                ev.append((t, _out(req)))  # IP total length 30: padded to 60 bytes
                ev.append((t + rng.uniform(9, 26), _in(c.reply_to(req, ttl=rttl,
                                                                  ip_id=rng.getrandbits(16)))))
                seq += 1
                t += rng.uniform(0.3, 3.0)
        if ping_at is not None:
            seq = _windows_ping(rng, h, seq, ping_at, ev)
    # a Linux box one hop away: iputils ping to 9.9.9.9 and a package mirror connection
    lh = _Host(rng, LINUX_HOST, 63)
    ident = rng.randrange(1000, 40000)
    start = 40_000.0
    for s in range(1, 11):
        t = start + (s - 1) * 1000.0 + rng.uniform(0, 0.4)
        ts = (T0 / 1e9) + t / 1000.0
        req = c.echo_request(lh.ip, "9.9.9.9", ident, s, c.payload_linux(ts), ttl=63,
                             ip_id=lh.next_id(), df=True)
        ev.append((t, _out(req)))
        ev.append((t + rng.uniform(11, 13), _in(c.reply_to(req, ttl=58,
                                                           ip_id=rng.getrandbits(16)))))
    _tcp_session(rng, lh, "151.101.2.132", 443, 57, 61_000.0, ev)
    ev.sort(key=lambda e: e[0])
    return [Frame(data, _ms(t)) for t, data in ev]


def _windows_ping(rng: random.Random, h: _Host, seq: int, t: float, ev: list) -> int:
    """ping.exe -n 4 8.8.8.8: identifier 1, the system-wide sequence, 1 s apart."""
    for _ in range(4):
        req = c.echo_request(h.ip, "8.8.8.8", 1, seq, c.payload_windows(), ttl=h.ttl,
                             ip_id=h.next_id())
        ev.append((t, _out(req)))
        ev.append((t + rng.uniform(13, 16), _in(c.reply_to(req, ttl=117, ip_id=0))))
        seq += 1
        t += 1000 + rng.uniform(0, 20)
    return seq


# ---------------------------------------------------------------------------------------------
# encapsulations.pcapng

ENCAP_INTERFACES = [
    c.Interface(c.LINKTYPE_ETHERNET, 6, name="mirror0"),
    c.Interface(c.LINKTYPE_RAW, 9, name="tun0"),
    c.Interface(c.LINKTYPE_LINUX_SLL, 6, name="any"),
    c.Interface(c.LINKTYPE_LINUX_SLL2, 9, name="any2"),
    c.Interface(c.LINKTYPE_NULL, 6, name="lo0"),
]

A4, B4 = "10.1.0.10", "203.0.113.7"
A6, B6 = "2001:db8:10::10", "2001:db8:20::7"
T4, U4 = "192.0.2.1", "192.0.2.2"  # tunnel endpoints
T6, U6 = "2001:db8:ffff::1", "2001:db8:ffff::2"


def _exchange(src: str, dst: str, ident: int, seq: int, payload: bytes, **kw) -> list[bytes]:
    req = c.echo_request(src, dst, ident, seq, payload, ttl=kw.pop("ttl", 64), **kw)
    return [req, c.reply_to(req, ttl=60)]


def encapsulation_frames() -> list[Frame]:
    frames: list[Frame] = []
    t = [T0 + 123_456_789]

    def add(iface: int, data: bytes) -> None:
        t[0] += 1_234_567
        frames.append(Frame(data, t[0], ENCAP_INTERFACES[iface].linktype, iface=iface))

    seq = iter(range(1, 10_000))
    # every link layer: IPv4 and IPv6 echoes plus an error message
    for iface, name in enumerate(["ethernet", "raw", "linux_sll", "linux_sll2", "loopback"]):
        for src, dst in ((A4, B4), (A6, B6)):
            for p in _exchange(src, dst, 0x100 + iface, next(seq), c.payload_linux()):
                add(iface, c.link(name, p)[1])
            orig = c.echo_request(src, dst, 0x200 + iface, next(seq), c.payload_windows(), ttl=1)
            router = "198.51.100.1" if src == A4 else "2001:db8:10::1"
            add(iface, c.link(name, c.time_exceeded(router, src, orig, ttl=255))[1])
        add(iface, c.link(name, c.tcp_syn(A4, B4, 40000 + iface, 443, ttl=64,
                                          options=c.LINUX_SYN_OPTIONS))[1])
    # VLAN tags (Ethernet only)
    for src, dst in ((A4, B4), (A6, B6)):
        for p in _exchange(src, dst, 0x300, next(seq), c.payload_windows()):
            add(0, c.ethernet(p, vlans=[120]))
        for p in _exchange(src, dst, 0x301, next(seq), c.payload_windows()):
            add(0, c.ethernet(p, vlans=[300, 120], stag=True))
    # tunnels, each with IPv4 and IPv6 inside, over the Ethernet mirror and the raw interface
    for src, dst in ((A4, B4), (A6, B6)):
        for n, p in enumerate(_exchange(src, dst, 0x400, next(seq), c.payload_bsd())):
            inner = c.ethernet(p, vlans=[42] if n else [])
            add(0, c.ethernet(c.vxlan(inner, T4, U4, vni=7001, sport=51000 + n)))
            add(0, c.ethernet(c.gre_teb(inner, T4, U4, key=9)))
            add(0, c.ethernet(c.gre(p, T4, U4)))
            add(0, c.ethernet(c.erspan2(inner, T4, U4, session=5, seq=100 + n)))
            add(0, c.ethernet(c.erspan3(inner, T4, U4, session=6, seq=200 + n,
                                        timestamp=0x1234567)))
            add(0, c.ethernet(c.erspan3(inner, T4, U4, session=6, seq=300 + n,
                                        platform=3 << 58 | 0xABCDEF)))
            add(0, c.ethernet(c.ip_in_ip(p, T4, U4)))  # IPIP / 6in4
            add(0, c.ethernet(c.ip_in_ip(p, T6, U6)))  # 4in6 / 6in6
            add(1, c.raw_ip(c.gre(p, T6, U6)))
            add(1, c.raw_ip(c.vxlan(inner, T6, U6, sport=52000 + n)))
    # IPv6 extension headers and fragmentation
    for p in _exchange(A6, B6, 0x500, next(seq), c.payload_busybox(),
                       ext=[c.hop_by_hop(), c.dest_options()]):
        add(0, c.ethernet(p))
    big4 = c.echo_request(A4, B4, 0x501, next(seq), c.payload_large(1800), ip_id=0x4242)
    for f in c.fragment_ipv4(big4, 1480):
        add(0, c.ethernet(f))
    big6 = c.echo_request(A6, B6, 0x502, next(seq), c.payload_large(1800))
    for f in c.fragment_ipv6(big6, 1232, ident=0xCAFE):
        add(1, c.raw_ip(f))
    orig6 = c.udp_packet(A6, B6, 50000, 33434, b"\0" * 24)
    add(0, c.ethernet(c.dest_unreachable(B6, A6, orig6, ttl=60)))
    add(0, c.ethernet(c.packet_too_big("2001:db8:10::1", A6, big6[:1280], mtu=1280, ttl=64)))
    return frames


# ---------------------------------------------------------------------------------------------
# mixed-small.pcap.gz: one exchange per known sender


def mixed_frames() -> list[Frame]:
    rng = random.Random(SEED + 1)
    ev: list[tuple[int, bytes]] = []
    t = T0 + 900 * 10**9
    senders = [
        ("10.30.0.11", 128, 1, c.payload_windows()),
        ("10.30.0.12", 64, 0x6b2f, c.payload_linux(1678785300.25)),
        ("10.30.0.13", 64, 0x1f40, c.payload_bsd(1678785300.5)),
        ("10.30.0.14", 64, 0x0bb8, c.payload_busybox()),
        ("10.30.0.15", 64, 0x7a11, c.payload_fping()),
        ("10.30.0.16", 255, 0x0003, c.payload_cisco()),
        ("10.30.0.17", 128, 1, c.payload_single_question()),
        ("10.30.0.18", 47, 0xC0DE, c.payload_nmap()),
        ("10.30.0.19", 64, 0x0d05, c.payload_hping3()),
        ("10.30.0.20", 64, 0, c.payload_nemesis()),
        ("10.30.0.21", 64, 666, c.payload_icmpenum()),
        ("10.30.0.22", 128, 0x0200, c.payload_superscan()),
        ("10.30.0.23", 64, 0, c.payload_broadscan_smurf()),
        ("10.30.0.24", 128, 0x0200, c.payload_windows_snort_0123()),
        ("10.30.0.25", 128, 0x0200, c.payload_cyberkit()),
        ("10.30.0.26", 128, 0x0200, c.payload_sniffer_pro()),
        ("10.30.0.27", 128, 0x0200, c.payload_l3retriever()),
        ("10.30.0.28", 128, 0x0200, c.payload_delphi_piette()),
        ("10.30.0.29", 128, 0x0200, c.payload_iss_pinger()),
        ("10.30.0.30", 128, 0x0200, c.payload_whatsup()),
        ("10.30.0.31", 64, 0x4a1b, c.payload_ptunnel(b"SSH-2.0-OpenSSH_9.2\r\n")),
        ("10.30.0.32", 64, 0x4a1c, c.payload_ptunnel_ng(b"SSH-2.0-OpenSSH_9.2\r\n")),
        ("10.30.0.33", 255, rng.getrandbits(16), c.payload_icmptunnel()),
        ("10.30.0.34", 64, 0x1d2e, c.payload_hans(True, 0x02, b"\x00\x00\x05\xdc")),
        ("10.30.0.35", 64, 0x3f3f, c.payload_pingtunnel(data=b"\x16\x03\x01\x00\x50")),
        ("10.30.0.36", 128, 1, c.payload_icmpsh()),
        ("10.30.0.37", 128, 1, c.payload_zeros(2)),
        ("10.30.0.38", 64, 0x2222, c.payload_large(1000)),
    ]
    for n, (src, ttl, ident, data) in enumerate(senders):
        dst = f"198.51.100.{10 + n}"
        req = c.echo_request(src, dst, ident, n, data, ttl=ttl - 1, ip_id=rng.getrandbits(16))
        ev.append((t, c.ethernet(req)))
        # icmpsh: the "reply" carries the next command, not the request's data
        reply_data = b"whoami\r\n" if data == c.payload_icmpsh() else None
        ev.append((t + rng.randrange(2, 30) * MS,
                   c.ethernet(c.reply_to(req, ttl=60, ip_id=rng.getrandbits(16),
                                         payload=reply_data))))
        t += rng.randrange(50, 400) * MS
    # nmap OS detection IE probes (code 9, seq 295/296)
    for first, seq in ((True, 295), (False, 296)):
        req = c.echo_request("10.30.0.18", "198.51.100.99", 0xC0DF, seq,
                             c.payload_nmap_os_detection(first), ttl=51, code=9 if first else 0,
                             df=first)
        ev.append((t, c.ethernet(req)))
        t += 100 * MS
    # Linux traceroute -I: TTL from 1, 3 probes per hop, Time Exceeded from each router
    seq = 1
    routers = ["10.30.0.1", "192.0.2.254", "198.51.100.1"]
    for hop in range(1, 4):
        for _ in range(3):
            req = c.echo_request("10.30.0.12", "198.51.100.200", 0x6b30, seq,
                                 c.payload_traceroute_linux(), ttl=hop)
            ev.append((t, c.ethernet(req)))
            ev.append((t + (hop * 3 + 1) * MS, c.ethernet(c.time_exceeded(routers[hop - 1],
                                                                         "10.30.0.12", req,
                                                                         ttl=65 - hop))))
            t += 2 * MS
            seq += 1
    # mtr: 36 zero bytes, seq from 33000
    for k in range(3):
        req = c.echo_request("10.30.0.13", "198.51.100.201", 0x7777, 33000 + k,
                             c.payload_mtr(), ttl=k + 1)
        ev.append((t, c.ethernet(req)))
        t += 100 * MS
    # IPv6 pings (Linux and Windows) and an unreachable
    for src, dst, data in (("2001:db8:30::12", "2001:db8:99::1", c.payload_linux(1678785310.0)),
                           ("2001:db8:30::11", "2001:db8:99::2", c.payload_windows())):
        req = c.echo_request(src, dst, 0x5151, 1, data, ttl=64)
        ev.append((t, c.ethernet(req)))
        ev.append((t + 5 * MS, c.ethernet(c.reply_to(req, ttl=57))))
        t += 50 * MS
    udp = c.udp_packet("10.30.0.12", "198.51.100.202", 44444, 33434, b"\0" * 32, ttl=64)
    ev.append((t, c.ethernet(udp)))
    ev.append((t + 7 * MS, c.ethernet(c.dest_unreachable("198.51.100.202", "10.30.0.12", udp,
                                                         ttl=57))))
    ev.append((t + 9 * MS, c.ethernet(c.tcp_syn("10.30.0.11", "198.51.100.20", 50123, 445,
                                               ttl=127))))
    ev.sort(key=lambda e: e[0])
    return [Frame(d, ts) for ts, d in ev]


# ---------------------------------------------------------------------------------------------


def generate(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    p = out / "footprints.pcap"
    c.write_pcap(p, footprints_frames())
    written.append(p)
    p = out / "encapsulations.pcapng"
    c.write_pcapng(p, encapsulation_frames(), ENCAP_INTERFACES)
    written.append(p)
    p = out / "mixed-small.pcap.gz"
    c.write_pcap(p, mixed_frames(), nano=True)
    written.append(p)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="directory to write into (default: samples/)")
    args = ap.parse_args(argv)
    for p in generate(args.out):
        print(f"{p} ({p.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
